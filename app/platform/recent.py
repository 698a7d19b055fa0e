"""Answers a process keeps for a few seconds: what nearly every call asks and almost
never changes (an account's e-service entitlements, the offer catalogue) is read once
per few seconds instead of once per request.

A write to one of the tables an answer reads, made in this process (an ORM flush, a
bulk UPDATE or DELETE, a Core statement), forgets it at once and again when its
transaction ends, so this process never answers from before its own write. Keep only
immutable values (tuples, frozensets, frozen dataclasses), never ORM objects: they
would outlive their session.

The other processes (gunicorn's, the workers, other machines) see the change at their
next request or job when REDIS_URL is set: a session's commit that wrote a table some
answers read counts it up in Redis (after the commit), and each app context (a
request, a job) first reads those counts (one MGET); answers whose tables' counts
moved are forgotten. Without Redis (the embedded default runs one process), or while
it does not answer, they see it within `seconds`. (An organiser creating an event in one process and opening its
first place in another found "page not found" for up to 5 s.)
"""
import logging
import threading
import time

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

log = logging.getLogger(__name__)

_EVERY = []
_WRITTEN = "recent_answers_written"


class RecentAnswers:
    """A cache of `compute()` answers by key, each kept `seconds`, forgotten on a write
    to one of `tables` (their names)."""

    def __init__(self, tables, seconds=5.0, size=4096):
        self.tables = frozenset(tables)
        self.seconds = seconds
        self.size = size
        self._answers = {}
        self._generation = 0
        self._shared_counts = None  # its tables' counts in Redis when it last looked
        self._lock = threading.Lock()
        _EVERY.append(self)

    def get(self, key, compute):
        _look_at_other_processes()
        now = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and now - kept[0] <= self.seconds:
            return kept[1]
        generation = self._generation
        value = compute()
        with self._lock:
            # A write while it was being read: the answer may predate it, keep nothing.
            if generation == self._generation:
                if len(self._answers) >= self.size:
                    self._answers.clear()
                self._answers[key] = (now, value)
        return value

    @property
    def generation(self) -> int:
        """How many times the answers were forgotten: a caller's own memo of them is
        stale when it changed."""
        return self._generation

    def forget(self):
        with self._lock:
            self._generation += 1
            self._answers.clear()


def for_this_request(name, key, compute):
    """`compute()` once per request and key (outside a request, each time): what the
    menus, a gate and the row scope ask several times per page. Put the state it
    depends on in `key` (a write's `RecentAnswers.generation`, say)."""
    if not has_request_context():
        return compute()
    store = g.setdefault("recent_for_this_request", {})
    if (name, key) not in store:
        store[(name, key)] = compute()
    return store[(name, key)]


def _forget(tables):
    for answers in _EVERY:
        if answers.tables & tables:
            answers.forget()


# -- across processes, through Redis -------------------------------------------

_committed = threading.local()  # this thread's tables written by transactions committing


def _shared_redis():
    """(Redis, key prefix) of the cluster, or None without REDIS_URL."""
    if not has_app_context() or not current_app.config.get("REDIS_URL"):
        return None
    from .jobs import queue_name, redis_connection

    return redis_connection(), queue_name("guichet:written:")


def _watched_tables(everyone) -> frozenset:
    return frozenset().union(*(answers.tables for answers in everyone))


def _look_at_other_processes():
    """Once per app context (a request, a job), before its first answer: forget the
    answers whose tables another process wrote since this one last looked (their
    counts in Redis moved)."""
    if not has_app_context() or g.get("recent_answers_looked"):
        return
    g.recent_answers_looked = True
    shared = _shared_redis()
    if shared is None:
        return
    redis, prefix = shared
    everyone = list(_EVERY)  # some are made while requests run (a grid's drop-downs)
    tables = sorted(_watched_tables(everyone))
    if not tables:
        return
    try:
        counts = dict(zip(tables, redis.mget([prefix + table for table in tables])))
    except Exception as error:  # Redis down: `seconds` bounds what is kept, as without it
        log.warning("recent answers: Redis did not answer (%s)", error)
        return
    for answers in everyone:
        seen = tuple(counts[table] for table in sorted(answers.tables))
        if seen != answers._shared_counts:
            answers.forget()
            answers._shared_counts = seen


def _tell_other_processes(session):
    """After a session's commit: count up, in Redis, the watched tables it wrote."""
    written = _committed.__dict__.pop("tables", None)
    if not written:
        return
    shared = _shared_redis()
    watched = written & _watched_tables(list(_EVERY))
    if shared is None or not watched:
        return
    redis, prefix = shared
    try:
        with redis.pipeline(transaction=False) as pipe:
            for table in sorted(watched):
                pipe.incr(prefix + table)
            pipe.execute()
    except Exception as error:
        log.warning("recent answers: Redis did not answer (%s); other processes see the change "
                    "within their answers' seconds", error)


@event.listens_for(Engine, "before_execute")
def _on_write(connection, statement, multiparams, params, execution_options):
    if isinstance(statement, UpdateBase) and getattr(statement, "table", None) is not None:
        name = getattr(statement.table, "name", None)
        if name is not None:
            connection.info.setdefault(_WRITTEN, set()).add(name)
            _forget({name})


def _on_commit(connection):
    """Read again what other requests read before it; tell the other processes once
    the session's commit is done (this runs just before the database's)."""
    written = connection.info.pop(_WRITTEN, None)
    if written:
        _forget(written)
        _committed.__dict__.setdefault("tables", set()).update(written)


def _on_rollback(connection):
    """Forget what this transaction read of its own writes."""
    written = connection.info.pop(_WRITTEN, None)
    if written:
        _forget(written)


event.listen(Engine, "commit", _on_commit)
event.listen(Engine, "rollback", _on_rollback)
event.listen(Session, "after_commit", _tell_other_processes)
