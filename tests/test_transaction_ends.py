"""Prepared statements and how transactions end on PostgreSQL (app.platform.transactions):
the statements marked `prepare=True` are prepared and kept from one request to the
next (a transaction that wrote nothing ends with COMMIT), no other is; a transaction
that wrote, by the ORM or through the driver's own connection, or failed, is rolled
back as before."""
import os
import uuid

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select, text

from app.extensions import db
from app.models import Organisation, OrganisationKind

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="PostgreSQL only (psycopg's prepared statements)")


def prepared(connection) -> list[str]:
    """The statements this connection has prepared (PostgreSQL's own list)."""
    return list(connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars())


def test_the_person_s_load_is_prepared_once_and_kept_from_transaction_to_transaction(app):
    """Marked `prepare=True`, the load every request runs keeps its plan: a rollback
    (as each request's session ends) would make psycopg forget it."""
    with app.test_request_context(), db.engine.connect() as connection:
        load = app.appbuilder.sm._statements()["user"]
        admin = connection.execute(select(User.id).where(User.username == "admin")).scalar()
        for _ in range(3):
            assert connection.execute(load, {"user_id": admin}).first() is not None
            connection.rollback()
        assert [text for text in prepared(connection) if "FROM ab_user" in text]
        connection.rollback()


def test_other_queries_are_never_prepared(app):
    """A grid's query planned once for any value could walk the whole table (its
    generic plan): queries not marked are planned for their values, each time."""
    with app.app_context(), db.engine.connect() as connection:
        for _ in range(8):
            connection.execute(select(Organisation.id).where(Organisation.name == "nobody").limit(1)).all()
            connection.rollback()
        assert not [text for text in prepared(connection) if "FROM organisation" in text]
        connection.rollback()


def test_grid_pages_answer_with_prepared_loads(app, login_as):
    """The same through the app: many pages, each a request of its own."""
    client = login_as("admin")
    for _ in range(4):
        assert client.get("/organisations/list/").status_code == 200
        assert client.get("/organisations/list/?_flt_0_name=Lyc").status_code == 200


def test_a_transaction_that_wrote_is_rolled_back(session):
    name = f"Organisation {uuid.uuid4().hex[:8]}"
    session.add(Organisation(name=name, kind=OrganisationKind.member))
    session.flush()
    session.rollback()
    assert session.scalar(select(Organisation).where(Organisation.name == name)) is None


def test_a_write_through_the_driver_connection_is_rolled_back(app):
    """The server says whether the transaction wrote: a write SQLAlchemy never saw
    (the driver's own cursor) is rolled back too."""
    name = f"Organisation {uuid.uuid4().hex[:8]}"
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.connection.driver_connection.execute(
            "INSERT INTO organisation (name, kind, active, created_on, changed_on) VALUES (%s, 'member', true, now(), now())", (name,))
        connection.rollback()
        assert connection.execute(select(Organisation.id).where(Organisation.name == name)).first() is None
        connection.rollback()


def test_a_failed_transaction_is_rolled_back_and_the_connection_goes_on(app):
    with app.app_context(), db.engine.connect() as connection:
        with pytest.raises(Exception):
            connection.execute(text("SELECT no_such_column FROM organisation"))
        connection.rollback()
        assert connection.execute(text("SELECT 1")).scalar() == 1
        connection.rollback()
