"""Desk D, event ticketing: associations and their members, the school and promotion
of people, events, ticket types ("billets") with their restrictions, options, option
groups and extra items, reservations and their answers, the events' admin grants.

Words of the seed (INP-net's billetterie) and of pretix/Churros: a *pre-reservation*
holds a place without commitment; a *reservation* is paid (or free); an *opposed*
reservation is invalidated and kept as proof. *Sponsorship* ("parrainage"): a person
takes places for guests with their own rights.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import Group, User
from flask_babel import lazy_gettext, lazy_pgettext
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import relationship

from .base import LABELS, SCHEDULED, Audited, LabelledEnum, state_column, utcnow
from .platform import Organisation, PaymentAccount, StoredFile

__all__ = [
    "School", "Association", "AssociationMembership", "PersonProfile", "EventVisibility",
    "EVENT_VISIBILITY_LABELS", "Event", "TicketKind", "TICKET_KIND_LABELS", "ticket_type_school",
    "TicketTypePromotion", "ticket_type_membership", "TicketType", "OptionGroup", "Option",
    "ExtraInfoKind", "EXTRA_INFO_KIND_LABELS", "ExtraInfo", "ReservationState", "RESERVATION_STATE_LABELS",
    "reservation_option", "Reservation", "ExtraInfoAnswer", "AdminLevel", "ADMIN_LEVEL_LABELS",
    "EventAdminGrant",
]

MONEY = Numeric(10, 2)


class School(Model):
    """A school whose students hold accounts (an account without one is external)."""

    __tablename__ = "event_school"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, unique=True)

    def __str__(self):
        return self.name


class Association(Audited, Model):
    """An organisation that organises events; its board members may create them."""

    __tablename__ = "event_association"

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"),
                             nullable=False, unique=True)
    # The school it belongs to: "school" events are visible to that school's students.
    school_id = Column(Integer, ForeignKey("event_school.id", ondelete="SET NULL"), index=True)

    organisation = relationship(Organisation)
    school = relationship(School)

    def __str__(self):
        return str(self.organisation)


class AssociationMembership(Audited, Model):
    """A person in an association: a board member, a paid member ("adhésion") until a date, or both."""

    __tablename__ = "event_association_membership"
    __table_args__ = (UniqueConstraint("user_id", "association_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    association_id = Column(Integer, ForeignKey("event_association.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    board_member = Column(Boolean, nullable=False, default=False)
    paid_until = Column(Date)

    user = relationship(User, foreign_keys=[user_id])
    association = relationship(Association)

    def __str__(self):
        return f"{self.user} — {self.association}"


class PersonProfile(Model):
    """A person's school and promotion (graduation year); no school: an external account."""

    __tablename__ = "event_person_profile"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    school_id = Column(Integer, ForeignKey("event_school.id", ondelete="SET NULL"), index=True)
    promotion = Column(Integer, info={"min": 1900, "max": 2200})

    user = relationship(User, foreign_keys=[user_id])
    school = relationship(School)

    @property
    def external(self) -> bool:
        return self.school_id is None


class EventVisibility(LabelledEnum):
    public = "public"  # listed for everyone
    unlisted = "unlisted"  # anyone with its link, not listed
    school = "school"  # the students of the organiser's school
    association = "association"  # the members of the organiser association
    private = "private"  # its admins only


EVENT_VISIBILITY_LABELS = LABELS[EventVisibility] = {
    EventVisibility.public: lazy_gettext("Public"),
    EventVisibility.unlisted: lazy_gettext("Unlisted (by link)"),
    EventVisibility.school: lazy_gettext("The school's students"),
    EventVisibility.association: lazy_gettext("The association's members"),
    EventVisibility.private: lazy_gettext("Private (its admins)"),
}


class Event(Audited, Model):
    """An event an association sells places for, within its sale window."""

    __tablename__ = "event_event"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ck_event_event_dates"),
        CheckConstraint("sale_closes_on > sale_opens_on", name="ck_event_event_sale_window"),
        Index("ix_event_event_association_starts", "association_id", "starts_on"),
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False)
    description = Column(Text)
    place = Column(String(200))
    starts_on = Column(DateTime, nullable=False, info=SCHEDULED, index=True)
    ends_on = Column(DateTime, nullable=False, info=SCHEDULED)
    visibility = Column(Enum(EventVisibility, native_enum=False, length=12, name="event_visibility"),
                        nullable=False, default=EventVisibility.public)
    association_id = Column(Integer, ForeignKey("event_association.id"), nullable=False)
    sale_opens_on = Column(DateTime, nullable=False, info=SCHEDULED)
    sale_closes_on = Column(DateTime, nullable=False, info=SCHEDULED)
    # How many guests one person may take places for ("parrainage").
    sponsorship_limit = Column(Integer, nullable=False, default=0, info={"min": 0, "max": 100})
    cancelled_on = Column(DateTime)
    cancelled_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    # The Ed25519 key pair its QR tickets are signed with (app/platform/signing.py), made
    # with the first ticket: the private key sealed, the public one for the scanners.
    signing_key = Column(Text)
    public_key = Column(LargeBinary(32))
    # Where its places are paid online (app.platform.payments); none: paid to the organisers.
    paypal_account_id = Column(Integer, ForeignKey("payment_account.id", name="fk_event_event_paypal_account"))
    lydia_account_id = Column(Integer, ForeignKey("payment_account.id", name="fk_event_event_lydia_account"))

    association = relationship(Association)
    cancelled_by = relationship(User, foreign_keys=[cancelled_by_id])
    paypal_account = relationship(PaymentAccount, foreign_keys=[paypal_account_id])
    lydia_account = relationship(PaymentAccount, foreign_keys=[lydia_account_id])
    ticket_types = relationship("TicketType", back_populates="event", order_by="TicketType.id",
                                cascade="all, delete-orphan")

    @property
    def cancelled(self) -> bool:
        return self.cancelled_on is not None

    def __str__(self):
        return self.name


class TicketKind(LabelledEnum):
    open = "open"  # anyone may take it; sponsorship always allowed
    restricted = "restricted"  # promotions, schools, paid memberships


TICKET_KIND_LABELS = LABELS[TicketKind] = {
    TicketKind.open: lazy_pgettext("ticket kind", "Open"),
    TicketKind.restricted: lazy_pgettext("ticket kind", "Restricted"),
}

# A restricted ticket type's restrictions: within a kind any one suffices, every kind
# that has one must hold.
ticket_type_school = Table(
    "event_ticket_type_school", Model.metadata,
    Column("ticket_type_id", Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", Integer, ForeignKey("event_school.id", ondelete="CASCADE"), primary_key=True),
)
ticket_type_membership = Table(
    "event_ticket_type_membership", Model.metadata,
    Column("ticket_type_id", Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), primary_key=True),
    Column("association_id", Integer, ForeignKey("event_association.id", ondelete="CASCADE"), primary_key=True),
)


class TicketTypePromotion(Model):
    """A promotion a restricted ticket type is open to."""

    __tablename__ = "event_ticket_type_promotion"

    ticket_type_id = Column(Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), primary_key=True)
    promotion = Column(Integer, primary_key=True, autoincrement=False)



class TicketType(Audited, Model):
    """A kind of place of an event ("billet"): its price, capacity and who may take it.

    `taken` counts its pre-reservations and reservations (not the opposed ones): a
    booking raises it with a conditional update that never passes `capacity`.
    """

    __tablename__ = "event_ticket_type"
    __table_args__ = (
        CheckConstraint("taken >= 0 AND taken <= capacity", name="ck_event_ticket_type_taken"),
        CheckConstraint("price >= 0", name="ck_event_ticket_type_price"),
    )

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("event_event.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(100), nullable=False)
    description = Column(Text)
    kind = Column(Enum(TicketKind, native_enum=False, length=10, name="ticket_kind"), nullable=False)
    price = Column(MONEY, nullable=False, default=0)
    capacity = Column(Integer, nullable=False, info={"min": 0, "max": 1000000})
    taken = Column(Integer, nullable=False, default=0)
    # Restricted types only: whether a holder may also take places for guests.
    sponsorship_allowed = Column(Boolean, nullable=False, default=False)
    # The image its PDF tickets are drawn on (2480 × 1169); none: the default layout.
    template_file_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL",
                                                  name="fk_event_ticket_type_template_file"))

    event = relationship(Event, back_populates="ticket_types")
    template_file = relationship(StoredFile, foreign_keys=[template_file_id])
    schools = relationship(School, secondary=ticket_type_school, order_by=School.name)
    memberships = relationship(Association, secondary=ticket_type_membership)
    promotion_rows = relationship(TicketTypePromotion, cascade="all, delete-orphan",
                                  order_by=TicketTypePromotion.promotion)
    options = relationship("Option", back_populates="ticket_type", order_by="Option.id",
                           cascade="all, delete-orphan")
    option_groups = relationship("OptionGroup", back_populates="ticket_type", order_by="OptionGroup.id",
                                 cascade="all, delete-orphan")
    extra_infos = relationship("ExtraInfo", back_populates="ticket_type", order_by="ExtraInfo.id",
                               cascade="all, delete-orphan")

    @property
    def promotions(self) -> list:
        return [row.promotion for row in self.promotion_rows]

    @property
    def sponsorship(self) -> bool:
        """Open types always allow sponsorship (a restriction-free type could be taken by
        any number of external accounts anyway)."""
        return self.kind is TicketKind.open or self.sponsorship_allowed

    @hybrid_property
    def label(self) -> str:
        """How a ticket type is written ("event — type"), in SQL as well: the grids'
        exports write it in the database (app/platform/exports)."""
        return f"{self.event} — {self.name}"

    @label.inplace.expression
    @classmethod
    def _label_in_sql(cls):
        return select(Event.name).where(Event.id == cls.event_id).scalar_subquery() + " — " + cls.name

    def __str__(self):
        return self.label


class OptionGroup(Audited, Model):
    """Mutually exclusive options of a ticket type, offered as a drop-down with a free "none"."""

    __tablename__ = "event_option_group"

    id = Column(Integer, primary_key=True)
    ticket_type_id = Column(Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    name = Column(String(100), nullable=False)

    ticket_type = relationship(TicketType, back_populates="option_groups")
    options = relationship("Option", back_populates="group", order_by="Option.id")

    def __str__(self):
        return self.name


class Option(Audited, Model):
    """A choice of a ticket type that changes its price: a checkbox, or one of a group."""

    __tablename__ = "event_option"

    id = Column(Integer, primary_key=True)
    ticket_type_id = Column(Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    group_id = Column(Integer, ForeignKey("event_option_group.id", ondelete="CASCADE"), index=True)
    name = Column(String(100), nullable=False)
    price_change = Column(MONEY, nullable=False, default=0)

    ticket_type = relationship(TicketType, back_populates="options")
    group = relationship(OptionGroup, back_populates="options")

    def __str__(self):
        return self.name


class ExtraInfoKind(LabelledEnum):
    text = "text"
    number = "number"
    size = "size"
    date = "date"
    choice = "choice"
    file = "file"


EXTRA_INFO_KIND_LABELS = LABELS[ExtraInfoKind] = {
    ExtraInfoKind.text: lazy_gettext("Text"),
    ExtraInfoKind.number: lazy_gettext("Number"),
    ExtraInfoKind.size: lazy_gettext("Size"),
    ExtraInfoKind.date: lazy_gettext("Date"),
    ExtraInfoKind.choice: lazy_gettext("Choice"),
    ExtraInfoKind.file: lazy_gettext("File"),
}


class ExtraInfo(Audited, Model):
    """An item every holder of a ticket type must provide (a deposit cheque scan, a
    size...); until an organiser validates it, it blocks payment and entry."""

    __tablename__ = "event_extra_info"

    id = Column(Integer, primary_key=True)
    ticket_type_id = Column(Integer, ForeignKey("event_ticket_type.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    label = Column(String(150), nullable=False)
    kind = Column(Enum(ExtraInfoKind, native_enum=False, length=10, name="extra_info_kind"), nullable=False)
    # The choices of a "choice" item, one per line.
    choices = Column(Text)

    ticket_type = relationship(TicketType, back_populates="extra_infos")

    @property
    def choice_list(self) -> list:
        return [line.strip() for line in (self.choices or "").splitlines() if line.strip()]

    def __str__(self):
        return self.label


class ReservationState(LabelledEnum):
    prereserved = "prereserved"
    reserved = "reserved"
    opposed = "opposed"


RESERVATION_STATE_LABELS = LABELS[ReservationState] = {
    ReservationState.prereserved: lazy_pgettext("reservation state", "Pre-reserved"),
    ReservationState.reserved: lazy_pgettext("reservation state", "Reserved"),
    ReservationState.opposed: lazy_pgettext("reservation state", "Opposed"),
}

reservation_option = Table(
    "event_reservation_option", Model.metadata,
    Column("reservation_id", Integer, ForeignKey("event_reservation.id", ondelete="CASCADE"), primary_key=True),
    Column("option_id", Integer, ForeignKey("event_option.id"), primary_key=True),
)


class Reservation(Audited, Model):
    """A place: its holder's (an account), or a sponsored guest's (a name and a mail,
    with the sponsor). Its options and price never change; it is deleted only while
    pre-reserved, and once reserved only opposed, never cancelled.

    One (pre)reservation per person per event: a unique index on (event, holder)
    over the places not opposed (an opposed place is kept as proof and frees its
    place, so its holder may take another).
    """

    __tablename__ = "event_reservation"
    __table_args__ = (
        Index("uq_event_reservation_holder", "event_id", "holder_id", unique=True,
              postgresql_where=text("state <> 'opposed'"), sqlite_where=text("state <> 'opposed'")),
        Index("ix_event_reservation_ticket_type_state", "ticket_type_id", "state"),
        # One's guests' places (the sponsor first: "my places" and the scope ask by it alone).
        Index("ix_event_reservation_sponsor", "sponsor_id", "event_id"),
        # The places grid's price sort (the key breaking ties) and a trigram index for
        # the guest name's "contains" search on PostgreSQL.
        Index("ix_event_reservation_grid_price", "price", "id"),
        # An organiser's grid reads each of their events in its order (the scope's
        # branches, app/security.py `_branch_rows`): by id, by state, by price.
        Index("ix_event_reservation_grid_event", "event_id", "id"),
        Index("ix_event_reservation_grid_event_state", "event_id", "state", "id"),
        Index("ix_event_reservation_grid_event_price", "event_id", "price", "id"),
        Index("ix_event_reservation_guest_name_trgm", "guest_name", postgresql_using="gin",
              postgresql_ops={"guest_name": "gin_trgm_ops"}),
        CheckConstraint("holder_id IS NOT NULL OR (guest_name IS NOT NULL AND sponsor_id IS NOT NULL)",
                        name="ck_event_reservation_holder_or_guest"),
        CheckConstraint("price >= 0", name="ck_event_reservation_price"),
    )

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("event_event.id", ondelete="CASCADE"), nullable=False)
    ticket_type_id = Column(Integer, ForeignKey("event_ticket_type.id"), nullable=False)
    holder_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    sponsor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    guest_name = Column(String(150))
    guest_email = Column(String(254))
    price = Column(MONEY, nullable=False)
    state = state_column(ReservationState, "reservation_state", ReservationState.prereserved, length=12,
                         index=True)
    paid_on = Column(DateTime)
    opposition_reason = Column(Text)
    # The event was cancelled while this place was paid: the organiser owes a refund.
    to_refund = Column(Boolean, nullable=False, default=False)
    # The secret its QR ticket signs (hex), made with the first ticket.
    ticket_secret = Column(String(20))
    # When its people were reminded of the event, the day before (the reminder goes once).
    reminded_on = Column(DateTime)

    event = relationship(Event)
    ticket_type = relationship(TicketType)
    holder = relationship(User, foreign_keys=[holder_id])
    sponsor = relationship(User, foreign_keys=[sponsor_id])
    options = relationship(Option, secondary=reservation_option, order_by=Option.id)
    answers = relationship("ExtraInfoAnswer", back_populates="reservation", cascade="all, delete-orphan")

    @property
    def holder_name(self) -> str:
        return self.holder.get_full_name() if self.holder is not None else (self.guest_name or "")

    @property
    def holder_email(self):
        return self.holder.email if self.holder is not None else self.guest_email

    def __str__(self):
        return f"#{self.id} {self.holder_name} — {self.ticket_type.name if self.ticket_type else ''}"


class ExtraInfoAnswer(Audited, Model):
    """What a holder gave for an extra item (a value or a file); validated once, for good."""

    __tablename__ = "event_extra_info_answer"
    __table_args__ = (UniqueConstraint("reservation_id", "extra_info_id"),)

    id = Column(Integer, primary_key=True)
    reservation_id = Column(Integer, ForeignKey("event_reservation.id", ondelete="CASCADE"), nullable=False)
    extra_info_id = Column(Integer, ForeignKey("event_extra_info.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    value = Column(Text)
    file_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL"))
    validated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    validated_on = Column(DateTime)

    reservation = relationship(Reservation, back_populates="answers")
    extra_info = relationship(ExtraInfo)
    file = relationship(StoredFile)
    validated_by = relationship(User, foreign_keys=[validated_by_id])

    @property
    def validated(self) -> bool:
        return self.validated_on is not None

    def __str__(self):
        return f"{self.extra_info}: {self.value or self.file or ''}"


class AdminLevel(LabelledEnum):
    """An event admin's level, each holding the ones below (`rank`)."""

    view = "view"
    checkin = "checkin"
    validate = "validate"  # payments, extra items, opposition
    manage = "manage"  # everything, including admins

    @property
    def rank(self) -> int:
        return list(AdminLevel).index(self) + 1


ADMIN_LEVEL_LABELS = LABELS[AdminLevel] = {
    AdminLevel.view: lazy_gettext("View"),
    AdminLevel.checkin: lazy_gettext("Check-in"),
    AdminLevel.validate: lazy_gettext("Validate"),
    AdminLevel.manage: lazy_gettext("Manage"),
}


class EventAdminGrant(Model):
    """A level on one event, given to a person, a FAB group or an association's board.
    A revoked grant is kept (revoked_by/on); the highest active grant applies."""

    __tablename__ = "event_admin_grant"
    __table_args__ = (
        CheckConstraint("(CASE WHEN user_id IS NULL THEN 0 ELSE 1 END + CASE WHEN group_id IS NULL THEN 0 ELSE 1 END"
                        " + CASE WHEN board_id IS NULL THEN 0 ELSE 1 END) = 1",
                        name="ck_event_admin_grant_one_grantee"),
        Index("ix_event_admin_grant_event", "event_id", "revoked_on"),
    )

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("event_event.id", ondelete="CASCADE"), nullable=False)
    level = Column(Enum(AdminLevel, native_enum=False, length=10, name="admin_level"), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    group_id = Column(Integer, ForeignKey("ab_group.id", ondelete="CASCADE"), index=True)
    board_id = Column(Integer, ForeignKey("event_association.id", ondelete="CASCADE"), index=True)
    granted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    granted_on = Column(DateTime, default=utcnow, nullable=False)
    revoked_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    revoked_on = Column(DateTime)

    event = relationship(Event)
    user = relationship(User, foreign_keys=[user_id])
    group = relationship(Group)
    board = relationship(Association)
    granted_by = relationship(User, foreign_keys=[granted_by_id])
    revoked_by = relationship(User, foreign_keys=[revoked_by_id])

    @property
    def active(self) -> bool:
        return self.revoked_on is None

    @property
    def grantee(self):
        return self.user or self.group or self.board

    def __str__(self):
        return f"{self.event} — {self.level} — {self.grantee}"


class CheckIn(Model):
    """One entry at an event's door: a place's QR ticket accepted by a scanner.

    At most one live entry per place: a unique index over the entries not undone, so
    that any number of scans of one ticket at once record one. An undone entry is
    kept as proof (who undid it, when, why); the place may then enter again. `nonce`
    is the scanner's own name for the scan, unique per event: a scan sent again (an
    offline scanner syncing, a retry) is answered as the first time. `checked_in_on`
    is when the ticket was scanned, which an offline scan says itself; `recorded_on`
    is when the server heard of it.
    """

    __tablename__ = "event_check_in"
    __table_args__ = (
        Index("uq_event_check_in_live", "reservation_id", unique=True,
              postgresql_where=text("undone_on IS NULL"), sqlite_where=text("undone_on IS NULL")),
        UniqueConstraint("event_id", "nonce", name="uq_event_check_in_nonce"),
        Index("ix_event_check_in_event_live", "event_id", "undone_on"),
        Index("ix_event_check_in_by", "event_id", "by_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("event_event.id", ondelete="CASCADE"), nullable=False)
    reservation_id = Column(Integer, ForeignKey("event_reservation.id", ondelete="CASCADE"), nullable=False)
    checked_in_on = Column(DateTime, nullable=False)
    recorded_on = Column(DateTime, nullable=False, default=utcnow)
    by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    nonce = Column(String(64), nullable=False)
    # Scanned while the scanner was offline, recorded when it synced.
    offline = Column(Boolean, nullable=False, default=False)
    undone_on = Column(DateTime)
    undone_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    undo_reason = Column(Text)

    event = relationship(Event)
    reservation = relationship(Reservation)
    by = relationship(User, foreign_keys=[by_id])
    undone_by = relationship(User, foreign_keys=[undone_by_id])

    @property
    def live(self) -> bool:
        return self.undone_on is None

    def __str__(self):
        return f"{self.reservation} — {self.checked_in_on:%Y-%m-%d %H:%M}"


__all__ += ["CheckIn"]
