"""Desk A, visio booking — the decisions: what a booking may be, when it may happen,
who is told. VNOC: the visio network operations centre, which validates bookings and
connects participants.

A booking is described by a `BookingDraft` (what the wizard collects). `problems()`
lists every rule the draft breaks, each naming its field; `create_booking()` and
`modify_booking()` refuse with all of them (`BookingRefused`) or write the booking,
its participants and its occurrences, and mail everyone concerned.

Times are naive local times (config TIMEZONE). A room is held from
`start - BOOKING_BUFFER_MINUTES` to `end + BOOKING_BUFFER_MINUTES`; two held ranges
of one room never overlap. The application checks it in the writing transaction;
of concurrent attempts on one slot exactly one is written: on PostgreSQL an
exclusion constraint also enforces it, on SQLite booking transactions take the
database's write lock before the check (`app.platform.transactions.serialise`).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from dateutil import rrule
from flask import current_app
from flask_babel import format_date, gettext, lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    Booking,
    BookingKind,
    BookingOccurrence,
    BookingParticipant,
    BookingState,
    Equipment,
    EquipmentKind,
    Organisation,
    Recurrence,
    Room,
    RoomKind,
    WorkflowEvent,
    utcnow,
)
from ..platform import inputs, notifications, transactions
from ..platform.refusals import Refused
from ..platform.workflow import Transition, Workflow
from ..access.booking import is_vnoc
from ..security import BOOKER, VNOC, apply_scope

EXCLUSION_CONSTRAINT = "booking_occurrence_no_overlap"

FIELD_LABELS = {
    "rooms": _l("Rooms"),
    "participants": _l("Participants"),
    "session_name": _l("Session name"),
    "organiser_name": _l("Organiser's name"),
    "organiser_email": _l("Organiser's email"),
    "organiser_phone": _l("Organiser's phone"),
    "day": _l("Date"),
    "start": _l("Start"),
    "end": _l("End"),
    "recurrence": _l("Recurrence"),
    "recurrence_until": _l("Until"),
    "recurrence_count": _l("Number of sessions"),
}
# The wizard step where each field is entered (1 rooms, 2 participants, 3 schedule).
FIELD_STEPS = {"rooms": 1, "participants": 2}

#: The states in which a booking holds its rooms and may still be changed.
HOLDING_STATES = (BookingState.pending, BookingState.validated)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------------------
# The draft and its refusals
# ---------------------------------------------------------------------------


@dataclass
class ParticipantLine:
    """An equipment line as the wizard collects it."""

    name: str = ""
    kind: str = EquipmentKind.ip.value
    contact_name: str = ""
    email: str = ""
    phone: str = ""
    ip_address: str = ""
    bridge_id: str = ""
    vnoc_connects: bool = False
    equipment_id: Optional[int] = None
    save: bool = False


@dataclass
class BookingDraft:
    room_ids: list = field(default_factory=list)
    participants: list = field(default_factory=list)
    session_name: str = ""
    organiser_name: str = ""
    organiser_email: str = ""
    organiser_phone: str = ""
    day: Optional[date] = None
    start_time: Optional[time] = None
    end_time: Optional[time] = None
    recurrence: Optional[str] = None
    recurrence_until: Optional[date] = None
    recurrence_count: Optional[int] = None
    notes: str = ""

    @property
    def start(self) -> Optional[datetime]:
        return datetime.combine(self.day, self.start_time) if self.day and self.start_time else None

    @property
    def end(self) -> Optional[datetime]:
        return datetime.combine(self.day, self.end_time) if self.day and self.end_time else None

    def to_dict(self) -> dict:
        """JSON-ready (the wizard carries the draft from step to step)."""
        data = asdict(self)
        for name in ("day", "recurrence_until"):
            data[name] = data[name].isoformat() if data[name] else None
        for name in ("start_time", "end_time"):
            data[name] = data[name].strftime("%H:%M") if data[name] else None
        return data

    @classmethod
    def from_dict(cls, data) -> "BookingDraft":
        """The draft the wizard carried, read back; InputRefused (naming `draft.<field>`)
        when a value is not of its kind (the draft travels in the form: anyone can change it)."""
        data = _expect(dict, data or {}, "draft")
        values = {}
        for name in ("session_name", "organiser_name", "organiser_email", "organiser_phone", "notes"):
            values[name] = _expect(str, data.get(name) or "", name)
        values["recurrence"] = _expect(str, data.get("recurrence"), "recurrence", optional=True)
        values["recurrence_count"] = _expect(int, data.get("recurrence_count"), "recurrence_count", optional=True)
        values["room_ids"] = [_expect(int, i, "room_ids") for i in _expect(list, data.get("room_ids") or [], "room_ids")]
        for name in ("day", "recurrence_until"):
            values[name] = inputs.parse_date(_expect(str, data.get(name), name, optional=True), f"draft.{name}")
        for name in ("start_time", "end_time"):
            text = _expect(str, data.get(name), name, optional=True)
            values[name] = inputs.parse_date(text, f"draft.{name}", time.fromisoformat) if text else None
        draft = cls(**values)
        for line in _expect(list, data.get("participants") or [], "participants"):
            line = _expect(dict, line, "participants")
            fields = {name: _expect(str, line.get(name) or "", "participants")
                      for name in ("name", "kind", "contact_name", "email", "phone", "ip_address", "bridge_id")}
            draft.participants.append(ParticipantLine(
                **fields, vnoc_connects=_expect(bool, line.get("vnoc_connects") or False, "participants"),
                save=_expect(bool, line.get("save") or False, "participants"),
                equipment_id=_expect(int, line.get("equipment_id"), "participants", optional=True)))
        return draft

    @classmethod
    def from_booking(cls, booking: Booking) -> "BookingDraft":
        return cls(
            room_ids=[room.id for room in booking.rooms],
            participants=[ParticipantLine(
                name=p.name, kind=p.kind.value, contact_name=p.contact_name or "", email=p.email or "",
                phone=p.phone or "", ip_address=p.ip_address or "", bridge_id=p.bridge_id or "",
                vnoc_connects=p.vnoc_connects, equipment_id=p.equipment_id) for p in booking.participants],
            session_name=booking.session_name, organiser_name=booking.organiser_name,
            organiser_email=booking.organiser_email, organiser_phone=booking.organiser_phone,
            day=booking.start_at.date(), start_time=booking.start_at.time(), end_time=booking.end_at.time(),
            recurrence=booking.recurrence.value if booking.recurrence else None,
            recurrence_until=booking.recurrence_until, recurrence_count=booking.recurrence_count,
            notes=booking.notes or "",
        )


def _expect(kind, value, name, optional=False):
    """`value` when it is a `kind` (an int of 64 bits), else InputRefused naming `draft.<name>`."""
    if value is None and optional:
        return None
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if not wrong and kind is int and not inputs.is_int64(value):
        wrong = True
    if wrong:
        raise inputs.InputRefused(f"draft.{name}", gettext("%(field)s: this value is not of the expected kind.",
                                                          field=f"draft.{name}"))
    return value


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    @property
    def step(self) -> int:
        return FIELD_STEPS.get(self.field, 3)

    def __str__(self):
        return gettext("%(field)s: %(message)s", field=FIELD_LABELS[self.field], message=self.message)


class BookingRefused(Refused):
    """A booking that may not be written: every rule it breaks (`problems`), each
    naming its field; `field` is the first of them."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(self.problems[0].field, " ".join(str(p) for p in self.problems))

    @property
    def fields(self) -> set:
        return {p.field for p in self.problems}


# ---------------------------------------------------------------------------
# Settings and time
# ---------------------------------------------------------------------------


def _clock(value: str) -> time:
    return time.fromisoformat(value)


def buffer() -> timedelta:
    return timedelta(minutes=current_app.config["BOOKING_BUFFER_MINUTES"])


def local_now() -> datetime:
    """Now, as a naive local time (the time zone bookings are written in)."""
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).replace(tzinfo=None, microsecond=0)


def landing(user) -> str:
    """The endpoint the desk opens on: the VNOC's queue, or the booking wizard."""
    return "BookingView.queue" if is_vnoc(user) else "BookingWizard.book"


def quarter_hours() -> list[time]:
    return [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]


def occurrence_times(start, end, recurrence=None, until=None, count=None, limit=None) -> list:
    """[(start, end)] of every occurrence: daily means every working day."""
    if start is None or end is None:
        return []
    if not recurrence:
        return [(start, end)]
    limit = limit or current_app.config["BOOKING_MAX_OCCURRENCES"]
    frequency = {"daily": rrule.DAILY, "weekly": rrule.WEEKLY,
                 "monthly": rrule.MONTHLY, "yearly": rrule.YEARLY}[recurrence]
    options = {"dtstart": start}
    if recurrence == "daily":
        options["byweekday"] = current_app.config["BOOKING_WORKING_DAYS"]
    if count:
        options["count"] = min(int(count), limit + 1)
    elif until:
        options["until"] = datetime.combine(until, time.max)
    else:
        options["count"] = 1
    duration = end - start
    starts = []
    for item in rrule.rrule(frequency, **options):
        starts.append(item)
        if len(starts) > limit:
            break
    return [(s, s + duration) for s in starts]


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


def problems(draft: BookingDraft, user, rooms, booking: Optional[Booking] = None, check_rooms=True) -> list:
    """Every rule `draft` breaks, as Problems naming their field (empty: it may be booked).

    `rooms`: the rooms of `draft.room_ids` the user may book (scope already applied).
    `booking`: the booking being modified (its own occurrences never conflict).
    """
    found = []

    def refuse(name, message):
        found.append(Problem(name, message))

    # 1. Rooms
    if not draft.room_ids:
        refuse("rooms", gettext("choose at least one room."))
    elif {r.id for r in rooms} != set(draft.room_ids):
        refuse("rooms", gettext("one of the rooms is unknown."))
    elif len({r.organisation_id for r in rooms}) > 1:
        refuse("rooms", gettext("the rooms of one booking belong to one organisation."))
    elif any(not r.active for r in rooms):
        refuse("rooms", gettext("“%(room)s” is not open to booking.",
                                room=next(r for r in rooms if not r.active).name))

    # 2. Participants
    found.extend(participant_problems(draft.participants))

    # 3. Schedule
    for name in ("session_name", "organiser_name", "organiser_email", "organiser_phone", "day"):
        value = getattr(draft, name)
        if not (value.strip() if isinstance(value, str) else value):
            refuse(name, gettext("this field is required."))
    if draft.organiser_email and not EMAIL.match(draft.organiser_email.strip()):
        refuse("organiser_email", gettext("this is not a valid address."))
    for name in ("day", "recurrence_until"):
        problem = inputs.date_problem(getattr(draft, name))
        if problem:
            refuse(name, problem)
            return found
    if draft.start_time is None:
        refuse("start", gettext("this field is required."))
    if draft.end_time is None:
        refuse("end", gettext("this field is required."))
    start, end = draft.start, draft.end
    if start is None or end is None:
        return found
    for name, moment in (("start", start), ("end", end)):
        if moment.minute % 15 or moment.second:
            refuse(name, gettext("times go by quarter hours."))
    if end <= start:
        refuse("end", gettext("the end must come after the start."))
        return found

    times, recurrence_problems = _recurrence(draft)
    found.extend(recurrence_problems)
    if recurrence_problems:
        return found

    config = current_app.config
    if not is_vnoc(user):
        notice = timedelta(hours=config["BOOKING_NOTICE_HOURS"])
        if start < local_now() + notice:
            refuse("start", gettext("bookings are made at least %(hours)d hours ahead; "
                                    "the VNOC can book sooner.", hours=config["BOOKING_NOTICE_HOURS"]))
        opening, closing = _clock(config["BOOKING_SERVICE_START"]), _clock(config["BOOKING_SERVICE_END"])
        if start.time() < opening:
            refuse("start", gettext("the service opens at %(time)s.", time=opening.strftime("%H:%M")))
        if end.time() > closing or end.date() != start.date():
            refuse("end", gettext("the service closes at %(time)s.", time=closing.strftime("%H:%M")))
        closed_days = [s for s, _ in times if s.weekday() not in config["BOOKING_WORKING_DAYS"]]
        if closed_days:
            where = "recurrence" if draft.recurrence and closed_days[0] != start else "day"
            refuse(where, gettext("the service is closed on %(day)s.",
                                  day=format_date(closed_days[0], "full")))

    if check_rooms and not any(p.field == "rooms" for p in found):
        for room, (s, e) in conflicts(draft.room_ids, times, booking):
            refuse("rooms", gettext(
                "“%(room)s” is already booked on %(day)s around %(start)s–%(end)s "
                "(%(buffer)d minutes between sessions included).",
                room=room.name, day=format_date(s.date(), "short"), start=s.strftime("%H:%M"),
                end=e.strftime("%H:%M"), buffer=config["BOOKING_BUFFER_MINUTES"]))
            break
    return found


def participant_problems(lines) -> list:
    found = []
    seen_ids, seen_names = set(), set()
    for line in lines:
        name = (line.name or "").strip()
        if not name:
            found.append(Problem("participants", gettext("every equipment needs a name.")))
            continue
        try:
            kind = EquipmentKind(line.kind)
        except ValueError:
            found.append(Problem("participants", gettext("“%(name)s”: unknown type.", name=name)))
            continue
        if (line.equipment_id and line.equipment_id in seen_ids) or name.lower() in seen_names:
            found.append(Problem("participants", gettext("“%(name)s” is listed twice.", name=name)))
        seen_names.add(name.lower())
        if line.equipment_id:
            seen_ids.add(line.equipment_id)
        if line.email and not EMAIL.match(line.email.strip()):
            found.append(Problem("participants", gettext("“%(name)s”: the email is not a valid address.",
                                                         name=name)))
        if line.vnoc_connects and kind is not EquipmentKind.ip:
            found.append(Problem("participants", gettext(
                "“%(name)s”: only IP equipment can be connected by the VNOC; "
                "ISDN and mobile participants connect themselves.", name=name)))
        elif line.vnoc_connects and not (line.ip_address or "").strip():
            found.append(Problem("participants", gettext(
                "“%(name)s”: the VNOC needs the IP address to connect it.", name=name)))
    return found


def _recurrence(draft):
    found = []
    if not draft.recurrence:
        return occurrence_times(draft.start, draft.end), found
    if draft.recurrence not in {r.value for r in Recurrence}:
        return [], [Problem("recurrence", gettext("unknown recurrence."))]
    if not draft.recurrence_until and not draft.recurrence_count:
        return [], [Problem("recurrence", gettext("give an end date or a number of sessions."))]
    if draft.recurrence_count is not None and draft.recurrence_count < 1:
        return [], [Problem("recurrence_count", gettext("at least one session."))]
    if draft.recurrence_until and not draft.recurrence_count and draft.recurrence_until < draft.day:
        return [], [Problem("recurrence_until", gettext("the end date comes before the first session."))]
    limit = current_app.config["BOOKING_MAX_OCCURRENCES"]
    times = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                             draft.recurrence_count, limit)
    if len(times) > limit:
        name = "recurrence_count" if draft.recurrence_count else "recurrence_until"
        return [], [Problem(name, gettext("at most %(num)d sessions.", num=limit))]
    return times, found


def conflicts(room_ids, times, booking: Optional[Booking] = None) -> list:
    """[(room, (start, end))] of held occurrences the given times would overlap,
    buffers included (not scoped: another organisation's session still holds the room)."""
    if not room_ids or not times:
        return []
    pad = buffer()
    query = (select(BookingOccurrence).join(Room)
             .where(BookingOccurrence.room_id.in_(room_ids), BookingOccurrence.active.is_(True)))
    if booking is not None and booking.id is not None:
        query = query.where(BookingOccurrence.booking_id != booking.id)
    ranges = [(s - pad, e + pad) for s, e in times]
    first, last = min(r[0] for r in ranges), max(r[1] for r in ranges)
    query = query.where(BookingOccurrence.blocked_from < last, BookingOccurrence.blocked_until > first)
    if len(ranges) <= 50:
        query = query.where(or_(*[and_(BookingOccurrence.blocked_from < e, BookingOccurrence.blocked_until > s)
                                  for s, e in ranges]))
    found = []
    for occurrence in db.session.scalars(query.order_by(BookingOccurrence.start_at)):
        for s, e in ranges:
            if occurrence.blocked_from < e and occurrence.blocked_until > s:
                found.append((occurrence.room, (occurrence.start_at, occurrence.end_at)))
                break
    return found


# ---------------------------------------------------------------------------
# Writing bookings
# ---------------------------------------------------------------------------


def create_booking(draft: BookingDraft, user, rooms, equipment=None) -> Booking:
    """Write a pending booking for the rooms' organisation, or raise BookingRefused.

    `rooms` and `equipment` ({id: Equipment}) are what the user may use (scope applied).
    The conflict check and the insert are one step for concurrent bookings: on
    SQLite one booking transaction at a time (`transactions.serialise`), on
    PostgreSQL the exclusion constraint refuses the second (`_flush_occurrences`).
    """
    transactions.serialise()
    found = problems(draft, user, rooms)
    if found:
        raise BookingRefused(found)
    organisation_id = rooms[0].organisation_id
    booking = Booking(organisation_id=organisation_id, creator=user, state=BookingState.pending,
                      creator_id=user.id)
    _fill(booking, draft, rooms, equipment or {}, organisation_id)
    db.session.add(booking)
    _flush_occurrences(booking, draft, rooms)
    booking.reference = f"{booking.id:05d}"
    send_mail(booking, "booking/created")
    return booking


def modify_booking(booking: Booking, draft: BookingDraft, user, rooms, equipment=None) -> Booking:
    """Change a pending or validated booking (it goes back to the VNOC), or raise BookingRefused.

    Like a transition, it locks the booking and reads it again first (a VNOC
    operator may have refused it meanwhile), and moves its state with the engine's
    compare-and-set; like a new booking, its conflict check and its writes are one
    step (`create_booking`): on SQLite the lock is the database's write lock."""
    BOOKING_WORKFLOW.lock(booking)
    refusal = change_refusal(booking)
    if refusal is not None:
        raise refusal
    found = problems(draft, user, rooms, booking=booking)
    if found:
        raise BookingRefused(found)
    booking.occurrences.clear()
    booking.participants.clear()
    db.session.flush()
    _fill(booking, draft, rooms, equipment or {}, booking.organisation_id)
    _flush_occurrences(booking, draft, rooms)
    BOOKING_WORKFLOW.move(booking, "modify", user, BookingState.pending)
    send_mail(booking, "booking/modified")
    return booking


def _fill(booking, draft, rooms, equipment, organisation_id):
    booking.kind = BookingKind.visio if any(r.kind is RoomKind.visio for r in rooms) else BookingKind.audio
    booking.rooms = list(rooms)
    booking.session_name = draft.session_name.strip()
    booking.organiser_name = draft.organiser_name.strip()
    booking.organiser_email = draft.organiser_email.strip()
    booking.organiser_phone = draft.organiser_phone.strip()
    booking.start_at, booking.end_at = draft.start, draft.end
    booking.recurrence = Recurrence(draft.recurrence) if draft.recurrence else None
    booking.recurrence_until = draft.recurrence_until if draft.recurrence else None
    booking.recurrence_count = draft.recurrence_count if draft.recurrence else None
    booking.notes = (draft.notes or "").strip() or None
    booking.requested_on = utcnow()
    for line in draft.participants:
        saved = equipment.get(line.equipment_id) if line.equipment_id else None
        if line.save:
            saved = save_equipment(line, saved, organisation_id)
        booking.participants.append(BookingParticipant(
            equipment=saved, name=line.name.strip(), kind=EquipmentKind(line.kind),
            contact_name=line.contact_name.strip() or None, email=line.email.strip() or None,
            phone=line.phone.strip() or None, ip_address=line.ip_address.strip() or None,
            bridge_id=line.bridge_id.strip() or None, vnoc_connects=bool(line.vnoc_connects)))


def save_equipment(line: ParticipantLine, saved: Optional[Equipment], organisation_id) -> Equipment:
    """"Save to my equipment": update the saved equipment (or the one of that name), or add it."""
    if saved is None:
        saved = db.session.scalar(select(Equipment).where(
            Equipment.organisation_id == organisation_id,
            func.lower(Equipment.name) == line.name.strip().lower()))
    if saved is None:
        saved = Equipment(organisation_id=organisation_id)
        db.session.add(saved)
    saved.name = line.name.strip()
    saved.kind = EquipmentKind(line.kind)
    for name in ("contact_name", "email", "phone", "ip_address", "bridge_id"):
        setattr(saved, name, getattr(line, name).strip() or None)
    return saved


def _flush_occurrences(booking, draft, rooms):
    """Add the occurrences and write them; a concurrent booking of the slot is a refusal
    (the PostgreSQL exclusion constraint waits for the other transaction, then fails)."""
    pad = buffer()
    times = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                             draft.recurrence_count)
    for room in rooms:
        for start, end in times:
            booking.occurrences.append(BookingOccurrence(
                room=room, start_at=start, end_at=end, blocked_from=start - pad,
                blocked_until=end + pad, active=True))
    try:
        db.session.flush()
    except IntegrityError as error:  # the caller rolls the transaction back
        if EXCLUSION_CONSTRAINT not in str(error.orig):
            raise
        raise BookingRefused([Problem("rooms", gettext(
            "another booking of this slot was just recorded; choose another time."))]) from None


def may_change(booking) -> bool:
    """A booking is changed (wizard, connection details) only while it holds its rooms."""
    return booking.state in HOLDING_STATES


def change_refusal(booking) -> Optional[BookingRefused]:
    """Why `booking` can no longer be changed, saying who refused or cancelled it and
    when; None while it may be."""
    if may_change(booking):
        return None
    message = gettext("a booking %(state)s can no longer be changed.", state=str(booking.state).lower())
    return BookingRefused([Problem("day", " ".join(filter(None, [message, BOOKING_WORKFLOW.already(booking)])))])


def release(booking):
    """A refused or cancelled booking no longer holds its rooms."""
    for occurrence in booking.occurrences:
        occurrence.active = False


# ---------------------------------------------------------------------------
# The workflow and the mails
# ---------------------------------------------------------------------------


def _not_started(item, user, comment):
    if item.start_at <= local_now() and not is_vnoc(user):
        return gettext("Start: the session has started; call the VNOC.")
    return None


class BookingWorkflow(Workflow):
    """The platform's workflow, plus: refused and cancelled bookings release their
    rooms, and every change is mailed with its .ics. Both happen only for the one
    whose transition won (the engine's fire() raises for the others), so a booking's
    occurrences always agree with its state."""

    def fire(self, item, name, user, comment="", attachment=None):
        event = super().fire(item, name, user, comment, attachment)
        if item.state in self.final_states:
            release(item)
        send_mail(item, f"booking/{item.state.value}", comment=event.comment)
        return event


BOOKING_WORKFLOW = BookingWorkflow(
    Booking,
    states=BookingState,
    transitions=[
        Transition("validate", _l("Validate"), sources=(BookingState.pending,), target=BookingState.validated,
                   roles=(VNOC,), icon="fa-check", done=_l("validated this booking")),
        Transition("refuse", _l("Refuse"), sources=(BookingState.pending,), target=BookingState.refused,
                   roles=(VNOC,), comment_required=True, icon="fa-ban",
                   done=_l("refused this booking")),
        Transition("cancel", _l("Cancel the booking"), sources=HOLDING_STATES, target=BookingState.cancelled,
                   roles=(VNOC, BOOKER), guards=(_not_started,), icon="fa-times",
                   confirmation=_l("Cancel the selected bookings?"), done=_l("cancelled this booking")),
    ],
    final_states=(BookingState.refused, BookingState.cancelled),
    event_labels={"modify": _l("Changed")},
)


def recipients(booking) -> list:
    """Who hears of a booking: its creator, its organiser, every participant's contact, the VNOC."""
    people = [booking.creator, booking.organiser_email]
    people += [p.email for p in booking.participants if p.email]
    people.append(current_app.config["VNOC_MAILBOX"])
    return people


def send_mail(booking, template, comment=None):
    db.session.flush()
    sequence = db.session.scalar(select(func.count()).select_from(WorkflowEvent).where(
        WorkflowEvent.object_type == Booking.__tablename__, WorkflowEvent.object_id == booking.id)) or 0
    link = f"/bookings/show/{booking.id}"
    rooms = ", ".join(room.name for room in booking.rooms)
    ics = notifications.ics_attachment(
        f"{booking.session_name} ({booking.reference})", booking.start_at, booking.end_at,
        uid=f"booking-{booking.reference}@guichet", location=rooms, url=link, sequence=sequence,
        description=booking.connection_url or None, organizer=booking.organiser_email,
        cancelled=booking.state in BOOKING_WORKFLOW.final_states, filename=f"reservation-{booking.reference}.ics")
    occurrences = sorted({(o.start_at, o.end_at) for o in booking.occurrences})
    context = {"booking": booking, "rooms": rooms, "occurrences": occurrences, "comment": comment,
               "state_label": str(booking.state)}
    return notifications.notify(recipients(booking), template, context, link=link, attachments=[ics])


# ---------------------------------------------------------------------------
# The VNOC's screens and the usage report
# ---------------------------------------------------------------------------


def deadline(booking) -> datetime:
    """When the VNOC must have validated (UTC, as `requested_on`)."""
    return booking.requested_on + timedelta(minutes=current_app.config["BOOKING_VALIDATION_MINUTES"])


def minutes_left(booking, now=None) -> int:
    """Minutes before the validation deadline (negative: late)."""
    return int((deadline(booking) - (now or utcnow())).total_seconds() // 60)


def set_connection(booking, connection_id, connection_url):
    booking.connection_id = (connection_id or "").strip() or None
    booking.connection_url = (connection_url or "").strip() or None


@dataclass
class Call:
    call_at: datetime
    start_at: datetime
    booking: Booking
    participant: BookingParticipant


def calls_of_day(day: date, viewer=None) -> list:
    """The participants the VNOC connects on `day` (validated bookings the viewer
    sees), each with when to call them."""
    ahead = timedelta(minutes=current_app.config["BOOKING_CALL_AHEAD_MINUTES"])
    start, end = datetime.combine(day, time.min), datetime.combine(day + timedelta(days=1), time.min)
    query = (select(Booking.id, BookingOccurrence.start_at).select_from(Booking)
             .join(BookingOccurrence, BookingOccurrence.booking_id == Booking.id)
             .where(Booking.state == BookingState.validated, BookingOccurrence.active.is_(True),
                    BookingOccurrence.start_at >= start, BookingOccurrence.start_at < end)
             .distinct())
    calls = []
    for booking_id, starts_at in db.session.execute(apply_scope(query, Booking, viewer)).all():
        booking = db.session.get(Booking, booking_id)
        for participant in booking.participants:
            if participant.vnoc_connects:
                calls.append(Call(starts_at - ahead, starts_at, booking, participant))
    return sorted(calls, key=lambda c: (c.call_at, c.booking.reference, c.participant.name))


@dataclass
class UsageRow:
    organisation: str
    room: str
    sessions: int = 0
    minutes: int = 0
    participants: int = 0

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)


def month_bounds(month: date):
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min), datetime.combine(following, time.min)


def usage(month: date, viewer=None) -> list:
    """Validated sessions of the month the viewer sees, by organisation and room:
    sessions, hours, participants."""
    start, end = month_bounds(month)
    participants = (select(BookingParticipant.booking_id, func.count().label("n"))
                    .group_by(BookingParticipant.booking_id).subquery())
    query = (select(Organisation.name, Room.name, BookingOccurrence.start_at, BookingOccurrence.end_at,
                    func.coalesce(participants.c.n, 0)).select_from(Booking)
             .join(Organisation, Organisation.id == Booking.organisation_id)
             .join(BookingOccurrence, BookingOccurrence.booking_id == Booking.id)
             .join(Room, Room.id == BookingOccurrence.room_id)
             .outerjoin(participants, participants.c.booking_id == Booking.id)
             .where(Booking.state == BookingState.validated, BookingOccurrence.start_at >= start,
                    BookingOccurrence.start_at < end))
    rows = {}
    for organisation, room, s, e, count in db.session.execute(apply_scope(query, Booking, viewer)):
        row = rows.setdefault((organisation, room), UsageRow(organisation, room))
        row.sessions += 1
        row.minutes += int((e - s).total_seconds() // 60)
        row.participants += int(count)
    return [rows[key] for key in sorted(rows)]
