"""Grid and export benchmark: a stock FAB ModelView against Guichet's base grid.

    .venv/bin/python bench/grid.py [--rows N] [--database-url URL]

Loads N rows (default 1,000,000) into a representative ticket table on PostgreSQL,
then times, server-side (whole request through Flask's test client, signed in as the
demo `admin`), for a stock `flask_appbuilder.ModelView` + `SQLAInterface` and for a
`GuichetModelView` + `ScopedInterface` on the same table and the same indexes:
first page, a deep page, a filtered page, a sorted page and a keyword search, at the
median and p95. Then it exports all N rows through our view as CSV and XLSX, each in
a fresh subprocess, and reports rows/s and that process's peak RSS.

Prints one `key: value` line per figure. Never touches the `test` database.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common  # noqa: E402

from common import ensure_database  # noqa: E402

import enum  # noqa: E402

from flask_appbuilder import Model, ModelView  # noqa: E402
from flask_appbuilder.models.sqla.interface import SQLAInterface  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import relationship  # noqa: E402

from app.models import Organisation  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench"
PAGE_SIZE = 25
KEYWORD = "imprimante"


# ---------------------------------------------------------------------------
# The representative table and its two grids
# ---------------------------------------------------------------------------


class ProjectTicketState(enum.Enum):
    new = "new"
    open = "open"
    pending = "pending"
    resolved = "resolved"
    closed = "closed"

    def __str__(self):  # a label, as the product's enums have
        return {"new": "Nouveau", "open": "Ouvert", "pending": "En attente",
                "resolved": "Résolu", "closed": "Fermé"}[self.value]


class BenchTicket(Model):
    """A ticket as every desk has one: tenant, reference, title, state, priority, dates."""

    __tablename__ = "bench_ticket"
    __table_args__ = (
        # What a well-built grid needs: its default order, each filter in that
        # order, each sortable column with the key as tie-breaker, the scope column.
        Index("ix_bench_ticket_created", "created_on", "id"),
        Index("ix_bench_ticket_state_created", "state", "created_on", "id"),
        Index("ix_bench_ticket_org_created", "organisation_id", "created_on", "id"),
        Index("ix_bench_ticket_priority", "priority", "id"),
        # Keyword search (ILIKE '%word%'): a trigram index (pg_trgm).
        Index("ix_bench_ticket_title_trgm", "title", postgresql_using="gin",
              postgresql_ops={"title": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False)
    organisation = relationship(Organisation)
    reference = Column(String(20), unique=True, nullable=False)
    title = Column(String(200), nullable=False)
    state = Column(Enum(ProjectTicketState, native_enum=False, length=20, name="bench_ticket_state"),
                   nullable=False)
    priority = Column(Integer, nullable=False)
    assignee = Column(String(100))
    created_on = Column(DateTime, nullable=False)
    changed_on = Column(DateTime, nullable=False)

    def __str__(self):
        return self.reference


LIST_COLUMNS = ["reference", "title", "organisation", "state", "priority", "assignee", "created_on"]
SEARCH_COLUMNS = ["reference", "title", "organisation", "state", "priority", "assignee", "created_on"]


def grid_views():
    """The two grids on the same table: a stock FAB ModelView and our base grid."""
    from app.security import ScopedInterface, by_organisation, scope
    from app.views.base import GuichetModelView

    scope(BenchTicket, by_organisation(BenchTicket.organisation_id))

    class BenchTicketFabView(ModelView):
        datamodel = SQLAInterface(BenchTicket)
        route_base = "/bench/fab"
        list_columns = LIST_COLUMNS
        search_columns = SEARCH_COLUMNS
        base_order = ("created_on", "desc")
        page_size = PAGE_SIZE

    class BenchTicketView(GuichetModelView):
        datamodel = ScopedInterface(BenchTicket)
        route_base = "/bench/ours"
        list_title = "Bench tickets"
        list_columns = LIST_COLUMNS
        search_columns = SEARCH_COLUMNS
        base_order = ("created_on", "desc")
        page_size = PAGE_SIZE

    return BenchTicketFabView, BenchTicketView


def build_app(url):
    from app import create_app

    app = create_app({**common.APP_SETTINGS,
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "AUTH_RATE_LIMITED": False,
        "FAB_API_SWAGGER_UI": False,
    })
    stock, ours = grid_views()
    with app.app_context():
        app.appbuilder.add_view_no_menu(stock)
        app.appbuilder.add_view_no_menu(ours)
    return app


def signed_in(app):
    from app.demo.platform import DEMO_PASSWORD

    client = app.test_client()
    response = client.post("/login/", data={"username": "admin", "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise SystemExit("could not sign in as admin")
    return client


# ---------------------------------------------------------------------------
# Database and data
# ---------------------------------------------------------------------------


KINDS = ["Panne", "Demande", "Incident", "Question", "Problème", "Erreur", "Lenteur",
         "Accès", "Installation", "Mise à jour", "Remplacement", "Configuration"]
OBJECTS = ["imprimante", "messagerie", "visioconférence", "pont audio", "ENT", "wifi", "VPN",
           "serveur", "poste de travail", "téléphone", "badge", "certificat", "fibre",
           "routeur", "compte", "mot de passe", "logiciel", "tableau numérique",
           "vidéoprojecteur", "salle de réunion"]
PLACES = ["Lyon", "Grenoble", "Villeurbanne", "Annecy", "Bron", "Besançon", "Chambéry",
          "Clermont-Ferrand", "Écully", "Vénissieux", "Saint-Étienne", "Valence",
          "Bourg-en-Bresse", "Roanne", "Vienne", "Mâcon"]
ASSIGNEES = ["Claire Fontaine", "Julien Mercier", "Sophie Lambert", "Thomas Girard",
             "Inès Benali", "Hugo Perrin", "Nathalie Roux", "Karim Haddad", "Léa Moreau",
             "Paul Durand", "Camille Petit", "Lucas Bernard", "Emma Robert", "Louis Richard",
             "Chloé Dubois", "Nathan Laurent", "Manon Simon", "Enzo Michel", "Jade Lefebvre"]


def _sql_array(values):
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


LOAD_SQL = f"""
INSERT INTO bench_ticket (id, organisation_id, reference, title, state, priority,
                          assignee, created_on, changed_on)
SELECT i,
       orgs.ids[1 + (hashint(i, 1) % array_length(orgs.ids, 1))],
       'T-' || lpad(i::text, 7, '0'),
       kinds[1 + hashint(i, 2) % {len(KINDS)}] || ' ' || objects[1 + hashint(i, 3) % {len(OBJECTS)}]
         || ' — ' || places[1 + hashint(i, 4) % {len(PLACES)}] || ', bureau ' || (hashint(i, 5) % 500),
       CASE WHEN hashint(i, 6) % 10 = 0 THEN 'new'
            WHEN hashint(i, 6) % 10 < 3 THEN 'open'
            WHEN hashint(i, 6) % 10 = 3 THEN 'pending'
            WHEN hashint(i, 6) % 10 < 7 THEN 'resolved'
            ELSE 'closed' END,
       1 + hashint(i, 7) % 4,
       CASE WHEN hashint(i, 8) % 10 = 0 THEN NULL
            ELSE assignees[1 + hashint(i, 8) % {len(ASSIGNEES)}] END,
       timestamp '2022-01-01' + (hashint(i, 9) % (3 * 365 * 86400)) * interval '1 second',
       timestamp '2022-01-01' + (hashint(i, 9) % (3 * 365 * 86400) + hashint(i, 10) % 864000)
         * interval '1 second'
FROM generate_series(1, {{rows}}) AS i,
     (SELECT array_agg(id ORDER BY id) AS ids FROM organisation) AS orgs,
     (SELECT {_sql_array(KINDS)} AS kinds, {_sql_array(OBJECTS)} AS objects,
             {_sql_array(PLACES)} AS places, {_sql_array(ASSIGNEES)} AS assignees) AS words
"""

# A cheap deterministic pseudo-random integer >= 0 per (row, column).
HASHINT_SQL = """
CREATE OR REPLACE FUNCTION hashint(i integer, salt integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8(i::bigint * 1000003 + salt)::bigint & 2147483647) $$
"""


def load_rows(app, rows, force=False):
    """Create the schema, roles, demo data and N bench rows (kept between runs)."""
    from flask_migrate import upgrade

    from app import cli, demo
    from app.extensions import db

    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        Model.metadata.create_all(db.engine, tables=[BenchTicket.__table__])
        cli.sync_roles()
        list(demo.load())
        with db.engine.begin() as connection:
            existing = connection.execute(text("SELECT count(*) FROM bench_ticket")).scalar()
            marker = connection.execute(text(
                "SELECT obj_description('bench_ticket'::regclass, 'pg_class')")).scalar()
        if existing == rows and marker == f"bench rows={rows}" and not force:
            return 0.0, False
        started = time.perf_counter()
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            cursor.execute(HASHINT_SQL)
            cursor.execute("TRUNCATE bench_ticket")
            indexes = [index for index in BenchTicket.__table__.indexes]
            for index in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {index.name}")
            cursor.execute(LOAD_SQL.replace("{rows}", str(int(rows))))
            raw.commit()
            from sqlalchemy.schema import CreateIndex

            for index in indexes:
                cursor.execute(str(CreateIndex(index).compile(dialect=db.engine.dialect)))
            cursor.execute(f"COMMENT ON TABLE bench_ticket IS 'bench rows={rows}'")
            raw.commit()
        finally:
            raw.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) bench_ticket"))
        return time.perf_counter() - started, True


# ---------------------------------------------------------------------------
# Timing the grids
# ---------------------------------------------------------------------------

REFERENCE = re.compile(r"T-\d{7}")


def cases(rows, deep_offset):
    deep_page = max(1, min(deep_offset, rows // 2) // PAGE_SIZE)
    return deep_page, [
        ("first_page", lambda v: ""),
        ("deep_page", lambda v: f"page_{v}={deep_page}"),
        ("filtered_page", lambda v: "_flt_0_state=open"),
        ("sorted_page", lambda v: f"_oc_{v}=priority&_od_{v}=desc"),
        ("keyword_search", lambda v: f"_flt_2_title={KEYWORD}"),
    ]


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_request(client, url):
    started = time.perf_counter()
    response = client.get(url)
    body = response.get_data()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed, body


def time_grids(app, rows, repetitions, warmup, deep_offset, out):
    stock, ours = "BenchTicketFabView", "BenchTicketView"
    routes = {stock: "/bench/fab/list/", ours: "/bench/ours/list/"}
    client = signed_in(app)
    deep_page, plan = cases(rows, deep_offset)
    out("page_size", PAGE_SIZE)
    out("deep_page", deep_page)
    out("deep_page_offset", deep_page * PAGE_SIZE)
    from app.extensions import db

    with app.app_context():
        opened = db.session.execute(text("SELECT count(*) FROM bench_ticket WHERE state = 'open'")).scalar()
        matches = db.session.execute(text("SELECT count(*) FROM bench_ticket WHERE title ILIKE :k"),
                                     {"k": f"%{KEYWORD}%"}).scalar()
    out("filter", "state equal to open (_flt_0_state=open)")
    out("filter_matching_rows", opened)
    out("sort", "priority descending (_oc_<view>=priority&_od_<view>=desc)")
    out("keyword", f"title contains {KEYWORD} (_flt_2_title={KEYWORD}, ILIKE)")
    out("keyword_matching_rows", matches)
    speedups, worst = {}, 0.0
    for name, args in plan:
        urls = {view: routes[view] + (f"?{args(view)}" if args(view) else "") for view in routes}
        bodies = {}
        for _ in range(warmup):
            for view, url in urls.items():
                _, bodies[view] = time_request(client, url)
        shown = {view: REFERENCE.findall(body.decode()) for view, body in bodies.items()}
        if shown[stock] != shown[ours] or not shown[ours]:
            raise SystemExit(f"{name}: the two grids do not show the same rows")
        timings = {view: [] for view in urls}
        for repetition in range(repetitions):
            order = list(urls) if repetition % 2 == 0 else list(reversed(urls))
            for view in order:  # alternate, so drift hits both alike
                timings[view].append(time_request(client, urls[view])[0])
        figures = {}
        for label, view in (("fab", stock), ("ours", ours)):
            figures[label] = (statistics.median(timings[view]), percentile(timings[view], 0.95))
            out(f"{name}_{label}_ms_p50", f"{figures[label][0]:.1f}")
            out(f"{name}_{label}_ms_p95", f"{figures[label][1]:.1f}")
        speedups[name] = figures["fab"][0] / figures["ours"][0]
        out(f"{name}_speedup", f"{speedups[name]:.1f}")
        out(f"{name}_rows_shown", len(shown[ours]))
        worst = max(worst, figures["ours"][1])
    out("speedup_basis", "median stock ms / median ours ms, per case")
    out("min_speedup_vs_fab", f"{min(speedups.values()):.1f}")
    out("min_speedup_case", min(speedups, key=speedups.get))
    out("worst_ms_p95", f"{worst:.1f}")


# ---------------------------------------------------------------------------
# Exports, each in a fresh process (so peak RSS is the export's own)
# ---------------------------------------------------------------------------


def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def database_cpu(url):
    """{backend pid: CPU seconds so far} of the PostgreSQL backends serving the bench's
    database (the server runs on this machine: read in /proc)."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        pids = [pid for pid, in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    seconds = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return seconds


def export_worker(url, fmt, rows):
    """Export the whole grid as a user does: past EXPORT_ASYNC_ROWS the request starts
    the export job (here in a thread of this process) and the figure runs until its
    file is written; below it, until the streamed response has been read."""
    import threading

    from app.extensions import db
    from app.models import ExportFile
    from app.platform import exports

    app = build_app(url)
    client = signed_in(app)
    client.get("/bench/ours/list/")  # warm the view, the templates and the pool
    baseline = rss_mb()
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets this process's peak RSS (VmHWM): the peak below is the export's
    database_before = database_cpu(url)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    response = client.get(f"/bench/ours/export/{fmt}")
    if response.status_code == 302:
        mode = "job"
        for thread in threading.enumerate():
            if thread.name == f"{exports.run_export.__module__}.{exports.run_export.__qualname__}":
                thread.join()
        with app.app_context():
            export = db.session.scalars(db.select(ExportFile).order_by(ExportFile.id.desc())).first()
            path = exports.export_path(export)
        size = os.path.getsize(path)
    elif response.status_code == 200:
        mode = "streamed"
        size, path = 0, f"/tmp/guichet-bench-export.{fmt}"
        with open(path, "wb") as sink:
            for chunk in response.response:
                size += len(chunk)
                sink.write(chunk)
        response.close()
    else:
        raise SystemExit(f"export {fmt} answered {response.status_code}")
    elapsed = time.perf_counter() - started
    end = resource.getrusage(resource.RUSAGE_SELF)
    database = sum(seconds - database_before.get(pid, 0) for pid, seconds in database_cpu(url).items())
    cpu = (end.ru_utime - usage.ru_utime) + (end.ru_stime - usage.ru_stime)
    peak = peak_rss_mb()
    exported = (csv_lines(path) if fmt == "csv" else xlsx_rows(path)) - 1
    os.unlink(path)
    print(json.dumps({"mode": mode, "rows": exported, "seconds": elapsed, "cpu_seconds": cpu,
                      "database_cpu_seconds": database, "bytes": size, "peak_mb": peak, "baseline_mb": baseline}))


def peak_rss_mb():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024


def csv_lines(path):
    """The lines of a CSV file (the bench's cells hold no line break)."""
    lines = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def xlsx_rows(path):
    """The last row number written in the first sheet, read without loading it."""
    last = b""
    with zipfile.ZipFile(path) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet:
        while chunk := sheet.read(1 << 20):
            last = (last[-200:] + chunk)
        found = re.findall(rb'<row r="(\d+)"', last)
    return int(found[-1]) if found else 0


def time_exports(url, rows, out):
    peaks = []
    for fmt in ("csv", "xlsx"):
        result = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--export-worker", fmt,
             "--database-url", url, "--rows", str(rows)],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"export {fmt} failed:\n{result.stderr[-3000:]}")
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        if figures["rows"] != rows:
            raise SystemExit(f"export {fmt} wrote {figures['rows']} rows, expected {rows}")
        out(f"export_{fmt}_rows", figures["rows"])
        out(f"export_{fmt}_mode", figures["mode"])
        out(f"export_{fmt}_seconds", f"{figures['seconds']:.2f}")
        out(f"export_{fmt}_mb", f"{figures['bytes'] / 2**20:.1f}")
        out(f"export_{fmt}_rows_per_s", f"{figures['rows'] / figures['seconds']:,.0f}".replace(",", ""))
        out(f"export_{fmt}_cpu_seconds", f"{figures['cpu_seconds']:.2f}")
        out(f"export_{fmt}_database_cpu_seconds", f"{figures['database_cpu_seconds']:.2f}")
        out(f"export_{fmt}_peak_mb", f"{figures['peak_mb']:.0f}")
        out(f"export_{fmt}_peak_over_app_mb", f"{figures['peak_mb'] - figures['baseline_mb']:.0f}")
        out(f"export_{fmt}_rss_before_export_mb", f"{figures['baseline_mb']:.0f}")
        peaks.append(figures["peak_mb"])
    out("export_peak_mb", f"{max(peaks):.0f}")
    out("export_peak_basis", "peak RSS (VmHWM, reset when the export starts) of the whole exporting process: "
                             "interpreter, app, export")


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--repetitions", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--deep-offset", type=int, default=200_000,
                        help="offset of the deep page (capped at half the rows)")
    parser.add_argument("--reload", action="store_true", help="reload the rows even if present")
    parser.add_argument("--no-export", action="store_true", help="time the grids only")
    parser.add_argument("--no-grids", action="store_true", help="time the exports only")
    parser.add_argument("--export-worker", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    if args.export_worker:
        export_worker(args.database_url, args.export_worker, args.rows)
        return

    def out(key, value):
        print(f"{key}: {value}", flush=True)

    out("cpus", os.cpu_count())
    out("load_average_at_start", f"{os.getloadavg()[0]:.2f}")
    ensure_database(args.database_url)
    app = build_app(args.database_url)
    seconds, loaded = load_rows(app, args.rows, force=args.reload)
    out("database", urlsplit(args.database_url).path.lstrip("/"))
    out("rows", args.rows)
    out("load_seconds", f"{seconds:.1f}" if loaded else "0.0")
    out("rows_reused", "no" if loaded else "yes")
    out("repetitions", args.repetitions)
    out("warmup_requests", args.warmup)
    if not args.no_grids:
        time_grids(app, args.rows, args.repetitions, args.warmup, args.deep_offset, out)
    if not args.no_export:
        time_exports(args.database_url, args.rows, out)
    out("load_average_at_end", f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
