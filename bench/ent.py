"""Desk C, ENT help and support benchmark (ENT: a school's online workspace): a
referent's help-request list over many requests and events.

    .venv/bin/python bench/ent.py [--rows N] [--database-url URL]

Builds its own PostgreSQL database (default `guichet_bench_ent`, dropped and created
again; never `test`), migrates it, loads the demo data, then adds N requests (default
200,000) spread over the two demo establishments and every status, with three events
each. Signed in as the demo `referent` (row scope: one establishment), it times the
whole request through Flask's test client for: the first page, a combined status
filter (New + Open), "created by me", a deep page, a request's page with its events,
and the CSV export of the filtered list. Prints one `key: value` line per figure.

Part `grid` (`--part grid`): the same list over `--grid-rows` requests (default
1,000,000) in its own database (default `guichet_bench_ent_grid`, kept between runs
once it holds them; rows of another size start it again), written with COPY: 40 establishments, the demo's
Lycée Victor Hugo holding a tenth, every status and application, a fifth escalated
to the demo's support desk, over three years. Timed as `admin` (every request), `desk`
(EntSupport: the requests escalated to its desk) and `referent` (EntReferent of Lycée
Victor Hugo): first page, deep page, filtered (New + Open), sorted (created on, latest
first), keyword (subject contains a word): `ent_grid_<viewer>_<case>_ms_p50` / `_p95`;
then the referent's CSV export, `ent_grid_csv_rows_per_s`.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_ent"
RUNS = 15
EXPORT_RUNS = 5


def recreate_database(url):
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name in ("", "test", "postgres"):
        raise SystemExit(f"refusing to use the database {name!r}")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def load(rows):
    from app.extensions import db

    establishments = [row[0] for row in db.session.execute(text(
        "SELECT organisation_id FROM ent_establishment ORDER BY id"))]
    users = [row[0] for row in db.session.execute(text(
        "SELECT id FROM ab_user WHERE username IN ('teacher', 'student', 'user', 'referent') ORDER BY id"))]
    desk = db.session.execute(text("SELECT support_desk_id FROM ent_establishment LIMIT 1")).scalar()
    started = time.perf_counter()
    db.session.execute(text("""
        INSERT INTO ent_request (organisation_id, application_id, subject, description, status,
                                 requester_id, requester_profile, escalated_on, support_desk_id,
                                 support_reference, support_state, event_count, created_on, changed_on)
        SELECT (:orgs)[1 + n % 2],
               (SELECT min(id) FROM ent_application) + n % 8,
               'Demande ' || n || ' : la page ne se charge plus',
               'Depuis ce matin, l''application affiche une page blanche (demande ' || n || ').',
               (ARRAY['new', 'open', 'resolved', 'closed'])[1 + (n / 2) % 4],
               (:users)[1 + n % array_length(:users, 1)],
               'teacher',
               CASE WHEN n % 10 = 0 THEN now() END,
               CASE WHEN n % 10 = 0 THEN :desk END,
               CASE WHEN n % 10 = 0 THEN 'BENCH-' || n END,
               CASE WHEN n % 10 = 0 THEN 'transmitted' END,
               3,
               now() - make_interval(mins => n), now()
        FROM generate_series(1, :rows) AS n
    """), {"orgs": establishments, "users": users, "desk": desk, "rows": rows})
    db.session.execute(text("""
        INSERT INTO workflow_event (object_type, object_id, transition, from_state, to_state,
                                    comment, actor_id, happened_on)
        SELECT 'ent_request', r.id, k.kind, r.status, r.status, 'Événement ' || k.i, r.requester_id, now()
        FROM ent_request r CROSS JOIN (VALUES (1, 'create'), (2, 'comment'), (3, 'comment')) AS k(i, kind)
    """))
    db.session.commit()
    # As autovacuum leaves a table in steady use: statistics and a visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))
    return time.perf_counter() - started


def timed(client, path, runs=RUNS):
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        body = response.get_data()
        durations.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.95) - 1], len(body)


GRID_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_ent_grid"
GRID_COLUMNS = ("id", "organisation_id", "application_id", "subject", "description", "status", "requester_id",
                "requester_profile", "escalated_on", "support_desk_id", "support_reference", "support_state",
                "event_count", "created_on", "changed_on")
TROUBLES = ["ne se charge plus", "affiche une erreur", "est très lente", "refuse mon mot de passe",
            "n'envoie plus de notification", "perd mes brouillons", "n'affiche pas mes notes",
            "reste bloquée sur l'accueil", "ne trouve pas ma classe", "ouvre une page blanche"]
THINGS = ["La messagerie", "Le cahier de textes", "L'emploi du temps", "Le casier", "La vie scolaire",
          "L'agenda", "Le porte-documents", "Le forum", "Le blog de la classe", "L'annuaire"]
GRID_KEYWORD = "blanche"  # one subject in ten


def grid_rows(url, count, seed=404):
    """`count` requests over 40 establishments (Lycée Victor Hugo a tenth), a fifth of
    them escalated to the demo's support desk (inputs read before COPY holds the table)."""
    rng = random.Random(seed)
    lycee = common.scalar(url, "SELECT id FROM organisation WHERE name = 'Lycée Victor Hugo'")
    others = common.bench_organisations(url, "establishment", 39, "Bench établissement")
    desk = common.scalar(url, "SELECT id FROM organisation WHERE name = 'Assistance ENT Auvergne-Rhône-Alpes'")
    applications = common.scalar(url, "SELECT array_agg(id) FROM ent_application")
    users = common.scalar(url, "SELECT array_agg(id) FROM ab_user WHERE username IN ('teacher', 'student', 'user')")
    first = common.scalar(url, "SELECT coalesce(max(id), 0) + 1 FROM ent_request")
    now = datetime.utcnow().replace(microsecond=0)
    return (grid_row(rng, first + offset, lycee, others, desk, applications, users, now) for offset in range(count))


def grid_row(rng, number, lycee, others, desk, applications, users, now):
    created = now - timedelta(minutes=rng.randrange(3 * 365 * 1440))
    escalated = rng.random() < 0.2
    status = rng.choice(("new", "open", "open", "resolved", "closed", "closed", "closed"))
    subject = f"{rng.choice(THINGS)} {rng.choice(TROUBLES)}"
    return (number, lycee if rng.random() < 0.1 else rng.choice(others), rng.choice(applications), subject,
            f"Depuis ce matin : {subject.lower()} (demande {number}).", status, rng.choice(users),
            rng.choice(("teacher", "student", "parent", "staff")), created + timedelta(hours=4) if escalated else None,
            desk if escalated else None, f"GRID-{number}" if escalated else None,
            rng.choice(("transmitted", "answered", "resolved")) if escalated else None, rng.randint(1, 6), created,
            created)


def grid_bench(args):
    url = args.grid_database_url
    app, total = common.grid_rows_loaded(url, "ent_request", GRID_COLUMNS,
                                         lambda app: grid_rows(url, args.grid_rows), args.grid_rows, "ent")
    escalated = common.scalar(url, "SELECT count(*) FROM ent_request r JOIN organisation o ON o.id = r.support_desk_id "
                                   "WHERE r.escalated_on IS NOT NULL AND o.name = 'Assistance ENT Auvergne-Rhône-Alpes'")
    lycee = common.scalar(url, "SELECT count(*) FROM ent_request r JOIN organisation o ON o.id = r.organisation_id "
                               "WHERE o.name = 'Lycée Victor Hugo'")
    from app.views.ent import StatusIsOneOf

    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "HelpRequestView")
    status = view._filter_arg("status", StatusIsOneOf)
    keyword = common.filter_arg(app, "HelpRequestView", "subject", "FilterContains")
    viewers = {"admin": ("admin", total), "desk": ("desk", escalated), "referent": ("referent", lycee)}
    common.time_grid(app, "ent_grid", "/helprequests", viewers, {
        "first": "",
        "deep": lambda page: f"page_HelpRequestView={page}",
        "filtered": f"{status}=new&{status}=open",
        "sorted": "_oc_HelpRequestView=created_on&_od_HelpRequestView=desc",
        "keyword": f"{keyword}={GRID_KEYWORD}",
    })
    common.time_csv_export(app, "ent_grid", "/helprequests", "referent")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("list", "grid"), default="list",
                        help="list: the referent's list on a fresh database; grid: the list at scale")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--grid-rows", type=int, default=1_000_000)
    parser.add_argument("--grid-database-url", default=GRID_URL)
    args = parser.parse_args()
    if args.part == "grid":
        return grid_bench(args)
    recreate_database(args.database_url)

    from flask_migrate import upgrade

    from app import cli, create_app, demo
    from app.extensions import db

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": args.database_url,
                      "WTF_CSRF_ENABLED": False, "EXPORT_ASYNC_ROWS": 10 ** 9, "REDIS_URL": None,
                      "RATELIMIT_ENABLED": False, "AUTH_RATE_LIMITED": False, "SERVER_NAME": "localhost"})
    with app.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
        seconds = load(args.rows)
        total = db.session.execute(text("SELECT count(*) FROM ent_request")).scalar()
        events = db.session.execute(text("SELECT count(*) FROM workflow_event")).scalar()
        some_id = db.session.execute(text(
            "SELECT max(r.id) FROM ent_request r JOIN organisation o ON o.id = r.organisation_id "
            "WHERE o.name = 'Lycée Victor Hugo'")).scalar()
        view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "HelpRequestView")
        from app.views.ent import CreatedByMe, StatusIsOneOf

        status_arg = view._filter_arg("status", StatusIsOneOf)
        mine_arg = view._filter_arg("requester", CreatedByMe)
    print(f"requests: {total}")
    print(f"events: {events}")
    print(f"load_seconds: {seconds:.1f}")

    client = app.test_client()
    response = client.post("/login/", data={"username": "referent", "password": "demo1234"})
    assert response.status_code == 302
    probes = {
        "list_first_page": "/helprequests/list/",
        "list_new_and_open": f"/helprequests/list/?{status_arg}=new&{status_arg}=open",
        "list_created_by_me": f"/helprequests/list/?{mine_arg}=1",
        "list_deep_page": "/helprequests/list/?page_HelpRequestView=2000",
        "request_page": f"/helprequests/show/{some_id}",
    }
    for key, path in probes.items():
        median, p95, _ = timed(client, path)
        print(f"{key}_ms_median: {median:.1f}")
        print(f"{key}_ms_p95: {p95:.1f}")

    rates = []
    for _ in range(EXPORT_RUNS):
        started = time.perf_counter()
        response = client.get(f"/helprequests/export/csv?{status_arg}=new&{status_arg}=open")
        lines = response.get_data(as_text=True).count("\n") - 1
        rates.append(lines / (time.perf_counter() - started))
    print(f"export_csv_new_and_open_rows: {lines}")
    print(f"export_csv_rows_per_s: {statistics.median(rates):.0f}")  # median of EXPORT_RUNS

    # The same export past EXPORT_ASYNC_ROWS: written by a job (here a thread), waited for.
    app.config["EXPORT_ASYNC_ROWS"] = 0
    started = time.perf_counter()
    location = client.get(f"/helprequests/export/csv?{status_arg}=new&{status_arg}=open").headers["Location"]
    while (status := client.get(f"{location}/status").get_json())["state"] not in ("ready", "failed"):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    print(f"export_job_csv_rows: {status['done']}")
    print(f"export_job_csv_rows_per_s: {status['done'] / elapsed:.0f}")


if __name__ == "__main__":
    main()
