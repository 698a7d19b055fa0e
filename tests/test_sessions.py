"""Sessions end when they should: signing out and any password change end every
session cookie and API token of the person, and void their open set/reset links."""
from app.extensions import db
from app.models import PasswordTokenPurpose
from app.platform import accounts

from .helpers import BearerClient, login, member, user

NEW_PASSWORD = "changement2026"


def _person(app, name):
    with app.app_context():
        member(name, "Lycée Victor Hugo")
    return name


def _replayed(app, cookie):
    """A fresh browser presenting a copied session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    return client


def _session_cookie(client):
    return client.get_cookie("session", domain="localhost").value


def _signed_in(client):
    response = client.get("/users/userinfo/")
    return response.status_code == 200


def test_a_session_cookie_replayed_after_logout_no_longer_signs_in(app):
    client = login(app.test_client(), _person(app, "sortie1"))
    cookie = _session_cookie(client)
    assert _signed_in(_replayed(app, cookie))
    client.post("/logout/")
    assert not _signed_in(_replayed(app, cookie))


def test_logout_ends_the_other_sessions_and_the_tokens_of_the_person(app):
    name = _person(app, "sortie2")
    laptop, phone, script = login(app.test_client(), name), login(app.test_client(), name), BearerClient(app, name)
    assert script.get("/api/v1/organisation/").status_code == 200
    phone.post("/logout/")
    assert not _signed_in(laptop)
    assert script.get("/api/v1/organisation/").status_code == 401


def test_a_password_change_ends_sessions_and_tokens_but_keeps_the_one_it_was_made_in(app):
    name = _person(app, "changement1")
    other, script = login(app.test_client(), name), BearerClient(app, name)
    here = login(app.test_client(), name)
    response = here.post("/resetmypassword/form", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert _signed_in(here)
    assert not _signed_in(other)
    assert script.get("/api/v1/organisation/").status_code == 401
    assert BearerClient(app, name, NEW_PASSWORD).get("/api/v1/organisation/").status_code == 200


def test_an_admin_reset_ends_the_persons_sessions(app):
    name = _person(app, "changement2")
    theirs = login(app.test_client(), name)
    cookie = _session_cookie(theirs)
    with app.app_context():
        app.appbuilder.sm.reset_password(user(name).id, NEW_PASSWORD)
    assert not _signed_in(theirs) and not _signed_in(_replayed(app, cookie))


def test_a_reset_link_no_longer_works_once_the_password_changed_another_way(app):
    name = _person(app, "changement3")
    with app.app_context():
        raw = accounts.issue_token(user(name), PasswordTokenPurpose.reset)
        db.session.commit()
        app.appbuilder.sm.reset_password(user(name).id, NEW_PASSWORD)
    client = app.test_client()
    assert client.get(f"/password/set/{raw}").status_code == 410
    refused = client.post(f"/password/set/{raw}", data={"password": "autre2026x", "conf_password": "autre2026x"})
    assert refused.status_code == 410
    assert login(app.test_client(), name, NEW_PASSWORD)


def test_a_token_minted_from_a_refresh_token_after_logout_is_refused(app):
    name = _person(app, "sortie3")
    client = app.test_client()
    tokens = client.post("/api/v1/security/login", json={"username": name, "password": "demo1234",
                                                          "provider": "db", "refresh": True}).json
    login(app.test_client(), name).post("/logout/")
    refreshed = client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refreshed.status_code == 401


# -- "Remember me": the remember cookie ends with the stamp too --


def _remembered(app, client):
    """A browser reopened: only the remember cookies of `client` are left."""
    fresh = app.test_client()
    for name in ("remember_token", "guichet_remember_stamp"):
        cookie = client.get_cookie(name, domain="localhost")
        if cookie is not None:
            fresh.set_cookie(name, cookie.value, domain="localhost")
    return fresh


def _sign_in_remembered(app, name):
    client = app.test_client()
    response = client.post("/login/", data={"username": name, "password": "demo1234", "remember": "y"})
    assert response.status_code == 302
    return client


def test_remember_me_keeps_the_person_signed_in_after_the_browser_closes(app):
    name = _person(app, "souvenir1")
    assert _signed_in(_remembered(app, _sign_in_remembered(app, name)))
    forgotten = login(app.test_client(), name)  # not ticked: nothing is remembered
    assert forgotten.get_cookie("remember_token", domain="localhost") is None
    assert not _signed_in(_remembered(app, forgotten))


def test_logout_and_a_password_change_end_the_remembered_sessions(app):
    name = _person(app, "souvenir2")
    remembered = _sign_in_remembered(app, name)
    login(app.test_client(), name).post("/logout/")  # signing out elsewhere
    assert not _signed_in(_remembered(app, remembered))

    remembered = _sign_in_remembered(app, name)
    with app.app_context():
        app.appbuilder.sm.reset_password(user(name).id, NEW_PASSWORD)
    assert not _signed_in(_remembered(app, remembered))


def test_a_remember_cookie_without_its_stamp_or_with_a_forged_one_signs_nobody_in(app):
    name = _person(app, "souvenir3")
    remembered = _sign_in_remembered(app, name)
    alone = app.test_client()
    alone.set_cookie("remember_token", remembered.get_cookie("remember_token", domain="localhost").value,
                     domain="localhost")
    assert not _signed_in(alone)
    alone.set_cookie("guichet_remember_stamp", "W1sIjAwMCJd.forged", domain="localhost")
    assert not _signed_in(alone)
