"""Desk D, event ticketing benchmark: the shotgun — N buyers rush one ticket type the
moment its sale opens.

    .venv/bin/python bench/events.py [--buyers N] [--capacity C] [--database-url URL]

Builds the schema in its own PostgreSQL database (default `guichet_bench_events`,
created if missing; never `test`) with `flask db upgrade` and the demo data, creates
an event whose sale opens two seconds later with one open ticket type of capacity C
(default 100), and N buyer accounts (default 300). The buyers are served as `make
run` serves requests: 2 worker processes of 4 threads each (`--processes`,
`--threads`) take the next buyer in line from the opening on and book through
`app.rules.events.book` (visibility, sale window, restrictions, one place per person,
the capacity counter, the reservation, its history row and mail) and commit.

Prints `booked`, `oversold` (places beyond the capacity, counted from the rows),
`duplicates_per_person` (places beyond one per buyer), `refused`, `errors`;
`book_ms_p50` / `book_ms_p95`, each attempt's booking from its start to its commit
(waits for the counter's row lock included), booked or refused; `answered_ms_p50` /
`answered_ms_p95`, each buyer's answer from the opening (the wait in line included);
and `rush_ms`, the opening to the last answer.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time as clock
import uuid
from collections import Counter
from datetime import timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402

from sqlalchemy import create_engine, func, select, text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_events"


def ensure_database(url):
    """The benchmark's own database, emptied."""
    common.ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(url, pool):
    from flask_migrate import upgrade

    from app import cli, create_app, demo
    from app.extensions import db

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": pool, "max_overflow": 0, "pool_timeout": 120}})
    with app.app_context():
        upgrade()
        cli.sync_roles()
        for _ in demo.load():
            pass
        db.session.commit()
    return app


def prepare(app, buyers, capacity):
    """The event (its sale opening in two seconds), its ticket type and the buyers' ids."""
    from flask_appbuilder.security.sqla.models import User

    from app.extensions import db
    from app.models import Association, EventVisibility, utcnow
    from app.rules import events as rules

    with app.app_context():
        organiser = app.appbuilder.sm.find_user(username="eventadmin")
        association = db.session.query(Association).order_by(Association.id).first()
        opens = utcnow() + timedelta(seconds=2)
        event = rules.create_event(organiser, association, name=f"Shotgun {uuid.uuid4().hex[:6]}",
                                   starts_on=opens + timedelta(days=30), ends_on=opens + timedelta(days=30, hours=5),
                                   sale_opens_on=opens, sale_closes_on=opens + timedelta(days=29),
                                   visibility=EventVisibility.public)
        ticket_type = rules.save_ticket_type(organiser, event, name="Place", kind="open", price="15",
                                             capacity=capacity)
        tag = uuid.uuid4().hex[:6]
        people = [User(first_name="Acheteur", last_name=str(n), username=f"shotgun-{tag}-{n}",
                       email=f"shotgun-{tag}-{n}@guichet.example", active=True, password="x")
                  for n in range(buyers)]
        db.session.add_all(people)
        db.session.commit()
        return event.id, ticket_type.id, [p.id for p in people], opens


def rush(app, event_id, ticket_type_id, people, opens, processes, threads):
    """The buyers' attempts, served as a web server serves them: `processes` worker
    processes (forked, each with its own connections) of `threads` threads each take
    the next buyer in line from the opening on. Returns, per attempt, its booking time
    (the rule and the commit, lock waits included), its answer time from the opening,
    and its outcome."""
    context = multiprocessing.get_context("fork")
    line, results = context.Queue(), context.Queue()
    for person_id in people:
        line.put(person_id)
    for _ in range(processes * threads):
        line.put(None)
    workers = [context.Process(target=_serve, args=(app, event_id, ticket_type_id, opens, threads, line, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    attempts = [results.get() for _ in people]
    for worker in workers:
        worker.join()
    return attempts


def _serve(app, event_id, ticket_type_id, opens, threads, line, results):
    """One worker process: its threads book for the buyers in line once the sale opens."""
    from flask_appbuilder.security.sqla.models import User

    from app.extensions import db
    from app.models import Event
    from app.platform.refusals import Refused
    from app.rules import events as rules

    with app.app_context():
        db.engine.dispose(close=False)  # the parent's connections stay the parent's
    opening = opens.replace(tzinfo=timezone.utc).timestamp()

    def serve():
        clock.sleep(max(0.0, opening - clock.time()))
        while (person_id := line.get()) is not None:
            began = clock.perf_counter()
            with app.app_context():
                try:
                    person, event = db.session.get(User, person_id), db.session.get(Event, event_id)
                    rules.book(person, event, ticket_type_id)
                    db.session.commit()
                    outcome = "booked"
                except Refused:
                    db.session.rollback()
                    outcome = "refused"
                except Exception:  # counted: the target is none
                    db.session.rollback()
                    outcome = "errors"
                finally:
                    db.session.remove()
            ended = clock.perf_counter()
            results.put(((ended - began) * 1000, (clock.time() - opening) * 1000, outcome))

    pool = [threading.Thread(target=serve) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def check(app, ticket_type_id):
    from app.extensions import db
    from app.models import Reservation, TicketType

    with app.app_context():
        capacity = db.session.get(TicketType, ticket_type_id).capacity
        places = db.session.scalar(select(func.count(Reservation.id)).where(Reservation.ticket_type_id == ticket_type_id))
        per_person = db.session.execute(
            select(func.count(Reservation.id)).where(Reservation.ticket_type_id == ticket_type_id)
            .group_by(Reservation.holder_id)).scalars().all()
    return places, max(0, places - capacity), sum(n - 1 for n in per_person if n > 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="worker processes, as `make run` serves with")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/events.py runs on PostgreSQL")
    ensure_database(args.database_url)
    app = build(args.database_url, args.threads)
    event_id, ticket_type_id, people, opens = prepare(app, args.buyers, args.capacity)
    attempts = rush(app, event_id, ticket_type_id, people, opens, args.processes, args.threads)
    booking = sorted(ms for ms, _, _ in attempts)
    answered = sorted(ms for _, ms, _ in attempts)
    outcomes = Counter(outcome for _, _, outcome in attempts)
    places, oversold, duplicates = check(app, ticket_type_id)
    print(f"buyers: {args.buyers}")
    print(f"capacity: {args.capacity}")
    print(f"booked: {places}")
    print(f"oversold: {oversold}")
    print(f"duplicates_per_person: {duplicates}")
    print(f"refused: {outcomes['refused']}")
    print(f"errors: {outcomes['errors']}")
    print(f"workers: {args.processes} processes x {args.threads} threads")
    print(f"book_ms_p50: {statistics.median(booking):.1f}")
    print(f"book_ms_p95: {percentile(booking, 95):.1f}")
    print(f"answered_ms_p50: {statistics.median(answered):.1f}")
    print(f"answered_ms_p95: {percentile(answered, 95):.1f}")
    print(f"rush_ms: {answered[-1]:.1f}")


def percentile(values, rank):
    """The nearest-rank percentile of sorted values."""
    return values[max(0, -(-len(values) * rank // 100) - 1)]


if __name__ == "__main__":
    main()
