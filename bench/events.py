"""Desk D, event ticketing benchmark: the shotgun — N buyers rush one ticket type the
moment its sale opens.

    .venv/bin/python bench/events.py [--buyers N] [--capacity C] [--database-url URL]

Builds the schema in its own PostgreSQL database (default `guichet_bench_events`,
created if missing; never `test`) with `flask db upgrade` and the demo data, creates
an event whose sale opens two seconds later with one open ticket type of capacity C
(default 100), and N buyer accounts (default 300). Each buyer is a thread with its
own session that waits for the opening, then books through `app.rules.events.book`
(visibility, sale window, restrictions, one place per person, the capacity counter,
the reservation, its history row and mail) and commits.

Prints `booked`, `oversold` (places beyond the capacity, counted from the rows),
`duplicates_per_person` (places beyond one per buyer), `refused`, `errors`, and
`book_ms_p50` / `book_ms_p95` (each attempt, booked or refused, from the opening).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time as clock
import uuid
from datetime import timedelta

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


def rush(app, event_id, ticket_type_id, people, opens):
    from flask_appbuilder.security.sqla.models import User

    from app.extensions import db
    from app.models import Event, utcnow
    from app.platform.refusals import Refused
    from app.rules import events as rules

    barrier = threading.Barrier(len(people))
    timings, outcomes, lock = [], {"booked": 0, "refused": 0, "errors": 0}, threading.Lock()

    def attempt(person_id):
        barrier.wait()
        wait = (opens - utcnow()).total_seconds()
        if wait > 0:
            clock.sleep(wait)
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
        with lock:
            timings.append((clock.perf_counter() - began) * 1000)
            outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=(person_id,)) for person_id in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(timings), outcomes


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
    parser.add_argument("--pool", type=int, default=40, help="database connections (the web workers' share)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/events.py runs on PostgreSQL")
    ensure_database(args.database_url)
    app = build(args.database_url, args.pool)
    event_id, ticket_type_id, people, opens = prepare(app, args.buyers, args.capacity)
    timings, outcomes = rush(app, event_id, ticket_type_id, people, opens)
    places, oversold, duplicates = check(app, ticket_type_id)
    print(f"buyers: {args.buyers}")
    print(f"capacity: {args.capacity}")
    print(f"booked: {places}")
    print(f"oversold: {oversold}")
    print(f"duplicates_per_person: {duplicates}")
    print(f"refused: {outcomes['refused']}")
    print(f"errors: {outcomes['errors']}")
    print(f"book_ms_p50: {statistics.median(timings):.1f}")
    print(f"book_ms_p95: {timings[int(len(timings) * 0.95) - 1]:.1f}")


if __name__ == "__main__":
    main()
