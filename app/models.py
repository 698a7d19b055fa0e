"""Every table of Guichet, grouped by desk.

All models derive from FAB's `Model` so that Alembic sees them, with FAB's own
security tables, in one `Model.metadata`.
"""
import enum
from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import declared_attr, relationship


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


# ---------------------------------------------------------------------------
# Platform: organisations and memberships
# ---------------------------------------------------------------------------


class OrganisationKind(enum.Enum):
    member = "member"
    client = "client"
    vendor = "vendor"
    establishment = "establishment"
    association = "association"
    operator = "operator"

    def __str__(self):
        return str(ORGANISATION_KIND_LABELS[self])


ORGANISATION_KIND_LABELS = {
    OrganisationKind.member: lazy_gettext("Member organisation"),
    OrganisationKind.client: lazy_gettext("Client company"),
    OrganisationKind.vendor: lazy_gettext("Vendor"),
    OrganisationKind.establishment: lazy_gettext("Establishment"),
    OrganisationKind.association: lazy_gettext("Association"),
    OrganisationKind.operator: lazy_gettext("Operator"),
}


class Organisation(Audited, Model):
    """A tenant: every business row belongs to one."""

    __tablename__ = "organisation"

    id = Column(Integer, primary_key=True)
    name = Column(String(150), unique=True, nullable=False)
    kind = Column(
        Enum(OrganisationKind, native_enum=False, length=20, name="organisation_kind"),
        nullable=False,
        index=True,
    )
    city = Column(String(100))
    email = Column(String(150))
    active = Column(Boolean, nullable=False, default=True)

    memberships = relationship(
        "Membership", back_populates="organisation", cascade="all, delete-orphan"
    )

    def __str__(self):
        return self.name


class Membership(Audited, Model):
    """A user belongs to an organisation; a user may belong to several."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    organisation_id = Column(
        Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False, index=True
    )

    user = relationship(User, foreign_keys=[user_id])
    organisation = relationship(Organisation, back_populates="memberships")

    def __str__(self):
        return f"{self.user} — {self.organisation}"
