"""`flask demo-data`: every demo account signs in and is listed where a newcomer looks
(the README, `make run`'s greeting); running it twice changes nothing."""
import os
import re

import pytest
from flask_appbuilder.security.sqla.models import User

from config import BASE_DIR

from app import demo
from app.extensions import db
from app.models import Membership, Organisation, OrganisationKind

from .helpers import DEMO_PASSWORD, user

LOGINS = ["admin", "vnoc", "creator", "creator2", "client", "cmartin", "client2", "lead", "agent", "eventadmin",
          "referent", "referent2", "teacher", "student", "desk", "opadmin", "opuser", "user", "clubadmin", "checker",
          "etudiant", "etudiant2", "insa", "externe", "opsav", "wholesale", "ops"]


@pytest.mark.parametrize("username", LOGINS)
def test_every_demo_account_signs_in(app, username):
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert "/login" not in response.headers["Location"]
    assert client.get("/users/userinfo/").status_code == 200


def test_every_demo_account_is_listed_in_the_readme_and_by_make_run(app):
    with open(os.path.join(BASE_DIR, "README.md"), encoding="utf-8") as readme:
        in_readme = set(re.findall(r"^\| `([a-z0-9]+)` \|", readme.read(), re.MULTILINE))
    with open(os.path.join(BASE_DIR, "Makefile"), encoding="utf-8") as makefile:
        greeting = re.search(r"Demo logins \(password demo1234\): ([a-z0-9 ]+)", makefile.read())
    with app.app_context():
        demo_accounts = {name for (name,) in db.session.query(User.username).filter(
            User.username.in_(LOGINS + sorted(in_readme)))}
    assert in_readme == set(LOGINS) == demo_accounts
    assert set(greeting.group(1).split()) == set(LOGINS)


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
                "opuser": "OperatorUser", "opsav": "OperatorUser", "wholesale": "WholesaleAgent", "ops": "WholesaleAgent", "teacher": "User", "student": "User", "user": "User"}
    with app.app_context():
        for login, role in expected.items():
            assert [r.name for r in user(login).roles] == [role]


@pytest.fixture(scope="module")
def fresh_demo():
    """An app whose database holds the demo data just loaded, and nothing else (the
    suite's database also holds what tests wrote, some under a stopped clock)."""
    import os
    import secrets
    import tempfile

    from flask_migrate import upgrade

    from app import cli, create_app

    path = os.path.join(tempfile.mkdtemp(prefix="guichet-demo-"), "demo.db")
    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TESTING": True,
                              "SECRET_KEY": secrets.token_hex(32), "PUBLIC_URL": "http://localhost",
                              "REDIS_URL": None, "MAIL_SERVER": None})
    with application.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
    return application


def _moment_columns():
    """Every UTC moment column of the schema things happened at (local wall-clock times
    are not moments; scheduled ones may be ahead)."""
    from flask_appbuilder import Model
    from sqlalchemy import DateTime

    from app.platform.clock import is_local_time

    return [(table, column) for table in Model.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, DateTime) and not is_local_time(column) and not column.info.get("scheduled")]


def test_no_demo_moment_is_in_the_future(fresh_demo):
    from sqlalchemy import func, select

    from app.models import utcnow

    with fresh_demo.app_context():
        now = utcnow()
        future = {f"{table.name}.{column.name}": latest for table, column in _moment_columns()
                  if (latest := db.session.scalar(select(func.max(column)))) is not None and latest > now}
    assert _moment_columns() and not future, f"after {now}: {future}"


def test_demo_histories_follow_their_records(fresh_demo):
    """A history entry comes after the creation of its record; a closed ticket was
    closed at its last history entry, nothing written after."""
    from app.models import ProjectTicket, ProjectTicketComment, ProjectTicketState, WorkflowEvent

    absurd = []
    with fresh_demo.app_context():
        tables = {table.name: table for table, _ in _moment_columns()}
        for event in db.session.query(WorkflowEvent):
            table = tables[event.object_type]
            created = db.session.execute(table.select().where(table.c.id == event.object_id)).one()._mapping
            when = created.get("created_on") or created.get("requested_on")
            if when is not None and event.happened_on < when:
                absurd.append(f"{event.object_type} {event.object_id}: {event.transition} at {event.happened_on}, "
                              f"created {when}")
        for ticket in db.session.query(ProjectTicket):
            moments = [c.created_on for c in db.session.query(ProjectTicketComment).filter_by(ticket_id=ticket.id)]
            moments += [e.happened_on for e in db.session.query(WorkflowEvent).filter_by(
                object_type=ProjectTicket.__tablename__, object_id=ticket.id)]
            if any(moment < ticket.created_on for moment in moments):
                absurd.append(f"ticket {ticket.reference}: history before its creation")
            if ticket.state is ProjectTicketState.closed and moments and ticket.closed_on != max(moments):
                absurd.append(f"ticket {ticket.reference}: closed on {ticket.closed_on}, last entry {max(moments)}")
    assert not absurd, "\n".join(absurd)
