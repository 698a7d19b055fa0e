"""Who writes first: the transaction-level tools that make concurrent requests take
turns where the result depends on what was read.

A rule that reads, decides, then writes ("the slot is free, book it"; "the booking
is pending, validate it") is wrong under concurrency unless no one else can write
what it read between its read and its write. The two databases need different
tools for that:

* PostgreSQL locks rows (`SELECT ... FOR UPDATE`) and lets an exclusion constraint
  refuse an overlapping booking by itself, so a booking needs nothing more and a
  transition locks its row.
* SQLite has no row locks and no exclusion constraints: it has one write lock for
  the whole database, which a transaction normally takes at its first write, after
  its reads (Python's sqlite3 module even runs those reads outside any
  transaction). Two requests can then both read "free" and both write. Beginning
  the transaction with `BEGIN IMMEDIATE` takes the write lock before the reads:
  the next writer waits (up to the busy timeout) until the first has committed,
  then reads what it wrote.

`serialise()` is that: the rest of the current transaction is the only writer on
SQLite, nothing on PostgreSQL. `claim(kind, values)` makes transactions that are about
to check that a value is free and then take it (a new login) take turns per value:
an advisory lock on PostgreSQL, `serialise()` on SQLite. `lock(item)` re-reads one row and keeps it from
changing until the transaction ends, on both (`LockedRead`: the same from an id, in
one statement). They hold until the commit or the rollback, which every
request ends with (`app.views.base.Attempt`).

Prepared statements (PostgreSQL, psycopg). The statements every request runs the same
way (the person's load by id, their roles' permissions, their unread notifications, a
grid page's rows by primary key) carry the execution option `prepare=True`: prepared once per connection, their plan is
kept (planning the person's load, six joins, cost more than running it). No other
statement is prepared: a grid's plan depends on its values (one requester has no
request, another thousands), and a plan made once for any value ("generic") can
walk a whole table where the value's own plan reads an index.
`end_read_only_with_commit` keeps them: a request's session closes with a rollback,
and psycopg forgets its prepared statements at every rollback.
"""
from __future__ import annotations

import functools

from flask_babel import gettext
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ..extensions import db
from .refusals import Refused


class Busy(Refused):
    """SQLite's write lock was not free within the busy timeout: nothing was written."""


def dialect(session=None) -> str:
    return (session or db.session).get_bind().dialect.name


def serialise(session=None) -> None:
    """Make the rest of the current transaction the database's only writer, on SQLite.

    On SQLite, begin the transaction with BEGIN IMMEDIATE (the write lock, taken
    now, before this transaction reads anything it will decide on). If the
    transaction has already written, it already holds that lock (SQLite takes it at
    the first write and keeps it to the end), so there is nothing to do. On
    PostgreSQL, nothing: its row locks and constraints decide (see `lock`).

    Raises `Busy` if another writer held the lock past the busy timeout.
    """
    session = session or db.session
    if dialect(session) != "sqlite":
        return
    connection = session.connection()
    if connection.connection.dbapi_connection.in_transaction:
        return
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except OperationalError as error:
        if "locked" not in str(error.orig) and "busy" not in str(error.orig):
            raise
        raise Busy(None, gettext("The service is busy: nothing was recorded, please try again.")) from None


def lock(item, session=None):
    """`item` as it is in the database now, kept from changing by anyone else until
    this transaction ends: its row locked (FOR UPDATE) on PostgreSQL, the database's
    write lock (`serialise`) on SQLite. Returns `item`, re-read.

    What the transaction changed on `item` so far is written first, then every
    column is read again (a request loads its row before it decides to act: another
    request may have changed it since), and its relations are reloaded on use.
    """
    session = session or db.session
    session.flush()
    if dialect(session) == "sqlite":
        serialise(session)
    else:  # waits for whoever holds the row, then reads what they committed
        mapper = inspect(type(item))
        key = mapper.primary_key_from_instance(item)
        session.execute(select(*mapper.primary_key)
                        .where(*[column == value for column, value in zip(mapper.primary_key, key)])
                        .with_for_update())
    session.refresh(item)
    return item


class LockedRead:
    """A statement reading one row of `model` by its key (with bind parameters), run as
    `lock` keeps a row: read now and kept from changing until this transaction ends, in
    one statement — for a rule that starts from an id it did not load (a scanned code's).
    `build()` makes the statement, once (a door scans thousands of times, and building a
    statement costs more than the database's answer); it may read more columns after the row."""

    def __init__(self, model, build):
        self.model, self.build = model, build

    @functools.cached_property
    def _statements(self):
        """(SQLite's: the write lock is taken before it; everyone else's: FOR UPDATE)."""
        statement = self.build().execution_options(populate_existing=True)
        return statement, statement.with_for_update(of=self.model)

    def first(self, session=None, lock=True, **params):
        """The row read (with the statement's other columns), or None. `lock=False`
        reads it as it stands without keeping it: for a rule that first looks whether it
        has anything to write (most scans of a ticket find it entered) and locks only then."""
        session = session or db.session
        session.flush()
        if not lock:
            return session.execute(self._statements[0], params).first()
        if dialect(session) == "sqlite":
            serialise(session)
            return session.execute(self._statements[0], params).first()
        return session.execute(self._statements[1], params).first()


def claim(kind: str, values, session=None) -> None:
    """Take turns, until this transaction ends, with every other transaction claiming
    one of the same `values` of `kind` (say the logins it checks are free, then
    inserts): the second waits for the first to end, then reads what it wrote.

    On PostgreSQL, one transaction-level advisory lock per value, taken in a fixed
    order so that two claims of several values never deadlock (claiming again what
    this transaction holds returns at once); on SQLite, the write lock (`serialise`).
    """
    session = session or db.session
    if dialect(session) == "sqlite":
        serialise(session)
        return
    for key in sorted({f"{kind}:{value}" for value in values}):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


NEVER = 2**62  # runs before psycopg prepares a query by itself


def _psycopg(dialect) -> bool:
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


@event.listens_for(Engine, "connect")
def prepare_only_when_asked(dbapi_connection, _record) -> None:
    """psycopg would prepare any query at its fifth run on a connection, and
    PostgreSQL could then give it a generic plan: only statements marked
    `prepare=True` are prepared (see the module's docstring)."""
    if type(dbapi_connection).__module__.startswith("psycopg"):
        dbapi_connection.prepare_threshold = NEVER  # None would refuse prepare=True too


@event.listens_for(Engine, "do_execute")
def _prepare_marked(cursor, statement, parameters, context):
    if context.execution_options.get("prepare") and _psycopg(context.dialect):
        cursor.execute(statement, parameters, prepare=True)
        return True
    return None


@event.listens_for(Engine, "rollback")
def end_read_only_with_commit(connection) -> None:
    """End a PostgreSQL transaction that was given no transaction id (it wrote nothing,
    locked no row: the server's own account, which also sees writes made through the
    driver's connection) with COMMIT, which for it is the same as ROLLBACK: psycopg
    then keeps its prepared statements (a rollback clears them), and the next
    request's person is loaded by the plan made once (0.6 ms of a page). The
    rollback that follows finds no transaction and sends nothing. A failed
    transaction, or any doubt, rolls back."""
    if not _psycopg(connection.dialect):
        return
    from psycopg import Error
    from psycopg.pq import TransactionStatus

    driver = connection.connection.driver_connection
    if driver is None or driver.info.transaction_status != TransactionStatus.INTRANS:
        return
    try:
        if driver.execute("SELECT txid_current_if_assigned()").fetchone()[0] is None:
            driver.commit()
    except Error:
        return
