"""Keyword search over closed tickets (desk B) on PostgreSQL.

    .venv/bin/python bench/tickets.py [--rows N] [--database-url URL]

Builds the schema with the migrations (`flask db upgrade`: among others the trigram
index of the closed tickets' search text, per project), loads the demo data, then N
tickets (default 1,000,000) over 20 projects of one client company, 60 % of them
closed. It then times the project page's keyword search exactly as the page runs it
(`app.rules.tickets.closed_tickets`: the signed-in client's row scope, the project,
state Closed, each word in the title or description or equal to the reference; the
count, exact up to a limit, and the first page of 10, latest closed first), for
several keywords on every project, and prints `key: value` lines. Never touches the
`test` database.

Part `grid` (`--part grid`): the back office's ticket grid (/tickets/) over `--grid-rows`
tickets (default 1,000,000) in its own database (default `guichet_bench_tickets_grid`,
kept between runs once it holds them), written with COPY: 200 projects of 20 client
companies run by 10 vendors, the demo's Atelier Numérique running a tenth, every state
and priority, over three years. Timed as `admin` (every ticket) and as `lead` (a
ProjectLead of Atelier Numérique: its projects' tickets): first page, deep page,
filtered (state New), sorted (priority, highest first), keyword (title contains a
word): `tickets_grid_<viewer>_<case>_ms_p50` / `_p95`; then the lead's CSV export,
`tickets_grid_csv_rows_per_s`.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common  # noqa: E402

from common import ensure_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_tickets"
PROJECTS = 20
CLIENT_COMPANY = "Les Nuits de Fourvière"
# Words of the generated titles and descriptions; the keywords searched are among them.
SUBJECTS = ["Erreur", "Problème", "Demande", "Anomalie", "Question", "Lenteur", "Évolution", "Blocage"]
OBJECTS = ["panier", "paiement", "billet", "plan de salle", "formulaire", "newsletter", "badge",
           "tarif réduit", "mail de confirmation", "export", "logo", "page d'accueil", "imprimante",
           "inscription", "facture", "catalogue", "agenda", "moteur de recherche", "traduction", "QR code"]
PLACES = ["sur mobile", "sur Firefox", "sur la recette", "en production", "pour les exposants",
          "pour les visiteurs", "le week-end", "depuis la mise à jour", "à l'ouverture des ventes"]
KEYWORDS = ["imprimante", "paiement", "traduction", "moteur recherche", "QR", "introuvable"]


def _array(values):
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


LOAD_SQL = f"""
INSERT INTO ticket (reference, project_id, organisation_id, title, description, priority, state,
                    declarant_id, created_on, changed_on, closed_on)
SELECT 'B' || lpad(upper(to_hex(i)), 6, '0'),
       (CAST(:first_project AS integer) + i % {PROJECTS}),
       :organisation_id,
       ({_array(SUBJECTS)})[1 + (i / 3) % {len(SUBJECTS)}] || ' ' || ({_array(OBJECTS)})[1 + (i / {PROJECTS}) % {len(OBJECTS)}]
           || ' ' || ({_array(PLACES)})[1 + (i / 7) % {len(PLACES)}],
       'Constaté ' || ({_array(PLACES)})[1 + (i / 11) % {len(PLACES)}] || ', voir aussi '
           || ({_array(OBJECTS)})[1 + (i / 13) % {len(OBJECTS)}] || ' (cas n° ' || i || ').',
       (ARRAY['low', 'medium', 'high', 'blocking'])[1 + i % 4],
       CASE WHEN (i / {PROJECTS}) % 10 < 6 THEN 'closed'
            ELSE (ARRAY['new', 'assigned', 'in_progress', 'waiting_rd', 'waiting_client',
                        'lead_followup', 'returned', 'processed'])[1 + (i / 3) % 8] END,
       :declarant_id,
       now() - (i || ' minutes')::interval,
       now() - (i || ' minutes')::interval,
       CASE WHEN (i / {PROJECTS}) % 10 < 6 THEN now() - (i || ' minutes')::interval + interval '2 days' END
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS i
"""
# The ticket table's GIN (trigram) indexes, as the migrations made them.
GIN_INDEXES_SQL = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ticket' AND indexdef LIKE '% USING gin %'"


def build(url, rows):
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app import cli, create_app, demo
    from app.extensions import db
    from app.models import Organisation, Project, ProjectPhase, ProjectTicket

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                      "AUTH_RATE_LIMITED": False})
    with app.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
        sm = app.appbuilder.sm
        client, lead = sm.find_user(username="client"), sm.find_user(username="lead")
        company = db.session.query(Organisation).filter_by(name=CLIENT_COMPANY).one()
        vendor = db.session.query(Organisation).filter_by(name="Atelier Numérique SAS").one()
        projects = []
        for number in range(PROJECTS):
            name = f"Banc d'essai {number + 1:02d}"
            project = db.session.query(Project).filter_by(name=name).first()
            if project is None:
                project = Project(name=name, organisation=company, vendor=vendor, vendor_lead=lead,
                                  client_lead=client, phase=ProjectPhase.operation,
                                  support_mailbox="support@atelier-numerique.example")
                db.session.add(project)
                db.session.flush()
            projects.append(project.id)
        db.session.commit()
        if projects != list(range(projects[0], projects[0] + PROJECTS)):
            raise SystemExit("the bench projects must have consecutive ids: use a fresh database")
        have = db.session.scalar(select(func.count()).select_from(ProjectTicket).where(ProjectTicket.project_id.in_(projects)))
        if have < rows:
            started = time.perf_counter()
            gin_indexes = db.session.execute(text(GIN_INDEXES_SQL)).all()
            for name, _ in gin_indexes:  # rebuilt once after the load: much faster
                db.session.execute(text(f"DROP INDEX {name}"))
            step = 200_000
            for start in range(have + 1, rows + 1, step):
                db.session.execute(text(LOAD_SQL), {
                    "first_project": projects[0], "organisation_id": company.id, "declarant_id": client.id,
                    "start": start, "stop": min(rows, start + step - 1)})
                db.session.commit()
            for _, definition in gin_indexes:
                db.session.execute(text(definition))
            db.session.commit()
            print(f"load_s: {time.perf_counter() - started:.1f}")
        db.session.execute(text("ANALYZE ticket"))
        db.session.commit()
    return app, projects


def measure(app, projects, repeat):
    from flask import g

    from app.extensions import db
    from app.rules import tickets as rules
    from app.security import viewer_for

    timings, matches = [], []
    with app.test_request_context():
        user = app.appbuilder.sm.find_user(username="client")
        g.viewer = viewer_for(user)
        for _ in range(repeat):
            for keywords in KEYWORDS:
                for project_id in projects:
                    started = time.perf_counter()
                    count, page = rules.closed_tickets(project_id, keywords, page=0, page_size=10)
                    timings.append((time.perf_counter() - started) * 1000)
                    matches.append(count)
                    db.session.expunge_all()
    return timings, matches


GRID_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_tickets_grid"
GRID_COLUMNS = ("id", "reference", "project_id", "organisation_id", "title", "description", "priority", "state",
                "declarant_id", "assignee_id", "closed_on", "awaiting_vendor_since", "created_on", "changed_on")
GRID_STATES = ["closed"] * 12 + ["new", "assigned", "in_progress", "in_progress", "waiting_rd", "waiting_client",
                                 "lead_followup", "returned", "processed"]
GRID_KEYWORD = "imprimante"  # one title in twenty


def grid_projects(url):
    """200 projects (made once) of 20 client companies, run by 10 vendors: Atelier
    Numérique (the demo's `lead`) one of them. Their (id, client) pairs."""
    import psycopg

    clients = common.bench_organisations(url, "client", 20, "Bench client")
    vendors = [common.scalar(url, "SELECT id FROM organisation WHERE name = 'Atelier Numérique SAS'"),
               *common.bench_organisations(url, "vendor", 9, "Bench vendor")]
    lead = common.scalar(url, "SELECT id FROM ab_user WHERE username = 'lead'")
    with psycopg.connect(common.psycopg_url(url)) as connection:
        projects = connection.execute("SELECT id, organisation_id FROM ticket_project WHERE name LIKE 'Grille %' "
                                      "ORDER BY id").fetchall()
        for number in range(len(projects), 200):
            projects.append(connection.execute(
                "INSERT INTO ticket_project (name, organisation_id, vendor_id, vendor_lead_id, phase, created_on, "
                "changed_on) VALUES (%s, %s, %s, %s, 'operation', now(), now()) RETURNING id, organisation_id",
                (f"Grille {number:03d}", clients[number % 20], vendors[number % 10], lead)).fetchone())
        connection.commit()
    return projects


def grid_rows(url, count, seed=202):
    """`count` tickets, uniform over the projects, 60 % closed (inputs read before COPY
    holds the table)."""
    rng = random.Random(seed)
    projects = grid_projects(url)
    people = [row[0] for row in _rows(url, "SELECT id FROM ab_user WHERE username IN ('client', 'cmartin')")]
    staff = [row[0] for row in _rows(url, "SELECT id FROM ab_user WHERE username IN ('lead', 'agent')")]
    first = common.scalar(url, "SELECT coalesce(max(id), 0) + 1 FROM ticket")
    now = datetime.utcnow().replace(microsecond=0)
    return (grid_row(rng, first + offset, projects, people, staff, now) for offset in range(count))


def grid_row(rng, number, projects, people, staff, now):
    project, client = rng.choice(projects)
    state = rng.choice(GRID_STATES)
    created = now - timedelta(minutes=rng.randrange(3 * 365 * 1440))
    return (number, f"G{number:06X}", project, client,
            f"{rng.choice(SUBJECTS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}",
            f"Constaté {rng.choice(PLACES)}, voir aussi {rng.choice(OBJECTS)}.",
            rng.choice(("low", "medium", "medium", "high", "blocking")), state, rng.choice(people),
            None if state == "new" else rng.choice(staff), created + timedelta(days=2) if state == "closed" else None,
            created if state in ("new", "assigned", "returned") else None, created, created)


def _rows(url, sql):
    import psycopg

    with psycopg.connect(common.psycopg_url(url)) as connection:
        return connection.execute(sql).fetchall()


def grid_bench(args):
    url = args.grid_database_url
    app, total = common.grid_rows_loaded(url, "ticket", GRID_COLUMNS,
                                         lambda app: grid_rows(url, args.grid_rows), args.grid_rows, "tickets")
    atelier = common.scalar(url, "SELECT count(*) FROM ticket t JOIN ticket_project p ON p.id = t.project_id "
                                 "JOIN organisation o ON o.id = p.vendor_id WHERE o.name = 'Atelier Numérique SAS'")
    state = common.filter_arg(app, "ProjectTicketView", "state", "FilterEqual")
    keyword = common.filter_arg(app, "ProjectTicketView", "title", "FilterContains")
    common.time_grid(app, "tickets_grid", "/tickets", {"admin": ("admin", total), "lead": ("lead", atelier)}, {
        "first": "",
        "deep": lambda page: f"page_ProjectTicketView={page}",
        "filtered": f"{state}=new",
        "sorted": "_oc_ProjectTicketView=priority&_od_ProjectTicketView=desc",
        "keyword": f"{keyword}={GRID_KEYWORD}",
    })
    common.time_csv_export(app, "tickets_grid", "/tickets", "lead")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("search", "grid"), default="search",
                        help="search: the closed tickets' keyword search; grid: the ticket grid at scale")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--grid-rows", type=int, default=1_000_000)
    parser.add_argument("--grid-database-url", default=GRID_URL)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("the benchmark runs on PostgreSQL")
    if args.part == "grid":
        return grid_bench(args)
    ensure_database(args.database_url)
    app, projects = build(args.database_url, args.rows)
    measure(app, projects, 1)  # warm the caches
    timings, matches = measure(app, projects, args.repeat)
    timings.sort()
    print(f"rows: {args.rows}")
    print(f"projects: {len(projects)}")
    print(f"searches: {len(timings)}")
    print(f"matches_median: {statistics.median(matches):.0f}")
    print(f"search_ms_p50: {statistics.median(timings):.1f}")
    print(f"search_ms_p95: {timings[int(len(timings) * 0.95) - 1]:.1f}")
    print(f"search_ms_max: {timings[-1]:.1f}")
    print("target_search_ms: 100")


if __name__ == "__main__":
    main()
