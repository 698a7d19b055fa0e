"""Desk A, visio booking benchmark: one booking with its conflict check, and 50
concurrent attempts on one slot.

    .venv/bin/python bench/booking.py [--rows N] [--database-url URL]

Builds the schema in its own PostgreSQL database (default `guichet_bench_booking`,
created if missing; never `test`) with `flask db upgrade` and the demo data, loads N
existing bookings (default 100,000, each with its occurrence) into 40 rooms of one
organisation, then:

* `book_ms_p50` / `book_ms_p95`: one booking through `app.rules.booking.create_booking`
  (rules, conflict check, participants, occurrences, outbox mails with their .ics)
  and its commit, on free slots among the existing ones;
* `concurrent_winners`: 50 threads, each with its own connection, book the same
  slot of the same room at once; the exclusion constraint lets exactly one win.

Part `grid` (`--part grid`): the back office's booking grid (/bookings/) over
`--grid-rows` bookings (default 1,000,000) in its own database (default
`guichet_bench_booking_grid`, kept between runs once it holds them), written with COPY:
41 member organisations, the demo's Rectorat holding a tenth, every kind and state,
over three years. Timed as the VNOC sees it (every booking) and as `creator` (a Booker
of the Rectorat): first page, deep page, filtered (pending), sorted (by session
name), keyword (session name contains a word): `booking_grid_<viewer>_<case>_ms_p50`
/ `_p95`; then the Booker's CSV export, `booking_grid_csv_rows_per_s`.

Prints one `key: value` line per figure.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time as clock
from datetime import datetime, time, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402

from sqlalchemy import func, insert, select, text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_booking"
ROOMS = 40
SAMPLES = 200
ATTEMPTS = 50


def build(url):
    from flask_migrate import upgrade

    from app import cli, create_app, demo
    from app.extensions import db

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 60, "max_overflow": 10}})
    with app.app_context():
        upgrade()
        cli.sync_roles()
        for _ in demo.load():
            pass
        db.session.commit()
    return app


def load_bookings(app, rows):
    """N validated bookings, one hour each, every day from 08:00 to 18:00 in 40 rooms,
    with a 30-minute gap, going back in time from yesterday."""
    from app.extensions import db
    from app.models import Booking, BookingOccurrence, Room, RoomKind, booking_room_link
    from app.rules import booking as rules
    from app.demo.platform import organisation

    with app.app_context():
        org = organisation("Rectorat de l'académie de Lyon")
        creator = app.appbuilder.sm.find_user(username="creator")
        rooms = []
        for number in range(ROOMS):
            room = Room(organisation_id=org.id, name=f"Salle banc {number:02d}", kind=RoomKind.visio, active=True)
            db.session.add(room)
            rooms.append(room)
        db.session.commit()
        room_ids = [room.id for room in rooms]
        pad = rules.buffer()
        start_id = (db.session.scalar(select(func.max(Booking.id))) or 0) + 1
        per_day = 6  # 08:00, 09:30, 11:00, 12:30, 14:00, 15:30
        yesterday = rules.local_now().date() - timedelta(days=1)
        now = datetime.utcnow()
        batch, occurrences, links = [], [], []
        connection = db.session.connection()
        for index in range(rows):
            booking_id = start_id + index
            room_id = room_ids[index % ROOMS]
            slot = index // ROOMS
            day = yesterday - timedelta(days=slot // per_day)
            start = datetime.combine(day, time(8)) + timedelta(minutes=90 * (slot % per_day))
            end = start + timedelta(hours=1)
            batch.append({"id": booking_id, "reference": f"{booking_id:05d}", "kind": "visio",
                          "organisation_id": org.id, "creator_id": creator.id, "session_name": f"Session {index}",
                          "organiser_name": "Hélène Brun", "organiser_email": "helene.brun@ac-lyon.example",
                          "organiser_phone": "04 72 80 60 00", "start_at": start, "end_at": end,
                          "state": "validated", "requested_on": now, "created_on": now, "changed_on": now})
            occurrences.append({"booking_id": booking_id, "room_id": room_id, "start_at": start, "end_at": end,
                                "blocked_from": start - pad, "blocked_until": end + pad, "planned_start": start,
                                "active": True})
            links.append({"booking_id": booking_id, "room_id": room_id})
            if len(batch) == 10000 or index == rows - 1:
                connection.execute(insert(Booking.__table__), batch)
                connection.execute(insert(BookingOccurrence.__table__), occurrences)
                connection.execute(insert(booking_room_link), links)
                batch, occurrences, links = [], [], []
        db.session.commit()
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('booking', 'id'), (SELECT max(id) FROM booking))"))
        db.session.execute(text("ANALYZE booking; ANALYZE booking_occurrence; ANALYZE booking_participant"))
        db.session.commit()
        return room_ids


def draft_for(room, day, start, participants=()):
    from app.rules.booking import BookingDraft, ParticipantLine

    return BookingDraft(
        room_ids=[room.id], session_name="Point d'étape", organiser_name="Hélène Brun",
        organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00", day=day,
        start_time=start, end_time=(datetime.combine(day, start) + timedelta(hours=1)).time(),
        participants=[ParticipantLine(**p) for p in participants])


def working_day(weeks):
    from app.rules import booking as rules

    day = rules.local_now().date() + timedelta(weeks=weeks)
    return day - timedelta(days=day.weekday()) + timedelta(days=1)


def time_bookings(app, room_ids):
    from app.extensions import db
    from app.models import Room
    from app.rules import booking as rules

    timings = []
    participants = [{"name": "DSDEN du Rhône", "kind": "ip", "ip_address": "10.69.4.21", "vnoc_connects": True,
                     "email": "marc.dubois@ac-lyon.example"},
                    {"name": "Inspection de l'Ain", "kind": "isdn", "email": "paul.garnier@ac-lyon.example"}]
    with app.test_request_context():
        creator = app.appbuilder.sm.find_user(username="creator")
        rooms = db.session.scalars(select(Room).where(Room.id.in_(room_ids))).all()
        for index in range(SAMPLES):
            room = rooms[index % len(rooms)]
            day = working_day(2 + index // (len(rooms) * 6))
            start = (datetime.combine(day, time(8, 30)) + timedelta(minutes=90 * ((index // len(rooms)) % 6))).time()
            began = clock.perf_counter()
            rules.create_booking(draft_for(room, day, start, participants), creator, [room])
            db.session.commit()
            timings.append((clock.perf_counter() - began) * 1000)
    return timings


def concurrent(app, room_id):
    from app.extensions import db
    from app.models import Room
    from app.rules import booking as rules

    with app.app_context():
        day = working_day(30)
    barrier = threading.Barrier(ATTEMPTS)
    results = []

    def attempt():
        with app.test_request_context():
            creator = app.appbuilder.sm.find_user(username="creator")
            room = db.session.get(Room, room_id)
            draft = draft_for(room, day, time(10))
            barrier.wait()
            try:
                rules.create_booking(draft, creator, [room])
                db.session.commit()
                results.append(True)
            except rules.BookingRefused:
                db.session.rollback()
                results.append(False)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(results), len(results)


GRID_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_booking_grid"
GRID_COLUMNS = ("id", "reference", "kind", "organisation_id", "creator_id", "session_name", "organiser_name",
                "organiser_email", "organiser_phone", "start_at", "end_at", "state", "requested_on",
                "created_on", "changed_on")
MEETINGS = ["Conseil pédagogique", "Réunion de service", "Point d'étape", "Formation", "Comité de pilotage",
            "Entretien", "Jury", "Séminaire", "Webinaire", "Réunion des directeurs", "Groupe de travail",
            "Commission", "Visite virtuelle", "Audition", "Assemblée", "Classe virtuelle", "Atelier",
            "Cellule de crise", "Bilan", "Point hebdomadaire"]
SUBJECTS = ["numérique", "examens", "rentrée", "budget", "inclusion", "orientation", "sécurité", "bâtiments",
            "recrutement", "langues vivantes", "sciences", "histoire-géographie", "mathématiques", "EPS",
            "vie scolaire", "ressources humaines", "internat", "restauration", "transport", "réseau"]
ORGANISERS = ["Hélène Brun", "Marc Dubois", "Sophie Lambert", "Julien Mercier", "Inès Benali", "Hugo Perrin",
              "Nathalie Roux", "Karim Haddad", "Léa Moreau", "Paul Durand", "Camille Petit", "Lucas Bernard"]
GRID_KEYWORD = "crise"  # one session name in twenty


def grid_rows(url, count, seed=161):
    """`count` bookings over 41 organisations (the Rectorat a tenth), three years back
    from now, 70 % validated, 10 % pending, the rest refused or cancelled (inputs read before COPY holds the table)."""
    rng = random.Random(seed)
    rectorat = common.scalar(url, "SELECT id FROM organisation WHERE name = %s", "Rectorat de l'académie de Lyon")
    others = common.bench_organisations(url, "member", 40, "Bench member")
    creator = common.scalar(url, "SELECT id FROM ab_user WHERE username = 'creator'")
    first = common.scalar(url, "SELECT coalesce(max(id), 0) + 1 FROM booking")
    now = datetime.utcnow().replace(microsecond=0)
    states = ["validated"] * 7 + ["pending", "refused", "cancelled"]
    return (row(rng, first + offset, rectorat, others, creator, now, states) for offset in range(count))


def row(rng, number, rectorat, others, creator, now, states):
    organisation_id = rectorat if rng.random() < 0.1 else rng.choice(others)
    start = now - timedelta(minutes=30 * rng.randrange(3 * 365 * 48))
    asked = start - timedelta(days=7)
    return (number, f"G{number:07d}", "audio" if rng.random() < 0.2 else "visio", organisation_id,
            creator if organisation_id == rectorat else None, f"{rng.choice(MEETINGS)} {rng.choice(SUBJECTS)}",
            rng.choice(ORGANISERS), "organisateur@ac-lyon.example", "04 72 80 60 00", start,
            start + timedelta(minutes=30 * rng.randint(1, 6)), rng.choice(states), asked, asked, asked)


def grid_bench(args):
    url = args.grid_database_url
    app, total = common.grid_rows_loaded(url, "booking", GRID_COLUMNS,
                                         lambda app: grid_rows(url, args.grid_rows), args.grid_rows, "booking")
    rectorat = common.scalar(url, "SELECT count(*) FROM booking b JOIN organisation o ON o.id = b.organisation_id "
                                  "WHERE o.name = %s", "Rectorat de l'académie de Lyon")
    state = common.filter_arg(app, "BookingView", "state", "FilterEqual")
    keyword = common.filter_arg(app, "BookingView", "session_name", "FilterContains")
    common.time_grid(app, "booking_grid", "/bookings", {"vnoc": ("vnoc", total), "booker": ("creator", rectorat)}, {
        "first": "",
        "deep": lambda page: f"page_BookingView={page}",
        "filtered": f"{state}=pending",
        "sorted": "_oc_BookingView=session_name&_od_BookingView=asc",
        "keyword": f"{keyword}={GRID_KEYWORD}",
    })
    common.time_csv_export(app, "booking_grid", "/bookings", "creator")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("booking", "grid"), default="booking",
                        help="booking: the conflict check and the race; grid: the booking grid at scale")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--grid-rows", type=int, default=1_000_000)
    parser.add_argument("--grid-database-url", default=GRID_URL)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/booking.py runs on PostgreSQL")
    if args.part == "grid":
        return grid_bench(args)
    common.empty_database(args.database_url)
    app = build(args.database_url)
    began = clock.perf_counter()
    room_ids = load_bookings(app, args.rows)
    print(f"existing_bookings: {args.rows}")
    print(f"load_s: {clock.perf_counter() - began:.1f}")
    timings = sorted(time_bookings(app, room_ids))
    print(f"book_ms_p50: {statistics.median(timings):.2f}")
    print(f"book_ms_p95: {timings[int(len(timings) * 0.95) - 1]:.2f}")
    winners, attempts = concurrent(app, room_ids[0])
    print(f"concurrent_attempts: {attempts}")
    print(f"concurrent_winners: {winners}")


if __name__ == "__main__":
    main()
