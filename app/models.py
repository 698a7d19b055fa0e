"""Every table of Guichet, grouped by desk.

All models derive from FAB's `Model` so that Alembic sees them, with FAB's own
security tables, in one `Model.metadata`.
"""
import enum
from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
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


class LabelledEnum(enum.Enum):
    """An enum shown to people by its translated label: `LABELS[TheEnum] = {member: label}`."""

    def __str__(self):
        return str(LABELS[type(self)][self])


LABELS = {}


# ---------------------------------------------------------------------------
# Platform: organisations and memberships
# ---------------------------------------------------------------------------


class OrganisationKind(LabelledEnum):
    member = "member"
    client = "client"
    vendor = "vendor"
    establishment = "establishment"
    association = "association"
    operator = "operator"


ORGANISATION_KIND_LABELS = LABELS[OrganisationKind] = {
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


# ---------------------------------------------------------------------------
# Platform: accounts
# ---------------------------------------------------------------------------


class PasswordTokenPurpose(enum.Enum):
    set = "set"  # a new account's first password
    reset = "reset"  # "forgot password"


class PasswordToken(Model):
    """A single-use link to set or reset a password (`app.platform.accounts`).

    Only the SHA-256 of the token is stored: the link itself exists only in the
    mail sent to the user.
    """

    __tablename__ = "password_token"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    purpose = Column(
        Enum(PasswordTokenPurpose, native_enum=False, length=10, name="password_token_purpose"),
        nullable=False,
    )
    token_hash = Column(String(64), nullable=False, unique=True)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime)
    created_on = Column(DateTime, default=utcnow, nullable=False)

    user = relationship(User, foreign_keys=[user_id])


# ---------------------------------------------------------------------------
# Platform: delegation of rights
# ---------------------------------------------------------------------------


class RoleGrant(Model):
    """A role given to a person inside one organisation by someone who holds it.

    A revoked grant is kept (revoked_by/on) as proof; the person keeps the role
    while another active grant gives it.
    """

    __tablename__ = "role_grant"

    id = Column(Integer, primary_key=True)
    grantee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="CASCADE"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False, index=True)
    granted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    granted_on = Column(DateTime, default=utcnow, nullable=False)
    revoked_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    revoked_on = Column(DateTime)

    grantee = relationship(User, foreign_keys=[grantee_id])
    role = relationship(Role)
    organisation = relationship(Organisation)
    granted_by = relationship(User, foreign_keys=[granted_by_id])
    revoked_by = relationship(User, foreign_keys=[revoked_by_id])

    @property
    def active(self):
        return self.revoked_on is None

    def __str__(self):
        return f"{self.role} — {self.grantee} ({self.organisation})"


class DelegationAction(LabelledEnum):
    grant = "grant"
    revoke = "revoke"


DELEGATION_ACTION_LABELS = LABELS[DelegationAction] = {
    DelegationAction.grant: lazy_gettext("Granted"),
    DelegationAction.revoke: lazy_gettext("Revoked"),
}


class DelegationLog(Model):
    """Every grant and revoke of a right: who, when, what, to whom, where.

    `right` is a role name, or a desk's object right (e.g. an event admin level)
    with `object_type`/`object_id` naming the object.
    """

    __tablename__ = "delegation_log"

    id = Column(Integer, primary_key=True)
    happened_on = Column(DateTime, default=utcnow, nullable=False, index=True)
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    action = Column(Enum(DelegationAction, native_enum=False, length=10, name="delegation_action"), nullable=False)
    right = Column(String(100), nullable=False)
    grantee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False, index=True)
    object_type = Column(String(50))
    object_id = Column(Integer)

    actor = relationship(User, foreign_keys=[actor_id])
    grantee = relationship(User, foreign_keys=[grantee_id])
    organisation = relationship(Organisation)


# ---------------------------------------------------------------------------
# Platform: workflow history
# ---------------------------------------------------------------------------


class WorkflowEvent(Model):
    """One fired transition of any workflow object (booking, ticket, request...).

    `object_type` is the table name and `object_id` the row's key: one history
    table serves every desk's workflow.
    """

    __tablename__ = "workflow_event"
    __table_args__ = (Index("ix_workflow_event_object", "object_type", "object_id", "id"),)

    id = Column(Integer, primary_key=True)
    object_type = Column(String(50), nullable=False)
    object_id = Column(Integer, nullable=False)
    transition = Column(String(50), nullable=False)
    from_state = Column(String(50), nullable=False)
    to_state = Column(String(50), nullable=False)
    comment = Column(Text)
    attachment_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL"))
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    happened_on = Column(DateTime, default=utcnow, nullable=False)

    actor = relationship(User, foreign_keys=[actor_id])
    attachment = relationship("StoredFile", foreign_keys=[attachment_id])


# ---------------------------------------------------------------------------
# Platform: stored files
# ---------------------------------------------------------------------------


class StoredFile(Audited, Model):
    """A file kept under the instance folder, served only through `app.platform.files`.

    It belongs to one business row (`owner_type` = table name, `owner_id`); whoever
    may see that row may download it.
    """

    __tablename__ = "stored_file"
    __table_args__ = (Index("ix_stored_file_owner", "owner_type", "owner_id"),)

    id = Column(Integer, primary_key=True)
    owner_type = Column(String(50), nullable=False)
    owner_id = Column(Integer, nullable=False)
    original_name = Column(String(255), nullable=False)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    storage_path = Column(String(255), nullable=False, unique=True)
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    def __str__(self):
        return self.original_name


# ---------------------------------------------------------------------------
# Platform: notifications and outbox
# ---------------------------------------------------------------------------


class UserPreference(Model):
    """A person's settings that outlive their session: the language of their mails."""

    __tablename__ = "user_preference"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    locale = Column(String(10))


class Notification(Audited, Model):
    """One entry of a person's in-app feed (`created_by` is who caused it)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_on"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    template = Column(String(100), nullable=False)
    title = Column(String(255), nullable=False)
    link = Column(String(500))
    read_on = Column(DateTime)

    user = relationship(User, foreign_keys=[user_id])

    @property
    def is_read(self):
        return self.read_on is not None

    def __str__(self):
        return self.title


class MailState(LabelledEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


MAIL_STATE_LABELS = LABELS[MailState] = {
    MailState.queued: lazy_gettext("Queued"),
    MailState.sent: lazy_gettext("Sent"),
    MailState.failed: lazy_gettext("Failed"),
}


class OutboxMail(Audited, Model):
    """Every mail Guichet sends, as rendered for its recipient, and how sending went."""

    __tablename__ = "outbox_mail"

    id = Column(Integer, primary_key=True)
    recipient = Column(String(254), nullable=False, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    locale = Column(String(10), nullable=False)
    template = Column(String(100), nullable=False)
    subject = Column(String(255), nullable=False)
    body = Column(Text, nullable=False)
    html = Column(Text)
    state = Column(
        Enum(MailState, native_enum=False, length=10, name="mail_state"),
        nullable=False,
        default=MailState.queued,
        index=True,
    )
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    sent_on = Column(DateTime)

    user = relationship(User, foreign_keys=[user_id])
    attachments = relationship(
        "OutboxAttachment", cascade="all, delete-orphan", order_by="OutboxAttachment.id"
    )

    def __str__(self):
        return f"{self.recipient} — {self.subject}"


class OutboxAttachment(Model):
    """A file sent with an outbox mail (e.g. the .ics of a booking)."""

    __tablename__ = "outbox_attachment"

    id = Column(Integer, primary_key=True)
    mail_id = Column(Integer, ForeignKey("outbox_mail.id", ondelete="CASCADE"), nullable=False, index=True)
    filename = Column(String(255), nullable=False)
    content_type = Column(String(100), nullable=False)
    data = Column(LargeBinary, nullable=False)


# ---------------------------------------------------------------------------
# Desk A: visio booking
# ---------------------------------------------------------------------------


class RoomKind(LabelledEnum):
    visio = "visio"  # a virtual visio room
    audio = "audio"  # an audioconference bridge


ROOM_KIND_LABELS = LABELS[RoomKind] = {
    RoomKind.visio: lazy_gettext("Visio room"),
    RoomKind.audio: lazy_gettext("Audio bridge"),
}


class Room(Audited, Model):
    """A visio room or an audioconference bridge an organisation books."""

    __tablename__ = "booking_room"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, index=True)
    kind = Column(Enum(RoomKind, native_enum=False, length=10, name="room_kind"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    capacity = Column(Integer)
    active = Column(Boolean, nullable=False, default=True)

    organisation = relationship(Organisation)

    def __str__(self):
        return self.name


class EquipmentKind(LabelledEnum):
    ip = "ip"  # visio over IP: the VNOC may connect it
    isdn = "isdn"  # visio over ISDN: connects itself
    mobile = "mobile"  # a PC, tablet or phone ("Nomade"): connects itself


EQUIPMENT_KIND_LABELS = LABELS[EquipmentKind] = {
    EquipmentKind.ip: lazy_gettext("IP visio"),
    EquipmentKind.isdn: lazy_gettext("ISDN visio"),
    EquipmentKind.mobile: lazy_gettext("Mobile"),
}


class Equipment(Audited, Model):
    """A participant endpoint an organisation keeps to invite to its sessions."""

    __tablename__ = "booking_equipment"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, index=True)
    kind = Column(Enum(EquipmentKind, native_enum=False, length=10, name="equipment_kind"), nullable=False)
    contact_name = Column(String(150))
    email = Column(String(150))
    phone = Column(String(30))
    ip_address = Column(String(45))
    bridge_id = Column(String(50))
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)

    organisation = relationship(Organisation)

    def __str__(self):
        return self.name


class BookingKind(LabelledEnum):
    visio = "visio"
    audio = "audio"


BOOKING_KIND_LABELS = LABELS[BookingKind] = {
    BookingKind.visio: lazy_gettext("Visio"),
    BookingKind.audio: lazy_gettext("Audioconference"),
}


class Recurrence(LabelledEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    yearly = "yearly"


RECURRENCE_LABELS = LABELS[Recurrence] = {
    Recurrence.daily: lazy_gettext("Daily"),
    Recurrence.weekly: lazy_gettext("Weekly"),
    Recurrence.monthly: lazy_gettext("Monthly"),
    Recurrence.yearly: lazy_gettext("Yearly"),
}

booking_room_link = Table(
    "booking_room_link",
    Model.metadata,
    Column("booking_id", Integer, ForeignKey("booking.id", ondelete="CASCADE"), primary_key=True),
    Column("room_id", Integer, ForeignKey("booking_room.id"), primary_key=True, index=True),
)


class Booking(Audited, Model):
    """A session booked in one or more rooms, once or recurring (workflow: app/rules/booking.py).

    `start_at`/`end_at` are the first occurrence, in local time (TIMEZONE);
    `occurrences` hold every occurrence in every room.
    """

    __tablename__ = "booking"
    __table_args__ = (
        Index("ix_booking_organisation_start", "organisation_id", "start_at"),
        Index("ix_booking_state_requested", "state", "requested_on"),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(12), unique=True)
    kind = Column(Enum(BookingKind, native_enum=False, length=10, name="booking_kind"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False)
    creator_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    session_name = Column(String(200), nullable=False, index=True)
    organiser_name = Column(String(150), nullable=False)
    organiser_email = Column(String(150), nullable=False)
    organiser_phone = Column(String(30), nullable=False)
    start_at = Column(DateTime, nullable=False, index=True)
    end_at = Column(DateTime, nullable=False)
    recurrence = Column(Enum(Recurrence, native_enum=False, length=10, name="booking_recurrence"))
    recurrence_until = Column(Date)
    recurrence_count = Column(Integer)
    state = Column(String(20), nullable=False, default="pending")
    requested_on = Column(DateTime, nullable=False, default=utcnow)
    connection_id = Column(String(50))
    connection_url = Column(String(300))
    notes = Column(Text)

    organisation = relationship(Organisation)
    creator = relationship(User, foreign_keys=[creator_id])
    rooms = relationship(Room, secondary=booking_room_link, order_by=Room.name)
    participants = relationship("BookingParticipant", back_populates="booking",
                                cascade="all, delete-orphan", order_by="BookingParticipant.id")
    occurrences = relationship("BookingOccurrence", back_populates="booking",
                               cascade="all, delete-orphan", order_by="BookingOccurrence.start_at")

    def __str__(self):
        return f"{self.reference or '—'} {self.session_name}"


class BookingParticipant(Model):
    """An equipment line of a booking: a copy of the endpoint as booked (the saved
    equipment it came from, if any, may change later)."""

    __tablename__ = "booking_participant"
    __table_args__ = (UniqueConstraint("booking_id", "equipment_id"),)

    id = Column(Integer, primary_key=True)
    booking_id = Column(Integer, ForeignKey("booking.id", ondelete="CASCADE"), nullable=False, index=True)
    equipment_id = Column(Integer, ForeignKey("booking_equipment.id", ondelete="SET NULL"), index=True)
    name = Column(String(100), nullable=False)
    kind = Column(Enum(EquipmentKind, native_enum=False, length=10, name="equipment_kind"), nullable=False)
    contact_name = Column(String(150))
    email = Column(String(150))
    phone = Column(String(30))
    ip_address = Column(String(45))
    bridge_id = Column(String(50))
    vnoc_connects = Column(Boolean, nullable=False, default=False)

    booking = relationship(Booking, back_populates="participants")
    equipment = relationship(Equipment)

    def __str__(self):
        return self.name


class BookingOccurrence(Model):
    """One occurrence of a booking in one of its rooms.

    The room is held from `blocked_from` to `blocked_until` (the session widened by
    the reconfiguration buffer). On PostgreSQL an exclusion constraint
    (migration "desk A") forbids two active rows of one room whose held ranges
    overlap; `active` is false once the booking is refused or cancelled.
    """

    __tablename__ = "booking_occurrence"
    __table_args__ = (Index("ix_booking_occurrence_room_blocked", "room_id", "blocked_from", "blocked_until"),)

    id = Column(Integer, primary_key=True)
    booking_id = Column(Integer, ForeignKey("booking.id", ondelete="CASCADE"), nullable=False, index=True)
    room_id = Column(Integer, ForeignKey("booking_room.id"), nullable=False)
    start_at = Column(DateTime, nullable=False, index=True)
    end_at = Column(DateTime, nullable=False)
    blocked_from = Column(DateTime, nullable=False)
    blocked_until = Column(DateTime, nullable=False)
    active = Column(Boolean, nullable=False, default=True)

    booking = relationship(Booking, back_populates="occurrences")
    room = relationship(Room)


# ---------------------------------------------------------------------------
# Desk B: client-project ticketing
# ---------------------------------------------------------------------------

from sqlalchemy import Date  # noqa: E402


class ProjectPhase(LabelledEnum):
    setup = "setup"  # the sites are being built: mails go to the setup contact
    operation = "operation"  # in production: mails go to the support mailbox


PROJECT_PHASE_LABELS = LABELS[ProjectPhase] = {
    ProjectPhase.setup: lazy_gettext("Setup"),
    ProjectPhase.operation: lazy_gettext("Operation"),
}


class Project(Audited, Model):
    """A client company's project run by a vendor; its tickets belong to it."""

    __tablename__ = "ticket_project"

    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False)
    # The client company (the tenant) and the vendor running the project.
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    vendor_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    vendor_lead_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    client_lead_id = Column(Integer, ForeignKey("ab_user.id"))
    phase = Column(Enum(ProjectPhase, native_enum=False, length=20, name="project_phase"),
                   nullable=False, default=ProjectPhase.setup)
    event_date = Column(Date)
    setup_contact_id = Column(Integer, ForeignKey("ab_user.id"))
    support_mailbox = Column(String(254))

    organisation = relationship(Organisation, foreign_keys=[organisation_id])
    vendor = relationship(Organisation, foreign_keys=[vendor_id])
    vendor_lead = relationship(User, foreign_keys=[vendor_lead_id])
    client_lead = relationship(User, foreign_keys=[client_lead_id])
    setup_contact = relationship(User, foreign_keys=[setup_contact_id])
    viewers = relationship("ProjectViewer", back_populates="project", cascade="all, delete-orphan")

    def __str__(self):
        return self.name


class ProjectViewer(Audited, Model):
    """The project's visibility list: once it names someone, only the listed people
    and the two project leads see the project."""

    __tablename__ = "ticket_project_viewer"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id = Column(Integer, primary_key=True)
    project_id = Column(Integer, ForeignKey("ticket_project.id", ondelete="CASCADE"), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)

    project = relationship(Project, back_populates="viewers")
    user = relationship(User, foreign_keys=[user_id])


class TicketPriority(LabelledEnum):
    low = "low"
    medium = "medium"
    high = "high"
    blocking = "blocking"


TICKET_PRIORITY_LABELS = LABELS[TicketPriority] = {
    TicketPriority.low: lazy_gettext("Low"),
    TicketPriority.medium: lazy_gettext("Medium"),
    TicketPriority.high: lazy_gettext("High"),
    TicketPriority.blocking: lazy_gettext("Blocking"),
}


class TicketState(LabelledEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_rd = "waiting_rd"
    waiting_client = "waiting_client"
    lead_followup = "lead_followup"
    returned = "returned"
    processed = "processed"
    closed = "closed"


TICKET_STATE_LABELS = LABELS[TicketState] = {
    TicketState.new: lazy_gettext("New"),
    TicketState.assigned: lazy_gettext("Assigned"),
    TicketState.in_progress: lazy_gettext("In progress"),
    TicketState.waiting_rd: lazy_gettext("Waiting for R&D"),
    TicketState.waiting_client: lazy_gettext("Waiting for client information"),
    TicketState.lead_followup: lazy_gettext("Project-lead follow-up"),
    TicketState.returned: lazy_gettext("Returned"),
    TicketState.processed: lazy_gettext("Processed"),
    TicketState.closed: lazy_gettext("Closed"),
}


class Ticket(Audited, Model):
    """A client's request on a project, moved through the 9-state workflow
    (app/rules/tickets.py). `organisation_id` repeats the project's client company."""

    __tablename__ = "ticket"
    __table_args__ = (
        # A project's tickets by state; read backwards, its closed tickets latest
        # closed first (the project page's order), so a page is read in order.
        Index("ix_ticket_project_closed", "project_id", "state", "closed_on", "id"),
        Index("ix_ticket_state_created", "state", "created_on", "id"),
        Index("ix_ticket_declarant", "declarant_id", "created_on"),
        # The grid's subject search (ILIKE '%word%'): a trigram GIN index on
        # PostgreSQL (the migrations install pg_trgm first); a plain index elsewhere.
        # The closed-ticket keyword search has its own index: see TICKET_SEARCH_TEXT.
        Index("ix_ticket_title_trgm", "title", postgresql_using="gin",
              postgresql_ops={"title": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(7), nullable=False, unique=True)
    project_id = Column(Integer, ForeignKey("ticket_project.id"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    title = Column(String(200), nullable=False)
    description = Column(Text)
    page_url = Column(String(500))
    priority = Column(Enum(TicketPriority, native_enum=False, length=20, name="ticket_priority"),
                      nullable=False, default=TicketPriority.medium, index=True)
    priority_context = Column(Text)
    state = Column(Enum(TicketState, native_enum=False, length=20, name="ticket_state"),
                   nullable=False, default=TicketState.new)
    declarant_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    follower_id = Column(Integer, ForeignKey("ab_user.id"))
    assignee_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    closed_on = Column(DateTime)

    project = relationship(Project)
    organisation = relationship(Organisation)
    declarant = relationship(User, foreign_keys=[declarant_id])
    follower = relationship(User, foreign_keys=[follower_id])
    assignee = relationship(User, foreign_keys=[assignee_id])

    @property
    def state_code(self):
        """The state as the workflow engine names it ("processed"...)."""
        return self.state.value if self.state is not None else None

    @state_code.setter
    def state_code(self, value):
        self.state = TicketState(value)

    def __str__(self):
        return f"{self.reference} — {self.title}"


#: What the closed-ticket keyword search looks in (app/rules/tickets.py): the subject
#: and the description as one text. A searched word holds no white space, so it is
#: in this text exactly when it is in the subject or in the description.
TICKET_SEARCH_TEXT = Ticket.title + literal_column("' '") + func.coalesce(Ticket.description, literal_column("''"))

# PostgreSQL only (the migration installs btree_gin and pg_trgm): the trigrams of the
# search text of each project's closed tickets, so that a word's matches in a project
# come from one index scan. The expression is TICKET_SEARCH_TEXT written as PostgreSQL
# prints it back (so that Alembic can compare it); a query uses the index only with
# that very expression. The migration also creates statistics on it
# (`ticket_search_text`), from which the planner tells a common word from a rare one.
# SQLite has neither: it reads the project's closed tickets.
Index("ix_ticket_closed_search", Ticket.project_id,
      literal_column("((title || ' ') || coalesce(description, ''))").label("search_text"),
      postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"},
      postgresql_where=text("state = 'closed'")).ddl_if(dialect="postgresql")


class TicketComment(Model):
    """A message on a ticket that does not change its state (a transition's comment
    is kept in its workflow event); `state` is the ticket's state when written."""

    __tablename__ = "ticket_comment"
    __table_args__ = (Index("ix_ticket_comment_ticket", "ticket_id", "created_on"),)

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False)
    created_on = Column(DateTime, default=utcnow, nullable=False)
    state = Column(Enum(TicketState, native_enum=False, length=20, name="ticket_state"), nullable=False)
    author_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    text = Column(Text, nullable=False)
    attachment_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL"))

    ticket = relationship(Ticket)
    author = relationship(User, foreign_keys=[author_id])
    attachment = relationship(StoredFile, foreign_keys=[attachment_id])


# ---------------------------------------------------------------------------
# Desk C: ENT help and support
# ---------------------------------------------------------------------------

from sqlalchemy import func as sql_func, select as sql_select  # noqa: E402
from flask_babel import lazy_pgettext  # noqa: E402
from sqlalchemy.orm import column_property  # noqa: E402


class EntProfile(str, enum.Enum):
    """A workspace user's profile, as the ENT directory knows it."""

    student = "student"
    teacher = "teacher"
    parent = "parent"
    staff = "staff"

    def __str__(self):
        return str(ENT_PROFILE_LABELS[self])


ENT_PROFILE_LABELS = {
    EntProfile.student: lazy_gettext("Student"),
    EntProfile.teacher: lazy_gettext("Teacher"),
    EntProfile.parent: lazy_gettext("Parent"),
    EntProfile.staff: lazy_gettext("Staff"),
}


class HelpRequestStatus(str, enum.Enum):
    """The status of a help request (the workflow's states, compared as strings)."""

    new = "new"
    open = "open"
    resolved = "resolved"
    closed = "closed"

    def __str__(self):
        return str(HELP_REQUEST_STATUS_LABELS[self])


HELP_REQUEST_STATUS_LABELS = {
    HelpRequestStatus.new: lazy_pgettext("help request status", "New"),
    HelpRequestStatus.open: lazy_pgettext("help request status", "Open"),
    HelpRequestStatus.resolved: lazy_pgettext("help request status", "Resolved"),
    HelpRequestStatus.closed: lazy_pgettext("help request status", "Closed"),
}


class SupportState(str, enum.Enum):
    """Where an escalated request stands at the support desk."""

    transmitted = "transmitted"
    answered = "answered"

    def __str__(self):
        return str(SUPPORT_STATE_LABELS[self])


SUPPORT_STATE_LABELS = {
    SupportState.transmitted: lazy_gettext("Transmitted to support"),
    SupportState.answered: lazy_gettext("Answered by support"),
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
    )

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    application_id = Column(Integer, ForeignKey("ent_application.id"), nullable=False, index=True)
    subject = Column(String(200), nullable=False)
    description = Column(Text, nullable=False)
    status = Column(Enum(HelpRequestStatus, native_enum=False, length=10, name="help_request_status"),
                    nullable=False, default=HelpRequestStatus.new, index=True)
    requester_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    requester_profile = Column(Enum(EntProfile, native_enum=False, length=10, name="ent_profile"),
                               nullable=False)
    escalated_on = Column(DateTime)
    support_desk_id = Column(Integer, ForeignKey("organisation.id", ondelete="SET NULL"), index=True)
    support_reference = Column(String(30), unique=True)
    support_state = Column(Enum(SupportState, native_enum=False, length=12, name="support_state"))

    organisation = relationship(Organisation, foreign_keys=[organisation_id])
    application = relationship(EntApplication)
    requester = relationship(User, foreign_keys=[requester_id])
    support_desk = relationship(Organisation, foreign_keys=[support_desk_id])

    event_count = column_property(
        sql_select(sql_func.count(WorkflowEvent.id))
        .where(WorkflowEvent.object_type == "ent_request", WorkflowEvent.object_id == id)
        .correlate_except(WorkflowEvent)
        .scalar_subquery()
    )

    # Attachments of help requests are accepted even when the user's quota is full.
    exempt_from_file_quota = True

    @property
    def escalated(self) -> bool:
        return self.escalated_on is not None

    @property
    def summary(self) -> "RequestSummary":
        """Subject and description in one column, as the referents' list shows them."""
        return RequestSummary(self.subject, self.description)

    def __str__(self):
        return f"#{self.id} {self.subject}"
