"""Desk A, visio booking: rooms and audio bridges, participant equipment, bookings,
their equipment lines and their occurrences.

VNOC: the visio network operations centre, which validates bookings and connects
participants.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from .base import LABELS, LOCAL_TIME, Audited, LabelledEnum, state_column, utcnow
from .platform import Organisation

__all__ = [
    "RoomKind", "ROOM_KIND_LABELS", "Room", "EquipmentKind", "EQUIPMENT_KIND_LABELS", "Equipment",
    "BookingState", "BOOKING_STATE_LABELS", "BookingKind", "BOOKING_KIND_LABELS", "Recurrence",
    "RECURRENCE_LABELS", "booking_room_link", "Booking", "BookingParticipant", "BookingOccurrence",
]


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
    __table_args__ = (UniqueConstraint("organisation_id", "name"),
                      UniqueConstraint("feed_token", name="uq_booking_room_feed_token"))

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, index=True)
    kind = Column(Enum(RoomKind, native_enum=False, length=10, name="room_kind"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    capacity = Column(Integer, info={"min": 0})  # app.platform.inputs refuses a negative one
    active = Column(Boolean, nullable=False, default=True)
    # The secret of the room's iCalendar feed URL (None: no feed); whoever manages
    # the room issues a new one to revoke the old URL.
    feed_token = Column(String(64))

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


class BookingState(LabelledEnum):
    pending = "pending"  # waiting for the VNOC; holds its rooms
    validated = "validated"  # holds its rooms
    refused = "refused"
    cancelled = "cancelled"


BOOKING_STATE_LABELS = LABELS[BookingState] = {
    BookingState.pending: lazy_gettext("Pending"),
    BookingState.validated: lazy_gettext("Validated"),
    BookingState.refused: lazy_gettext("Refused"),
    BookingState.cancelled: lazy_gettext("Cancelled"),
}


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
        Index("ix_booking_state_requested", "state", "requested_on"),
        # The grid (latest first, the key breaking ties): its order, in its scope (the
        # organisation), by state in both, each sortable text column; a trigram index
        # for the session name's "contains" search on PostgreSQL.
        Index("ix_booking_grid_start", "start_at", "id"),
        # The scope's index carries the session name: a scoped "contains" search counts
        # its matches from the index alone, without reading the table's rows.
        Index("ix_booking_grid_organisation", "organisation_id", "start_at", "id",
              postgresql_include=["session_name"]),
        Index("ix_booking_grid_state", "state", "start_at", "id"),
        Index("ix_booking_grid_organisation_state", "organisation_id", "state", "start_at", "id"),
        Index("ix_booking_grid_session_name", "session_name", "id"),
        Index("ix_booking_session_name_trgm", "session_name", postgresql_using="gin",
              postgresql_ops={"session_name": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(12), unique=True)
    kind = Column(Enum(BookingKind, native_enum=False, length=10, name="booking_kind"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False)
    creator_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    session_name = Column(String(200), nullable=False)
    organiser_name = Column(String(150), nullable=False)
    organiser_email = Column(String(150), nullable=False)
    organiser_phone = Column(String(30), nullable=False)
    # Where the VNOC calls the person who asked (its queue shows it).
    creator_phone = Column(String(30))
    start_at = Column(DateTime, nullable=False, info=LOCAL_TIME)
    end_at = Column(DateTime, nullable=False, info=LOCAL_TIME)
    recurrence = Column(Enum(Recurrence, native_enum=False, length=10, name="booking_recurrence"))
    recurrence_until = Column(Date)
    recurrence_count = Column(Integer)
    state = state_column(BookingState, "booking_state", default=BookingState.pending)
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
    overlap; `active` is false once the booking is refused or cancelled, or this
    occurrence alone is (`cancelled_on`, UTC).

    `planned_start` is the start the series' rule gives it (its RECURRENCE-ID in
    the .ics): `start_at` differs when the booker moved that date, and a date of
    the rule without an occurrence was skipped (an EXDATE).
    """

    __tablename__ = "booking_occurrence"
    __table_args__ = (Index("ix_booking_occurrence_room_blocked", "room_id", "blocked_from", "blocked_until"),)

    id = Column(Integer, primary_key=True)
    booking_id = Column(Integer, ForeignKey("booking.id", ondelete="CASCADE"), nullable=False, index=True)
    room_id = Column(Integer, ForeignKey("booking_room.id"), nullable=False)
    start_at = Column(DateTime, nullable=False, index=True, info=LOCAL_TIME)
    end_at = Column(DateTime, nullable=False, info=LOCAL_TIME)
    blocked_from = Column(DateTime, nullable=False, info=LOCAL_TIME)
    blocked_until = Column(DateTime, nullable=False, info=LOCAL_TIME)
    planned_start = Column(DateTime, nullable=False, info=LOCAL_TIME)
    active = Column(Boolean, nullable=False, default=True)
    cancelled_on = Column(DateTime)

    booking = relationship(Booking, back_populates="occurrences")
    room = relationship(Room)
