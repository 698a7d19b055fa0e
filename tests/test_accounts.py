"""Accounts: creation with a set-password mail, set and reset links (1 hour, single
use), the password policy on every way of setting a password, "forgot password"
without enumeration, login rate limits (form and API), logins that never change,
and delegated creation without escalation.
"""
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pytest

from app import create_app
from app.extensions import db
from app.models import Membership, Organisation, OutboxMail, PasswordToken, PasswordTokenPurpose, RoleGrant, utcnow
from app.platform import accounts

from .helpers import member, sent_link, user

GOOD_PASSWORD = "nouveau2026"


def unique(prefix="compte"):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sm(app):
    return app.appbuilder.sm


def mails_to(app, address, template=None):
    with app.app_context():
        query = db.session.query(OutboxMail).filter(OutboxMail.recipient == address)
        if template:
            query = query.filter(OutboxMail.template == template)
        mails = query.order_by(OutboxMail.id).all()
        for mail in mails:
            db.session.expunge(mail)
        return mails


def role_id(app, name):
    with app.app_context():
        return sm(app).find_role(name).id


def org_id(app, name):
    with app.app_context():
        return db.session.query(Organisation).filter_by(name=name).one().id


def make_user(app, password="ancien2026", role="User", organisation="Lycée Victor Hugo"):
    """A new user with a known password, in `organisation`; returns (username, email, id)."""
    username = unique("membre")
    with app.app_context():
        created = member(username, organisation, role, password=password)
        return username, created.email, created.id


def password_hash(app, user_id):
    with app.app_context():
        return db.session.get(sm(app).user_model, user_id).password


def signs_in(app, username, password):
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": password})
    return response.status_code == 302 and "/login" not in response.headers["Location"]


def page(response):
    return response.get_data(as_text=True)


# ---------------------------------------------------------------------------
# Creation: the set-password mail and its link
# ---------------------------------------------------------------------------


def test_admin_creates_an_account_and_the_mailed_link_sets_a_password_that_signs_in(app, login_as, mailbox):
    admin = login_as("admin")
    username = unique()
    email = f"{username}@guichet.example"
    response = admin.post("/users/add", data={
        "first_name": "Camille", "last_name": "Durand", "username": username, "active": "y",
        "email": email, "roles": [str(role_id(app, "User"))],
    })
    assert response.status_code == 302, page(response)
    with app.app_context():
        created = user(username)
        assert created is not None and created.active
        created_id = created.id
    assert not signs_in(app, username, ""), "a new account has no usable password"

    [mail] = mails_to(app, email, "account_created")
    assert mail.subject and username in mail.body
    path = sent_link(mailbox, mail)
    token = path.rsplit("/", 1)[1]
    with app.app_context():  # only the token's hash is stored
        assert not db.session.query(PasswordToken).filter_by(token_hash=token).count()
        stored = db.session.query(PasswordToken).filter_by(user_id=created_id).one()
        assert stored.purpose is PasswordTokenPurpose.set
        assert stored.expires_at - stored.created_on == timedelta(hours=1)

    client = app.test_client()
    form = client.get(path)
    assert form.status_code == 200 and username in page(form)
    done = client.post(path, data={"password": GOOD_PASSWORD, "conf_password": GOOD_PASSWORD})
    assert done.status_code == 302 and "/login/" in done.headers["Location"]
    assert signs_in(app, username, GOOD_PASSWORD)


@pytest.mark.parametrize("username", ["ADMIN", "abc", "avec espace"])
def test_fab_user_form_refuses_a_taken_or_malformed_login(app, login_as, username):
    email = f"{unique()}@guichet.example"
    response = login_as("admin").post("/users/add", data={
        "first_name": "Camille", "last_name": "Durand", "username": username, "active": "y",
        "email": email, "roles": [str(role_id(app, "User"))],
    })
    assert response.status_code == 200 and "Identifiant :" in page(response)
    assert mails_to(app, email) == []
    with app.app_context():
        assert not db.session.query(sm(app).user_model).filter_by(email=email).count()


def test_account_created_through_the_user_api_without_password_gets_the_mail(app, login_as, mailbox):
    admin = login_as("admin")
    username = unique()
    email = f"{username}@guichet.example"
    response = admin.post("/api/v1/security/users/", json={
        "first_name": "Jules", "last_name": "Petit", "username": username, "email": email,
        "roles": [role_id(app, "User")],
    })
    assert response.status_code == 201, response.get_json()
    [mail] = mails_to(app, email, "account_created")
    assert app.test_client().get(sent_link(mailbox, mail)).status_code == 200


def test_a_used_link_is_refused_and_changes_nothing(app, login_as, mailbox):
    username, email, user_id = make_user(app)
    with app.app_context():
        user = db.session.get(sm(app).user_model, user_id)
        accounts.send_password_link(user, PasswordTokenPurpose.reset)
        db.session.commit()
    path = sent_link(mailbox, mails_to(app, email, "password_reset")[-1])
    client = app.test_client()
    assert client.post(path, data={"password": GOOD_PASSWORD, "conf_password": GOOD_PASSWORD}).status_code == 302
    before = password_hash(app, user_id)

    again = client.get(path)
    assert again.status_code == 410 and "déjà servi" in page(again)
    reuse = client.post(path, data={"password": "autre2026x", "conf_password": "autre2026x"})
    assert reuse.status_code == 410 and "déjà servi" in page(reuse)
    assert password_hash(app, user_id) == before
    assert signs_in(app, username, GOOD_PASSWORD) and not signs_in(app, username, "autre2026x")


def test_a_link_expires_after_one_hour(app, clock):
    """The clock is stopped: the pages below meet the old link exactly one hour past its expiry."""
    username, email, user_id = make_user(app)
    issued = utcnow()
    with app.app_context():
        user = db.session.get(sm(app).user_model, user_id)
        raw = accounts.issue_token(user, PasswordTokenPurpose.reset, now=issued)
        db.session.commit()
        assert accounts.find_token(raw, now=issued + timedelta(minutes=59, seconds=59))
        with pytest.raises(accounts.TokenExpired):
            accounts.find_token(raw, now=issued + timedelta(hours=1))
        with pytest.raises(accounts.TokenExpired):
            accounts.set_password_with_token(raw, GOOD_PASSWORD, now=issued + timedelta(hours=1))
        db.session.rollback()
        # The same link as its owner meets it, two hours later.
        old = accounts.issue_token(user, PasswordTokenPurpose.reset, now=issued - timedelta(hours=2))
        db.session.commit()
    before = password_hash(app, user_id)
    client = app.test_client()
    expired = client.get(f"/password/set/{old}")
    assert expired.status_code == 410 and "expiré" in page(expired)
    posted = client.post(f"/password/set/{old}", data={"password": GOOD_PASSWORD, "conf_password": GOOD_PASSWORD})
    assert posted.status_code == 410 and password_hash(app, user_id) == before
    unknown = client.get("/password/set/not-a-token")
    assert unknown.status_code == 404 and "n'est pas valide" in page(unknown).replace("&#39;", "'")


# ---------------------------------------------------------------------------
# Password policy
# ---------------------------------------------------------------------------

WEAK = [
    ("abc1", "au moins 8 caractères"),         # too short
    ("ABCDEFGH1", "une minuscule"),            # no lowercase letter
    ("abcdefghij", "un chiffre"),              # no digit
]


@pytest.mark.parametrize("password, missing", WEAK)
def test_policy_refuses_naming_the_field_and_the_requirement(app, password, missing):
    with app.test_request_context():
        problems = accounts.password_problems(password)
        assert problems == [missing]
        with pytest.raises(Exception) as refused:
            accounts.check_password_policy(password)
        assert str(refused.value).startswith("Mot de passe") and missing in str(refused.value)
        assert accounts.password_problems(GOOD_PASSWORD) == []


def test_policy_is_configurable(app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_MIN_LENGTH", 12)
    monkeypatch.setitem(app.config, "PASSWORD_REQUIRE_UPPERCASE", True)
    monkeypatch.setitem(app.config, "PASSWORD_REQUIRE_DIGIT", False)
    with app.test_request_context():
        assert accounts.password_problems("abcdefghijk") == ["au moins 12 caractères", "une majuscule"]
        assert accounts.password_problems("abcdefghijkL") == []


@pytest.mark.parametrize("password, missing", WEAK)
def test_policy_on_the_link_form_changes_nothing(app, password, missing):
    username, email, user_id = make_user(app)
    with app.test_request_context():
        user = db.session.get(sm(app).user_model, user_id)
        raw = accounts.issue_token(user, PasswordTokenPurpose.reset)
        db.session.commit()
    before = password_hash(app, user_id)
    response = app.test_client().post(f"/password/set/{raw}", data={"password": password, "conf_password": password})
    assert response.status_code == 200
    assert "Mot de passe" in page(response) and missing in page(response)
    assert password_hash(app, user_id) == before
    with app.app_context():
        assert db.session.query(PasswordToken).filter_by(user_id=user_id).one().used_at is None


@pytest.mark.parametrize("password, missing", WEAK)
def test_policy_on_fab_password_forms_and_user_api(app, login_as, password, missing):
    username, email, user_id = make_user(app)
    before = password_hash(app, user_id)
    data = {"password": password, "conf_password": password}

    admin_reset = login_as("admin").post(f"/resetpassword/form?pk={user_id}", data=data)
    assert admin_reset.status_code == 200 and missing in page(admin_reset)

    own = login_as(username, "ancien2026").post("/resetmypassword/form", data=data)
    assert own.status_code == 200 and missing in page(own)

    api = login_as("admin").put(f"/api/v1/security/users/{user_id}", json={"password": password})
    assert api.status_code == 400
    assert missing in " ".join(api.get_json()["message"]["password"])

    created = login_as("admin").post("/api/v1/security/users/", json={
        "first_name": "A", "last_name": "B", "username": unique(), "email": f"{unique()}@guichet.example",
        "roles": [role_id(app, "User")], "password": password,
    })
    assert created.status_code == 400 and "password" in created.get_json()["message"]
    assert password_hash(app, user_id) == before


def test_policy_on_add_user_and_reset_password(app):
    """`flask fab create-admin` / `create-user` call add_user."""
    with app.app_context():
        username = unique()
        assert sm(app).add_user(username, "A", "B", f"{username}@guichet.example",
                                sm(app).find_role("Admin"), password="court1") is False
        assert user(username) is None
        someone = user("user")
        with pytest.raises(Exception, match="chiffre"):
            sm(app).reset_password(someone.id, "sanschiffre")


def test_fab_password_forms_accept_a_good_password(app, login_as):
    username, email, user_id = make_user(app)
    response = login_as(username, "ancien2026").post(
        "/resetmypassword/form", data={"password": GOOD_PASSWORD, "conf_password": GOOD_PASSWORD})
    assert response.status_code == 302
    assert signs_in(app, username, GOOD_PASSWORD)


# ---------------------------------------------------------------------------
# Forgot password
# ---------------------------------------------------------------------------


def test_login_page_links_to_forgot_password(app):
    login_page = page(app.test_client().get("/login/"))
    assert "/password/forgot/" in login_page and "Mot de passe oublié" in login_page


def test_forgot_password_answers_the_same_and_mails_only_a_known_address(app, monkeypatch, mailbox):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MIN_RESPONSE_TIME", 0.3)
    username, email, user_id = make_user(app)
    unknown = f"{unique('personne')}@guichet.example"

    answers = []
    for address in (email.upper(), unknown):
        client = app.test_client()
        started = time.monotonic()
        response = client.post("/password/forgot/", data={"email": address})
        elapsed = time.monotonic() - started
        followed = client.get(response.headers["Location"])
        flashed = re.findall(r'class="alert[^"]*"[^>]*>(.*?)</div>', page(followed), re.S)
        answers.append((response.status_code, response.headers["Location"], [" ".join(f.split()) for f in flashed]))
        assert 0.3 <= elapsed < 2.0, elapsed
    assert answers[0] == answers[1]
    assert answers[0][0] == 302 and any("Si un compte" in text for text in answers[0][2])

    assert mails_to(app, unknown) == []
    [mail] = mails_to(app, email, "password_reset")
    path = sent_link(mailbox, mail)
    client = app.test_client()
    assert client.post(path, data={"password": GOOD_PASSWORD, "conf_password": GOOD_PASSWORD}).status_code == 302
    assert signs_in(app, username, GOOD_PASSWORD)


def test_login_page_offers_remember_me_and_the_first_sign_in_link(app):
    login_page = page(app.test_client().get("/login/"))
    box = re.search(r'<input[^>]*name="remember"[^>]*>', login_page)
    assert box and 'type="checkbox"' in box.group(0)
    assert "Se souvenir de moi" in login_page
    assert "/password/first/" in login_page and "Première connexion" in login_page


def test_first_sign_in_mails_the_set_password_link_to_someone_who_never_signed_in(app, mailbox):
    username, email, user_id = make_user(app)
    form = page(app.test_client().get("/password/first/"))
    assert "Première connexion" in form and "identifiant" in form
    response = app.test_client().post("/password/first/", data={"email": email})
    assert response.status_code == 302
    [mail] = mails_to(app, email, "account_created")
    path = sent_link(mailbox, mail)
    assert app.test_client().post(path, data={"password": GOOD_PASSWORD,
                                              "conf_password": GOOD_PASSWORD}).status_code == 302
    assert signs_in(app, username, GOOD_PASSWORD)
    # Someone who has signed in before gets the reset link, as "forgot password".
    app.test_client().post("/password/first/", data={"email": email})
    assert len(mails_to(app, email, "password_reset")) == 1


def test_forgot_password_sends_nothing_to_an_inactive_account(app, login_as):
    username, email, user_id = make_user(app)
    with app.app_context():
        db.session.get(sm(app).user_model, user_id).active = False
        db.session.commit()
    response = app.test_client().post("/password/forgot/", data={"email": email})
    assert response.status_code == 302
    assert mails_to(app, email) == []


# ---------------------------------------------------------------------------
# A login never changes
# ---------------------------------------------------------------------------


def test_login_cannot_be_changed_in_forms_or_api(app, login_as):
    username, email, user_id = make_user(app)
    admin = login_as("admin")

    edit_page = page(admin.get(f"/users/edit/{user_id}"))
    assert 'name="username"' not in edit_page
    edited = admin.post(f"/users/edit/{user_id}", data={
        "first_name": "Alicia", "last_name": "Martin", "active": "y", "email": email,
        "roles": [str(role_id(app, "User"))], "username": "pirate1",
    })
    assert edited.status_code == 302
    with app.app_context():
        account = user(username)
        assert account is not None and account.first_name == "Alicia"

    api = admin.put(f"/api/v1/security/users/{user_id}", json={"username": "pirate2"})
    assert api.status_code == 400 and "username" in api.get_json()["message"]
    same = admin.put(f"/api/v1/security/users/{user_id}", json={"username": username, "last_name": "Moreau"})
    assert same.status_code == 200

    own = login_as(username, "ancien2026").post("/userinfoeditview/form", data={
        "first_name": "Ali", "last_name": "Moreau", "username": "pirate3"})
    assert own.status_code == 302
    with app.app_context():
        account = user(username)
        assert (account.username, account.first_name) == (username, "Ali")
        for name in ("pirate1", "pirate2", "pirate3"):
            assert user(name) is None

    with app.app_context():  # and no code path either
        row = db.session.get(sm(app).user_model, user_id)
        row.username = "pirate4"
        with pytest.raises(accounts.LoginChangeError):
            db.session.flush()
        db.session.rollback()
    with app.app_context():
        assert user(username) is not None


# ---------------------------------------------------------------------------
# Delegated creation
# ---------------------------------------------------------------------------


def account_form(app, **overrides):
    username = unique("op")
    data = {
        "username": username, "first_name": "Nora", "last_name": "Blanc",
        "email": f"{username}@fibre-rhone.example",
        "organisation": str(org_id(app, "Fibre Rhône Télécom")),
        "roles": [str(role_id(app, "OperatorAdmin"))],
    }
    data.update(overrides)
    return data


def test_operator_admin_creates_an_account_in_their_organisation(app, login_as, mailbox):
    client = login_as("opadmin")
    form = client.get("/accounts/form")
    assert form.status_code == 200
    assert "Alpes Connect" not in page(form)  # only their own organisations are offered
    data = account_form(app)
    response = client.post("/accounts/form", data=data)
    assert response.status_code == 302, page(response)
    with app.app_context():
        created = user(data["username"])
        assert [role.name for role in created.roles] == ["OperatorAdmin"]
        assert db.session.query(Membership).filter_by(
            user_id=created.id, organisation_id=org_id(app, "Fibre Rhône Télécom")).count() == 1
        grant = db.session.query(RoleGrant).filter_by(grantee_id=created.id).one()
        assert grant.granted_by.username == "opadmin"
    [mail] = mails_to(app, data["email"], "account_created")
    assert app.test_client().get(sent_link(mailbox, mail)).status_code == 200


@pytest.mark.parametrize("field, value, message", [
    ("organisation", "Alpes Connect", "Organisation : vous ne pouvez créer des comptes que dans vos propres organisations"),
    ("roles", "VNOC", "Rôles : vous ne pouvez donner que des rôles"),
    ("roles", "Admin", "Rôles : vous ne pouvez donner que des rôles"),
])
def test_delegating_user_cannot_create_outside_their_organisation_or_rights(app, login_as, field, value, message):
    client = login_as("opadmin")
    value = str(org_id(app, value)) if field == "organisation" else [str(role_id(app, value))]
    data = account_form(app, **{field: value})
    response = client.post("/accounts/form", data=data)
    assert response.status_code == 200 and message in page(response).replace("&#39;", "'")
    with app.app_context():
        assert user(data["username"]) is None
    assert mails_to(app, data["email"]) == []


def test_create_account_rule_refuses_escalation(app):
    with app.test_request_context():
        opadmin = user("opadmin")
        base = dict(username=unique(), first_name="A", last_name="B", email=f"{unique()}@guichet.example",
                    organisation_id=org_id(app, "Fibre Rhône Télécom"), role_ids=[role_id(app, "OperatorAdmin")])
        with pytest.raises(accounts.AccountRefused) as refused:
            accounts.create_account(opadmin, **{**base, "organisation_id": org_id(app, "Alpes Connect")})
        assert refused.value.field == "organisation"
        with pytest.raises(accounts.AccountRefused) as refused:
            accounts.create_account(opadmin, **{**base, "role_ids": [role_id(app, "Admin")]})
        assert refused.value.field == "roles"
        with pytest.raises(accounts.AccountRefused) as refused:
            accounts.create_account(opadmin, **{**base, "username": "opadmin"})
        assert refused.value.field == "username"
        creator = user("creator")
        with pytest.raises(accounts.AccountRefused):
            accounts.create_account(creator, **{**base, "organisation_id": org_id(app, "Rectorat de l'académie de Lyon"),
                                                "role_ids": [role_id(app, "Booker")]})
        db.session.rollback()
        assert user(base["username"]) is None


def test_a_user_without_the_right_cannot_open_the_account_form(app, login_as):
    assert login_as("creator").get("/accounts/form").status_code in (302, 403)
    data = account_form(app)
    assert login_as("creator").post("/accounts/form", data=data).status_code in (302, 403)
    with app.app_context():
        assert user(data["username"]) is None


# ---------------------------------------------------------------------------
# Login rate limits
# ---------------------------------------------------------------------------


@pytest.fixture()
def limits_on(app, monkeypatch):
    """The attempt limits on, counting afresh in memory for this test."""
    monkeypatch.setitem(app.config, "ATTEMPT_LIMITS_ENABLED", True)
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "memory://")
    app.extensions.pop("guichet_attempts", None)
    yield app
    app.extensions.pop("guichet_attempts", None)


DEMO_LOGINS = ["admin", "vnoc", "creator", "creator2", "client", "cmartin", "client2", "lead", "agent",
               "referent", "referent2", "desk", "teacher", "student", "user", "eventadmin", "opadmin", "opuser",
               "wholesale"]


def test_an_office_of_forty_signs_in_from_one_address(limits_on):
    """Forty correct sign-ins from one address within a minute: none refused."""
    statuses = []
    for index in range(40):
        response = limits_on.test_client().post("/login/", data={
            "username": DEMO_LOGINS[index % len(DEMO_LOGINS)], "password": "demo1234"})
        statuses.append(response.status_code == 302 and "/login" not in response.headers["Location"])
    assert statuses == [True] * 40


def test_the_eleventh_wrong_password_is_refused_and_other_accounts_still_sign_in(limits_on):
    username, email, user_id = make_user(limits_on)
    client = limits_on.test_client()
    wrong = [client.post("/login/", data={"username": username, "password": "faux12345"}).status_code
             for _ in range(11)]
    assert 429 not in wrong[:10] and wrong[10] == 429
    right = client.post("/login/", data={"username": username, "password": "ancien2026"})
    assert right.status_code == 429 and "Trop de tentatives" in page(right)  # even the right password now
    assert signs_in(limits_on, "teacher", "demo1234")  # another account, same address


def test_the_api_sign_in_counts_failures_alike(limits_on):
    username, email, user_id = make_user(limits_on)
    client = limits_on.test_client()
    payload = {"username": username, "password": "faux12345", "provider": "db"}
    statuses = [client.post("/api/v1/security/login", json=payload).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert client.post("/api/v1/security/login", json={**payload, "username": "creator", "password": "demo1234"}
                       ).status_code == 200


def test_a_guesser_trying_many_accounts_from_one_address_is_stopped(limits_on, monkeypatch):
    monkeypatch.setitem(limits_on.config, "LOGIN_FAILURES_PER_ADDRESS", "12 per 15 minutes")
    client = limits_on.test_client()
    statuses = [client.post("/login/", data={"username": f"inconnu{n}", "password": "faux12345"}).status_code
                for n in range(13)]
    assert 429 not in statuses[:12] and statuses[12] == 429
    other = limits_on.test_client()  # another address, behind no trusted proxy: counted apart
    other_status = other.post("/login/", data={"username": "creator", "password": "demo1234"},
                              environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code
    assert other_status == 302


def test_forgot_password_is_limited_per_account_and_per_address(limits_on, monkeypatch):
    monkeypatch.setitem(limits_on.config, "PASSWORD_RESET_MIN_RESPONSE_TIME", 0)
    monkeypatch.setitem(limits_on.config, "PASSWORD_RESET_PER_ADDRESS", "8 per hour")
    client = limits_on.test_client()
    per_account = [client.post("/password/forgot/", data={"email": "lea@guichet.example"}).status_code
                   for _ in range(6)]
    assert per_account == [302] * 5 + [429]
    others = [client.post("/password/forgot/", data={"email": f"p{n}@guichet.example"}).status_code
              for n in range(4)]
    assert others == [302, 302, 302, 429]  # the address's 8: 5 for one account, 3 for others


def test_guessing_password_links_is_stopped(limits_on, monkeypatch):
    monkeypatch.setitem(limits_on.config, "PASSWORD_LINK_FAILURES_PER_ADDRESS", "3 per 15 minutes")
    client = limits_on.test_client()
    assert [client.get(f"/password/set/faux{n}").status_code for n in range(4)] == [404, 404, 404, 429]


@pytest.mark.parametrize("trusted_proxies, second_address_refused", [(1, False), (0, True)])
def test_the_client_address_is_read_behind_trusted_proxies_only(app, trusted_proxies, second_address_refused):
    """Behind one trusted proxy, X-Forwarded-For is the client address the limits count;
    without one, anyone could send that header to dodge them: it is ignored."""
    proxied = create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
        "WTF_CSRF_ENABLED": False, "SERVER_NAME": "localhost", "SECRET_KEY": app.config["SECRET_KEY"],
        "PUBLIC_URL": app.config["PUBLIC_URL"], "RATELIMIT_STORAGE_URI": "memory://",
        "ATTEMPT_LIMITS_ENABLED": True, "LOGIN_FAILURES_PER_ADDRESS": "3 per 15 minutes",
        "TRUSTED_PROXIES": trusted_proxies,
    })
    client = proxied.test_client()

    def sign_in(address, username="inconnu", password="faux12345"):
        return client.post("/login/", data={"username": username, "password": password},
                           headers={"X-Forwarded-For": address}).status_code

    assert [sign_in("203.0.113.7") for _ in range(4)] == [302, 302, 302, 429]  # back to the form, then refused
    assert (sign_in("198.51.100.9", "creator", "demo1234") == 429) is second_address_refused


def test_two_web_workers_share_the_counts_in_redis(app):
    """Two apps, as two gunicorn workers: failures counted by one refuse on the other."""
    import os

    username, email, user_id = make_user(app)
    workers = [create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
        "WTF_CSRF_ENABLED": False, "SERVER_NAME": "localhost", "SECRET_KEY": app.config["SECRET_KEY"],
        "PUBLIC_URL": app.config["PUBLIC_URL"], "ATTEMPT_LIMITS_ENABLED": True,
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "LOGIN_FAILURES_PER_ACCOUNT": "4 per 15 minutes"}) for _ in range(2)]
    statuses = [workers[n % 2].test_client().post("/login/", data={"username": username, "password": "faux12345"}
                                                  ).status_code for n in range(5)]
    assert statuses == [302, 302, 302, 302, 429]


# ---------------------------------------------------------------------------
# Links in mails: on PUBLIC_URL, and never at rest in the outbox
# ---------------------------------------------------------------------------


def test_a_reset_link_is_built_on_public_url_whatever_the_host_header(app, mailbox):
    username, email, user_id = make_user(app)
    app.test_client().post("/password/forgot/", data={"email": email}, headers={"Host": "evil.example"})
    [mail] = mails_to(app, email, "password_reset")
    body = mailbox.for_outbox(mail.id)[0].get_body(("plain",)).get_content()
    assert "evil.example" not in body
    assert f"{app.config['PUBLIC_URL']}/password/set/" in body


def test_the_outbox_keeps_password_links_masked_and_a_resend_sends_a_fresh_one(app, login_as, mailbox):
    from app.platform import notifications

    username, email, user_id = make_user(app)
    with app.app_context():
        accounts.send_password_link(user(username), PasswordTokenPurpose.reset)
        db.session.commit()
    [mail] = mails_to(app, email, "password_reset")
    first = sent_link(mailbox, mail)
    assert notifications.MASKED_TOKEN in mail.body and first.rsplit("/", 1)[1] not in mail.body
    outbox_page = page(login_as("admin").get(f"/outbox/show/{mail.id}"))
    assert notifications.MASKED_TOKEN in outbox_page and first.rsplit("/", 1)[1] not in outbox_page
    masked = re.search(r"\S+/password/set/" + notifications.MASKED_TOKEN, mail.body).group(0)
    assert app.test_client().get(urlparse(masked).path).status_code == 404  # the mask opens nothing

    login_as("admin").post("/outbox/action_post", data={"action": "resend", "rowid": [mail.id]})
    resent = mails_to(app, email, "password_reset")[-1]
    second = sent_link(mailbox, resent)
    assert second != first
    client = app.test_client()
    assert client.get(second).status_code == 200 and client.get(first).status_code == 200


def test_outside_the_tests_passwords_are_hashed_with_scrypt_at_werkzeug_s_work_factor(tmp_path):
    """The suite hashes with a light work factor (conftest.TEST_PASSWORD_HASH); the
    settings every deployment starts from keep scrypt (N=32768, r=8, p=1: 32 MiB a
    check), for new passwords and for FAB's own forms alike."""
    from werkzeug.security import check_password_hash

    from .conftest import SECRET_KEY

    production = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/hash.db", "SECRET_KEY": SECRET_KEY,
                             "PUBLIC_URL": "http://localhost"})
    assert "FAB_PASSWORD_HASH_METHOD" not in production.config or \
        production.config["FAB_PASSWORD_HASH_METHOD"].startswith("scrypt")
    with production.app_context():
        stored = accounts.hash_password(GOOD_PASSWORD)
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, GOOD_PASSWORD) and not check_password_hash(stored, "autre2026")
