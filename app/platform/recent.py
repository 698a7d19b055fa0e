"""Answers a process keeps for a few seconds: what nearly every call asks and almost
never changes (an account's e-service entitlements, the offer catalogue) is read once
per few seconds instead of once per request.

A write to one of the tables an answer reads, made in this process (an ORM flush, a
bulk UPDATE or DELETE, a Core statement), forgets it at once and again when its
transaction ends, so this process never answers from before its own write; the
other processes see the change within `seconds`. Keep only immutable values (tuples,
frozensets, frozen dataclasses), never ORM objects: they would outlive their session.
"""
import threading
import time

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import UpdateBase

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
        self._lock = threading.Lock()
        _EVERY.append(self)

    def get(self, key, compute):
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


@event.listens_for(Engine, "before_execute")
def _on_write(connection, statement, multiparams, params, execution_options):
    if isinstance(statement, UpdateBase) and getattr(statement, "table", None) is not None:
        name = getattr(statement.table, "name", None)
        if name is not None:
            connection.info.setdefault(_WRITTEN, set()).add(name)
            _forget({name})


def _on_transaction_end(connection):
    """Committed: read again what other requests read before it. Rolled back: forget
    what this transaction read of its own writes."""
    written = connection.info.pop(_WRITTEN, None)
    if written:
        _forget(written)


event.listen(Engine, "commit", _on_transaction_end)
event.listen(Engine, "rollback", _on_transaction_end)
