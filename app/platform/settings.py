"""The settings create_app() completes and checks before anything serves.

* **Keys.** The session and token keys sign who a person is: anyone who knows them
  signs in as anyone. Outside the embedded default (SQLite and in-process jobs, what
  `make run` starts with no settings) a missing, empty or published SECRET_KEY stops
  the start. The embedded default generates its keys once in the instance folder. The
  JWT key is separate: JWT_SECRET_KEY, or else one derived from SECRET_KEY.
* **PUBLIC_URL.** Links in mails are built on it, never on a request's Host header;
  required outside the embedded default, the embedded server's address otherwise.
* **Cookies.** HttpOnly, SameSite=Lax, and Secure when PUBLIC_URL is https.
* **Database connections.** On PostgreSQL a new connection gives up after
  DATABASE_CONNECT_TIMEOUT seconds (the driver's `connect_timeout`).
"""
import hashlib
import hmac
import os
import secrets

# Keys that were ever published with Guichet (its repository, its README): refused.
PUBLISHED_KEYS = frozenset({"change-me-in-production-guichet", "changeme", "secret", "dev"})
KEY_FILES = {"SECRET_KEY": "secret_key", "JWT_SECRET_KEY": "jwt_secret_key"}


class UnsafeSettings(RuntimeError):
    """The app may not start with these settings; the message says which and why."""


def is_embedded(config) -> bool:
    """The embedded default: SQLite and jobs in the web process (no REDIS_URL)."""
    return (config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("sqlite") and not config.get("REDIS_URL")


def _instance_key(app, name) -> str:
    """The key kept in the instance folder, made once (by whichever process comes first)."""
    path = os.path.join(app.instance_path, KEY_FILES[name])
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as existing:
            key = existing.read().strip()
        if key:
            return key
        os.unlink(path)
        return _instance_key(app, name)
    with os.fdopen(descriptor, "w") as created:
        key = secrets.token_hex(32)
        created.write(key)
    return key


def _derived(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def settle(app) -> None:
    """Complete and check the keys, PUBLIC_URL, cookie flags and database connections; raise UnsafeSettings."""
    config = app.config
    embedded = is_embedded(config)
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        key = config.get(name)
        if key and key in PUBLISHED_KEYS:
            raise UnsafeSettings(f"{name} is a published key: set a secret one (e.g. `openssl rand -hex 32`)")
        if not key and embedded:
            config[name] = _instance_key(app, name)
    if not config.get("SECRET_KEY"):
        raise UnsafeSettings("SECRET_KEY is missing: outside the embedded default (SQLite, no Redis) "
                             "set a secret key, the same on every web and worker machine")
    if not config.get("JWT_SECRET_KEY"):
        config["JWT_SECRET_KEY"] = _derived(config["SECRET_KEY"], "guichet-jwt")
    if config["JWT_SECRET_KEY"] == config["SECRET_KEY"]:
        raise UnsafeSettings("JWT_SECRET_KEY must differ from SECRET_KEY")
    if not config.get("PUBLIC_URL"):
        if not embedded:
            raise UnsafeSettings("PUBLIC_URL is missing: the address people reach the app at, for links in mails")
        config["PUBLIC_URL"] = f"http://127.0.0.1:{os.environ.get('PORT', '8080')}"
    secure = config["PUBLIC_URL"].lower().startswith("https://")
    config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
                  REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=secure)
    timeout = config.get("DATABASE_CONNECT_TIMEOUT")
    if timeout and (config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("postgresql"):
        options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {"connect_timeout": timeout, **options.get("connect_args", {})}
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options
