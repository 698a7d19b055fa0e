"""Plain helpers shared by the tests: signing in, demo accounts, uploads and the clock.
The fixtures are in conftest.py."""
import email
import http.cookiejar
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, time
from email import policy
from time import monotonic, sleep
from urllib.parse import urlparse, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import time_machine
from aiosmtpd.controller import Controller
from flask import current_app
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Membership, Organisation
from app.platform import jobs
from config import BASE_DIR, Config

DEMO_PASSWORD = "demo1234"  # every demo account's
INBOUND_DOMAIN = "reponses.guichet.example"  # where the tests' reply addresses point

# Enough of a PNG for its type to be read from its content.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def login(client, username, password=DEMO_PASSWORD):
    """Sign `client` (a test client) in as `username`; returns the client."""
    client.post("/logout/")
    response = client.post("/login/", data={"username": username, "password": password})
    assert response.status_code == 302, f"login of {username} failed"
    return client


# -- accounts (inside an app context) --


def user(username):
    """The account `username` (None if there is none), from the current app's session."""
    return current_app.appbuilder.sm.find_user(username=username)


def member(username, organisation, role="User", password=DEMO_PASSWORD):
    """The account `username`, created with `role` (a role name) if missing, and made a
    member of `organisation` (a name) if it is not one yet; committed."""
    sm = current_app.appbuilder.sm
    account = user(username)
    if account is None:
        account = sm.add_user(username, "Camille", username.capitalize(), f"{username}@guichet.example",
                              [sm.find_role(role)], password=password)
        assert account, f"{username} could not be created"
    organisation_id = db.session.query(Organisation.id).filter_by(name=organisation).scalar()
    if not db.session.query(Membership).filter_by(user_id=account.id, organisation_id=organisation_id).first():
        db.session.add(Membership(user_id=account.id, organisation_id=organisation_id))
    db.session.commit()
    return account


# -- files --


def upload(name="capture.png", data=PNG):
    """A file as a form posts it (its type is read from `data`, never from `name`)."""
    return FileStorage(stream=io.BytesIO(data), filename=name)


def stored_paths():
    """Every file on disk under the attachments' storage root (in an app context)."""
    from app.platform import files

    root = files.storage_root()
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)


# -- the clock --

TIMEZONE = ZoneInfo(Config.TIMEZONE)  # the one bookings and their rules are written in


def local_now():
    """Now, as the naive local time bookings are written in (as app.rules.booking reads it)."""
    return datetime.now(TIMEZONE).replace(tzinfo=None)


def today_at(clock):
    """Today (the real date, in TIMEZONE) at `clock` ("HH:MM", local time), time-zone aware.

    The real date, because the demo data is loaded with the real clock at the start of
    the session: only the time of day moves."""
    return datetime.combine(datetime.now(TIMEZONE).date(), time.fromisoformat(clock), TIMEZONE)


def frozen_clock(clock="10:00"):
    """The clock stopped today at `clock` local time, for as long as the returned
    time_machine traveller is entered (`with frozen_clock("21:30"): ...`).

    Never around code that compares timestamps written by another process (the RQ
    worker of test_notifications, the live server of the browser tests): time-machine
    stops this process's clock only."""
    # In UTC: a ZoneInfo destination would also switch the process's time zone (TZ).
    return time_machine.travel(today_at(clock).astimezone(UTC), tick=False)


class BearerClient:
    """A test client whose every request carries a bearer token of `username`, from
    `POST /api/v1/security/login`, as an API client sends it (no session cookie)."""

    def __init__(self, app, username, password=DEMO_PASSWORD):
        self.client = app.test_client()
        response = self.client.post("/api/v1/security/login", json={
            "username": username, "password": password, "provider": "db"})
        assert response.status_code == 200, f"no token for {username}: {response.status_code}"
        self.headers = {"Authorization": f"Bearer {response.json['access_token']}"}

    def open(self, path, method="GET", **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.open(path, "GET", **kwargs)

    def post(self, path, **kwargs):
        return self.open(path, "POST", **kwargs)

    def put(self, path, **kwargs):
        return self.open(path, "PUT", **kwargs)

    def delete(self, path, **kwargs):
        return self.open(path, "DELETE", **kwargs)


# -- mail: a real SMTP server on this machine --


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_live(app):
    """The body of a live-server fixture (`yield from serve_live(app)`): the app served by
    a real HTTP server in a child process (pytest-flask's LiveServer), forked with the
    settings it has now; yields its URL, stops it afterwards. The parent's pooled
    database connections are dropped first, so that no socket is shared across the fork."""
    from pytest_flask.live_server import LiveServer

    with app.app_context():
        db.engine.dispose()
    server = LiveServer(app, "127.0.0.1", free_port(), wait=10, clean_stop=True)
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


def wait_for_export(client, location, timeout=20):
    """The status of the export job at `location` once it is ready or failed."""
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        status = client.get(f"{location}/status").get_json()
        if status["state"] in ("ready", "failed"):
            return status
        sleep(0.05)
    raise AssertionError(f"the export at {location} never finished")


class Inbox:
    """What the SMTP server received; addresses in `reject` are refused (550)."""

    def __init__(self):
        self.messages = []
        self.reject = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def for_outbox(self, mail_id):
        return [m for _, m in self.messages if m["X-Guichet-Outbox"] == str(mail_id)]


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


SET_PASSWORD_LINK = re.compile(r"https?://\S+/password/set/([A-Za-z0-9_\-]+)")


def sent_link(inbox, mail):
    """The path of the set-password or reset link in the message sent for the outbox
    `mail` (the outbox keeps it masked)."""
    messages = inbox.for_outbox(mail.id)
    assert messages, f"outbox mail {mail.id} was not sent"
    match = SET_PASSWORD_LINK.search(messages[-1].get_body(("plain",)).get_content())
    assert match, f"no link in the mail sent:\n{messages[-1]}"
    return urlparse(match.group(0)).path


# ---------------------------------------------------------------------------
# Redis and a real RQ worker (the fixtures `redis_url`, `worker`, `on_redis`)
# ---------------------------------------------------------------------------
# Redis is REDIS_URL's server (default 127.0.0.1:6379), database 13; the tests fail if
# it cannot be reached. Queues get a name of their own per run (JOB_QUEUE_PREFIX), whose
# keys are deleted afterwards: the database is not flushed, so that two runs at once
# (two checkouts, CI) never take each other's jobs.

REDIS_DB = 13
PREFIX = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}-"
RETRIES = "1,1,1,1,1"  # 5 retries, 1 s apart: 6 attempts in all
WAIT = 30  # seconds, at most, for the worker


def test_redis_url():
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


def wait_for(predicate, timeout=WAIT, what="the worker"):
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        value = predicate()
        if value:
            return value
        sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def forget_our_keys(connection):
    """Delete this run's queues, registries and jobs."""
    from rq import Queue

    job_ids = set()
    for name in jobs.QUEUES:
        queue = Queue(PREFIX + name, connection=connection)
        job_ids.update(queue.get_job_ids())
        for registry in (queue.started_job_registry, queue.finished_job_registry,
                         queue.failed_job_registry, queue.scheduled_job_registry,
                         queue.deferred_job_registry, queue.canceled_job_registry):
            job_ids.update(registry.get_job_ids())
    keys = [key for job_id in job_ids for key in connection.scan_iter(f"rq:*{job_id}*")]
    keys += list(connection.scan_iter(f"rq:*{PREFIX}*"))
    if keys:
        connection.delete(*keys)


def workers(connection):
    """How many workers serve this run's mail queue."""
    from rq import Queue, Worker

    return Worker.count(connection=connection, queue=Queue(PREFIX + jobs.MAIL_QUEUE, connection=connection))


def queues_empty(connection):
    from rq import Queue

    return all(Queue(PREFIX + name, connection=connection).count == 0 for name in jobs.QUEUES)


def send_to_inbound(port, to, sender, text, headers=None):
    """Send one mail to the inbound endpoint on `port` with smtplib, as an MTA relays
    it: (250, "") once taken, else (code, reason) of the refusal."""
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "Re: ticket"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            code, reason = next(iter(refused.recipients.values()))
            return code, reason.decode()
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code, refused.smtp_error.decode()
    return 250, ""


# ---------------------------------------------------------------------------
# A cluster: real processes (gunicorn, `flask worker`, `flask cron`) on one database
# and one Redis, and an HTTP client that talks to them as a browser does
# ---------------------------------------------------------------------------


STARTUP = 120  # seconds a process may take to build its app (on two busy cores)


class Processes:
    """The processes a test module starts, each logging to a file of its own; stopped
    together (SIGTERM, then SIGKILL after 10 s). `log(name)` is the end of one's log."""

    def __init__(self):
        self.started = {}

    def start(self, name, args, env):
        log = tempfile.NamedTemporaryFile(prefix=f"guichet-{name}-", suffix=".log", delete=False)
        process = subprocess.Popen([sys.executable, "-m", *args], cwd=BASE_DIR,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started[name] = (process, log.name)
        return process

    def wait_until(self, name, predicate, timeout=STARTUP):
        """Wait for `predicate()` while `name` runs; fail with its log if it stops or times out."""
        process = self.started[name][0]
        try:
            wait_for(lambda: process.poll() is not None or predicate(), timeout, what=name)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log(name)}") from None
        assert process.poll() is None, f"{name} stopped:\n{self.log(name)}"

    def log(self, name, tail=3000):
        with open(self.started[name][1], errors="replace") as handle:
            return handle.read()[-tail:]

    def stop(self):
        for process, _ in self.started.values():
            if process.poll() is None:
                process.terminate()
        for process, path in self.started.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.unlink(path)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class HttpClient:
    """Requests to real servers over HTTP, with one cookie jar for all of them (as a
    browser behind one load balancer), no redirect followed. Each call returns
    (status, headers, body as text)."""

    def __init__(self):
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def open(self, url, data=None, json_body=None, headers=None):
        headers = dict(headers or {})
        body = None
        if json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode("utf-8", "replace")

    def csrf_token(self, url):
        """The CSRF token of the form on the page at `url` (it lives in the session cookie)."""
        status, _, page = self.open(url)
        assert status == 200, f"{url}: {status}"
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
