"""What every benchmark shares: its own PostgreSQL database, never the suite's `test`,
and the settings an app needs off the embedded default (a key of its own, PUBLIC_URL).

The key is SECRET_KEY when set, else one kept in instance/bench-secret-key: a database
a benchmark keeps between runs holds secrets sealed under it (payment accounts), which
a new key could not open."""
import os
import secrets
import statistics
import time
from urllib.parse import urlsplit, urlunsplit



def _kept_secret_key() -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance", "bench-secret-key")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as kept:
            kept.write(secrets.token_hex(32))
    with open(path) as kept:
        return kept.read().strip()


APP_SETTINGS = {"SECRET_KEY": os.environ.get("SECRET_KEY") or _kept_secret_key(),
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


def empty_database(url):
    """The benchmark's own database (created if missing), emptied: a fresh schema."""
    from sqlalchemy import create_engine, text

    ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# ---------------------------------------------------------------------------
# A desk's main grid at scale (each desk bench's `--part grid`)
# ---------------------------------------------------------------------------

GRID_PAGE_SIZE = 25  # GuichetModelView's page size, as the grids show it


def out(key, value):
    print(f"{key}: {value}", flush=True)


def machine_ms() -> float:
    """The median time of a fixed piece of pure Python work (what a page's rendering
    is made of), taken 9 times: how fast this machine is right now. The figures of
    two runs compare only as far as this one does (a shared VM's speed moves by a
    third from one hour to the next)."""
    def work():
        started = time.perf_counter()
        rows = [{"id": n, "title": f"Demande {n}", "state": ("new", "open")[n % 2]} for n in range(20_000)]
        "".join(f"<td>{row['title']}</td><td>{row['state']}</td>" for row in rows if row["id"] % 3)
        return (time.perf_counter() - started) * 1000
    return statistics.median(work() for _ in range(9))


def percentile(values, fraction):
    """Nearest rank, as bench/grid.py reads its p95."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def grid_app(url):
    """The app as the grid part serves it: no CSRF or rate limit, exports streamed
    whatever their size (no job), on the bench's own database."""
    import hashlib

    from app import create_app

    # The database is kept between runs, and so are the secrets the demo sealed with
    # the key: a key of that database's own, the same every run.
    key = os.environ.get("SECRET_KEY") or hashlib.sha256(f"guichet bench {url}".encode()).hexdigest()
    return create_app({**APP_SETTINGS, "SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                       "RATELIMIT_ENABLED": False, "AUTH_RATE_LIMITED": False, "FAB_API_SWAGGER_UI": False,
                       "EXPORT_ASYNC_ROWS": 10 ** 9, "REDIS_URL": None})


def grid_database(url, table, marker):
    """The grid part's database (created if missing, kept between runs), migrated, its
    roles synced; the demo data loaded unless `table` already holds the bench's rows
    (`marker`, its comment). Rows of another size are dropped with the whole schema.
    Returns (app, whether the rows are there)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import cli, demo
    from app.extensions import db

    ensure_database(url)
    app = grid_app(url)
    with app.app_context():
        upgrade()
        comment = f"SELECT obj_description('{table}'::regclass, 'pg_class')"
        kept = db.session.execute(text(comment)).scalar()
        if kept not in (None, marker):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
            upgrade()
            kept = None
        cli.sync_roles()
        if kept != marker:
            list(demo.load())
        db.session.commit()
        db.engine.dispose()
    return app, kept == marker


def grid_rows_loaded(url, table, columns, rows, count, name, extra_tables=()):
    """The grid part's app on its database once `table` holds the bench's `count` rows:
    kept from an earlier run, or drawn by `rows(app)` and loaded by COPY (printing
    `<name>_grid_load_s`). Prints `<name>_grid_rows`; returns (app, rows in `table`)."""
    marker = f"bench grid rows={count}"
    app, kept = grid_database(url, table, marker)
    if not kept:
        seconds = copy_rows(url, table, columns, rows(app), marker, extra_tables=extra_tables)
        out(f"{name}_grid_load_s", f"{seconds:.1f}")
    total = scalar(url, f"SELECT count(*) FROM {table}")
    out(f"{name}_grid_rows", total)
    return app, total


def psycopg_url(url):
    return url.replace("postgresql+psycopg://", "postgresql://")


def copy_rows(url, table, columns, rows, marker, extra_tables=()):
    """COPY `rows` into `table` with its plain indexes dropped and rebuilt once after
    (the constraints' stay), then move its id sequence past them, VACUUM ANALYZE it
    (and `extra_tables`) and write `marker` as its comment. Returns the seconds taken."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(psycopg_url(url)) as connection:
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        connection.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            connection.execute(definition)
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.execute(f"COMMENT ON TABLE {table} IS '{marker}'")
        connection.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        for name in (table, *extra_tables):
            connection.execute(f"VACUUM ANALYZE {name}")
    return time.perf_counter() - began


def grid_client(app, username):
    """A test client signed in through the login form."""
    from app.demo.platform import DEMO_PASSWORD

    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {username}")
    return client


def time_grid(app, prefix, route, viewers, cases, repetitions=25, warmup=3):
    """Time `route`'s list page, whole requests through the test client, for each
    viewer (label → (username, rows they see)) and case (name → query string, or a
    function of a page number: the deep page, reached as people reach it, by the
    keyset link of the page before): `<prefix>_<viewer>_<case>_ms_p50` / `_p95`, the
    part of it spent in the database (`_sql_ms_p50` / `_p95`, its queries), and the rows
    each page shows. Returns the worst p95."""
    import html
    import re

    from sqlalchemy import event

    from app.extensions import db

    shown = re.compile(re.escape(route) + r"/show/(\d+)")
    next_link = re.compile(r'<a href="([^"#]+)" rel="next"')
    out(f"{prefix}_machine_ms", f"{machine_ms():.1f}")
    worst = 0.0
    sql = []  # this request's seconds in the database: the shared machine's load hits them less

    def started(connection, cursor, statement, parameters, context, executemany):
        connection.info["guichet_bench_began"] = time.perf_counter()

    def ended(connection, cursor, statement, parameters, context, executemany):
        sql.append(time.perf_counter() - connection.info.pop("guichet_bench_began"))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", started)
        event.listen(db.engine, "after_cursor_execute", ended)
    for label, (username, visible) in viewers.items():
        client = grid_client(app, username)
        deep_page = max(1, min(200_000, visible // 2) // GRID_PAGE_SIZE)
        out(f"{prefix}_{label}_rows", visible)
        out(f"{prefix}_{label}_deep_page_offset", deep_page * GRID_PAGE_SIZE)
        for name, query in cases.items():
            if callable(query):  # the deep page as its pager links it: the keyset link after the page before
                before = client.get(f"{route}/list/?{query(deep_page - 1)}").get_data(as_text=True)
                following = next_link.search(before)
                if following is None:
                    raise SystemExit(f"{route} page {deep_page - 1} has no link to the next page for {username}")
                url = html.unescape(following.group(1))
            else:
                url = f"{route}/list/" + (f"?{query}" if query else "")
            for _ in range(warmup):
                response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code} to {username}")
            rows = len(set(shown.findall(response.get_data(as_text=True))))
            if not rows:
                raise SystemExit(f"{url} shows {username} no row")
            timings, sql_timings, queries = [], [], 0
            for _ in range(repetitions):
                sql.clear()
                began = time.perf_counter()
                response = client.get(url)
                response.get_data()
                timings.append((time.perf_counter() - began) * 1000)
                sql_timings.append(sum(sql) * 1000)
                queries = len(sql)
            p95 = percentile(timings, 0.95)
            out(f"{prefix}_{label}_{name}_ms_p50", f"{statistics.median(timings):.1f}")
            out(f"{prefix}_{label}_{name}_ms_p95", f"{p95:.1f}")
            out(f"{prefix}_{label}_{name}_sql_ms_p50", f"{statistics.median(sql_timings):.1f}")
            out(f"{prefix}_{label}_{name}_sql_ms_p95", f"{percentile(sql_timings, 0.95):.1f}")
            out(f"{prefix}_{label}_{name}_queries", queries)
            out(f"{prefix}_{label}_{name}_rows_shown", rows)
            worst = max(worst, p95)
    out(f"{prefix}_worst_ms_p95", f"{worst:.1f}")
    return worst


def time_csv_export(app, prefix, route, username, query=""):
    """The grid's CSV export as `username` sees it, streamed: `<prefix>_csv_rows_per_s`."""
    client = grid_client(app, username)
    began = time.perf_counter()
    response = client.get(f"{route}/export/csv" + (f"?{query}" if query else ""))
    if response.status_code != 200:
        raise SystemExit(f"the CSV export answered {response.status_code} to {username}")
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    response.close()
    seconds = time.perf_counter() - began
    out(f"{prefix}_csv_{username}_rows", lines - 1)
    out(f"{prefix}_csv_rows_per_s", f"{(lines - 1) / seconds:.0f}")


def filter_arg(app, view_name, column, filter_name):
    """The URL argument of a grid's filter on `column` (`_flt_<position>_<column>`),
    its position found by the filter's class name (FilterEqual, FilterContains...)."""
    view = next(view for view in app.appbuilder.baseviews if type(view).__name__ == view_name)
    names = [type(flt).__name__ for flt in view._filters.get_search_filters()[column]]
    return f"_flt_{names.index(filter_name)}_{column}"


def bench_organisations(url, kind, count, prefix):
    """`count` organisations of `kind` named `<prefix> NNN` (made once): their ids."""
    import psycopg

    with psycopg.connect(psycopg_url(url)) as connection:
        ids = [row[0] for row in connection.execute(
            "SELECT id FROM organisation WHERE name LIKE %s ORDER BY id", (f"{prefix} %",))]
        for number in range(len(ids), count):
            ids.append(connection.execute(
                "INSERT INTO organisation (name, kind, city, active, created_on, changed_on) "
                "VALUES (%s, %s, 'Lyon', true, now(), now()) RETURNING id",
                (f"{prefix} {number:03d}", kind)).fetchone()[0])
        connection.commit()
    return ids[:count]


def scalar(url, sql, *params):
    import psycopg

    with psycopg.connect(psycopg_url(url)) as connection:
        return connection.execute(sql, params).fetchone()[0]
