"""How transactions end on PostgreSQL (app.platform.transactions.end_read_only_with_commit):
one that wrote nothing ends with COMMIT, so psycopg keeps its prepared statements
from one request to the next; one that wrote, by the ORM or through the driver's own
connection, or failed, is rolled back as before."""
import os
import uuid

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Organisation, OrganisationKind

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="PostgreSQL only (psycopg's prepared statements)")


def prepared_statements(connection) -> int:
    return connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()


def test_a_read_only_query_run_in_many_transactions_gets_prepared(app):
    """psycopg prepares a query at its fifth run; a rollback between runs would
    forget the count and the statement, so the grid's queries were planned at every
    request."""
    with app.app_context(), db.engine.connect() as connection:
        for _ in range(6):
            connection.execute(select(Organisation.id).where(Organisation.name == "nobody").limit(1)).all()
            connection.rollback()
        assert prepared_statements(connection) >= 1
        connection.rollback()


def test_grid_pages_keep_their_prepared_statements(app, login_as):
    client = login_as("admin")
    for _ in range(7):
        assert client.get("/organisations/list/").status_code == 200
    with app.app_context(), db.engine.connect() as connection:
        # the pool hands the test client's connection back first (it is the only one in use)
        assert prepared_statements(connection) >= 1


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
