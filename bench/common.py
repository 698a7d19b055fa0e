"""What every benchmark shares: its own PostgreSQL database, never the suite's `test`."""
from urllib.parse import urlsplit, urlunsplit


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
