"""Desk E's "Gestion des droits": the OperatorAdmin creates accounts several at once
(all or nothing), ticks their e-services (only those the operator subscribes to, each
tick and untick in the delegation log), edits one account at a time, deactivates or
deletes it after a confirmation; the screen is the OperatorAdmin's, of their own
operator only; two admins creating one login at once make one account."""
import html
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    DelegationAction,
    DelegationLog,
    Entitlement,
    EService,
    Membership,
    OperatorAccount,
    Organisation,
    OutboxMail,
    RoleGrant,
    WorkflowEvent,
)
from app.platform import delegation
from app.rules.operator import accounts as rules
from app.security import OPERATOR_ADMIN, OPERATOR_USER, grantable_role_names

from .helpers import BearerClient, member, sent_link, user

FIBRE, ALPES = "Fibre Rhône Télécom", "Alpes Connect"
URL = "/operator/accounts/"
GOOD_PASSWORD = "nouveau2026"


def unique(prefix="op"):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def text(response):
    return html.unescape(response.get_data(as_text=True))


def operator_id(app, name):
    with app.app_context():
        return db.session.query(Organisation.id).filter_by(name=name).scalar()


def service_ids(app, *codes):
    with app.app_context():
        found = dict(db.session.query(EService.code, EService.id).filter(EService.code.in_(codes)))
        return [str(found[code]) for code in codes]


def account_of(app, login):
    """(OperatorAccount id, user id) of an account."""
    with app.app_context():
        found = user(login)
        account = db.session.query(OperatorAccount).filter_by(user_id=found.id).one()
        return account.id, found.id


def ticks(app, login):
    with app.app_context():
        return {code for (code,) in db.session.query(EService.code).join(Entitlement).filter(
            Entitlement.user_id == user(login).id)}


def row(index, **values):
    login = values.pop("login", None) or unique()
    data = {"login": login, "last_name": "Blanc", "first_name": "Nora", "email": f"{login}@fibre-rhone.example",
            "fixed_phone": "04 72 00 01 00", "mobile_phone": ""}
    data.update(values)
    return {f"rows-{index}-{name}": value for name, value in data.items()}


def form(*rows, eservices=()):
    data = {"save": "1", "eservices": list(eservices)}
    for item in rows:
        data.update(item)
    return data


def logins_of(data):
    return [value for key, value in data.items() if key.endswith("-login") and value]


@pytest.fixture()
def alpes_admin(app):
    """An OperatorAdmin of the other operator, Alpes Connect, and an account of theirs."""
    with app.app_context():
        admin = member("alpesadmin", ALPES, OPERATOR_ADMIN)
        staff = member("alpesstaff", ALPES, OPERATOR_USER)
        if not db.session.query(OperatorAccount).filter_by(user_id=staff.id).first():
            db.session.add(OperatorAccount(user_id=staff.id, organisation_id=operator_id(app, ALPES),
                                           mobile_phone="0611111111"))
            db.session.commit()
        return admin.username


# ---------------------------------------------------------------------------
# The grid, and who may open it
# ---------------------------------------------------------------------------


def test_the_grid_shows_the_admin_s_operator_accounts_as_the_seed(app, login_as, alpes_admin):
    response = login_as("opadmin").get(URL)
    assert response.status_code == 200
    page = text(response)
    assert "Gestion des droits" in page
    for header in ("Identifiant", "Nom", "Prénom", "Courriel", "E-services", "Modifier", "Désactiver", "Supprimer"):
        assert f'<th scope="col">{header}</th>' in page
    assert 'data-login="opuser"' in page and 'data-login="opsav"' in page and 'data-login="opadmin"' in page
    assert "alpesstaff" not in page and "alpesadmin" not in page
    assert "Translation d'Adresses Opérateur (TAO)" in page  # opuser's ticks
    assert "Administrateur : tous les e-services souscrits" in page
    assert f"/operator/accounts/{account_of(app, 'opadmin')[0]}/delete" not in page  # never oneself


def test_an_operator_user_is_refused_the_screen_and_its_actions(app, login_as):
    client = login_as("opuser")
    pk, _ = account_of(app, "opsav")
    for method, path in (("GET", URL), ("GET", URL + "new"), ("POST", URL + "new"), ("GET", f"{URL}{pk}/edit"),
                         ("POST", f"{URL}{pk}/edit"), ("POST", f"{URL}{pk}/deactivate"),
                         ("POST", f"{URL}{pk}/delete")):
        data = form(row(0)) if path.endswith("new") else {"last_name": "Pirate"}
        assert client.open(path, method=method, data=data).status_code == 403, path
    with app.app_context():
        assert user("opsav").active and user("opsav").last_name == "Morel"
    assert "Gestion des droits" not in text(client.get("/operator/"))
    assert "Gestion des droits" in text(login_as("opadmin").get("/operator/"))


def test_an_admin_of_another_operator_cannot_see_or_touch_fibre_s_accounts(app, login_as, alpes_admin):
    client = login_as(alpes_admin)
    page = text(client.get(URL))
    assert "alpesstaff" in page and "opuser" not in page and "Fibre Rhône" not in page
    fibre = operator_id(app, FIBRE)
    assert client.get(f"{URL}?operator={fibre}").status_code == 404
    data = form(row(0))
    assert client.post(f"{URL}new?operator={fibre}", data=data).status_code == 404
    pk, user_id = account_of(app, "opuser")
    for method, path in (("GET", f"{URL}{pk}/edit"), ("POST", f"{URL}{pk}/edit"), ("GET", f"{URL}{pk}/deactivate"),
                         ("POST", f"{URL}{pk}/deactivate"), ("POST", f"{URL}{pk}/reactivate"),
                         ("GET", f"{URL}{pk}/delete"), ("POST", f"{URL}{pk}/delete")):
        assert client.open(path, method=method, data={"last_name": "Pirate", "eservices": []}).status_code == 404
    with app.app_context():
        assert user(logins_of(data)[0]) is None
        opuser = user("opuser")
        assert opuser.active and opuser.last_name == "Garcia"
    assert ticks(app, "opuser") == {"eligibility", "tao", "e-rdv", "e-just-fibre"}
    # The other operator's catalogue: what Alpes Connect subscribes to, not what Fibre does.
    catalogue = text(client.get(URL + "new"))
    assert catalogue.count('disabled aria-describedby="not-subscribed-') > 0
    tao = service_ids(app, "tao")[0]
    assert f'value="{tao}" data-code="tao" disabled' in catalogue


def test_only_the_operator_admin_may_use_the_screen_per_the_permissions(app):
    with app.app_context():
        sm = app.appbuilder.sm
        for role, expected in ((OPERATOR_ADMIN, True), (OPERATOR_USER, False), ("User", False)):
            held = {(pv.permission.name, pv.view_menu.name) for pv in sm.find_role(role).permissions}
            assert (("can_add", "OperatorAccounts") in held) is expected, role


# ---------------------------------------------------------------------------
# Creating several accounts in one form
# ---------------------------------------------------------------------------


def test_the_admin_creates_two_accounts_with_their_e_services_and_gets_the_list(app, login_as, mailbox):
    client = login_as("opadmin")
    page = text(client.get(URL + "new"))
    assert page.count("data-account-row") == 2  # one row, and the template of the next
    e_pricer = service_ids(app, "e-pricer")[0]  # Alpes Connect's, not Fibre's
    assert f'value="{e_pricer}" data-code="e-pricer" disabled' in page and "(non souscrit)" in page
    first, second = row(0, fixed_phone="04.72.00.01.00"), row(1, fixed_phone="", mobile_phone="+33 6 12 34 56 78",
                                                              first_name="Élodie", last_name="Durand")
    data = form(first, second, eservices=service_ids(app, "eligibility", "tao"))
    response = client.post(URL + "new", data=data)
    assert response.status_code == 302, text(response)
    logins = logins_of(data)
    fibre = operator_id(app, FIBRE)
    with app.app_context():
        admin = user("opadmin")
        for login, fixed, mobile in ((logins[0], "0472000100", None), (logins[1], None, "0612345678")):
            created = user(login)
            assert [role.name for role in created.roles] == [OPERATOR_USER]
            assert db.session.query(Membership).filter_by(user_id=created.id, organisation_id=fibre).count() == 1
            account = db.session.query(OperatorAccount).filter_by(user_id=created.id).one()
            assert (account.organisation_id, account.fixed_phone, account.mobile_phone) == (fibre, fixed, mobile)
            grant = db.session.query(RoleGrant).filter_by(grantee_id=created.id).one()
            assert grant.granted_by_id == admin.id and grant.role.name == OPERATOR_USER
            entries = db.session.query(DelegationLog).filter_by(grantee_id=created.id).all()
            logged = sorted((entry.action, entry.right, entry.object_type, entry.actor_id) for entry in entries)
            assert logged == sorted([
                (DelegationAction.grant, OPERATOR_USER, None, admin.id),
                (DelegationAction.grant, "eligibility", "eservice", admin.id),
                (DelegationAction.grant, "tao", "eservice", admin.id)])
            assert {e.object_id for e in entries if e.object_type} == {int(i) for i in data["eservices"]}
        assert user(logins[1]).first_name == "Élodie"
    assert ticks(app, logins[0]) == ticks(app, logins[1]) == {"eligibility", "tao"}
    # The admin's mail: the accounts and their status; each new account's set-password mail.
    with app.app_context():
        [listing] = db.session.query(OutboxMail).filter_by(recipient=admin.email,
                                                           template=rules.CREATED_MAIL).order_by(
            OutboxMail.id.desc()).limit(1).all()
        assert listing.subject == f"2 comptes créés pour {FIBRE}"
        for login in logins:
            assert f"- {login} (" in listing.body
            assert f"créé, actif ; un lien pour choisir son mot de passe a été envoyé à {login}@fibre-rhone.example" \
                   in listing.body
        assert "E-services attribués : Eligibilité, Translation d'Adresses Opérateur (TAO)." in listing.body
        mails = {login: db.session.query(OutboxMail).filter_by(recipient=f"{login}@fibre-rhone.example",
                                                               template="account_created").one()
                 for login in logins}
    link = sent_link(mailbox, mails[logins[0]])
    assert app.test_client().get(link).status_code == 200
    grid = text(client.get(URL))
    assert f'data-login="{logins[0]}"' in grid and "2 comptes créés" in grid


@pytest.mark.parametrize("values, field, message", [
    ({"login": "abcd"}, "login", "Compte 2 — Identifiant : de 5 à 64 caractères"),
    ({"login": "élodie1"}, "login", "Compte 2 — Identifiant : de 5 à 64 caractères"),
    ({"login": "a b c d e"}, "login", "Compte 2 — Identifiant : de 5 à 64 caractères"),
    ({"login": "opuser"}, "login", "Compte 2 — Identifiant : cet identifiant est déjà pris."),
    ({"login": "OPUSER"}, "login", "Compte 2 — Identifiant : cet identifiant est déjà pris."),
    ({"last_name": ""}, "last_name", "Compte 2 — Nom : ce champ est obligatoire."),
    ({"first_name": " "}, "first_name", "Compte 2 — Prénom : ce champ est obligatoire."),
    ({"email": "pas-une-adresse"}, "email", "Compte 2 — Courriel : cette adresse n'est pas valide."),
    ({"email": "opuser@guichet.example"}, "email",
     "Compte 2 — Courriel : un compte utilise déjà cette adresse."),
    ({"fixed_phone": "", "mobile_phone": ""}, "fixed_phone",
     "Compte 2 — Téléphones : indiquez un téléphone fixe ou un téléphone mobile"),
    ({"fixed_phone": "0612345678"}, "fixed_phone", "Compte 2 — Téléphone fixe : un numéro français de 10 chiffres"),
    ({"fixed_phone": "04 72 00 01"}, "fixed_phone", "Compte 2 — Téléphone fixe : un numéro français de 10 chiffres"),
    ({"fixed_phone": "", "mobile_phone": "0472000100"}, "mobile_phone",
     "Compte 2 — Téléphone mobile : un numéro français"),
    ({"fixed_phone": "", "mobile_phone": "+44 7700 900123"}, "mobile_phone",
     "Compte 2 — Téléphone mobile : un numéro français"),
])
def test_a_bad_row_creates_nothing_and_is_named_with_its_field(app, login_as, values, field, message):
    client = login_as("opadmin")
    data = form(row(0), row(1, **values), eservices=service_ids(app, "eligibility"))
    before = _counts(app)
    response = client.post(URL + "new", data=data)
    assert response.status_code == 200
    page = text(response)
    assert message in page and "Rien n'a été créé" in page
    detail = message.split(" — ", 1)[1]
    assert f'<p class="help-block" id="rows-1-{field}-error">{detail}' in page  # beside the field
    assert f'<a href="#rows-1-{field}">{message}' in page  # in the list, a link to the field
    assert 'aria-invalid="true"' in page
    assert f'value="{data["rows-0-login"]}"' in page  # what was typed is kept
    assert _counts(app) == before
    with app.app_context():
        assert user(data["rows-0-login"]) is None


def _counts(app):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in (
            OperatorAccount, Entitlement, DelegationLog, RoleGrant, OutboxMail, Membership))


def test_the_same_login_twice_in_a_form_and_a_form_without_account_are_refused(app, login_as):
    client = login_as("opadmin")
    login = unique()
    response = client.post(URL + "new", data=form(row(0, login=login), row(1, login=login.upper())))
    assert "Compte 2 — Identifiant : déjà saisi pour le compte 1." in text(response)
    blank = {f"rows-{index}-{name}": "" for index in (0, 1) for name in rules.AccountRow.FIELDS}
    response = client.post(URL + "new", data=form(blank))
    assert "Comptes : renseignez au moins un compte" in text(response)
    with app.app_context():
        assert user(login) is None


def test_an_e_service_the_operator_does_not_subscribe_to_cannot_be_ticked(app, login_as):
    data = form(row(0), eservices=service_ids(app, "eligibility", "e-pricer"))
    before = _counts(app)
    page = text(login_as("opadmin").post(URL + "new", data=data))
    assert f"E-services : {FIBRE} n'a pas souscrit à e-pricer." in page
    assert _counts(app) == before
    page = text(login_as("opadmin").post(URL + "new", data=form(row(0), eservices=["x"])))
    assert "E-services : ce choix n'est pas dans le catalogue." in page
    assert _counts(app) == before


def test_without_script_the_add_button_posts_back_one_more_row(app, login_as):
    data = form(row(0), row(1))
    del data["save"]
    data["add_row"] = "1"
    before = _counts(app)
    response = login_as("opadmin").post(URL + "new", data=data)
    page = text(response)
    assert response.status_code == 200 and 'id="rows-2-login"' in page and 'id="rows-3-login"' not in page
    assert f'value="{data["rows-1-login"]}"' in page and "Rien n'a été créé" not in page
    assert _counts(app) == before


def test_the_rule_normalises_french_numbers():
    assert rules.normalise_phone("04 72 00 01 00") == "0472000100"
    assert rules.normalise_phone("+33 (0)4") == ""
    assert rules.normalise_phone("+33 4 72 00 01 00") == "0472000100"
    assert rules.normalise_phone("0033-6-12-34-56-78") == "0612345678"
    assert rules.normalise_phone("0012345678") == ""
    assert rules.normalise_phone("06 12 34 56") == ""
    assert rules.format_phone("0612345678") == "06 12 34 56 78"


# ---------------------------------------------------------------------------
# Delegation: an OperatorAdmin hands out OperatorUser (app.security.hands_out)
# ---------------------------------------------------------------------------


def test_an_operator_admin_may_give_the_staff_role_but_no_other_role_they_lack(app):
    assert OPERATOR_USER in grantable_role_names({OPERATOR_ADMIN})
    assert "VNOC" not in grantable_role_names({OPERATOR_ADMIN})
    with app.app_context():
        sm = app.appbuilder.sm
        admin, fibre = user("opadmin"), db.session.query(Organisation).filter_by(name=FIBRE).one()
        delegation.check_grant(admin, user("opsav"), sm.find_role(OPERATOR_USER), fibre)
        with pytest.raises(delegation.DelegationRefused):
            delegation.check_grant(admin, user("opsav"), sm.find_role("VNOC"), fibre)
        with pytest.raises(delegation.DelegationRefused):  # OperatorUser delegates nothing
            delegation.check_grant(user("opuser"), user("opsav"), sm.find_role(OPERATOR_USER), fibre)


# ---------------------------------------------------------------------------
# One account: edit, deactivate, delete
# ---------------------------------------------------------------------------


def _new_account(app, client, codes=("eligibility", "tao")):
    data = form(row(0), eservices=service_ids(app, *codes))
    assert client.post(URL + "new", data=data).status_code == 302
    login = logins_of(data)[0]
    return login, account_of(app, login)[0]


def test_editing_one_account_changes_its_fields_and_ticks_never_its_login(app, login_as):
    client = login_as("opadmin")
    login, pk = _new_account(app, client)
    page = text(client.get(f"{URL}{pk}/edit"))
    assert login in page and f'name="login"' not in page and 'value="04 72 00 01 00"' in page
    response = client.post(f"{URL}{pk}/edit", data={
        "login": "autrelogin", "last_name": "Roux", "first_name": "Léa", "email": f"{login}@autre.example",
        "fixed_phone": "", "mobile_phone": "07 11 22 33 44", "eservices": service_ids(app, "tao", "e-rdv")})
    assert response.status_code == 302, text(response)
    with app.app_context():
        changed = user(login)
        assert (changed.username, changed.last_name, changed.first_name, changed.email) == (
            login, "Roux", "Léa", f"{login}@autre.example")
        account = db.session.get(OperatorAccount, pk)
        assert (account.fixed_phone, account.mobile_phone) == (None, "0711223344")
        log = [(entry.action, entry.right) for entry in db.session.query(DelegationLog).filter_by(
            grantee_id=changed.id, object_type="eservice").order_by(DelegationLog.id)]
        assert log[-2:] == [(DelegationAction.grant, "e-rdv"), (DelegationAction.revoke, "eligibility")]
    assert ticks(app, login) == {"tao", "e-rdv"}


def test_a_bad_edit_changes_nothing(app, login_as):
    client = login_as("opadmin")
    login, pk = _new_account(app, client)
    before = _counts(app)
    response = client.post(f"{URL}{pk}/edit", data={
        "last_name": "Roux", "first_name": "Léa", "email": "opsav@guichet.example", "fixed_phone": "",
        "mobile_phone": "0102", "eservices": service_ids(app, "e-rdv")})
    page = text(response)
    assert response.status_code == 200 and "Rien n'a été modifié" in page
    assert "Courriel : un compte utilise déjà cette adresse." in page
    assert "Téléphone mobile : un numéro français" in page
    assert _counts(app) == before
    with app.app_context():
        assert user(login).last_name == "Blanc"
    assert ticks(app, login) == {"eligibility", "tao"}


def test_deactivating_asks_first_then_ends_the_sessions_and_reactivating_opens_again(app, login_as, mailbox):
    admin = login_as("opadmin")
    login, pk = _new_account(app, admin)
    with app.app_context():
        [mail] = db.session.query(OutboxMail).filter_by(recipient=f"{login}@fibre-rhone.example").all()
    owner = app.test_client()
    assert owner.post(sent_link(mailbox, mail), data={"password": GOOD_PASSWORD,
                                                      "conf_password": GOOD_PASSWORD}).status_code == 302
    assert owner.post("/login/", data={"username": login, "password": GOOD_PASSWORD}).status_code == 302
    assert owner.get("/operator/").status_code == 200
    token = BearerClient(app, login, GOOD_PASSWORD)
    assert token.get("/api/v1/organisation/").status_code == 200

    page = text(admin.get(f"{URL}{pk}/deactivate"))
    assert f"Désactiver le compte {login} (Nora Blanc) ?" in page and 'id="confirm-yes"' in page
    with app.app_context():
        assert user(login).active  # asking changes nothing
    assert admin.post(f"{URL}{pk}/deactivate").status_code == 302
    with app.app_context():
        assert not user(login).active
        assert db.session.query(WorkflowEvent).filter_by(object_type="ab_user", object_id=user(login).id,
                                                         transition="deactivated").count() == 1
    assert owner.get("/operator/").status_code in (302, 401)
    assert token.get("/api/v1/organisation/").status_code == 401
    assert f'data-login="{login}" class="text-muted"' in text(admin.get(URL))
    assert admin.post(f"{URL}{pk}/reactivate").status_code == 302
    with app.app_context():
        assert user(login).active


def test_deleting_asks_first_then_erases_the_account_and_frees_its_login(app, login_as):
    admin = login_as("opadmin")
    login, pk = _new_account(app, admin)
    page = text(admin.get(f"{URL}{pk}/delete"))
    assert f"Supprimer le compte {login} (Nora Blanc) ?" in page and "Cette action est définitive." in page
    _, user_id = account_of(app, login)
    assert admin.post(f"{URL}{pk}/delete").status_code == 302
    with app.app_context():
        erased = db.session.get(app.appbuilder.sm.user_model, user_id)
        assert (erased.username, erased.first_name, erased.active) == (f"anonyme-{user_id}", "Anonyme", False)
        assert db.session.get(OperatorAccount, pk) is None
        assert db.session.query(Entitlement).filter_by(user_id=user_id).count() == 0
        revoked = {entry.right for entry in db.session.query(DelegationLog).filter_by(
            grantee_id=user_id, action=DelegationAction.revoke)}
        assert revoked == {"eligibility", "tao"}  # the log still names the account
        assert db.session.query(WorkflowEvent).filter_by(object_id=user_id, transition="erased").one().actor_id \
            == user("opadmin").id
    assert f'data-login="{login}"' not in text(admin.get(URL))
    assert admin.get(f"{URL}{pk}/edit").status_code == 404
    # To change a login: delete, then create again with the same login and mail.
    assert admin.post(URL + "new", data=form(row(0, login=login))).status_code == 302
    with app.app_context():
        assert user(login).id != user_id


def test_the_admin_cannot_deactivate_delete_or_edit_themself(app, login_as):
    client = login_as("opadmin")
    pk, _ = account_of(app, "opadmin")
    for action, refusal in (("deactivate", "Vous ne pouvez pas désactiver votre propre compte."),
                            ("delete", "Vous ne pouvez pas supprimer votre propre compte.")):
        page = text(client.get(f"{URL}{pk}/{action}"))
        assert 'id="confirm-yes"' not in page and "Ce compte est le vôtre" in page
        assert refusal in text(client.post(f"{URL}{pk}/{action}", follow_redirects=True))
    assert 'name="last_name"' not in text(client.get(f"{URL}{pk}/edit"))
    page = text(client.post(f"{URL}{pk}/edit", data={"last_name": "Autre", "first_name": "K",
                                                     "email": "x@y.example", "fixed_phone": "0472000100"}))
    assert "Votre propre compte est géré par les administrateurs de la plateforme." in page
    with app.app_context():
        admin = user("opadmin")
        assert admin.active and admin.last_name == "Haddad" and admin.username == "opadmin"


# ---------------------------------------------------------------------------
# Two admins create one login at once: one account
# ---------------------------------------------------------------------------


def test_two_admins_creating_the_same_login_at_once_make_one_account(app, live_url):
    from .test_races import Visitor

    with app.app_context():
        member("opadmin2", FIBRE, OPERATOR_ADMIN)
    login = unique("course")
    eligibility = service_ids(app, "eligibility")
    visitors = [Visitor(live_url, "opadmin"), Visitor(live_url, "opadmin2"), Visitor(live_url, "opadmin")]
    start = threading.Barrier(len(visitors))

    def create(visitor, index):
        data = form(row(0, login=login, email=f"{login}-{index}@fibre-rhone.example"))
        data["eservices"] = eligibility[0]
        start.wait()
        return visitor.request("POST", URL + "new", data)

    with ThreadPoolExecutor(len(visitors)) as pool:
        answers = list(pool.map(create, visitors, range(len(visitors))))
    statuses = sorted(status for status, *_ in answers)
    assert statuses == [200, 200, 302], statuses
    for status, _, body, _ in answers:
        if status == 200:
            assert "Compte 1 — Identifiant : cet identifiant est déjà pris." in html.unescape(body)
    with app.app_context():
        created = db.session.query(app.appbuilder.sm.user_model).filter(
            func.lower(app.appbuilder.sm.user_model.username) == login).all()
        assert len(created) == 1
        assert db.session.query(OperatorAccount).filter_by(user_id=created[0].id).count() == 1
        assert db.session.query(Entitlement).filter_by(user_id=created[0].id).count() == 1
        assert db.session.query(OutboxMail).filter(OutboxMail.recipient.like(f"{login}-%")).count() == 1
