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
    parser.add_argument("--places", type=int, default=10000, help="reserved places at the check-in door")
    parser.add_argument("--scanners", type=int, default=10, help="concurrent scanners at the door")
    parser.add_argument("--scans-per-ticket", type=int, default=2,
                        help="scans of each ticket, one after the other in line (so they race)")
    parser.add_argument("--paced-places", type=int, default=2000, help="places scanned at the door's pace")
    parser.add_argument("--pace-ms", type=int, default=500,
                        help="a scanner's average pause between scans at the door's pace")
    parser.add_argument("--checkin-auth", choices=("session", "token"), default="session",
                        help="the scanner page's session, or an API client's bearer token")
    parser.add_argument("--part", choices=("all", "shotgun", "checkin"), default="all")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/events.py runs on PostgreSQL")
    ensure_database(args.database_url)
    app = build(args.database_url, args.threads)
    if args.part in ("all", "shotgun"):
        shotgun_bench(app, args)
    if args.part in ("all", "checkin"):
        checkin_bench(app, args)


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
    from app.models import AdminLevel, Association, Event, EventVisibility, Reservation, ReservationState, utcnow
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


def sign_in(server, auth):
    """The headers of a request of `checker`: the scanner page's session cookie (the login
    form, with its CSRF token), or a bearer token of the API."""
    import re
    from http.cookies import SimpleCookie

    if auth == "token":
        status, answer = server.request("POST", "/api/v1/security/login", {
            "username": "checker", "password": "demo1234", "provider": "db"})
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
        body = f"username=checker&password=demo1234&csrf_token={token}"
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


if __name__ == "__main__":
    main()
