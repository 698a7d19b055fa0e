"""The whole app under load: every desk's pages and APIs as each role, through gunicorn.

    .venv/bin/python bench/load.py [--rows N] [--database-url URL] [--redis-url URL]
                                   [--part all|seed|load|profile] [--seconds S]
                                   [--saturation-users U] [--skip PATH ...]

Part `seed`: its own PostgreSQL database (default `guichet_bench_load`, never `test`),
migrated, with the demo data and N rows per desk (default 100,000 of each: tickets,
bookings, help requests with three events each, operator orders), loaded in bulk by
the desks' benchmarks' loaders; kept between runs (loaded again only when it holds
fewer orders than N).

Part `load`: the app served as `make run` serves it with REDIS_URL set (gunicorn, 2
processes of 4 threads, and one `flask worker`), driven by locust as a library (its
gevent runner, in this process; no web UI). Each simulated person is one demo login,
the roles taken in turn, signed in once through the login form (its cookies kept) and
once through `POST /api/v1/security/login` (its bearer token kept); then they open,
at random, the pages of their menu and the desks' API lists, sorted pages and rows
their role may read (each login's read once before the runs: its navbar, and which
APIs answer it 200). Two runs, each measured once everyone is signed in:

* saturation: `--saturation-users` people (default 24) with no think time, for S
  seconds (default 60): `requests_per_s` (= `saturation_requests_per_s`),
  `saturation_p50_ms` / `saturation_p95_ms`;
* 50 people with 1 s of think time, for S seconds: `p95_ms` (= `think_p95_ms`);

and for both `errors` (answers other than 2xx/3xx, plus failed connections) and the
p95 of the slowest endpoints (`<run>_p95_ms[<method> <name>]`) and the first errors;
then `login_ms_p50` / `login_ms_p95` (the form's POST, as each person signed in).
`--skip PATH` leaves a page or API out (e.g. one known to fail, to measure the rest).

Part `profile`: one authenticated page request in this process (Flask's test client,
signed in as `referent`, its request list), repeated under cProfile: prints
`profiled_page_ms_p50` and the top of the profile by own time. Then the login cost:
`password_hash_method`, `check_password_hash_ms_p50` (werkzeug's check alone) and
`login_post_ms_p50` (the whole form POST in process).

Prints `key: value` lines. The machine is shared: figures are noisy.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
PASSWORD = "demo1234"


# -- seed ------------------------------------------------------------------


def seeded(url, rows) -> bool:
    """Whether a previous run left the database complete (the orders are loaded last)."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain) as connection:
            return connection.execute("SELECT count(*) FROM operator_order").fetchone()[0] >= rows
    except psycopg.Error:
        return False


def seed(url, rows):
    """The schema, the demo data and `rows` rows per desk, from an empty schema."""
    import booking
    import common
    import ent
    import operator_desk
    import tickets
    common.empty_database(url)
    started = time.perf_counter()
    app, _ = tickets.build(url, rows)
    booking.load_bookings(app, rows)
    with app.app_context():
        ent.load(rows)
    operator_desk.load_orders(url, rows)
    print(f"seed_s: {time.perf_counter() - started:.1f}")


# -- serving -----------------------------------------------------------------


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(url, redis_url, port):
    """The settings of every process of the served app: the bench's database and Redis,
    one key for all of them, the eligibility API's limit out of the way."""
    import secrets

    return {**os.environ, "FLASK_APP": "run.py", "DATABASE_URL": url, "REDIS_URL": redis_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_hex(32),
            "PUBLIC_URL": f"http://127.0.0.1:{port}", "ELIGIBILITY_API_RATE_LIMIT": "1000000 per minute"}


class Served:
    """gunicorn as `make run` starts it (2 processes of 4 threads, access log) and one
    `flask worker`, on a free port; their output goes to a log file."""

    def __init__(self, url, redis_url):
        import subprocess
        import tempfile

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = server_env(url, redis_url, self.port)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="guichet-load-", suffix=".log", delete=False)
        binaries = os.path.join(ROOT, ".venv", "bin")
        self.processes = [
            subprocess.Popen([os.path.join(binaries, "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
                              "--workers", "2", "--threads", "4", "--access-logfile", self.log.name, "run:app"],
                             cwd=ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT),
            subprocess.Popen([os.path.join(binaries, "flask"), "worker"], cwd=ROOT, env=environment,
                             stdout=self.log, stderr=subprocess.STDOUT),
        ]
        self.wait()

    def wait(self, timeout=120):
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/login/", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop(show_log=True)
        raise SystemExit("gunicorn did not answer")

    def stop(self, show_log=False):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(30)
        if show_log:
            print(open(self.log.name).read()[-6000:])
        os.unlink(self.log.name)


# -- what each person does ---------------------------------------------------------

# The demo logins (README), each one job: the simulated people take them in turn.
LOGINS = ("admin", "vnoc", "creator", "creator2", "client", "cmartin", "client2", "lead", "agent", "referent",
          "referent2", "desk", "teacher", "student", "user", "eventadmin", "clubadmin", "checker", "etudiant",
          "etudiant2", "insa", "externe", "opadmin", "opuser", "opsav", "wholesale", "ops")
# The desks' and the platform's REST resources (FAB's ModelRestApi): their list, a
# second page sorted, and one row; each person reads those their role may read.
RESOURCES = ("booking", "room", "equipment", "project", "ticket", "helprequest", "event", "tickettype",
             "reservation", "certificate", "organisation", "membership")
# Desk E's TM Forum APIs (GET lists).
OPERATOR_APIS = ("/api/v1/operator/productOrder", "/api/v1/operator/appointment",
                 "/api/v1/operator/troubleTicket")
ELIGIBILITY = "/api/v1/operator/serviceQualification"
# Menu entries left out: a change of language, sign-out, exports (a file of every row,
# not a page).
SKIPPED = ("/lang/", "/logout", "/export", "#")


def menu_links(html):
    """The navbar's entries of a page (app/templates/guichet/navbar_menu_fab.html)."""
    import re

    links = []
    for href in re.findall(r'<a tabindex="-1" href="([^"]+)"', html):
        if href.startswith("/") and not any(part in href for part in SKIPPED) and href not in links:
            links.append(href)
    return links


def csrf_token(html):
    import re

    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def plan(base, imb_id, skipped=()):
    """{login: (pages, API paths)} as each person finds them once signed in: the pages of
    their menu; the API lists, sorted second pages and first rows they may read; none of
    `skipped`."""
    import requests

    plans = {}
    for login in LOGINS:
        browser = requests.Session()
        form = browser.get(f"{base}/login/")
        landing = browser.post(f"{base}/login/", data={"username": login, "password": PASSWORD,
                                                       "csrf_token": csrf_token(form.text)})
        assert landing.status_code == 200 and "/login" not in landing.url, (login, landing.status_code)
        pages = ["/", *menu_links(landing.text)]
        token = requests.post(f"{base}/api/v1/security/login", json={
            "username": login, "password": PASSWORD, "provider": "db"}).json()["access_token"]
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        apis = []
        for resource in RESOURCES:
            listed = api.get(f"{base}/api/v1/{resource}/")
            if listed.status_code != 200:
                continue
            apis.append(f"/api/v1/{resource}/")
            apis.append(f"/api/v1/{resource}/?q=(order_column:id,order_direction:desc,page:1,page_size:25)")
            ids = listed.json().get("ids") or []
            if ids:
                apis.append(f"/api/v1/{resource}/{ids[0]}")
        apis += [path for path in OPERATOR_APIS if api.get(f"{base}{path}").status_code == 200]
        eligible = api.post(f"{base}{ELIGIBILITY}", json=eligibility_body(imb_id))
        if eligible.status_code == 201:
            apis.append(ELIGIBILITY)
        plans[login] = ([path for path in pages if path not in skipped],
                        [path for path in apis if path.partition("?")[0] not in skipped])
    return plans


def endpoint_name(path):
    """A request's name in the figures: its path, numbers as <id>, a query as ?q."""
    import re

    path, _, query = path.partition("?")
    return re.sub(r"/\d+(?=/|$)", "/<id>", path) + ("?q" if query else "")


def places(url, count=200):
    """IMB ids of buildings, for the eligibility API's questions."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return [row[0] for row in connection.execute(
            "SELECT imb_id FROM building ORDER BY id LIMIT %s", (count,))]


def eligibility_body(imb_id):
    """TMF645: the offers a building qualifies for, by its IMB id."""
    return {"place": {"@type": "GeographicSite", "id": imb_id}}


# -- the load ------------------------------------------------------------------


def person_class(base, plans, imb_ids, think_s, logins):
    """A locust user: signs in through the form (its cookies kept) and the API (its
    token kept), then opens its pages and APIs at random, `think_s` apart."""
    import random

    from locust import FastHttpUser, constant, task
    from locust.contrib.fasthttp import FastHttpSession

    class Person(FastHttpUser):
        host = base
        wait_time = constant(think_s)
        network_timeout = 120.0
        connection_timeout = 120.0

        def on_start(self):
            self.login = next(logins)
            form = self.client.get("/login/", name="/login/")
            started = time.perf_counter()
            with self.client.post("/login/", data={"username": self.login, "password": PASSWORD,
                                                   "csrf_token": csrf_token(form.text)},
                                  allow_redirects=False, name="POST /login/", catch_response=True) as answer:
                if answer.status_code != 302 or "/login" in answer.headers.get("Location", "/login"):
                    answer.failure(f"{self.login} not signed in: {answer.status_code}")
                    self.stop()
                    return
            self.environment.login_ms.append((time.perf_counter() - started) * 1000)
            self.client.get(answer.headers["Location"], name="landing page")
            self.api = FastHttpSession(base_url=base, request_event=self.environment.events.request, user=self,
                                       network_timeout=120.0, connection_timeout=120.0)
            token = self.api.post("/api/v1/security/login", name="POST /api/v1/security/login", json={
                "username": self.login, "password": PASSWORD, "provider": "db"}).json()["access_token"]
            self.bearer = {"Authorization": f"Bearer {token}"}
            pages, apis = plans[self.login]
            self.work = [("page", path) for path in pages] + [("api", path) for path in apis]
            self.environment.ready += 1

        @task
        def visit(self):
            kind, path = random.choice(self.work)
            if kind == "page":
                self.client.get(path, name=endpoint_name(path))
            elif path == ELIGIBILITY:
                self.api.post(path, json=eligibility_body(random.choice(imb_ids)), headers=self.bearer,
                              name=endpoint_name(path))
            else:
                self.api.get(path, headers=self.bearer, name=endpoint_name(path))

    return Person


def run(base, plans, imb_ids, users, think_s, seconds, label, worst=5):
    """`users` people, spawned and signed in, then measured for `seconds`: the figures."""
    import itertools

    import gevent
    from locust.env import Environment

    environment = Environment(user_classes=[person_class(base, plans, imb_ids, think_s,
                                                         itertools.cycle(LOGINS))])
    environment.login_ms, environment.ready = [], 0
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=10)
    deadline = time.monotonic() + 300
    while environment.ready < users and time.monotonic() < deadline:
        gevent.sleep(0.2)
    sign_in_failures = environment.stats.total.num_failures
    environment.stats.reset_all()
    started = time.monotonic()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - started
    stats = environment.stats
    total = stats.total
    figures = {
        f"{label}_users": users,
        f"{label}_think_s": think_s,
        f"{label}_requests": total.num_requests,
        f"{label}_requests_per_s": round(total.num_requests / elapsed, 1),
        f"{label}_p50_ms": total.get_response_time_percentile(0.5),
        f"{label}_p95_ms": total.get_response_time_percentile(0.95),
        f"{label}_errors": total.num_failures + sign_in_failures,
    }
    entries = sorted((entry for entry in stats.entries.values() if entry.num_requests),
                     key=lambda entry: entry.get_response_time_percentile(0.95), reverse=True)
    for entry in entries[:worst]:
        figures[f"{label}_p95_ms[{entry.method} {entry.name}]"] = entry.get_response_time_percentile(0.95)
    for error in list(stats.errors.values())[:5]:
        figures[f"{label}_error[{error.method} {error.name}]"] = f"{error.occurrences} x {str(error.error)[:200]}"
    runner.quit()
    return figures, environment.login_ms


def load(url, redis_url, saturation_users, seconds, skipped):
    import locust  # noqa: F401  (first: it patches the standard library for gevent)
    import statistics

    import redis

    redis.Redis.from_url(redis_url).flushdb()
    import common

    print(f"machine_ms: {common.machine_ms():.1f} (bench/common.machine_ms: lower is faster)")
    served = Served(url, redis_url)
    try:
        imb_ids = places(url)
        plans = plan(served.base, imb_ids[0], skipped)
        print(f"endpoints: {sum(len(pages) + len(apis) for pages, apis in plans.values())} "
              f"(pages and APIs of {len(plans)} logins)")
        saturated, logins = run(served.base, plans, imb_ids, saturation_users, 0, seconds, "saturation")
        thinking, more_logins = run(served.base, plans, imb_ids, 50, 1, seconds, "think")
    finally:
        served.stop()
    figures = {"requests_per_s": saturated["saturation_requests_per_s"], "p95_ms": thinking["think_p95_ms"],
               "errors": saturated["saturation_errors"] + thinking["think_errors"], **saturated, **thinking}
    logins = sorted(logins + more_logins)
    figures["login_ms_p50"] = round(statistics.median(logins), 1)
    figures["login_ms_p95"] = round(logins[int(len(logins) * 0.95) - 1], 1)
    for key, value in figures.items():
        print(f"{key}: {value}")


# -- profile and login cost --------------------------------------------------------

PROFILED_LOGIN = "referent"
PROFILED_PAGE = "/helprequests/list/"


def profile(url, redis_url, requests=300, top=25):
    """One signed-in page request in this process, timed then profiled; the login's cost."""
    import cProfile
    import io
    import pstats
    import statistics

    import common
    from werkzeug.security import check_password_hash

    from app import create_app
    from app.extensions import db

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url})
    client = None

    def sign_in():
        nonlocal client
        client = app.test_client()
        form = client.get("/login/").get_data(as_text=True)
        started = time.perf_counter()
        answer = client.post("/login/", data={"username": PROFILED_LOGIN, "password": PASSWORD,
                                              "csrf_token": csrf_token(form)})
        assert answer.status_code == 302 and "/login" not in answer.location, answer.status_code
        return (time.perf_counter() - started) * 1000

    logins = sorted(sign_in() for _ in range(10))

    def page():
        answer = client.get(PROFILED_PAGE)
        assert answer.status_code == 200, answer.status_code

    for _ in range(20):
        page()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        page()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(f"profiled_page: GET {PROFILED_PAGE} as {PROFILED_LOGIN}")
    print(f"profiled_page_ms_p50: {statistics.median(timings):.2f}")
    print(f"profiled_page_ms_p95: {timings[int(len(timings) * 0.95) - 1]:.2f}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        page()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"profile_by_{order} (per {requests} requests):")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    with app.app_context():
        stored = db.session.execute(db.text("SELECT password FROM ab_user WHERE username = :login"),
                                    {"login": PROFILED_LOGIN}).scalar()
    checks = []
    for _ in range(10):
        started = time.perf_counter()
        assert check_password_hash(stored, PASSWORD)
        checks.append((time.perf_counter() - started) * 1000)
    print(f"password_hash_method: {stored.split('$', 1)[0]}")
    print(f"check_password_hash_ms_p50: {statistics.median(checks):.1f}")
    print(f"login_post_ms_p50: {statistics.median(logins):.1f} (in process, alone)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--part", choices=("all", "seed", "load", "profile"), default="all")
    parser.add_argument("--saturation-users", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--skip", action="append", default=[], metavar="PATH",
                        help="leave out a page or API path (repeatable)")
    args = parser.parse_args()
    if args.part == "all":  # each part in a process of its own: locust patches the standard library
        for part in ("seed", "load", "profile"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--part", part], check=True)
    elif args.part == "seed":
        if not seeded(args.database_url, args.rows):
            seed(args.database_url, args.rows)
    elif args.part == "load":
        load(args.database_url, args.redis_url, args.saturation_users, args.seconds, set(args.skip))
    else:
        profile(args.database_url, args.redis_url)


if __name__ == "__main__":
    main()
