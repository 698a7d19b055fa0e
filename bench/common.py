"""What every benchmark shares: its own PostgreSQL database, never the suite's `test`,
and the settings an app needs off the embedded default (a key of its own, PUBLIC_URL)."""
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

APP_SETTINGS = {"SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_hex(32),
                "PUBLIC_URL": os.environ.get("PUBLIC_URL") or "http://127.0.0.1:8080"}


def ensure_database(url):
    """Create the benchmark's database if it is missing; refuse the test suite's."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name in ("", "test", "postgres"):
        raise SystemExit(f"refusing to use the database {name!r} (the test suite drops `test`)")
    admin_url = urlunsplit((parts.scheme.split("+")[0], parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
