"""Grid and export benchmark: a stock FAB ModelView against Guichet's base grid.

    .venv/bin/python bench/grid.py [--rows N] [--database-url URL] [--seed S]

Loads N rows (default 1,000,000; drawn from the seed, by COPY) into a representative
ticket table on PostgreSQL, kept between runs (topped up when rows are missing,
rebuilt when their shape differs), by default in one database per size
(guichet_bench_grid_1m, guichet_bench_grid_10m, …) so that a 10M run keeps the 1M table.
Then times, server-side (whole request through Flask's test client), as the demo
`admin` and as a member of one organisation holding a tenth of the rows, a stock
`flask_appbuilder.ModelView` + `SQLAInterface` (scoped by a base filter for the
member) and a `GuichetModelView` + `ScopedInterface` on the same table and indexes:
first page, a deep page (ours: by the keyset link its pager gives), a filtered page,
a sorted page and a keyword search, at the median and p95. Then it exports all N rows
through our view as CSV and XLSX, each in a fresh subprocess, and reports rows/s and
that process's peak RSS.

Prints one `key: value` line per figure. Never touches the `test` database.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta
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

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_grid_{size}"
PAGE_SIZE = 25


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
        # A scoped viewer's grid: the scope column first, then the order (covering the
        # title: a keyword search reads no table rows to count its matches) or a filter.
        Index("ix_bench_ticket_org_created_title", "organisation_id", "created_on", "id",
              postgresql_include=["title"]),
        Index("ix_bench_ticket_org_state_created", "organisation_id", "state", "created_on", "id"),
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


def member_organisations():
    """The signed-in person's organisations, as a stock FAB grid scopes its rows (a base filter)."""
    from flask import g

    from app.extensions import db
    from app.models import Membership

    return [org for (org,) in db.session.query(Membership.organisation_id).filter_by(user_id=g.user.id)]


def grid_views():
    """The grids on the same table: stock FAB ModelViews (unscoped for admin; scoped as
    stock FAB does it, a base filter on the member's organisations) and our base grid
    (its row scope, for every viewer)."""
    from flask_appbuilder.models.sqla.filters import FilterInFunction

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

    class BenchTicketFabScopedView(BenchTicketFabView):
        route_base = "/bench/fabscoped"
        base_filters = [["organisation_id", FilterInFunction, member_organisations]]

    class BenchTicketView(GuichetModelView):
        datamodel = ScopedInterface(BenchTicket)
        route_base = "/bench/ours"
        list_title = "Bench tickets"
        list_columns = LIST_COLUMNS
        search_columns = SEARCH_COLUMNS
        base_order = ("created_on", "desc")
        page_size = PAGE_SIZE

    return BenchTicketFabView, BenchTicketFabScopedView, BenchTicketView


def build_app(url):
    from app import create_app

    app = create_app({**common.APP_SETTINGS,
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "AUTH_RATE_LIMITED": False,
        "FAB_API_SWAGGER_UI": False,
    })
    with app.app_context():
        for view in grid_views():
            app.appbuilder.add_view_no_menu(view)
    return app


def signed_in(app, login="admin"):
    from app.demo.platform import DEMO_PASSWORD

    client = app.test_client()
    response = client.post("/login/", data={"username": login, "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {login}")
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


MEMBER_ORGANISATION = "Lycée Victor Hugo"  # holds a tenth of the rows; the scoped member's
MEMBER_SHARE = 0.1
MEMBER_LOGIN, MEMBER_ROLE = "bench_member", "Bench member"
STATES = [("new", 1), ("open", 2), ("pending", 1), ("resolved", 3), ("closed", 3)]
FIRST_DAY = datetime(2022, 1, 1)
SPAN_SECONDS = 3 * 365 * 86400
CHUNK = 100_000
COLUMNS = ("id", "organisation_id", "reference", "title", "state", "priority",
           "assignee", "created_on", "changed_on")


def shape(seed):
    """What a kept table must match to be reused (its rows come from this seed and
    this generator); its row count is read from the table."""
    return f"bench shape=3 seed={seed} member={MEMBER_ORGANISATION} share={MEMBER_SHARE}"


def chunk_lines(seed, index, member_org, other_orgs):
    """Rows index*CHUNK+1 .. (index+1)*CHUNK as COPY text lines: each chunk has its own
    seeded generator, so topping a table up draws the rows a full load would."""
    rng = random.Random(f"{seed}/{index}")
    states = rng.choices([name for name, _ in STATES], [weight for _, weight in STATES], k=CHUNK)
    first = index * CHUNK + 1
    for offset in range(CHUNK):
        i = first + offset
        org = member_org if rng.random() < MEMBER_SHARE else rng.choice(other_orgs)
        title = (f"{rng.choice(KINDS)} {rng.choice(OBJECTS)} — {rng.choice(PLACES)}, "
                 f"bureau {rng.randrange(500)}")
        assignee = "\\N" if rng.random() < 0.1 else rng.choice(ASSIGNEES)
        created = FIRST_DAY + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        changed = created + timedelta(seconds=rng.randrange(864000))
        yield i, (f"{i}\t{org}\tT-{i:08d}\t{title}\t{states[offset]}\t{rng.randint(1, 4)}\t"
                  f"{assignee}\t{created:%Y-%m-%d %H:%M:%S}\t{changed:%Y-%m-%d %H:%M:%S}\n")


def copy_rows(cursor, seed, start, rows, member_org, other_orgs):
    """COPY rows start+1 .. rows into bench_ticket."""
    with cursor.copy(f"COPY bench_ticket ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for index in range(start // CHUNK, (rows + CHUNK - 1) // CHUNK):
            block = [line for i, line in chunk_lines(seed, index, member_org, other_orgs)
                     if start < i <= rows]
            copy.write("".join(block))


def ensure_member(app):
    """A member of MEMBER_ORGANISATION only, whose role lists both bench grids."""
    from app.demo.platform import ensure_account
    from app.extensions import db

    sm = app.appbuilder.sm
    role = sm.find_role(MEMBER_ROLE) or sm.add_role(MEMBER_ROLE)
    for view in ("BenchTicketFabScopedView", "BenchTicketView"):
        pair = sm.add_permission_view_menu("can_list", view)
        if pair not in role.permissions:
            sm.add_permission_role(role, pair)
    ensure_account(MEMBER_LOGIN, MEMBER_ROLE, "Bench", "Member", [MEMBER_ORGANISATION])
    db.session.commit()


def ensure_indexes(engine):
    """The table's indexes as BenchTicket declares them (kept rows, indexes changed):
    the missing ones built, the ones it no longer declares dropped."""
    from sqlalchemy.schema import CreateIndex

    declared = {index.name: index for index in BenchTicket.__table__.indexes}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        present = set(connection.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'bench_ticket' AND indexname LIKE 'ix_bench_ticket_%'"
        )).scalars())
        for name in present - set(declared):
            connection.execute(text(f"DROP INDEX {name}"))
        for name in set(declared) - present:
            connection.execute(text(str(CreateIndex(declared[name]).compile(dialect=engine.dialect))))
        if set(declared) - present:
            connection.execute(text("VACUUM (ANALYZE) bench_ticket"))


def load_rows(app, rows, seed, force=False, out=print):
    """Create the schema, roles, demo data and N bench rows. A kept table of the same
    shape is reused, topped up when it has fewer rows; rebuilt otherwise."""
    from flask_migrate import upgrade
    from sqlalchemy.schema import CreateIndex

    from app import cli, demo
    from app.extensions import db

    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        Model.metadata.create_all(db.engine, tables=[BenchTicket.__table__])
        cli.sync_roles()
        list(demo.load())
        ensure_member(app)
        with db.engine.begin() as connection:
            existing = connection.execute(text("SELECT coalesce(max(id), 0) FROM bench_ticket")).scalar()
            marker = connection.execute(text(
                "SELECT obj_description('bench_ticket'::regclass, 'pg_class')")).scalar()
            orgs = connection.execute(text("SELECT id, name FROM organisation ORDER BY id")).all()
        member_org = next(org_id for org_id, name in orgs if name == MEMBER_ORGANISATION)
        other_orgs = [org_id for org_id, name in orgs if name != MEMBER_ORGANISATION]
        start = existing if marker == shape(seed) and existing <= rows and not force else 0
        out("rows_kept", start)
        if start == rows:
            started = time.perf_counter()
            ensure_indexes(db.engine)
            return time.perf_counter() - started, 0
        started = time.perf_counter()
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            if start == 0:
                cursor.execute("TRUNCATE bench_ticket")
            cursor.execute("COMMENT ON TABLE bench_ticket IS NULL")  # until the load completes
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'bench_ticket' "
                           "AND indexname LIKE 'ix_bench_ticket_%'")
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
            indexes = list(BenchTicket.__table__.indexes)
            raw.commit()
            copy_rows(cursor, seed, start, rows, member_org, other_orgs)
            raw.commit()
            for index in indexes:
                cursor.execute(str(CreateIndex(index).compile(dialect=db.engine.dialect)))
            cursor.execute(f"COMMENT ON TABLE bench_ticket IS '{shape(seed)}'")
            raw.commit()
        finally:
            raw.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) bench_ticket"))
        return time.perf_counter() - started, rows - start


# ---------------------------------------------------------------------------
# Timing the grids
# ---------------------------------------------------------------------------

REFERENCE = re.compile(r"T-\d{8}")


WORDS = [word for word in OBJECTS if " " not in word]  # a keyword search looks for one word
TARGET_P95_MS, TARGET_SPEEDUP = 15.0, 5.0


def parameters(seed):
    """The cases' parameters, drawn from the seed (so runs of one seed compare)."""
    rng = random.Random(f"{seed}/cases")
    return {"state": rng.choice(["open", "pending", "new"]), "keyword": rng.choice(WORDS)}


def deep_link(app, viewer, deep_page):
    """Our grid's link to `deep_page` as its pager hands it out: a keyset link after the
    last row of the page before (that row read here, in the grid's order and scope)."""
    from app.extensions import db

    with app.app_context():
        query = db.session.query(BenchTicket).order_by(BenchTicket.created_on.desc(), BenchTicket.id.desc())
        if viewer["organisation_id"] is not None:
            query = query.filter(BenchTicket.organisation_id == viewer["organisation_id"])
        row = query.offset(deep_page * PAGE_SIZE - 1).limit(1).one()
        datamodel = next(v.datamodel for v in app.appbuilder.baseviews if type(v).__name__ == "BenchTicketView")
        column = datamodel.seek_column("created_on")
        token = datamodel.seek_token(("created_on", "desc"), column, row)
    return f"page_BenchTicketView={deep_page}&after_BenchTicketView={token}"


def cases(app, viewer, deep_offset, chosen):
    deep_page = max(1, min(deep_offset, viewer["rows"] // 2) // PAGE_SIZE)
    seek = deep_link(app, viewer, deep_page)
    return deep_page, [
        ("first_page", lambda v: ""),
        ("deep_page", lambda v: seek if v == "BenchTicketView" else f"page_{v}={deep_page}"),
        ("filtered_page", lambda v: f"_flt_0_state={chosen['state']}"),
        ("sorted_page", lambda v: f"_oc_{v}=priority&_od_{v}=desc"),
        ("keyword_search", lambda v: f"_flt_2_title={chosen['keyword']}"),
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


def timed(client, urls, repetitions, warmup):
    """{view: [ms]} for the same case on each grid, after checking they show the same
    rows. Each grid is timed in a block of its own: at 10M rows a stock request runs
    seconds of parallel scans, which would otherwise land on the next request timed."""
    bodies = {}
    for _ in range(warmup):
        for view, url in urls.items():
            _, bodies[view] = time_request(client, url)
    shown = {view: REFERENCE.findall(body.decode()) for view, body in bodies.items()}
    if len({tuple(rows) for rows in shown.values()}) != 1 or not next(iter(shown.values())):
        raise SystemExit(f"{urls}: the grids do not show the same rows")
    timings = {view: [] for view in urls}
    for view, url in urls.items():
        time_request(client, url)  # this grid's pages back in the cache
        timings[view] = [time_request(client, url)[0] for _ in range(repetitions)]
    return timings, len(next(iter(shown.values())))


def time_grids(app, rows, seed, repetitions, warmup, deep_offset, out):
    from app.extensions import db

    ours = "BenchTicketView"
    chosen = parameters(seed)
    with app.app_context():
        member_org = db.session.execute(text("SELECT id FROM organisation WHERE name = :n"),
                                        {"n": MEMBER_ORGANISATION}).scalar()
        member_rows = db.session.execute(text("SELECT count(*) FROM bench_ticket WHERE organisation_id = :o"),
                                         {"o": member_org}).scalar()
        matching = db.session.execute(text(
            "SELECT count(*) FILTER (WHERE state = :s), count(*) FILTER (WHERE title ILIKE :k) FROM bench_ticket"),
            {"s": chosen["state"], "k": f"%{chosen['keyword']}%"}).one()
    viewers = [
        {"name": "admin", "login": "admin", "stock": "BenchTicketFabView", "route": "/bench/fab/list/",
         "organisation_id": None, "rows": rows},
        {"name": "member", "login": MEMBER_LOGIN, "stock": "BenchTicketFabScopedView",
         "route": "/bench/fabscoped/list/", "organisation_id": member_org, "rows": member_rows},
    ]
    out("page_size", PAGE_SIZE)
    out("member", f"{MEMBER_LOGIN}, member of {MEMBER_ORGANISATION} only (our grid: its row scope; "
                  "stock FAB: a base filter on the member's organisations)")
    out("member_rows", member_rows)
    out("member_share_of_rows", f"{member_rows / rows:.3f}")
    out("filter", f"state equal to {chosen['state']} (_flt_0_state={chosen['state']})")
    out("filter_matching_rows", matching[0])
    out("sort", "priority descending (_oc_<view>=priority&_od_<view>=desc)")
    out("keyword", f"title contains {chosen['keyword']} (_flt_2_title={chosen['keyword']}, ILIKE)")
    out("keyword_matching_rows", matching[1])
    out("deep_page_basis", "stock: page_<view>=N (OFFSET); ours: the keyset link its pager gives to page N")
    speedups, worst = {}, 0.0
    for viewer in viewers:
        who = viewer["name"]
        client = signed_in(app, viewer["login"])
        routes = {ours: "/bench/ours/list/", viewer["stock"]: viewer["route"]}
        deep_page, plan = cases(app, viewer, deep_offset, chosen)
        out(f"{who}_deep_page", deep_page)
        out(f"{who}_deep_page_offset", deep_page * PAGE_SIZE)
        for name, args in plan:
            urls = {view: routes[view] + (f"?{args(view)}" if args(view) else "") for view in routes}
            timings, shown = timed(client, urls, repetitions, warmup)
            figures = {}
            for label, view in (("fab", viewer["stock"]), ("ours", ours)):
                figures[label] = (statistics.median(timings[view]), percentile(timings[view], 0.95))
                out(f"{who}_{name}_{label}_ms_p50", f"{figures[label][0]:.1f}")
                out(f"{who}_{name}_{label}_ms_p95", f"{figures[label][1]:.1f}")
            speedups[f"{who}_{name}"] = figures["fab"][0] / figures["ours"][0]
            out(f"{who}_{name}_speedup", f"{speedups[f'{who}_{name}']:.1f}")
            out(f"{who}_{name}_rows_shown", shown)
            worst = max(worst, figures["ours"][1])
        offset_url = f"/bench/ours/list/?page_{ours}={deep_page}"
        seek_url = f"/bench/ours/list/?{dict(plan)['deep_page'](ours)}"
        if REFERENCE.findall(time_request(client, offset_url)[1].decode()) != \
                REFERENCE.findall(time_request(client, seek_url)[1].decode()):
            raise SystemExit("the deep page by offset and by its keyset link differ")
        by_offset = [time_request(client, offset_url)[0] for _ in range(max(5, repetitions // 5))]
        out(f"{who}_deep_page_by_offset_ours_ms_p50", f"{statistics.median(by_offset):.1f}")
    out("speedup_basis", "median stock ms / median ours ms, per viewer and case")
    out("min_speedup_vs_fab", f"{min(speedups.values()):.1f}")
    out("min_speedup_case", min(speedups, key=speedups.get))
    out("worst_ms_p95", f"{worst:.1f}")
    out("target_p95_ms", f"{TARGET_P95_MS:.0f}")
    out("p95_target_met", "yes" if worst <= TARGET_P95_MS else "no")
    out("target_min_speedup", f"{TARGET_SPEEDUP:.0f}")
    out("speedup_target_met", "yes" if min(speedups.values()) >= TARGET_SPEEDUP else "no")


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


def size_label(rows):
    """1000000 -> '1m', 10000000 -> '10m', 50000 -> '50k', 1234 -> '1234'."""
    for unit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if rows % unit == 0:
            return f"{rows // unit}{suffix}"
    return str(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="default: guichet_bench_grid_<size> on 127.0.0.1, one database per --rows")
    parser.add_argument("--repetitions", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--deep-offset", type=int, default=200_000,
                        help="offset of the deep page (capped at half the rows)")
    parser.add_argument("--seed", type=int, default=16, help="seed of the rows and of the cases' parameters")
    parser.add_argument("--reload", action="store_true", help="reload the rows even if present")
    parser.add_argument("--no-export", action="store_true", help="time the grids only")
    parser.add_argument("--no-grids", action="store_true", help="time the exports only")
    parser.add_argument("--export-worker", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.database_url = args.database_url or DEFAULT_URL.format(size=size_label(args.rows))

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
    out("machine_ms_at_start", f"{common.machine_ms():.1f}")
    ensure_database(args.database_url)
    app = build_app(args.database_url)
    out("database", urlsplit(args.database_url).path.lstrip("/"))
    out("rows", args.rows)
    out("seed", args.seed)
    seconds, loaded = load_rows(app, args.rows, args.seed, force=args.reload, out=out)
    out("rows_loaded", loaded)
    out("load_seconds", f"{seconds:.1f}")
    out("load_basis", "COPY of the missing rows, the missing indexes built, VACUUM ANALYZE (0: all kept)")
    if loaded:
        out("load_rows_per_s", f"{loaded / seconds:.0f}")
    out("repetitions", args.repetitions)
    out("warmup_requests", args.warmup)
    if not args.no_grids:
        time_grids(app, args.rows, args.seed, args.repetitions, args.warmup, args.deep_offset, out)
    if not args.no_export:
        time_exports(args.database_url, args.rows, out)
    out("load_average_at_end", f"{os.getloadavg()[0]:.2f}")
    out("machine_ms_at_end", f"{common.machine_ms():.1f}")
    out("machine_ms_basis", "bench/common.machine_ms: a fixed piece of Python work, median of 9 (lower is faster)")


if __name__ == "__main__":
    main()
