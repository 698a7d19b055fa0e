"""Mail benchmark: a request that notifies 100 people, and one worker's sending rate.

    .venv/bin/python bench/mail.py [--mails N] [--database-url URL] [--redis-url URL]

On PostgreSQL (database `guichet_bench_mail`, created if missing, never `test`) and
Redis (database 14, flushed), with a local SMTP server (aiosmtpd):

* `enqueue_100_ms`: one request (Flask's test client, signed in as the demo admin)
  that notifies 100 users — 100 feed entries and 100 mails with an .ics, rendered in
  each one's language, committed and enqueued on RQ. No worker runs meanwhile: the
  request cannot be waiting for SMTP. Median of the timed requests (p95 beside).
* `mails_per_s`: one worker process (`flask worker`) sending N queued mails to a
  local SMTP server (aiosmtpd, in a process of its own), from the moment their jobs
  are enqueued (as notify() does: MAIL_BATCH_SIZE mails per job) until the last is
  marked sent; every mail must arrive exactly once.
* `enqueue_100_smtp_down_ms`: the same request while the worker runs and the SMTP
  server is down.

Prints one `key: value` line per figure.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common  # noqa: E402

from common import ensure_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_mail"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
PREFIX = "bench-"
RECIPIENTS = 100


# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_view():
    from flask import request
    from flask_appbuilder import BaseView, expose
    from flask_appbuilder.security.decorators import has_access
    from flask_appbuilder.security.sqla.models import User
    from sqlalchemy import select

    from app.extensions import db
    from app.platform import notifications

    class BenchNotifyView(BaseView):
        """A desk action that tells 100 people about a booking (mail with .ics + feed)."""

        route_base = "/bench/mail"

        @expose("/notify", methods=["POST"])
        @has_access
        def notify(self):
            from datetime import datetime, timedelta

            count = int(request.form.get("recipients", RECIPIENTS))
            people = db.session.scalars(
                select(User).where(User.username.like("bench-%")).order_by(User.id).limit(count)).all()
            start = datetime(2026, 6, 15, 10, 0)
            ics = notifications.ics_attachment(
                "Comité de pilotage ENT", start, start + timedelta(hours=2), uid="booking-00042@guichet",
                location="Salle Lumière, Rectorat de Lyon")
            notifications.notify(people, "notification",
                                 {"title": "Réservation 00042 validée", "message": "Salle Lumière, 15 juin, 10 h."},
                                 link="/organisations/list/", attachments=[ics])
            db.session.commit()
            return f"{len(people)} notified\n"

    return BenchNotifyView


def build_app(url, redis_url, smtp_port):
    from app import create_app

    view = bench_view()

    def register_more(appbuilder):
        appbuilder.add_view_no_menu(view)

    return create_app({**common.APP_SETTINGS,
        "SQLALCHEMY_DATABASE_URI": url,
        "REDIS_URL": redis_url,
        "JOB_QUEUE_PREFIX": PREFIX,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "AUTH_RATE_LIMITED": False,
        "FAB_API_SWAGGER_UI": False,
    }, register_more=register_more)


def load(app):
    """Schema, roles, demo data, 100 bench users (half of them reading English); an empty outbox."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import cli, demo
    from app.extensions import db
    from app.platform import notifications

    with app.app_context():
        upgrade()
        cli.sync_roles()
        list(demo.load())
        sm = app.appbuilder.sm
        role = sm.find_role("User")
        for n in range(1, RECIPIENTS + 1):
            login = f"bench-{n:03d}"
            user = sm.find_user(username=login)
            if user is None:
                user = sm.add_user(login, "Camille", f"Banc {n:03d}", f"{login}@guichet.example",
                                   [role], password="bench-password-1")
            notifications.set_user_locale(user.id, "en" if n % 2 else "fr")
        db.session.commit()
        db.session.execute(text("TRUNCATE outbox_attachment, outbox_mail, notification RESTART IDENTITY"))
        db.session.commit()


class Inbox:
    """The local SMTP server's handler: writes each message's outbox id to a file."""

    def __init__(self, log):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.split(b"\r\n"):
            if line.startswith(b"X-Guichet-Outbox:"):
                self.log.write(line.split(b":", 1)[1].strip().decode() + "\n")
                self.log.flush()
                break
        return "250 Message accepted for delivery"


def smtp_server(port, log_path):
    """`--smtp-server`: a local SMTP server (aiosmtpd) in its own process, until killed."""
    import signal

    from aiosmtpd.controller import Controller

    with open(log_path, "a") as log:
        controller = Controller(Inbox(log), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        controller.stop()


class SmtpProcess:
    def __init__(self, port, log_path):
        self.port, self.log_path, self.process = port, log_path, None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--smtp-server", str(self.port), "--smtp-log", self.log_path],
            stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP server did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def received(self):
        with open(self.log_path) as log:
            return [int(line) for line in log if line.strip()]


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def time_notify(client):
    started = time.perf_counter()
    response = client.post("/bench/mail/notify", data={"recipients": RECIPIENTS})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"the notify request answered {response.status_code}")
    return elapsed


def start_worker(url, redis_url, smtp_port):
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, JOB_QUEUE_PREFIX=PREFIX,
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_port), JOB_RETRY_INTERVALS="1,1,1",
               RATELIMIT_STORAGE_URI="memory://", FLASK_APP="run.py")
    return subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_worker(connection, process, timeout=60):
    from rq import Queue, Worker

    queue = Queue(PREFIX + "mail", connection=connection)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the worker stopped")
        if Worker.count(connection=connection, queue=queue):
            return
        time.sleep(0.05)
    raise SystemExit("the worker did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000, help="mails sent by the worker")
    parser.add_argument("--requests", type=int, default=10, help="timed notify requests")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_MAIL_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_MAIL_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--smtp-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_server:
        smtp_server(args.smtp_server, args.smtp_log)
        return

    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    import tempfile

    from redis import Redis
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import MailState, OutboxMail
    from app.platform import jobs, notifications

    def out(key, value):
        print(f"{key}: {value}", flush=True)

    ensure_database(args.database_url)
    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    smtp_port = free_port()
    app = build_app(args.database_url, args.redis_url, smtp_port)
    load(app)
    redis.flushdb()  # jobs the demo data may have queued
    out("database", urlsplit(args.database_url).path.lstrip("/"))
    out("redis", args.redis_url)
    out("load_average", "%.2f %.2f %.2f (other work on this machine slows every figure)" % os.getloadavg())

    # One request notifying 100 people; no worker runs, so nothing waits for SMTP.
    client = app.test_client()
    if client.post("/login/", data={"username": "admin", "password": "demo1234"}).status_code != 302:
        raise SystemExit("could not sign in as admin")
    for _ in range(2):
        time_notify(client)
    timings = [time_notify(client) for _ in range(args.requests)]
    out("enqueue_100_ms", f"{statistics.median(timings):.1f}")
    out("enqueue_100_ms_p95", f"{sorted(timings)[max(0, round(0.95 * len(timings)) - 1)]:.1f}")
    batch = app.config["MAIL_BATCH_SIZE"]
    out("enqueue_100_requests", f"{args.requests} timed, after 2 warm-up (each: 100 feed entries, "
        f"100 mails with .ics, {-(-RECIPIENTS // batch)} jobs of up to {batch} mails)")
    with app.app_context():
        queued = jobs.get_queue(jobs.MAIL_QUEUE, redis).count
        rows = db.session.scalar(select(func.count()).select_from(OutboxMail)
                                 .where(OutboxMail.state == MailState.queued))
    out("jobs_enqueued", f"{queued} (outbox rows queued: {rows})")

    # One worker, N mails, a local SMTP server.
    log_path = tempfile.mktemp(prefix="guichet-bench-smtp-", suffix=".log")
    smtp = SmtpProcess(smtp_port, log_path)
    smtp.start()
    with app.app_context():
        jobs.get_queue(jobs.MAIL_QUEUE, redis).empty()
        more = args.mails - rows
        while more > 0:  # enough queued mails
            time_notify(client)
            jobs.get_queue(jobs.MAIL_QUEUE, redis).empty()
            more -= RECIPIENTS
        ids = db.session.scalars(select(OutboxMail.id).where(OutboxMail.state == MailState.queued)
                                 .order_by(OutboxMail.id).limit(args.mails)).all()
    worker = start_worker(args.database_url, args.redis_url, smtp_port)
    try:
        wait_for_worker(redis, worker)
        with app.app_context():
            started = time.perf_counter()
            notifications.enqueue_sending(ids)  # as notify() does: one job per MAIL_BATCH_SIZE mails
            pushed = time.perf_counter() - started
            wanted = set(ids)
            while True:
                db.session.rollback()
                sent = db.session.scalar(select(func.count()).select_from(OutboxMail).where(
                    OutboxMail.id.between(ids[0], ids[-1]), OutboxMail.state == MailState.sent))
                if sent >= len(wanted):
                    break
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"only {sent} of {len(wanted)} mails sent after 600 s")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        time.sleep(0.5)
        received = [i for i in smtp.received() if i in wanted]
        out("mails_per_s", f"{len(ids) / elapsed:.0f}")
        out("mails_sent", f"{len(ids)} in {elapsed:.2f} s by 1 worker, {app.config['MAIL_BATCH_SIZE']} per job "
            f"(enqueue of the jobs: {pushed * 1000:.0f} ms)")
        out("mails_received_once", f"{len(set(received))} of {len(ids)}, duplicates: {len(received) - len(set(received))}")
        if sorted(received) != sorted(ids):
            raise SystemExit("the SMTP server did not receive every mail exactly once")

        # The request again, while the worker runs and the SMTP server is down.
        smtp.stop()
        down = [time_notify(client) for _ in range(3)]
        out("enqueue_100_smtp_down_ms", f"{statistics.median(down):.1f}")
    finally:
        worker.terminate()
        worker.wait(10)
        smtp.stop()
        redis.flushdb()
        if os.path.exists(log_path):
            os.unlink(log_path)


if __name__ == "__main__":
    main()
