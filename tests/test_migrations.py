"""Data migrations move what people hold: run on a database left at the revision
before them, with rows as the previous release wrote them.

Each test builds its own database (SQLite in a temporary folder, or a scratch
PostgreSQL database next to the suite's when DATABASE_URL is set).
"""
import os
import secrets
import tempfile

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, make_url, text

from app import create_app

BEFORE_ROLE_SPLIT = "6f779ee41a5d"
ROLE_SPLIT = "1df1b3b942fd"


@pytest.fixture()
def scratch_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="guichet-migration-"), "scratch.db")
        return
    scratch = make_url(url).set(database="guichet_migration_test")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS guichet_migration_test"))
        connection.execute(text("CREATE DATABASE guichet_migration_test"))
    yield scratch.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS guichet_migration_test WITH (FORCE)"))
    admin.dispose()


def _ids(connection, table, column="name"):
    return {name: id_ for id_, name in connection.execute(text(f"SELECT id, {column} FROM {table}"))}


def test_shared_roles_become_one_role_per_job(scratch_url):
    application = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "TESTING": True,
                              "SECRET_KEY": secrets.token_hex(32), "PUBLIC_URL": "http://localhost"})
    with application.app_context():
        upgrade(revision=BEFORE_ROLE_SPLIT)
        engine = create_engine(scratch_url)
        with engine.begin() as connection:
            for name in ("Creator", "SupportAgent", "User"):
                connection.execute(text("INSERT INTO ab_role (name) VALUES (:name)"), {"name": name})
            for name, kind in (("Rectorat", "member"), ("Nuits", "client"), ("Atelier", "vendor"),
                               ("Assistance ENT", "vendor"), ("Lycée", "establishment")):
                connection.execute(text(
                    "INSERT INTO organisation (name, kind, active, created_on, changed_on) "
                    "VALUES (:name, :kind, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"name": name, "kind": kind})
            for login in ("booker", "client", "both", "agent", "desk", "loner"):
                connection.execute(text(
                    "INSERT INTO ab_user (first_name, last_name, username, email, active, password) "
                    "VALUES ('A', :login, :login, :mail, true, 'x')"), {"login": login, "mail": f"{login}@x.example"})
            roles, orgs, people = _ids(connection, "ab_role"), _ids(connection, "organisation"), \
                _ids(connection, "ab_user", "username")
            holdings = [("booker", "Creator", ["Rectorat"]), ("client", "Creator", ["Nuits"]),
                        ("both", "Creator", ["Rectorat", "Nuits"]), ("agent", "SupportAgent", ["Atelier"]),
                        ("desk", "SupportAgent", ["Assistance ENT"]), ("loner", "SupportAgent", [])]
            for login, role, memberships in holdings:
                connection.execute(text("INSERT INTO ab_user_role (user_id, role_id) VALUES (:u, :r)"),
                                   {"u": people[login], "r": roles[role]})
                for org in memberships:
                    connection.execute(text(
                        "INSERT INTO membership (user_id, organisation_id, created_on, changed_on) "
                        "VALUES (:u, :o, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"u": people[login], "o": orgs[org]})
            connection.execute(text(
                "INSERT INTO ticket_project (name, organisation_id, vendor_id, vendor_lead_id, phase, "
                "created_on, changed_on) VALUES ('Site', :client, :vendor, :lead, 'setup', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"client": orgs["Nuits"], "vendor": orgs["Atelier"], "lead": people["agent"]})
            connection.execute(text(
                "INSERT INTO ent_establishment (organisation_id, uai, support_desk_id, created_on, changed_on) "
                "VALUES (:school, '0250010X', :desk, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"school": orgs["Lycée"], "desk": orgs["Assistance ENT"]})
            connection.execute(text(
                "INSERT INTO role_grant (grantee_id, role_id, organisation_id, granted_on) "
                "VALUES (:u, :r, :o, CURRENT_TIMESTAMP)"),
                {"u": people["client"], "r": roles["Creator"], "o": orgs["Nuits"]})

        upgrade(revision=ROLE_SPLIT)

        with engine.connect() as connection:
            held = {}
            for login, role in connection.execute(text(
                    "SELECT u.username, r.name FROM ab_user_role ur JOIN ab_user u ON u.id = ur.user_id "
                    "JOIN ab_role r ON r.id = ur.role_id")):
                held.setdefault(login, set()).add(role)
            granted = connection.execute(text(
                "SELECT r.name FROM role_grant g JOIN ab_role r ON r.id = g.role_id")).scalars().all()
            role_names = set(_ids(connection, "ab_role"))
        assert held == {"booker": {"Booker"}, "client": {"Client"}, "both": {"Booker", "Client"},
                        "agent": {"VendorAgent"}, "desk": {"EntSupport"}, "loner": {"VendorAgent"}}
        assert granted == ["Client"]
        assert {"Booker", "Client", "VendorAgent", "EntSupport", "OperatorUser", "User"} <= role_names
        assert not role_names & {"Creator", "SupportAgent"}

        downgrade(revision=BEFORE_ROLE_SPLIT)
        with engine.connect() as connection:
            back = dict(connection.execute(text(
                "SELECT u.username, r.name FROM ab_user_role ur JOIN ab_user u ON u.id = ur.user_id "
                "JOIN ab_role r ON r.id = ur.role_id WHERE u.username IN ('client', 'desk')")).all())
        assert back == {"client": "Creator", "desk": "SupportAgent"}
        engine.dispose()
