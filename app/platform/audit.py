"""Fill created/changed by and on for every `Audited` row, whoever writes it.

In a request the author is the signed-in user; a job or command names its
acting user with `acting_as(user_id)` (FAB's AuditMixin needs `g.user` and so
fails outside requests).
"""
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..models import Audited
from ..security import signed_in_person

_acting_user_id: ContextVar = ContextVar("acting_user_id", default=None)


@contextmanager
def acting_as(user_id):
    token = _acting_user_id.set(user_id)
    try:
        yield
    finally:
        _acting_user_id.reset(token)


def author_id():
    """The signed-in person (session or bearer token), else the acting user of a job."""
    person = signed_in_person()
    return person.id if person is not None else _acting_user_id.get()


def _stamp(session, flush_context, instances):
    user_id = author_id()
    if user_id is None:
        return
    for item in session.new:
        if isinstance(item, Audited):
            item.created_by_id = item.created_by_id or user_id
            item.changed_by_id = user_id
    for item in session.dirty:
        if isinstance(item, Audited) and session.is_modified(item):
            item.changed_by_id = user_id


def install():
    if not event.contains(Session, "before_flush", _stamp):
        event.listen(Session, "before_flush", _stamp)
