"""Desk D, event ticketing benchmark: the shotgun — N buyers rush one ticket type the
moment its sale opens — and the check-in door.

    .venv/bin/python bench/events.py [--buyers N] [--capacity C] [--places P] [--scanners S]
                                     [--part all|shotgun|checkin] [--database-url URL]

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

Then the IPN storm (`--ipn-places`, default 1,000): as many pre-reserved places on an
event paid to the demo BDE's PayPal account, and a live server (gunicorn, 2 processes
of 4 threads, as `make run`) verifying each IPN with a local fake PayPal. Each place's
Completed IPN is sent five times (`--ipn-copies`), all of them shuffled and posted at
once by 16 clients, as PayPal repeats an IPN. Prints `ipn_sent`, `ipn_payments`
(payments confirmed), `ipn_duplicates` (payments or "paid" entries beyond one per
place), `ipn_places_reserved`, `ipn_errors` (answers other than 200 with an empty
body), `ipn_ms_p50` / `ipn_ms_p95` (one IPN's answer, its postback included) and
`ipn_per_s`.

Then the exports of an event's places (`--export-places`, default 10,000 places, each
with an option, a size and an uploaded file of 8 KB, one in two with a payment, and
three files of 64 MB): each export is asked by its admin on the event page's buttons
and written by the export job in a fresh process (so that its peak RSS is the
export's own). Prints `export_xlsx_rows_per_s` (the complete XLSX, the request to the
file ready), `export_zip_peak_mb` (the zip with every file: peak RSS of the whole
process from the request on, interpreter and app included), `export_zip_rss_before_mb`
(its RSS once the app is up, before the export) and each export's seconds, size and peak.

Then the door: an event with `--places` reserved places (default 10,000) and their
signed tokens, served by a live server (gunicorn, as `make run` serves: the same
processes and threads), where `--scanners` threads (default 10), each signed in as
`checker` (`--checkin-auth`: the scanner page's session, default, or a bearer token),
scan every ticket `--scans-per-ticket` times (default 2, one after the other in line,
so that its scans race) through `POST /api/v1/checkin/`. The first `--paced-places`
(default 2,000) are scanned at a door's pace — each scanner pauses `--pace-ms` (default
500: 20 scans a second in all, 72,000 an hour) on average, at random, between its
scans — the others as fast as the answers come (the server's saturation). Prints
`checkin_ok` / `checkin_already` / `checkin_errors`, `checkin_entries` (live entries
counted from the rows), `checkin_double_entries` (places with a second live entry or a
second OK), `checkin_ms_p50` / `checkin_ms_p95` (each scan's answer as the scanner waits
for it, at the door's pace) and `checkin_saturated_ms_p50` / `_p95` /
`checkin_saturated_scans_per_s`.

Part `grid` (`--part grid`, not in `all`): the places grid (/reservations/) over
`--grid-rows` places (default 1,000,000) in its own database (default
`guichet_bench_events_grid`, kept between runs once it holds them), written with COPY:
200 events of 5,000 places, 20 of them the demo BDE's (`eventadmin` manages them),
the others the INSA club's; 5,000 bench accounts hold places, one place in five is a
sponsored guest's; every state, prices of the ticket types. Timed as `admin` (every
place) and as `eventadmin` (their events' places): first page, deep page, filtered
(pre-reserved), sorted (price, highest first), keyword (guest name contains a name):
`events_grid_<viewer>_<case>_ms_p50` / `_p95`; then eventadmin's CSV export,
`events_grid_csv_rows_per_s`.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time as clock
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_events"


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
    parser.add_argument("--ipn-places", type=int, default=1000)
    parser.add_argument("--ipn-copies", type=int, default=5, help="how many times each IPN is sent")
    parser.add_argument("--export-places", type=int, default=10000)
    parser.add_argument("--export-worker", nargs=2, metavar=("FORMAT", "EVENT_ID"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--places", type=int, default=10000, help="reserved places at the check-in door")
    parser.add_argument("--scanners", type=int, default=10, help="concurrent scanners at the door")
    parser.add_argument("--scans-per-ticket", type=int, default=2,
                        help="scans of each ticket, one after the other in line (so they race)")
    parser.add_argument("--paced-places", type=int, default=2000, help="places scanned at the door's pace")
    parser.add_argument("--pace-ms", type=int, default=500,
                        help="a scanner's average pause between scans at the door's pace")
    parser.add_argument("--checkin-auth", choices=("session", "token"), default="session",
                        help="the scanner page's session, or an API client's bearer token")
    parser.add_argument("--part", choices=("all", "grid") + tuple(PARTS), default="all")
    parser.add_argument("--grid-rows", type=int, default=1_000_000)
    parser.add_argument("--grid-database-url", default=GRID_URL)
    args = parser.parse_args()
    if args.export_worker:
        return export_worker(args.database_url, *args.export_worker)
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/events.py runs on PostgreSQL")
    if args.part == "grid":
        return grid_bench(args)
    common.empty_database(args.database_url)
    app = build(args.database_url, args.threads)
    for name, part in PARTS.items():
        if args.part in ("all", name):
            part(app, args)


def shotgun_bench(app, args):
    """The shotgun: `--buyers` buyers rush `--capacity` places the moment the sale opens."""
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


def ipn_bench(app, args):
    """The IPN storm: `--ipn-places` places' IPNs, each `--ipn-copies` times, at once."""
    places, answers, elapsed = ipn_storm(app, args.database_url, args.ipn_places, args.ipn_copies,
                                         args.processes, args.threads)
    confirmed, duplicates, reserved = ipn_check(app, places)
    times = sorted(ms for ms, _ in answers)
    print(f"ipn_sent: {len(answers)} ({args.ipn_places} places x {args.ipn_copies} copies)")
    print(f"ipn_payments: {confirmed}")
    print(f"ipn_duplicates: {duplicates}")
    print(f"ipn_places_reserved: {reserved}")
    print(f"ipn_errors: {sum(1 for _, ok in answers if not ok)}")
    print(f"ipn_ms_p50: {statistics.median(times):.1f}")
    print(f"ipn_ms_p95: {percentile(times, 95):.1f}")
    print(f"ipn_per_s: {len(answers) / elapsed:.0f}")


# ---------------------------------------------------------------------------
# The exports of an event's places, each in a fresh process (its peak RSS is its own)
# ---------------------------------------------------------------------------

EXPORTS_FOLDER = "/tmp/guichet-bench-events-exports"  # the places' files and the exports written
FILE_BYTES, LARGE_FILES, LARGE_BYTES = 8 * 1024, 3, 64 * 2**20


def export_app(url):
    from app import create_app

    return create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                       "RATELIMIT_ENABLED": False, "FILES_ROOT": os.path.join(EXPORTS_FOLDER, "files"),
                       "EXPORTS_ROOT": os.path.join(EXPORTS_FOLDER, "exports")})


def seed_places(url, count):
    """An event with `count` places written in bulk (the booking rule is the shotgun's
    figure, not this one's), their options, answers, files and payments; its id."""
    import hashlib
    import shutil

    from flask_appbuilder.security.sqla.models import User
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import (Association, EventVisibility, ExtraInfoAnswer, Payment, PaymentProvider, PaymentState,
                            Reservation, ReservationState, StoredFile, TicketType, reservation_option, utcnow)
    from app.rules import events as rules

    shutil.rmtree(EXPORTS_FOLDER, ignore_errors=True)
    app = export_app(url)
    with app.app_context():
        admin = app.appbuilder.sm.find_user(username="eventadmin")
        association = db.session.query(Association).order_by(Association.id).first()
        now = utcnow()
        event = rules.create_event(admin, association, name=f"Export {uuid.uuid4().hex[:6]}",
                                   starts_on=now + timedelta(days=30), ends_on=now + timedelta(days=30, hours=5),
                                   sale_opens_on=now - timedelta(days=1), sale_closes_on=now + timedelta(days=29),
                                   visibility=EventVisibility.public, place="Pavillon")
        ticket_type = rules.save_ticket_type(admin, event, name="Place", kind="open", price="15", capacity=count)
        option = rules.save_option(admin, ticket_type, name="Vestiaire", price_change="2")
        size = rules.save_extra_info(admin, ticket_type, label="Taille", kind="size")
        scan = rules.save_extra_info(admin, ticket_type, label="Justificatif", kind="file")
        db.session.commit()
        tag = uuid.uuid4().hex[:6]
        db.session.execute(insert(User), [
            {"first_name": f"Prénom{n}", "last_name": f"Nom{n}", "username": f"export-{tag}-{n}",
             "email": f"export-{tag}-{n}@guichet.example", "active": True, "password": "x"} for n in range(count)])
        people = db.session.scalars(select(User.id).where(User.username.like(f"export-{tag}-%"))
                                    .order_by(User.id)).all()
        db.session.execute(insert(Reservation), [
            {"event_id": event.id, "ticket_type_id": ticket_type.id, "holder_id": person, "price": 17,
             "state": ReservationState.reserved if n % 2 else ReservationState.prereserved}
            for n, person in enumerate(people)])
        places = db.session.scalars(select(Reservation.id).where(Reservation.event_id == event.id)
                                    .order_by(Reservation.id)).all()
        db.session.execute(insert(reservation_option), [{"reservation_id": place, "option_id": option.id}
                                                        for place in places])
        root = os.path.join(EXPORTS_FOLDER, "files")
        os.makedirs(root)
        stored = []
        for n, place in enumerate(places):
            data = b"\x89PNG\r\n\x1a\n" + os.urandom(FILE_BYTES if n >= LARGE_FILES else LARGE_BYTES)
            with open(os.path.join(root, f"{place}.png"), "wb") as handle:
                handle.write(data)
            stored.append({"owner_type": Reservation.__tablename__, "owner_id": place, "original_name": "scan.png",
                           "content_type": "image/png", "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest(), "storage_path": f"{place}.png"})
        db.session.execute(insert(StoredFile), stored)
        files = dict(db.session.execute(select(StoredFile.owner_id, StoredFile.id).where(
            StoredFile.owner_type == Reservation.__tablename__, StoredFile.owner_id.in_(places))).all())
        db.session.execute(insert(ExtraInfoAnswer), [
            row for place in places for row in (
                {"reservation_id": place, "extra_info_id": size.id, "value": "M", "validated_by_id": admin.id,
                 "validated_on": now},
                {"reservation_id": place, "extra_info_id": scan.id, "file_id": files[place]})])
        db.session.execute(insert(Payment), [
            {"payable_type": rules.PAYABLE_KIND, "payable_id": place, "provider": PaymentProvider.paypal,
             "state": PaymentState.confirmed, "amount": 17, "currency": "EUR", "reference": f"BENCH-{tag}-{place}"}
            for place in places[1::2]])
        db.session.get(TicketType, ticket_type.id).taken = count
        db.session.commit()
        return event.id


def export_worker(url, fmt, event_id):
    """One export, as its admin asks for it and the job (a thread, the embedded default) writes it."""
    import json

    from app.extensions import db
    from app.models import ExportFile, ExportState
    from app.platform import exports

    app = export_app(url)
    from app.demo.platform import DEMO_PASSWORD

    client = app.test_client()
    if client.post("/login/", data={"username": "eventadmin", "password": DEMO_PASSWORD}).status_code != 302:
        raise SystemExit("could not sign in as eventadmin")
    client.get(f"/events/show/{event_id}")  # warm the views, the templates and the pool
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # the peak RSS starts again from now: the app's start-up is not the export's
    baseline = peak_rss_mb()
    started = clock.perf_counter()
    response = client.post(f"/reservations/export_places/{event_id}/{fmt}")
    export_id = int(response.headers["Location"].rsplit("/", 1)[1])
    while True:
        with app.app_context():
            export = db.session.get(ExportFile, export_id)
            if export.state in (ExportState.ready, ExportState.failed):
                break
        clock.sleep(0.05)
    elapsed = clock.perf_counter() - started
    if export.state is not ExportState.ready:
        raise SystemExit(f"the {fmt} export failed")
    with app.app_context():
        size = os.path.getsize(exports.export_path(export))
    print(json.dumps({"rows": export.rows_done, "seconds": elapsed, "bytes": size, "baseline_mb": baseline,
                      "peak_mb": peak_rss_mb()}))


def peak_rss_mb():
    """This process's peak RSS (VmHWM) since its last reset: unlike ru_maxrss, which
    keeps the parent's peak across fork and exec, it counts this program alone."""
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def time_place_exports(url, count):
    import json
    import shutil

    event_id = seed_places(url, count)
    figures = {}
    for fmt in ("xlsx", "zip"):
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--export-worker", fmt, str(event_id),
                                 "--database-url", url], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the {fmt} export failed:\n{result.stderr[-3000:]}")
        figures[fmt] = json.loads(result.stdout.strip().splitlines()[-1])
    xlsx, archive = figures["xlsx"], figures["zip"]
    print(f"export_places: {count}")
    print(f"export_xlsx_seconds: {xlsx['seconds']:.2f}")
    print(f"export_xlsx_rows_per_s: {count / xlsx['seconds']:.0f}")
    print(f"export_xlsx_mb: {xlsx['bytes'] / 2**20:.1f}")
    print(f"export_xlsx_peak_mb: {xlsx['peak_mb']:.0f}")
    print(f"export_zip_seconds: {archive['seconds']:.2f}")
    print(f"export_zip_mb: {archive['bytes'] / 2**20:.1f} ({count} files, {LARGE_FILES} of them "
          f"{LARGE_BYTES // 2**20} MB)")
    print(f"export_zip_peak_mb: {archive['peak_mb']:.0f}")
    print(f"export_zip_rss_before_mb: {archive['baseline_mb']:.0f}")
    print("export_peak_basis: peak RSS (VmHWM, reset once the app is up) of the whole process that asked for "
          "and wrote the export")
    shutil.rmtree(EXPORTS_FOLDER, ignore_errors=True)



# ---------------------------------------------------------------------------
# The IPN storm: PayPal repeating each notification, against a live server
# ---------------------------------------------------------------------------


class FakePayPal(ThreadingHTTPServer):
    """PayPal's IPN verification: VERIFIED for a postback of an IPN it "sent", else INVALID."""

    daemon_threads = True

    def __init__(self):
        self.sent = set()
        super().__init__(("127.0.0.1", 0), _VerifyHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/verify"


class _VerifyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        prefix = b"cmd=_notify-validate&"
        verified = body.startswith(prefix) and body[len(prefix):] in self.server.sent
        answer = b"VERIFIED" if verified else b"INVALID"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def ipn_places(app, count):
    """`count` pre-reserved places of 15 € on an event paid to the demo BDE's PayPal
    account, booked through the rule; their ids, price and the account's receiver mail."""
    from flask_appbuilder.security.sqla.models import User

    from app.extensions import db
    from app.models import Association, EventVisibility, PaymentAccount, PaymentProvider, utcnow
    from app.rules import events as rules

    with app.app_context():
        organiser = app.appbuilder.sm.find_user(username="eventadmin")
        account = db.session.query(PaymentAccount).filter_by(provider=PaymentProvider.paypal).order_by(
            PaymentAccount.id).first()
        association = db.session.query(Association).filter_by(organisation_id=account.organisation_id).first()
        now = utcnow()
        event = rules.create_event(organiser, association, name=f"IPN {uuid.uuid4().hex[:6]}",
                                   starts_on=now + timedelta(days=30), ends_on=now + timedelta(days=30, hours=5),
                                   sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=29),
                                   visibility=EventVisibility.public)
        event.paypal_account_id = account.id
        ticket_type = rules.save_ticket_type(organiser, event, name="Place", kind="open", price="15",
                                             capacity=count)
        tag = uuid.uuid4().hex[:6]
        people = [User(first_name="Payeur", last_name=str(n), username=f"ipn-{tag}-{n}",
                       email=f"ipn-{tag}-{n}@guichet.example", active=True, password="x") for n in range(count)]
        db.session.add_all(people)
        db.session.commit()
        places = []
        for person in people:
            places.extend(place.id for place in rules.book(person, event, ticket_type.id))
            db.session.commit()
        return places, account.receiver_email


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(url, verify_url, processes, threads):
    """gunicorn serving the app on the bench's database, its PayPal verification the fake's."""
    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1),
                   "SECRET_KEY": common.APP_SETTINGS["SECRET_KEY"], "PUBLIC_URL": common.APP_SETTINGS["PUBLIC_URL"],
                   "PAYPAL_IPN_VERIFY_URL": verify_url, "PAYPAL_SANDBOX": "0"}
    environment.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--bind", f"127.0.0.1:{port}",
         "--workers", str(processes), "--threads", str(threads), "--log-level", "warning", "run:app"],
        cwd=ROOT, env=environment)
    deadline = clock.time() + 60
    while clock.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            clock.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def ipn_storm(app, url, count, copies, processes, threads):
    """Each place's Completed IPN `copies` times, shuffled, posted by 16 clients at once."""
    from app.platform import payments
    from app.rules import events as rules

    places, receiver = ipn_places(app, count)
    paypal = FakePayPal()
    threading.Thread(target=paypal.serve_forever, daemon=True).start()
    with app.app_context():
        bodies = []
        for place_id in places:
            body = urlencode({"mc_gross": "15.00", "payment_status": "Completed", "charset": "UTF-8",
                              "custom": payments.reference(rules.PAYABLE_KIND, place_id),
                              "txn_id": uuid.uuid4().hex[:17].upper(), "receiver_email": receiver,
                              "txn_type": "web_accept", "mc_currency": "EUR"}).encode()
            paypal.sent.add(body)
            bodies.extend([body] * copies)
    random.shuffle(bodies)
    server, port = serve(url, paypal.url, processes, threads)
    local = threading.local()

    def post(body):
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        began = clock.perf_counter()
        try:
            local.connection.request("POST", "/payments/paypal/ipn", body=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = local.connection.getresponse()
            ok = response.status == 200 and response.read() == b""
        except (OSError, http.client.HTTPException):
            local.connection.close()
            local.connection, ok = None, False
        return (clock.perf_counter() - began) * 1000, ok

    try:
        started = clock.perf_counter()
        with ThreadPoolExecutor(16) as clients:
            answers = list(clients.map(post, bodies))
        elapsed = clock.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)
        paypal.shutdown()
    return places, answers, elapsed


def ipn_check(app, places):
    """Confirmed payments, payments or "paid" entries beyond one per place, places reserved."""
    from app.extensions import db
    from app.models import Payment, PaymentState, Reservation, ReservationState, WorkflowEvent
    from app.rules import events as rules

    with app.app_context():
        per_place = dict(db.session.execute(
            select(Payment.payable_id, func.count(Payment.id)).where(
                Payment.payable_type == rules.PAYABLE_KIND, Payment.payable_id.in_(places))
            .group_by(Payment.payable_id)).all())
        confirmed = db.session.scalar(select(func.count(Payment.id)).where(
            Payment.payable_type == rules.PAYABLE_KIND, Payment.payable_id.in_(places),
            Payment.state == PaymentState.confirmed))
        paid = dict(db.session.execute(
            select(WorkflowEvent.object_id, func.count(WorkflowEvent.id)).where(
                WorkflowEvent.object_type == rules.PAYABLE_KIND, WorkflowEvent.object_id.in_(places),
                WorkflowEvent.transition == "mark_paid").group_by(WorkflowEvent.object_id)).all())
        reserved = db.session.scalar(select(func.count(Reservation.id)).where(
            Reservation.id.in_(places), Reservation.state == ReservationState.reserved))
    duplicates = sum(n - 1 for n in per_place.values() if n > 1) + sum(n - 1 for n in paid.values() if n > 1)
    return confirmed, duplicates, reserved


def percentile(values, rank):
    """The nearest-rank percentile of sorted values."""
    return values[max(0, -(-len(values) * rank // 100) - 1)]



# ---------------------------------------------------------------------------
# Check-in: scanners at the door of a live server
# ---------------------------------------------------------------------------


def prepare_door(app, places):
    """An event with `places` reserved places (guests of one sponsor, written in bulk,
    each with its ticket secret), `checker` at its check-in level; returns its id and
    the places' signed tokens."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import AdminLevel, Association, EventVisibility, Reservation, ReservationState, utcnow
    from app.platform import signing
    from app.rules import events as rules

    with app.app_context():
        organiser = app.appbuilder.sm.find_user(username="eventadmin")
        checker = app.appbuilder.sm.find_user(username="checker")
        association = db.session.query(Association).order_by(Association.id).first()
        now = utcnow()
        event = rules.create_event(organiser, association, name=f"Porte {uuid.uuid4().hex[:6]}",
                                   starts_on=now + timedelta(hours=1), ends_on=now + timedelta(hours=6),
                                   sale_opens_on=now - timedelta(days=10), sale_closes_on=now,
                                   visibility=EventVisibility.public)
        ticket_type = rules.save_ticket_type(organiser, event, name="Entrée", kind="open", price="0",
                                             capacity=places)
        rules.grant_level(organiser, event, AdminLevel.checkin, user=checker)
        db.session.execute(insert(Reservation), [
            {"event_id": event.id, "ticket_type_id": ticket_type.id, "sponsor_id": organiser.id,
             "guest_name": f"Invité {n}", "price": 0, "state": ReservationState.reserved, "paid_on": now,
             "ticket_secret": signing.new_secret()} for n in range(places)])
        ticket_type.taken = places
        db.session.commit()
        first = db.session.scalars(select(Reservation).where(Reservation.event_id == event.id)).first()
        rules.ticket_token(first)  # the event's key pair, made by its first ticket
        db.session.commit()
        rows = db.session.execute(select(Reservation.id, Reservation.ticket_secret)
                                  .where(Reservation.event_id == event.id)).all()
        return event.id, [signing.sign(event.signing_key, number, secret) for number, secret in rows]


class LiveServer:
    """The app served as `make run` serves it with Redis off (gunicorn, `processes` workers
    of `threads` threads) on a free port of this machine, on the benchmark's database."""

    def __init__(self, url, processes, threads):
        import socket
        import subprocess
        import tempfile

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = tempfile.NamedTemporaryFile(prefix="guichet-bench-", suffix=".log", delete=False)
        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=common.APP_SETTINGS["SECRET_KEY"],
                   PUBLIC_URL=common.APP_SETTINGS["PUBLIC_URL"], FLASK_APP="run.py")
        env.pop("REDIS_URL", None)
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        self.process = subprocess.Popen(
            [gunicorn, "--bind", f"127.0.0.1:{self.port}", "--workers", str(processes), "--threads", str(threads),
             "run:app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = clock.time() + 60
        while True:
            try:
                if self.request("GET", "/login/")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or clock.time() > deadline:
                raise SystemExit("the live server did not start:\n" + open(self.log.name).read()[-3000:])
            clock.sleep(0.3)

    def connection(self):
        import http.client

        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method, path, body=None, headers=None, connection=None):
        """(status, decoded JSON or text); on `connection` when given (kept alive)."""
        import json

        own = connection is None
        connection = connection or self.connection()
        try:
            payload = json.dumps(body) if body is not None else None
            connection.request(method, path, body=payload, headers={
                **({"Content-Type": "application/json"} if payload else {}), **(headers or {})})
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            if response.getheader("Content-Type", "").startswith("application/json"):
                return response.status, json.loads(text)
            return response.status, text
        finally:
            if own:
                connection.close()

    def stop(self, show_log=False):
        """Stop it; `show_log`: print the end of its log (where its errors are)."""
        self.process.terminate()
        self.process.wait(30)
        if show_log:
            print(open(self.log.name).read()[-6000:])
        os.unlink(self.log.name)


def sign_in(server, auth, username="checker"):
    """The headers of a request of `username` (the scanner's `checker`): the session
    cookie of the login form (with its CSRF token), or a bearer token of the API."""
    import re
    from http.cookies import SimpleCookie

    if auth == "token":
        status, answer = server.request("POST", "/api/v1/security/login", {
            "username": username, "password": "demo1234", "provider": "db"})
        assert status == 200, answer
        return {"Authorization": f"Bearer {answer['access_token']}"}
    connection = server.connection()
    try:
        connection.request("GET", "/login/")
        response = connection.getresponse()
        form = response.read().decode("utf-8")
        cookies = {name: morsel.value for header in response.headers.get_all("Set-Cookie") or []
                   for name, morsel in SimpleCookie(header).items()}
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        body = f"username={username}&password=demo1234&csrf_token={token}"
        connection.request("POST", "/login/", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        response = connection.getresponse()
        response.read()
        assert response.status == 302, response.status
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.update({name: morsel.value for name, morsel in SimpleCookie(header).items()})
    finally:
        connection.close()
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def door(server, event_id, tokens, scanners, scans_per_ticket, auth, pace_ms):
    """`scanners` threads, each signed in as `checker` (`auth`: the page's session or a
    bearer token; signed in one after the other beforehand), scan the tickets through the
    API; each ticket is in the line `scans_per_ticket` times in a row, so that its scans
    race on different scanners. A scanner scans again as soon as answered (`pace_ms` 0:
    the server's saturation), or after a random pause of `pace_ms` on average (people
    come to the door at random). Returns [(ms, verdict or "errors", reservation id)] and
    the seconds it took."""
    import http.client
    import queue
    import random

    line = queue.Queue()
    for token in tokens:
        for _ in range(scans_per_ticket):
            line.put(token)
    for _ in range(scanners):
        line.put(None)
    results, lock = [], threading.Lock()
    signed_in = [sign_in(server, auth) for _ in range(scanners)]

    def scan(headers):
        connection = server.connection()
        for _ in range(20):  # warm up: the workers' imports, connections, caches
            server.request("GET", f"/api/v1/checkin/counts/{event_id}", headers=headers, connection=connection)
        mine = []
        while (token := line.get()) is not None:
            if pace_ms:
                clock.sleep(random.expovariate(1000 / pace_ms))
            began = clock.perf_counter()
            body = {"event": event_id, "token": token, "nonce": str(uuid.uuid4())}
            outcome, place = "errors", None  # counted: the target is none
            for _attempt in range(2):  # a connection the server closed while idle: sent again, same nonce
                try:
                    status, answer = server.request("POST", "/api/v1/checkin/", body, headers, connection)
                except (ConnectionError, http.client.HTTPException):
                    connection.close()
                    connection = server.connection()
                    continue
                if status == 200:
                    outcome, place = answer["verdict"], answer.get("reservation")
                break
            mine.append(((clock.perf_counter() - began) * 1000, outcome, place))
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=scan, args=(headers,)) for headers in signed_in]
    began = clock.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results, clock.perf_counter() - began


def check_door(app, event_id):
    """(live entries, places with more than one live entry)."""
    from app.extensions import db
    from app.models import CheckIn

    with app.app_context():
        per_place = db.session.execute(select(func.count(CheckIn.id)).where(
            CheckIn.event_id == event_id, CheckIn.undone_on.is_(None)).group_by(CheckIn.reservation_id)).scalars().all()
    return sum(per_place), sum(n - 1 for n in per_place if n > 1)


def _door_figures(prefix, results, seconds):
    timings = sorted(ms for ms, _, _ in results)
    print(f"{prefix}ms_p50: {statistics.median(timings):.1f}")
    print(f"{prefix}ms_p95: {percentile(timings, 95):.1f}")
    print(f"{prefix}scans_per_s: {len(results) / seconds:.0f}")


def checkin_bench(app, args):
    """The door: `--scanners` scanners over `--places` places on a live server — the
    first `--paced-places` at the door's pace, the others as fast as answers come."""
    event_id, tokens = prepare_door(app, args.places)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()  # the server's processes open their own connections
    server = LiveServer(args.database_url, args.processes, args.threads)
    results = []
    try:
        paced = door(server, event_id, tokens[:args.paced_places], args.scanners, args.scans_per_ticket,
                     args.checkin_auth, args.pace_ms)
        saturated = door(server, event_id, tokens[args.paced_places:], args.scanners, args.scans_per_ticket,
                         args.checkin_auth, 0)
        results = paced[0] + saturated[0]
    finally:
        server.stop(show_log=not results or any(outcome == "errors" for _, outcome, _ in results))
    outcomes = Counter(outcome for _, outcome, _ in results)
    ok_places = Counter(place for _, outcome, place in results if outcome == "ok")
    entries, doubled = check_door(app, event_id)
    print(f"checkin_places: {args.places}")
    print(f"checkin_scanners: {args.scanners} ({args.checkin_auth}), paced: {args.paced_places} places, "
          f"a scan every {args.pace_ms} ms on average per scanner")
    print(f"checkin_scans: {len(results)}")
    print(f"checkin_ok: {outcomes['ok']}")
    print(f"checkin_already: {outcomes['already']}")
    print(f"checkin_errors: {outcomes['errors']}")
    print(f"checkin_entries: {entries}")
    print(f"checkin_double_entries: {doubled + sum(n - 1 for n in ok_places.values())}")
    if paced[0]:
        _door_figures("checkin_", *paced)
    if saturated[0]:
        _door_figures("checkin_saturated_", *saturated)


GRID_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_events_grid"
GRID_COLUMNS = ("id", "event_id", "ticket_type_id", "holder_id", "sponsor_id", "guest_name", "guest_email", "price",
                "state", "paid_on", "to_refund", "created_on", "changed_on")
GRID_EVENTS, GRID_HOLDERS = 200, 5000
FIRST_NAMES = ["Camille", "Léa", "Hugo", "Louis", "Chloé", "Jade", "Nathan", "Emma", "Lucas", "Manon", "Inès",
               "Enzo", "Sarah", "Tom", "Zoé", "Jules", "Alice", "Théo", "Lina", "Maël"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
              "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier"]
GRID_KEYWORD = "Fournier"  # one guest in twenty


def grid_events(app):
    """200 events (made once through the rules, each with one ticket type): the
    first 20 created by `eventadmin` for the BDE, the others by `clubadmin` for the
    INSA club; and the bench's 5,000 accounts. Their (event, ticket type, price) and
    the accounts' ids."""
    import psycopg

    from app.extensions import db
    from app.models import Association, Event, Organisation, TicketType, utcnow
    from app.rules import events as rules

    with app.test_request_context():
        sm = app.appbuilder.sm
        creators = {"eventadmin": sm.find_user(username="eventadmin"), "clubadmin": sm.find_user(username="clubadmin")}
        associations = {name: db.session.query(Association).join(Organisation).filter(Organisation.name == name).one()
                        for name in ("Bureau des élèves de Centrale Lyon", "Association sportive de l'INSA")}
        made = db.session.query(Event).filter(Event.name.like("Grille %")).count()
        opens = utcnow() - timedelta(days=30)
        for number in range(made, GRID_EVENTS):
            bde = number < GRID_EVENTS // 10
            creator = creators["eventadmin" if bde else "clubadmin"]
            association = associations["Bureau des élèves de Centrale Lyon" if bde else "Association sportive de l'INSA"]
            starts = opens + timedelta(days=60 + number)
            event = rules.create_event(creator, association, name=f"Grille {number:03d}", starts_on=starts,
                                       ends_on=starts + timedelta(hours=5), sale_opens_on=opens,
                                       sale_closes_on=starts - timedelta(days=1), sponsorship_limit=1)
            rules.save_ticket_type(creator, event, name="Place", kind="open", price=str(5 + number % 50),
                                   capacity=GRID_HOLDERS + 1000, sponsorship_allowed=True)
            db.session.commit()
        types = db.session.query(TicketType.event_id, TicketType.id, TicketType.price).join(Event).filter(
            Event.name.like("Grille %")).order_by(Event.id).all()
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    with psycopg.connect(common.psycopg_url(url)) as connection:
        have = connection.execute("SELECT count(*) FROM ab_user WHERE username LIKE 'grille-%'").fetchone()[0]
        if have < GRID_HOLDERS:
            with connection.cursor().copy("COPY ab_user (first_name, last_name, username, email, active, password, "
                                          "created_on, changed_on) FROM STDIN") as copy:
                for number in range(have, GRID_HOLDERS):
                    copy.write_row((FIRST_NAMES[number % 20], LAST_NAMES[number // 20 % 20], f"grille-{number}",
                                    f"grille-{number}@etu.example", True, "x", "2026-01-01", "2026-01-01"))
            connection.commit()
        holders = [row[0] for row in connection.execute(
            "SELECT id FROM ab_user WHERE username LIKE 'grille-%' ORDER BY id")]
    return [tuple(row) for row in types], holders


def grid_rows(app, count, seed=303):
    """`count` places, as many per event, four in five held by a bench account (each
    one place per event), one in five a guest of one of them; 70 % reserved (paid),
    10 % pre-reserved, the rest opposed (inputs read before COPY holds the table)."""
    from app.models import utcnow

    rng = random.Random(seed)
    types, holders = grid_events(app)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    first = common.scalar(url, "SELECT coalesce(max(id), 0) + 1 FROM event_reservation")
    now = utcnow().replace(microsecond=0)
    per_event = -(-count // len(types))
    return (grid_row(rng, first + offset, types[offset // per_event], holders, offset % per_event, now)
            for offset in range(count))


def grid_row(rng, number, ticket_type, holders, rank, now):
    event_id, ticket_type_id, price = ticket_type
    guest = rank % 5 == 4
    holder = holders[(rank - 1 if guest else rank) % len(holders)]
    state = rng.choice(("reserved",) * 7 + ("prereserved", "opposed", "opposed"))
    created = now - timedelta(minutes=rng.randrange(30 * 1440))
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return (number, event_id, ticket_type_id, None if guest else holder, holder if guest else None,
            name if guest else None, f"invite-{number}@example.org" if guest else None, price, state,
            created if state == "reserved" else None, False, created, created)


def grid_bench(args):
    url = args.grid_database_url
    app, total = common.grid_rows_loaded(url, "event_reservation", GRID_COLUMNS,
                                         lambda app: grid_rows(app, args.grid_rows), args.grid_rows, "events",
                                         extra_tables=("ab_user",))
    managed = common.scalar(url, "SELECT count(*) FROM event_reservation r JOIN event_admin_grant g ON g.event_id = "
                                 "r.event_id JOIN ab_user u ON u.id = g.user_id WHERE u.username = 'eventadmin' "
                                 "AND g.revoked_on IS NULL")
    state = common.filter_arg(app, "ReservationView", "state", "FilterEqual")
    keyword = common.filter_arg(app, "ReservationView", "guest_name", "FilterContains")
    viewers = {"admin": ("admin", total), "eventadmin": ("eventadmin", managed)}
    common.time_grid(app, "events_grid", "/reservations", viewers, {
        "first": "",
        "deep": lambda page: f"page_ReservationView={page}",
        "filtered": f"{state}=prereserved",
        "sorted": "_oc_ReservationView=price&_od_ReservationView=desc",
        "keyword": f"{keyword}={GRID_KEYWORD}",
    })
    common.time_csv_export(app, "events_grid", "/reservations", "eventadmin")


#: The bench's parts, in the order `--part all` runs them.
PARTS = {"shotgun": shotgun_bench, "ipn": ipn_bench,
         "exports": lambda app, args: time_place_exports(args.database_url, args.export_places),
         "checkin": checkin_bench}


if __name__ == "__main__":
    main()
