"""One app and one database for the whole session, built the way production is:
`flask db upgrade`, `flask sync-roles`, `flask demo-data`.

`DATABASE_URL` points the suite at PostgreSQL (CI); without it, a fresh SQLite file.
Under pytest-xdist (`make test` runs three workers) each worker has a database of its
own, a copy of the one the run builds once (`demo_database`): on PostgreSQL,
DATABASE_URL's database name followed by the worker's (test_gw0...).
"""
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from config import BASE_DIR

from . import payment_gateways
from .helpers import (
    DEMO_PASSWORD,
    INBOUND_DOMAIN,
    PREFIX,
    RETRIES,
    forget_our_keys,
    free_port,
    frozen_clock,
    local_now,
    login,
    send_to_inbound,
    serve_live,
    SmtpServer,
    test_redis_url,
    wait_for,
    workers,
)


def app_settings(url) -> dict:
    """The settings of a test app on the database at `url`."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "ATTEMPT_LIMITS_ENABLED": False,  # tests/test_accounts.py turns them on where it tests them
        # Passwords hashed as in production, with a light work factor: each sign-in of the
        # suite (thousands) would cost 32 MiB and ~95 ms of CPU with scrypt's (Django's
        # documentation advises the same). test_accounts checks production's hash.
        "FAB_PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
        "SERVER_NAME": "localhost",
        "PUBLIC_URL": "http://localhost",
        # On PostgreSQL the app needs a secret key (CI's comes from .ci/run).
        "SECRET_KEY": SECRET_KEY,
        "FILES_ROOT": FILES_ROOT,
        # Queues of their own: jobs this run leaves behind never reach another run's worker.
        "JOB_QUEUE_PREFIX": f"guichet-test-{uuid.uuid4().hex[:8]}-",
        # The fake PayPal and Lydia of tests/payment_gateways.py, on the port it took.
        **payment_gateways.settings(),
    }


SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"
#: What the workers of one run share: the demo database built once, copied by each.
RUN_DIR = os.path.join(tempfile.gettempdir(), "guichet-tests-" + os.environ.get(
    "PYTEST_XDIST_TESTRUNUID", f"{os.getpid()}-{uuid.uuid4().hex[:8]}"))
#: Each worker's attachments, apart: tests compare what is on disk before and after a
#: refused upload, which another worker's upload at the same moment would change. Set in
#: the environment too, for the workers and servers the tests start.
FILES_ROOT = os.environ["FILES_ROOT"] = os.path.join(
    RUN_DIR, "files-" + os.environ.get("PYTEST_XDIST_WORKER", "main"))
#: The demo data's attachments, stored once with the database they belong to; each
#: copy of that database gets a copy of them.
DEMO_FILES_ROOT = os.path.join(RUN_DIR, "files-demo")


def _build(url):
    """The database as production builds it: `flask db upgrade`, `flask sync-roles`,
    `flask demo-data`."""
    from flask_migrate import upgrade

    from app import cli, demo
    from app.platform import jobs

    application = create_app({**app_settings(url), "FILES_ROOT": DEMO_FILES_ROOT})
    with application.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
        if application.config.get("REDIS_URL"):
            for name in (jobs.DEFAULT_QUEUE, jobs.MAIL_QUEUE):
                jobs.get_queue(name).empty()
        db.engine.dispose()


def _server(url):
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def demo_database(name) -> str:
    """The URL of a fresh database `name` holding the demo data: the first caller of a
    run builds it once (migrations, roles, demo), every caller gets a copy (a file copy
    on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL: a second instead of ~12 s),
    and the demo attachments copied into the worker's FILES_ROOT.
    Without DATABASE_URL, SQLite files; with it, DATABASE_URL's database name followed
    by `name` (test_gw0…)."""
    from sqlalchemy.engine import make_url

    os.makedirs(RUN_DIR, exist_ok=True)
    base = os.environ.get("DATABASE_URL")
    with open(os.path.join(RUN_DIR, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = os.path.join(RUN_DIR, "built")
        if not base:
            template = os.path.join(RUN_DIR, "demo.db")
            if not os.path.exists(built):
                _build(f"sqlite:///{template}")
                open(built, "w").close()
            path = os.path.join(tempfile.mkdtemp(prefix="guichet-test-"), f"{name}.db")
            shutil.copyfile(template, path)
            _copy_demo_files()
            return f"sqlite:///{path}"
        template = f"{make_url(base).database}_template"
        copy = make_url(base).set(database=f"{make_url(base).database}_{name}")
        server = _server(base)
        with server.connect() as connection:
            if not os.path.exists(built):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{template}"'))
                _build(make_url(base).set(database=template).render_as_string(hide_password=False))
                open(built, "w").close()
            connection.execute(text(f'DROP DATABASE IF EXISTS "{copy.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{copy.database}" TEMPLATE "{template}"'))
        server.dispose()
        _copy_demo_files()
        return copy.render_as_string(hide_password=False)


def _copy_demo_files():
    if os.path.isdir(DEMO_FILES_ROOT):
        shutil.copytree(DEMO_FILES_ROOT, FILES_ROOT, dirs_exist_ok=True)


def drop_database(url) -> None:
    """Drop a database of demo_database() (PostgreSQL; SQLite files stay in /tmp)."""
    from sqlalchemy.engine import make_url

    if make_url(url).get_backend_name() == "postgresql":
        server = _server(url)
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(scope="session")
def app():
    application = create_app(app_settings(demo_database(os.environ.get("PYTEST_XDIST_WORKER", "main"))))
    yield application
    if application.config.get("REDIS_URL"):
        from app.platform import jobs

        with application.app_context():
            for name in (jobs.DEFAULT_QUEUE, jobs.MAIL_QUEUE):
                jobs.get_queue(name).empty()


@pytest.fixture()
def session(app):
    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def mailbox(app, smtp_server, monkeypatch):
    """Mails go out right after each commit (jobs in this process) to a real SMTP server
    on this machine; yields its inbox, emptied."""
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp_server.port)
    smtp_server.inbox.messages.clear()
    smtp_server.inbox.reject.clear()
    yield smtp_server.inbox


@pytest.fixture()
def inbound_mail(app, monkeypatch):
    """The `flask inbound-mail` endpoint (replies by mail) serving on a port of this
    machine for INBOUND_DOMAIN; yields send(to, sender, text, headers=None), which
    sends one mail to it with smtplib and returns (code, reason)."""
    from app.platform import inbound

    monkeypatch.setitem(app.config, "INBOUND_MAIL_DOMAIN", INBOUND_DOMAIN)
    port = free_port()
    server = inbound.controller(app, "127.0.0.1", port)
    server.start()
    yield lambda *args, **kwargs: send_to_inbound(port, *args, **kwargs)
    server.stop()


@pytest.fixture()
def clock(request, app):
    """The clock stopped for the test today at 10:00 local time (a working hour), or at
    the time of day given by indirect parametrization:
    `@pytest.mark.parametrize("clock", ["10:00", "21:30"], indirect=True)`.
    Yields that moment as naive local time. It needs `app` so that the session's app
    and demo data are always built with the real clock, before it stops."""
    with frozen_clock(getattr(request, "param", "10:00")):
        yield local_now()


@pytest.fixture()
def login_as(app):
    """login_as('creator') -> a test client signed in as that demo account."""

    def make(username, password=DEMO_PASSWORD):
        return login(app.test_client(), username, password)

    return make


# -- browser tests: Playwright driving Debian's chromium against a live server --

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def speaking(login_as):
    """speaking("admin", "en") -> a test client of that account in that language (which
    the account keeps: French again after the test)."""
    clients = []

    def make(username, language):
        client = login_as(username)
        clients.append(client)
        client.get(f"/lang/{language}")
        return client

    yield make
    for client in clients:
        client.get("/lang/fr")


@pytest.fixture(scope="session")
def live_url(app):
    """The app served by a real HTTP server in a child process (tests/helpers.serve_live)."""
    yield from serve_live(app)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Reports each Content-Security-Policy violation of a page to the test (collect_csp_violations).
_CSP_LISTENER = """document.addEventListener("securitypolicyviolation", function (event) {
    window.guichetCspViolation(event.violatedDirective + " blocked " + (event.blockedURI || "inline")
        + " at " + (event.sourceFile || location.href) + ":" + event.lineNumber);
});"""


def collect_csp_violations(context, violations):
    """Append to `violations` every CSP violation in `context`'s pages: the DOM event and
    the browser's console message both, so that none is missed."""
    context.expose_binding("guichetCspViolation", lambda source, text: violations.append(text))
    context.add_init_script(_CSP_LISTENER)

    def watch(page):
        page.on("console", lambda message: "Content Security Policy" in message.text
                and violations.append(f"{page.url}: {message.text}"))

    context.on("page", watch)


def _browser_pages(chromium, live_url, **context_options):
    """The factory behind browser_login and phone_login: make(username) -> a page signed
    in as that demo account (make(None): signed out) in a context of its own; yields it,
    then fails on any Content-Security-Policy violation of those pages."""
    contexts, violations = [], []

    def make(username, password=DEMO_PASSWORD):
        context = chromium.new_context(locale="fr-FR", **context_options)
        contexts.append(context)
        collect_csp_violations(context, violations)
        page = context.new_page()
        page.set_default_timeout(15000)
        if username is None:
            return page
        page.goto(f"{live_url}/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, f"{username} could not sign in"
        return page

    make.csp_violations = violations
    yield make
    for context in contexts:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture()
def browser_login(chromium, live_url):
    """browser_login('creator') -> a Playwright page signed in as that demo account
    (browser_login(None): a page signed out), on a desktop screen.

    The pages run under the app's Content-Security-Policy: a test whose pages had a
    violation fails (the list is `browser_login.csp_violations`)."""
    yield from _browser_pages(chromium, live_url, viewport={"width": 1366, "height": 900})


@pytest.fixture()
def phone_login(chromium, live_url):
    """browser_login on a phone: 390×844 CSS pixels, touch, the page's meta viewport
    honoured as a mobile browser does."""
    yield from _browser_pages(chromium, live_url, viewport={"width": 390, "height": 844},
                              is_mobile=True, has_touch=True)


# -- Redis and a real RQ worker process (`flask worker`) on the test database --


@pytest.fixture(scope="module")
def redis_url():
    url = test_redis_url()
    connection = Redis.from_url(url, socket_connect_timeout=3)
    try:
        connection.ping()
    except Exception as error:  # a missing Redis is a failure, not a skip
        pytest.fail(f"Redis is unreachable at {url}: {error}")
    yield url
    forget_our_keys(connection)


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(app, redis_url, smtp):
    """One `flask worker` process (with RQ's scheduler, for retries) on the test database."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_url,
               SECRET_KEY=app.config["SECRET_KEY"], PUBLIC_URL=app.config["PUBLIC_URL"],
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port), JOB_RETRY_INTERVALS=RETRIES,
               JOB_QUEUE_PREFIX=PREFIX, RATELIMIT_STORAGE_URI="memory://", FLASK_APP="run.py")
    log = tempfile.NamedTemporaryFile(prefix="guichet-worker-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=BASE_DIR, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    connection = Redis.from_url(redis_url)
    try:
        wait_for(lambda: process.poll() is not None or workers(connection) > 0,
                 what="the worker to start")
        assert process.poll() is None, open(log.name).read()[-3000:]
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        if os.environ.get("GUICHET_SHOW_WORKER_LOG"):
            print(open(log.name).read())
        os.unlink(log.name)


@pytest.fixture()
def on_redis(app, redis_url, worker, monkeypatch):
    """The test's app enqueues on the worker's Redis and queues."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "JOB_QUEUE_PREFIX", PREFIX)
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", [int(s) for s in RETRIES.split(",")])
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    return app
