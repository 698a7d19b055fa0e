"""Background jobs: `enqueue(func, *args, **kwargs)` runs `func` once the current
transaction has committed, never inside it.

* With `REDIS_URL`, the job goes to an RQ queue; `flask worker` runs it (on this
  machine or any other sharing the database and Redis). A job that raises is
  retried after each delay of `JOB_RETRY_INTERVALS` (rq.Retry), then left failed.
* Without it (the embedded default) the job runs in this process right after the
  commit, in an app context of its own (its own session and transaction), once; a
  long job (`background=True`, e.g. an export) runs in a thread of its own so that
  the request answers at once.

Either way a job runs in an app context, as the user who enqueued it
(`audit.acting_as`), so the rows it writes name their author. If the caller's
transaction rolls back, its jobs are dropped with it. `func` must be a module-level
function (RQ imports it by name) and its arguments picklable: pass ids, not rows.

Periodic jobs are declared in `app/platform/schedule.py` (RQ's cron; `flask cron`,
ClusterCronScheduler: each run fires once, however many `flask cron` run).

Redis and RQ are imported where they are used, and the worker and the scheduler live
in `app/platform/workers.py`: without REDIS_URL no process needs them (~7 MB of RSS).
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from . import audit

log = logging.getLogger(__name__)

MAIL_QUEUE = "mail"
DEFAULT_QUEUE = "default"
QUEUES = (MAIL_QUEUE, DEFAULT_QUEUE)  # a worker serves them in this order

_PENDING = "guichet_pending_jobs"
_WROTE = "guichet_wrote"


@dataclass
class PendingJob:
    func: object
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    retry: bool = True
    timeout: int | None = None
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_id: int | None = None
    background: bool = False

    @property
    def name(self):
        return f"{self.func.__module__}.{self.func.__qualname__}"


def enqueue(func, *args, **kwargs) -> str:
    """Run `func(*args, **kwargs)` after the current transaction commits; return the job id."""
    return enqueue_job(func, args, kwargs)


def enqueue_job(func, args=(), kwargs=None, *, queue=DEFAULT_QUEUE, retry=True, timeout=None,
                background=False) -> str:
    """`enqueue` with options: the RQ queue, whether to retry with backoff, a timeout (s),
    and whether, in-process, it runs in a thread of its own (`background`)."""
    job = PendingJob(func, tuple(args), dict(kwargs or {}), queue, retry, timeout,
                     user_id=audit.author_id(), background=background)
    session = db.session()
    if _has_writes(session):
        session.info.setdefault(_PENDING, []).append(job)
    else:
        _dispatch([job])
    return job.job_id


def uses_redis(app=None) -> bool:
    return bool((app or current_app).config.get("REDIS_URL"))


# ---------------------------------------------------------------------------
# After commit
# ---------------------------------------------------------------------------


def _has_writes(session) -> bool:
    """Whether the session's transaction has written, or is about to write, anything."""
    if not session.in_transaction():
        return False
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE))


def _after_flush(session, flush_context):
    session.info[_WROTE] = True


_DML = ("INSERT", "UPDATE", "DELETE", "MERGE", "WITH")


def _after_orm_execute(state):
    if state.is_insert or state.is_update or state.is_delete or (
            not state.is_select and str(state.statement).lstrip()[:6].upper().startswith(_DML)):
        state.session.info[_WROTE] = True


def _after_commit(session):
    if session.in_nested_transaction():  # a savepoint released: nothing is committed yet
        return
    jobs = session.info.pop(_PENDING, None)
    if jobs:
        _dispatch(jobs)


def _after_transaction_end(session, transaction):
    if transaction.parent is None:  # the outermost transaction: committed or rolled back
        session.info.pop(_PENDING, None)
        session.info.pop(_WROTE, None)


def install():
    """Listen to every session's commits (once per process)."""
    for name, listener in (("after_flush", _after_flush), ("after_commit", _after_commit),
                           ("after_transaction_end", _after_transaction_end),
                           ("do_orm_execute", _after_orm_execute)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def _dispatch(jobs):
    if uses_redis():
        try:
            _push(jobs)
        except Exception:  # the commit is done: report, never undo it
            log.exception("could not enqueue %d job(s) on Redis", len(jobs))
        return
    app = current_app._get_current_object()
    for job in jobs:
        if job.background:
            threading.Thread(target=run_in_process, args=(app, job), name=job.name, daemon=True).start()
        else:
            run_in_process(app, job)


def run_in_process(app, job):
    """Run a job now in a fresh app context (its own session), once; errors are logged."""
    with app.app_context(), audit.acting_as(job.user_id):
        try:
            job.func(*job.args, **job.kwargs)
        except Exception:
            db.session.rollback()
            log.exception("job %s (%s) failed", job.job_id, job.name)


# ---------------------------------------------------------------------------
# Progress of a long job, for the page that waits for it
# ---------------------------------------------------------------------------

PROGRESS_TTL = 24 * 3600  # seconds a progress figure outlives its last update
_progress = {}  # in-process jobs: {key: (done, total)}; the embedded default is one process


def set_progress(key: str, done: int, total: int) -> None:
    """Tell the waiting pages how far the job of `key` (e.g. "export:12") has got: on
    Redis with REDIS_URL (any worker, any web process), else in this process's memory.
    The job's own transaction stays open meanwhile, so this never writes the database."""
    if uses_redis():
        redis_connection().set(queue_name(f"progress:{key}"), f"{done}/{total}", ex=PROGRESS_TTL)
    else:
        _progress[key] = (done, total)


def get_progress(key: str):
    """(done, total) as last set for `key`, or None."""
    if uses_redis():
        value = redis_connection().get(queue_name(f"progress:{key}"))
        if value is None:
            return None
        done, _, total = value.decode().partition("/")
        return int(done), int(total)
    return _progress.get(key)


def forget_progress(key: str) -> None:
    if uses_redis():
        redis_connection().delete(queue_name(f"progress:{key}"))
    else:
        _progress.pop(key, None)


# ---------------------------------------------------------------------------
# Redis and RQ
# ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _redis(url):
    from redis import Redis

    return Redis.from_url(url)


def redis_connection(app=None):
    url = (app or current_app).config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set: jobs run in-process")
    return _redis(url)


def queue_name(name, app=None) -> str:
    """A queue's name on Redis: JOB_QUEUE_PREFIX lets several instances share one Redis."""
    return (app or current_app).config.get("JOB_QUEUE_PREFIX", "") + name


def get_queue(name=DEFAULT_QUEUE, connection=None):
    """The RQ queue `name` ("mail" or "default") of this instance."""
    from rq import Queue

    return Queue(queue_name(name), connection=connection or redis_connection())


def retry_policy(app=None):
    from rq import Retry

    intervals = list((app or current_app).config["JOB_RETRY_INTERVALS"])
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def _push(jobs):
    """Enqueue on RQ, in one round trip."""
    from rq import Queue

    connection = redis_connection()
    timeout = current_app.config["JOB_TIMEOUT"]
    by_queue = {}
    for job in jobs:
        by_queue.setdefault(job.queue, []).append(job)
    with connection.pipeline() as pipeline:
        for name, queued in by_queue.items():
            queue = get_queue(name, connection)
            queue.enqueue_many([
                Queue.prepare_data(
                    job.func, job.args, job.kwargs, job_id=job.job_id,
                    timeout=job.timeout or timeout,
                    retry=retry_policy() if job.retry else None,
                    meta={"acting_user_id": job.user_id},
                    description=job.name,
                )
                for job in queued
            ], pipeline=pipeline)
        pipeline.execute()


def last_attempt() -> bool:
    """Inside a job: whether a failure now would be final (no retry left)."""
    from rq import get_current_job

    job = get_current_job()
    return job is None or not job.retries_left


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Also move due retries back to their queue (one per queue is elected).")
@click.argument("queues", nargs=-1)
@with_appcontext
def worker_command(burst, scheduler, queues):
    """Run an RQ worker on REDIS_URL (queues: mail, default)."""
    from .workers import GuichetWorker

    app = current_app._get_current_object()
    if not uses_redis(app):
        raise click.UsageError("REDIS_URL is not set: jobs run in the web process, no worker is needed.")
    connection = redis_connection(app)
    worker = GuichetWorker([get_queue(name, connection) for name in (queues or QUEUES)],
                          connection=connection)
    worker.app = app
    worker.work(burst=burst, with_scheduler=scheduler, logging_level="INFO")


@click.command("cron")
@click.option("--schedule", default="app.platform.schedule", show_default=True,
              help="The module declaring the periodic jobs (rq.cron.register).")
@with_appcontext
def cron_command(schedule):
    """Run the scheduler of the periodic jobs of app/platform/schedule.py: run two, on two
    machines, and each run still fires once (ClusterCronScheduler)."""
    from .workers import ClusterCronScheduler

    app = current_app._get_current_object()
    if not uses_redis(app):
        raise click.UsageError("REDIS_URL is not set: periodic jobs need Redis and a worker.")
    scheduler = ClusterCronScheduler(redis_connection(app), queue_name("", app), logging_level="INFO")
    scheduler.load_config_from_file(schedule)
    scheduler.start()


def init_app(app):
    install()
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)

