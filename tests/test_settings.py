"""Start-up settings: no published or missing key off the embedded default, generated
keys on it, a separate JWT key, links on PUBLIC_URL only, safe cookie flags."""
import os
import tempfile

import pytest
from flask import Flask

from app.platform import settings
from app.platform.settings import UnsafeSettings

POSTGRES = "postgresql://guichet@db.example/guichet"


def _settled(**config):
    app = Flask(__name__, instance_path=tempfile.mkdtemp(prefix="guichet-instance-"))
    app.config.update(config)
    settings.settle(app)
    return app


@pytest.mark.parametrize("key", [None, "", "change-me-in-production-guichet"])
def test_off_the_embedded_default_a_missing_or_published_key_stops_the_start(key):
    with pytest.raises(UnsafeSettings, match="SECRET_KEY"):
        _settled(SQLALCHEMY_DATABASE_URI=POSTGRES, SECRET_KEY=key, PUBLIC_URL="https://guichet.example")


def test_a_published_key_is_refused_even_on_the_embedded_default():
    with pytest.raises(UnsafeSettings, match="published"):
        _settled(SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="change-me-in-production-guichet")


def test_redis_alone_leaves_the_embedded_default_too():
    with pytest.raises(UnsafeSettings, match="SECRET_KEY"):
        _settled(SQLALCHEMY_DATABASE_URI="sqlite://", REDIS_URL="redis://127.0.0.1:6379/0")


def test_off_the_embedded_default_public_url_is_required():
    with pytest.raises(UnsafeSettings, match="PUBLIC_URL"):
        _settled(SQLALCHEMY_DATABASE_URI=POSTGRES, SECRET_KEY="a" * 64)


def test_the_embedded_default_generates_its_keys_once_in_the_instance_folder():
    first = _settled(SQLALCHEMY_DATABASE_URI="sqlite:///x.db")
    key, jwt_key = first.config["SECRET_KEY"], first.config["JWT_SECRET_KEY"]
    assert len(key) == 64 and len(jwt_key) == 64 and key != jwt_key
    assert oct(os.stat(os.path.join(first.instance_path, "secret_key")).st_mode & 0o777) == "0o600"
    again = Flask(__name__, instance_path=first.instance_path)
    again.config.update(SQLALCHEMY_DATABASE_URI="sqlite:///x.db")
    settings.settle(again)
    assert (again.config["SECRET_KEY"], again.config["JWT_SECRET_KEY"]) == (key, jwt_key)
    assert _settled(SQLALCHEMY_DATABASE_URI="sqlite:///x.db").config["SECRET_KEY"] != key  # another instance
    assert first.config["PUBLIC_URL"].startswith("http://127.0.0.1:")


def test_the_jwt_key_is_separate_from_the_session_key():
    app = _settled(SQLALCHEMY_DATABASE_URI=POSTGRES, SECRET_KEY="s" * 64, PUBLIC_URL="https://guichet.example")
    assert app.config["JWT_SECRET_KEY"] and app.config["JWT_SECRET_KEY"] != "s" * 64
    with pytest.raises(UnsafeSettings, match="JWT_SECRET_KEY"):
        _settled(SQLALCHEMY_DATABASE_URI=POSTGRES, SECRET_KEY="s" * 64, JWT_SECRET_KEY="s" * 64,
                 PUBLIC_URL="https://guichet.example")


@pytest.mark.parametrize("public_url, secure", [("https://guichet.example", True), ("http://127.0.0.1:8080", False)])
def test_cookies_are_http_only_same_site_and_secure_on_https(public_url, secure):
    config = _settled(SQLALCHEMY_DATABASE_URI=POSTGRES, SECRET_KEY="k" * 64, PUBLIC_URL=public_url).config
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is secure and config["REMEMBER_COOKIE_SECURE"] is secure


def test_a_forged_admin_session_with_the_old_published_key_is_not_accepted(app):
    """The published key of earlier releases signed an Admin session anyone could forge."""
    from flask.sessions import SecureCookieSessionInterface

    forger = Flask("forger")
    forger.secret_key = "change-me-in-production-guichet"
    with app.app_context():
        admin_id = app.appbuilder.sm.find_user(username="admin").id
    cookie = SecureCookieSessionInterface().get_signing_serializer(forger).dumps(
        {"_user_id": str(admin_id), "_fresh": True})
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    assert client.get("/users/list/").status_code in (302, 401)
    assert app.config["SECRET_KEY"] != forger.secret_key


def test_the_session_cookie_is_sent_http_only_and_same_site(app):
    response = app.test_client().post("/login/", data={"username": "admin", "password": "demo1234"})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
