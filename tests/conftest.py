"""One app and one database for the whole session, built the way production is:
`flask db upgrade`, `flask sync-roles`, `flask demo-data`.

`DATABASE_URL` points the suite at PostgreSQL (CI); without it, a fresh SQLite file.
"""
import os
import tempfile

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db

DEMO_PASSWORD = "demo1234"


def _fresh_database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        path = os.path.join(tempfile.mkdtemp(prefix="guichet-test-"), "test.db")
        return f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    from app import cli, demo

    application = create_app({
        "SQLALCHEMY_DATABASE_URI": _fresh_database_url(),
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "AUTH_RATE_LIMITED": False,
        "SERVER_NAME": "localhost",
    })
    with application.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
    yield application


@pytest.fixture(autouse=True)
def _push_request_context():
    """pytest-flask pushes one request context around each test, which makes every
    test-client request share one `g` (and so one signed-in user). Each request
    gets its own context here, as in production."""
    yield


@pytest.fixture()
def session(app):
    with app.app_context():
        yield db.session
        db.session.rollback()


def login(client, username, password=DEMO_PASSWORD):
    client.get("/logout/")
    response = client.post("/login/", data={"username": username, "password": password})
    assert response.status_code == 302, f"login of {username} failed"
    return client


@pytest.fixture()
def login_as(app):
    """login_as('creator') -> a test client signed in as that demo account."""

    def make(username, password=DEMO_PASSWORD):
        return login(app.test_client(), username, password)

    return make
