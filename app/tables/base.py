"""What every table shares: the audit columns, labelled enums and workflow state
columns, the UTC clock."""
import enum
from datetime import datetime

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, Enum, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship

__all__ = ["utcnow", "LOCAL_TIME", "SCHEDULED", "Audited", "LabelledEnum", "LABELS", "state_column"]

#: Column info of a naive datetime in local time (config TIMEZONE), such as a session's
#: start; every other naive datetime of the schema is UTC. The API writes both with
#: their offset (RFC 3339).
LOCAL_TIME = {"local_time": True}

#: Column info of a UTC moment planned ahead (an event's start, a sale's closing), which
#: may lie in the future, unlike the moments things happened at.
SCHEDULED = {"scheduled": True}


def utcnow():
    return datetime.utcnow()


class Audited:
    """Who created and last changed a row, and when.

    Filled by `app.platform.audit` from the signed-in user or, in jobs and
    commands, from the acting user set by the caller; never required, so a
    system write (demo data, a job with no user) is allowed.
    """

    created_on = Column(DateTime, default=utcnow, nullable=False)
    changed_on = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    @declared_attr
    def created_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    @declared_attr
    def changed_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    @declared_attr
    def created_by(cls):
        return relationship(User, foreign_keys=[cls.created_by_id], lazy="select")

    @declared_attr
    def changed_by(cls):
        return relationship(User, foreign_keys=[cls.changed_by_id], lazy="select")


class LabelledEnum(enum.Enum):
    """An enum shown to people by its translated label: `LABELS[TheEnum] = {member: label}`."""

    def __str__(self):
        return str(LABELS[type(self)][self])


LABELS = {}


def state_column(states: type, name: str, default, length: int = 20, **kwargs):
    """A workflow object's state (app.platform.workflow): one of the LabelledEnum
    `states`, stored under its name in a plain VARCHAR (no database enum type, so a
    new state needs no schema change); grids filter it with a select of its labels
    and exports write its labels."""
    return Column(Enum(states, native_enum=False, length=length, name=name), nullable=False,
                  default=default, **kwargs)
