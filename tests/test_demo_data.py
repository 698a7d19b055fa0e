"""`flask demo-data`: every demo account signs in; running it twice changes nothing."""
import pytest

from app import demo
from app.extensions import db
from app.models import Membership, Organisation, OrganisationKind

from .helpers import DEMO_PASSWORD, user

LOGINS = ["admin", "vnoc", "creator", "creator2", "client", "cmartin", "client2", "lead", "agent", "eventadmin",
          "referent", "referent2", "teacher", "student", "desk", "opadmin", "opuser", "user"]


@pytest.mark.parametrize("username", LOGINS)
def test_every_demo_account_signs_in(app, username):
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert "/login" not in response.headers["Location"]
    assert client.get("/users/userinfo/").status_code == 200


def test_wrong_password_is_refused(app):
    client = app.test_client()
    client.post("/login/", data={"username": "creator", "password": "wrong-password1"})
    assert client.get("/users/userinfo/").status_code == 302


def test_two_organisations_of_each_kind(app):
    with app.app_context():
        for kind in OrganisationKind:
            assert db.session.query(Organisation).filter_by(kind=kind).count() >= 2, kind


def test_loading_twice_changes_nothing(app):
    with app.app_context():
        sm = app.appbuilder.sm
        before = (db.session.query(Organisation).count(), db.session.query(Membership).count(),
                  sm.count_users())
        list(demo.load())
        after = (db.session.query(Organisation).count(), db.session.query(Membership).count(),
                 sm.count_users())
    assert before == after


def test_each_account_holds_its_role(app):
    expected = {"admin": "Admin", "vnoc": "VNOC", "creator": "Booker", "creator2": "Booker",
                "client": "Client", "cmartin": "Client", "client2": "Client", "lead": "ProjectLead",
                "agent": "VendorAgent", "eventadmin": "EventAdmin", "referent": "EntReferent",
                "referent2": "EntReferent", "desk": "EntSupport", "opadmin": "OperatorAdmin",
                "opuser": "OperatorUser", "teacher": "User", "student": "User", "user": "User"}
    with app.app_context():
        for login, role in expected.items():
            assert [r.name for r in user(login).roles] == [role]
