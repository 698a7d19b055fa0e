"""What every table shares: the audit columns, labelled enums, the UTC clock."""
import enum
from datetime import datetime

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship

__all__ = ["utcnow", "Audited", "LabelledEnum", "LABELS"]


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
