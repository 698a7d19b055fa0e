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
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("the benchmark runs on PostgreSQL")
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
