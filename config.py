"""Settings. Every value can be overridden by an environment variable of the same name."""
import os

BASE_DIR = os.path.abspath(os.path.dirname(__file__))


def env(name, default=None, cast=str):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if cast is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return cast(value)


class Config:
    APP_NAME = env("APP_NAME", "Guichet")
    SECRET_KEY = env("SECRET_KEY", "change-me-in-production-guichet")
    # None means SQLite in the instance folder (resolved in create_app).
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    REDIS_URL = env("REDIS_URL")
    WTF_CSRF_ENABLED = env("WTF_CSRF_ENABLED", True, bool)

    FAB_SECURITY_MANAGER_CLASS = "app.security.GuichetSecurityManager"
    FAB_UPDATE_PERMS = True
    FAB_API_SWAGGER_UI = True
    FAB_ADD_SECURITY_API = True
    AUTH_TYPE = 1  # database authentication
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_RATE_LIMITED = env("AUTH_RATE_LIMITED", True, bool)
    RATELIMIT_ENABLED = env("RATELIMIT_ENABLED", True, bool)
    AUTH_RATE_LIMIT = env("AUTH_RATE_LIMIT", "10 per 5 minute")
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", env("REDIS_URL", "memory://"))

    BABEL_DEFAULT_LOCALE = env("BABEL_DEFAULT_LOCALE", "fr")
    BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "translations")
    LANGUAGES = {
        "fr": {"flag": "fr", "name": "Français"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Grids: exact counts up to this many rows, beyond it an estimate or "more than".
    GRID_EXACT_COUNT_LIMIT = env("GRID_EXACT_COUNT_LIMIT", 10000, int)
    # Rows fetched per round trip when streaming an export.
    EXPORT_BATCH_SIZE = env("EXPORT_BATCH_SIZE", 5000, int)
