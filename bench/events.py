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
    parser.add_argument("--ipn-places", type=int, default=1000)
    parser.add_argument("--ipn-copies", type=int, default=5, help="how many times each IPN is sent")
    parser.add_argument("--export-places", type=int, default=10000)
    parser.add_argument("--export-worker", nargs=2, metavar=("FORMAT", "EVENT_ID"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if args.export_worker:
        return export_worker(args.database_url, *args.export_worker)
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
    time_place_exports(args.database_url, args.export_places)


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


if __name__ == "__main__":
    main()
