"""Desk C, ENT help and support: establishments' settings, the application
catalogue, workspace profiles and help requests.

ENT: espace numérique de travail, a school's online workspace. UAI: unité
administrative immatriculée, the national code of an establishment (8 characters).
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext, lazy_pgettext
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import relationship

from .base import LABELS, Audited, LabelledEnum, state_column
from .platform import Organisation

__all__ = [
    "EntProfile", "ENT_PROFILE_LABELS", "HelpRequestStatus", "HELP_REQUEST_STATUS_LABELS",
    "SupportState", "SUPPORT_STATE_LABELS", "EntEstablishment", "EntApplication",
    "EntUserProfile", "RequestSummary", "HelpRequest",
]


class EntProfile(LabelledEnum):
    """A workspace user's profile, as the ENT directory knows it."""

    student = "student"
    teacher = "teacher"
    parent = "parent"
    staff = "staff"


ENT_PROFILE_LABELS = LABELS[EntProfile] = {
    EntProfile.student: lazy_gettext("Student"),
    EntProfile.teacher: lazy_gettext("Teacher"),
    EntProfile.parent: lazy_gettext("Parent"),
    EntProfile.staff: lazy_gettext("Staff"),
}


class HelpRequestStatus(LabelledEnum):
    """The status of a help request: its workflow's states."""

    new = "new"
    open = "open"
    resolved = "resolved"
    closed = "closed"


HELP_REQUEST_STATUS_LABELS = LABELS[HelpRequestStatus] = {
    HelpRequestStatus.new: lazy_pgettext("help request status", "New"),
    HelpRequestStatus.open: lazy_pgettext("help request status", "Open"),
    HelpRequestStatus.resolved: lazy_pgettext("help request status", "Resolved"),
    HelpRequestStatus.closed: lazy_pgettext("help request status", "Closed"),
}


class SupportState(LabelledEnum):
    """Where an escalated request stands at the support desk."""

    transmitted = "transmitted"
    answered = "answered"
    resolved = "resolved"


SUPPORT_STATE_LABELS = LABELS[SupportState] = {
    SupportState.transmitted: lazy_gettext("Transmitted to support"),
    SupportState.answered: lazy_gettext("Answered by support"),
    SupportState.resolved: lazy_gettext("Resolved by support"),
}


class EntEstablishment(Audited, Model):
    """An establishment's workspace settings: its UAI code and the support desk
    its referents may transmit requests to (none: no escalation)."""

    __tablename__ = "ent_establishment"

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"),
                             nullable=False, unique=True)
    uai = Column(String(8), nullable=False, unique=True)
    support_desk_id = Column(Integer, ForeignKey("organisation.id", ondelete="SET NULL"), index=True)

    organisation = relationship(Organisation, foreign_keys=[organisation_id])
    support_desk = relationship(Organisation, foreign_keys=[support_desk_id])

    def __str__(self):
        return str(self.organisation)


class EntApplication(Audited, Model):
    """One application of the workspace catalogue (messaging, timetable...)."""

    __tablename__ = "ent_application"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, unique=True)
    description = Column(String(255))
    active = Column(Boolean, nullable=False, default=True)

    def __str__(self):
        return self.name


class EntUserProfile(Model):
    """A person's workspace profile (student, teacher, parent, staff)."""

    __tablename__ = "ent_user_profile"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    profile = Column(Enum(EntProfile, native_enum=False, length=10, name="ent_profile"), nullable=False)

    user = relationship(User, foreign_keys=[user_id])


class RequestSummary(str):
    """"Subject — description" as text (exports), with both parts for the grid."""

    def __new__(cls, subject, description):
        value = super().__new__(cls, f"{subject} — {description}")
        value.subject, value.description = subject, description
        return value


class HelpRequest(Audited, Model):
    """A help request filed by a workspace user to their establishment's referents.

    Its events (creation, comments, status changes, escalation, support answers)
    are `WorkflowEvent` rows of object type "ent_request".
    """

    __tablename__ = "ent_request"
    __table_args__ = (
        Index("ix_ent_request_organisation_status", "organisation_id", "status", "id"),
        Index("ix_ent_request_requester", "requester_id", "id"),
        # The list's order (latest first) in each scope: a referent's establishments,
        # a support desk's; its "created on" sort; a trigram index for the subject's
        # "contains" search on PostgreSQL.
        Index("ix_ent_request_grid_organisation", "organisation_id", "id"),
        # A support desk's scope (escalated, not their own) and its status filter are
        # read from the index alone: its count walks up to the exact-count limit.
        Index("ix_ent_request_grid_support_desk", "support_desk_id", "id",
              postgresql_include=["escalated_on", "requester_id", "status"]),
        Index("ix_ent_request_grid_created", "created_on", "id"),
        Index("ix_ent_request_subject_trgm", "subject", postgresql_using="gin",
              postgresql_ops={"subject": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    application_id = Column(Integer, ForeignKey("ent_application.id"), nullable=False, index=True)
    subject = Column(String(200), nullable=False)
    description = Column(Text, nullable=False)
    status = state_column(HelpRequestStatus, "help_request_status", default=HelpRequestStatus.new, length=10,
                          index=True)
    requester_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    requester_profile = Column(Enum(EntProfile, native_enum=False, length=10, name="ent_profile"),
                               nullable=False)
    escalated_on = Column(DateTime)
    support_desk_id = Column(Integer, ForeignKey("organisation.id", ondelete="SET NULL"))
    support_reference = Column(String(30), unique=True)
    support_state = Column(Enum(SupportState, native_enum=False, length=12, name="support_state"))

    organisation = relationship(Organisation, foreign_keys=[organisation_id])
    application = relationship(EntApplication)
    requester = relationship(User, foreign_keys=[requester_id])
    support_desk = relationship(Organisation, foreign_keys=[support_desk_id])

    # The length of its history, kept by Workflow.record: lists and exports read a
    # column instead of counting each row's events.
    event_count = Column(Integer, nullable=False, default=0, server_default="0")

    # Attachments of help requests are accepted even when the user's quota is full.
    exempt_from_file_quota = True

    @property
    def escalated(self) -> bool:
        return self.escalated_on is not None

    @hybrid_property
    def summary(self) -> "RequestSummary":
        """Subject and description in one column, as the referents' list shows them
        (in SQL too, so that the list's export reads plain columns)."""
        return RequestSummary(self.subject, self.description)

    @summary.inplace.expression
    @classmethod
    def _summary_expression(cls):
        return cls.subject + " — " + cls.description

    def __str__(self):
        return f"#{self.id} {self.subject}"
