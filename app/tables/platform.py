"""The platform's tables: organisations (the tenants) and memberships, password
links, delegated rights and their log, workflow history, stored files, the
notification feed and the mail outbox."""
import enum

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import lazy_gettext
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    JSON,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from .base import LABELS, Audited, LabelledEnum, state_column, utcnow

__all__ = [
    "OrganisationKind", "ORGANISATION_KIND_LABELS", "Organisation", "Membership",
    "SecurityStamp", "PasswordTokenPurpose", "PasswordToken", "RoleGrant", "DelegationAction",
    "DELEGATION_ACTION_LABELS", "DelegationLog", "WorkflowEvent", "StoredFile",
    "UserPreference", "Notification", "MailState", "MAIL_STATE_LABELS", "OutboxMail",
    "OutboxAttachment", "ExportState", "EXPORT_STATE_LABELS", "ExportFile",
]


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


class SecurityStamp(Model):
    """A person's security stamp: every session and API token carries the stamp of its
    sign-in, and stops working once the stamp changes (sign-out, any password change).
    See app.security."""

    __tablename__ = "security_stamp"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    stamp = Column(String(32), nullable=False)
    changed_on = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)


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
    changes = Column(JSON)

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
    # The kind of secret link (a password link...) the body holds masked: the sending job
    # issues it and puts it in the message sent only (app.platform.notifications).
    secret_link = Column(String(20))
    # Where an answer to the mail goes (a signed reply address, app.platform.inbound).
    reply_to = Column(String(254))

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
# Platform: exports run as jobs
# ---------------------------------------------------------------------------


class ExportState(LabelledEnum):
    queued = "queued"
    running = "running"
    ready = "ready"
    failed = "failed"


EXPORT_STATE_LABELS = LABELS[ExportState] = {
    ExportState.queued: lazy_gettext("Waiting"),
    ExportState.running: lazy_gettext("In progress"),
    ExportState.ready: lazy_gettext("Ready"),
    ExportState.failed: lazy_gettext("Failed"),
}


class ExportFile(Audited, Model):
    """A grid export too large for the request, or a desk's document (a PDF list, an
    archive): a job writes the file under the instance folder, in the requester's
    scope; it is theirs alone to download until it is swept (`EXPORT_KEEP_HOURS`)."""

    __tablename__ = "export_file"
    __table_args__ = (
        CheckConstraint("(grid IS NULL) <> (document IS NULL)", name="ck_export_file_grid_or_document"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    grid = Column(String(100))  # the view's endpoint, for a grid's export
    document = Column(String(100))  # the name of a desk's document (app.platform.exports.register_document)
    title = Column(String(255), nullable=False)
    format = Column(String(10), nullable=False)
    query = Column(Text, nullable=False, default="")  # the grid's filters and sort, or the document's parameters
    locale = Column(String(10), nullable=False)
    state = state_column(ExportState, "export_state", ExportState.queued, length=10)
    rows_total = Column(Integer, nullable=False)
    rows_done = Column(Integer, nullable=False, default=0)
    file_name = Column(String(255), nullable=False)
    storage_path = Column(String(255), unique=True)
    finished_on = Column(DateTime)

    user = relationship(User, foreign_keys=[user_id])

    def __str__(self):
        return self.file_name


# ---------------------------------------------------------------------------
# Platform: online payments (app/platform/payments.py)
# ---------------------------------------------------------------------------

__all__ += ["PaymentProvider", "PAYMENT_PROVIDER_LABELS", "PaymentAccount", "PaymentState",
            "PAYMENT_STATE_LABELS", "Payment"]


class PaymentProvider(LabelledEnum):
    paypal = "paypal"
    lydia = "lydia"


PAYMENT_PROVIDER_LABELS = LABELS[PaymentProvider] = {
    PaymentProvider.paypal: lazy_gettext("PayPal"),
    PaymentProvider.lydia: lazy_gettext("Lydia"),
}


class PaymentAccount(Audited, Model):
    """Where an organisation is paid: a PayPal receiver mail, or a Lydia vendor's public
    and private tokens. Never changed once created (a new account replaces a wrong one);
    the private token is kept sealed (app.platform.payments.seal) and never shown."""

    __tablename__ = "payment_account"

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    provider = Column(Enum(PaymentProvider, native_enum=False, length=10, name="payment_provider"),
                      nullable=False)
    description = Column(String(150), nullable=False)
    receiver_email = Column(String(254))  # PayPal
    public_token = Column(String(100))  # Lydia: the vendor token, sent with each request
    sealed_private_token = Column(Text)  # Lydia: signs its callbacks; Fernet-sealed

    organisation = relationship(Organisation)

    def __str__(self):
        return f"{self.description} ({self.provider})"


class PaymentState(LabelledEnum):
    created = "created"  # asked of the provider, nothing heard back yet
    pending = "pending"  # the provider holds it (an e-cheque), or it waits on the payable
    confirmed = "confirmed"  # paid, and what it pays for settled
    failed = "failed"  # refused, cancelled or not matching what was due
    refunded = "refunded"


PAYMENT_STATE_LABELS = LABELS[PaymentState] = {
    PaymentState.created: lazy_gettext("Created"),
    PaymentState.pending: lazy_gettext("Pending"),
    PaymentState.confirmed: lazy_gettext("Confirmed"),
    PaymentState.failed: lazy_gettext("Failed"),
    PaymentState.refunded: lazy_gettext("Refunded"),
}


class Payment(Audited, Model):
    """One payment of a payable row (`payable_type` = a kind registered with
    app.platform.payments, `payable_id` its key) through one provider. `reference` is
    the provider's: PayPal's txn_id, Lydia's request_uuid, unique per provider, which
    makes a repeated notification land on the same row. Every notification received is
    kept in `raw`, as received."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("provider", "reference", name="uq_payment_provider_reference"),
        Index("ix_payment_payable", "payable_type", "payable_id"),
    )

    id = Column(Integer, primary_key=True)
    payable_type = Column(String(50), nullable=False)
    payable_id = Column(Integer, nullable=False)
    account_id = Column(Integer, ForeignKey("payment_account.id", ondelete="SET NULL"), index=True)
    provider = Column(Enum(PaymentProvider, native_enum=False, length=10, name="payment_provider"),
                      nullable=False)
    state = state_column(PaymentState, "payment_state", PaymentState.created, length=10, index=True)
    amount = Column(Numeric(10, 2))
    currency = Column(String(3))
    reference = Column(String(100))
    request_id = Column(String(100))  # Lydia's request_id, which its callbacks carry
    payer_email = Column(String(254))
    reason = Column(Text)  # why it is pending or failed, as people read it
    raw = Column(Text)

    account = relationship(PaymentAccount)

    def __str__(self):
        return f"{self.provider} {self.reference or self.id}"
