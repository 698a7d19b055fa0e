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

A series is its rule (recurrence) plus what the booker changed at review for some
of its dates (`BookingDraft.exceptions`): a date skipped, held in another room, or
moved to a nearby free slot (`review()` lists the dates that conflict, the rooms
free then and the nearest free slots). Its .ics is one VEVENT with RRULE, EXDATE
for the dates that do not happen and an override per date held otherwise; one
occurrence cancelled alone is a CANCEL with its RECURRENCE-ID.
"""
from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from dateutil import rrule
from flask import current_app
from flask_babel import format_date, format_datetime, gettext, lazy_gettext as _l
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
    RECURRENCE_LABELS,
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
from ..security import ADMIN, BOOKER, VNOC, apply_scope, role_names

EXCLUSION_CONSTRAINT = "booking_occurrence_no_overlap"

FIELD_LABELS = {
    "rooms": _l("Rooms"),
    "participants": _l("Participants"),
    "session_name": _l("Session name"),
    "organiser_name": _l("Organiser's name"),
    "organiser_email": _l("Organiser's email"),
    "organiser_phone": _l("Organiser's phone"),
    "creator_phone": _l("Requester's phone"),
    "day": _l("Date"),
    "start": _l("Start"),
    "end": _l("End"),
    "recurrence": _l("Recurrence"),
    "recurrence_until": _l("Until"),
    "recurrence_count": _l("Number of sessions"),
    "notes": _l("Notes"),
    "sessions": _l("Sessions"),
}
# The wizard step where each field is entered (1 rooms, 2 participants, 3 schedule).
FIELD_STEPS = {"rooms": 1, "participants": 2}
# RFC 5545's weekday codes, Monday first (config BOOKING_WORKING_DAYS counts from 0).
ICAL_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

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
    creator_phone: str = ""
    day: Optional[date] = None
    start_time: Optional[time] = None
    end_time: Optional[time] = None
    recurrence: Optional[str] = None
    recurrence_until: Optional[date] = None
    recurrence_count: Optional[int] = None
    notes: str = ""
    # What the booker changed at review for some dates of a series, by the date its
    # rule gives them (ISO): {"skip": True}, or {"rooms": {"<room id>": other room
    # id}} and/or a move {"day": ISO, "start": "HH:MM", "end": "HH:MM"}.
    exceptions: dict = field(default_factory=dict)

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
        for name in ("session_name", "organiser_name", "organiser_email", "organiser_phone", "creator_phone",
                     "notes"):
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
        draft.exceptions = clean_exceptions(data.get("exceptions"))
        return draft

    @property
    def all_room_ids(self) -> set:
        """Its rooms and the rooms some of its dates are held in instead."""
        ids = set(self.room_ids)
        for change in self.exceptions.values():
            ids.update(change.get("rooms", {}).values())
        return ids

    @classmethod
    def from_booking(cls, booking: Booking) -> "BookingDraft":
        draft = cls(
            room_ids=[room.id for room in booking.rooms],
            participants=[ParticipantLine(
                name=p.name, kind=p.kind.value, contact_name=p.contact_name or "", email=p.email or "",
                phone=p.phone or "", ip_address=p.ip_address or "", bridge_id=p.bridge_id or "",
                vnoc_connects=p.vnoc_connects, equipment_id=p.equipment_id) for p in booking.participants],
            session_name=booking.session_name, organiser_name=booking.organiser_name,
            organiser_email=booking.organiser_email, organiser_phone=booking.organiser_phone,
            creator_phone=booking.creator_phone or "", day=booking.start_at.date(),
            start_time=booking.start_at.time(), end_time=booking.end_at.time(),
            recurrence=booking.recurrence.value if booking.recurrence else None,
            recurrence_until=booking.recurrence_until, recurrence_count=booking.recurrence_count,
            notes=booking.notes or "",
        )
        if booking.recurrence:
            draft.exceptions = _exceptions_of(booking, draft)
        return draft


def clean_exceptions(value) -> dict:
    """The exceptions of a draft as the form sent them, keeping only well-formed
    entries (the draft travels in the page: it may come back altered)."""
    clean = {}
    if not isinstance(value, dict):
        return clean
    for key, change in value.items():
        if not isinstance(change, dict) or not is_iso_date(key):
            continue
        if change.get("skip") is True:
            clean[key] = {"skip": True}
            continue
        entry = {}
        rooms = change.get("rooms")
        if isinstance(rooms, dict):
            swaps = {str(k): int(v) for k, v in rooms.items()
                     if str(k).isdigit() and isinstance(v, int) and not isinstance(v, bool)}
            if swaps:
                entry["rooms"] = swaps
        if is_iso_date(change.get("day")) and _clock_text(change.get("start")) and _clock_text(change.get("end")):
            entry.update(day=change["day"], start=change["start"], end=change["end"])
        if entry:
            clean[key] = entry
    return clean


def is_iso_date(value) -> bool:
    try:
        date.fromisoformat(value)
        return isinstance(value, str)
    except (TypeError, ValueError):
        return False


def _clock_text(value) -> bool:
    try:
        time.fromisoformat(value)
        return isinstance(value, str)
    except (TypeError, ValueError):
        return False


def _exceptions_of(booking, draft) -> dict:
    """What a booked series changed from its rule, as a draft's exceptions: the dates
    without an occurrence (or whose occurrence was cancelled alone) are skipped."""
    rows = {}
    for occurrence in booking.occurrences:
        rows.setdefault(occurrence.planned_start, []).append(occurrence)
    exceptions = {}
    main = [room.id for room in booking.rooms]
    for planned, _ in occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                                       draft.recurrence_count):
        key = planned.date().isoformat()
        held = [o for o in rows.get(planned, []) if o.cancelled_on is None]
        if not held:
            exceptions[key] = {"skip": True}
            continue
        change = {}
        if held[0].start_at != planned or held[0].end_at - held[0].start_at != draft.end - draft.start:
            change.update(day=held[0].start_at.date().isoformat(), start=held[0].start_at.strftime("%H:%M"),
                          end=held[0].end_at.strftime("%H:%M"))
        instead = sorted({o.room_id for o in held} - set(main))
        missing = sorted(set(main) - {o.room_id for o in held})
        if instead:
            change["rooms"] = {str(a): b for a, b in zip(missing, instead)}
        if change:
            exceptions[key] = change
    return exceptions


@dataclass(frozen=True)
class Slot:
    """One date of a draft as it will be held: the start its rule gives it
    (`planned`, the RECURRENCE-ID), its start and end, and its rooms."""

    planned: datetime
    start: datetime
    end: datetime
    room_ids: tuple

    @property
    def key(self) -> str:
        return self.planned.date().isoformat()

    @property
    def moved(self) -> bool:
        return self.start != self.planned


def slots(draft: BookingDraft, planned=None) -> list:
    """The dates of `draft` that will be held (skipped ones left out), each with its
    rooms and times after the booker's changes; `planned`: its rule's (start, end)."""
    if planned is None:
        planned = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                                   draft.recurrence_count)
    held = []
    for start, end in planned:
        change = draft.exceptions.get(start.date().isoformat(), {}) if draft.recurrence else {}
        if change.get("skip"):
            continue
        if change.get("day"):
            day = date.fromisoformat(change["day"])
            start_at = datetime.combine(day, time.fromisoformat(change["start"]))
            end_at = datetime.combine(day, time.fromisoformat(change["end"]))
        else:
            start_at, end_at = start, end
        swaps = change.get("rooms", {})
        held.append(Slot(start, start_at, end_at, tuple(swaps.get(str(r), r) for r in draft.room_ids)))
    return held


def skipped_dates(draft: BookingDraft, planned=None) -> list:
    """The starts its rule gives the dates of a series the booker skipped."""
    if not draft.recurrence:
        return []
    if planned is None:
        planned = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                                   draft.recurrence_count)
    return [s for s, _ in planned if draft.exceptions.get(s.date().isoformat(), {}).get("skip")]


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
    # The wizard step that shows it, when not the field's: a conflict of the rooms
    # is shown at review, where the booker resolves it date by date.
    at_step: Optional[int] = None
    # The input at fault, where the field is a table (an equipment line's cell).
    cell: Optional[str] = None

    @property
    def step(self) -> int:
        return self.at_step or FIELD_STEPS.get(self.field, 3)

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

    `rooms`: the rooms of `draft.all_room_ids` the user may book (scope already
    applied): its rooms and those some dates are held in instead.
    `booking`: the booking being modified (its own occurrences never conflict).
    """
    found = []

    def refuse(name, message, at_step=None):
        found.append(Problem(name, message, at_step))

    # 1. Rooms
    main = [r for r in rooms if r.id in draft.room_ids]
    if not draft.room_ids:
        refuse("rooms", gettext("choose at least one room."))
    elif {r.id for r in main} != set(draft.room_ids):
        refuse("rooms", gettext("one of the rooms is unknown."))
    elif len({r.organisation_id for r in main}) > 1:
        refuse("rooms", gettext("the rooms of one booking belong to one organisation."))
    elif any(not r.active for r in main):
        refuse("rooms", gettext("“%(room)s” is not open to booking.",
                                room=next(r for r in main if not r.active).name))

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
    held = slots(draft, times)
    if not held:
        refuse("recurrence", gettext("every date of the series is skipped."), at_step=4)
        return found
    found.extend(_exception_problems(draft, held, main, rooms))

    config = current_app.config
    if not is_vnoc(user):
        notice = timedelta(hours=config["BOOKING_NOTICE_HOURS"])
        first = min(slot.start for slot in held)  # a skipped first date does not count
        if first < local_now() + notice:
            refuse("start", gettext("bookings are made at least %(hours)d hours ahead; "
                                    "the VNOC can book sooner.", hours=config["BOOKING_NOTICE_HOURS"]),
                   at_step=None if first == start else 4)
        opening, closing = _clock(config["BOOKING_SERVICE_START"]), _clock(config["BOOKING_SERVICE_END"])
        if start.time() < opening:
            refuse("start", gettext("the service opens at %(time)s.", time=opening.strftime("%H:%M")))
        if end.time() > closing or end.date() != start.date():
            refuse("end", gettext("the service closes at %(time)s.", time=closing.strftime("%H:%M")))
        moved = [slot for slot in held if slot.moved]
        if any(s.start.time() < opening or s.end.time() > closing for s in moved):
            refuse("start", gettext("the service is open from %(start)s to %(end)s.",
                                    start=opening.strftime("%H:%M"), end=closing.strftime("%H:%M")), at_step=4)
        closed_days = [slot.start for slot in held if slot.start.weekday() not in config["BOOKING_WORKING_DAYS"]]
        if closed_days:
            where = "recurrence" if draft.recurrence and closed_days[0] != start else "day"
            refuse(where, gettext("the service is closed on %(day)s.",
                                  day=format_date(closed_days[0], "full")))

    if check_rooms and not any(p.field == "rooms" for p in found):
        clashes = find_conflicts(held, booking)
        if clashes:
            first = clashes[0]
            message = gettext(
                "“%(room)s” is already booked on %(day)s around %(start)s–%(end)s "
                "(%(buffer)d minutes between sessions included).",
                room=first.room.name, day=format_date(first.slot.start.date(), "short"),
                start=first.start.strftime("%H:%M"), end=first.end.strftime("%H:%M"),
                buffer=config["BOOKING_BUFFER_MINUTES"])
            dates = len({c.slot.key for c in clashes})
            if dates > 1:
                message += " " + gettext("%(num)d dates conflict: skip them or choose another room.", num=dates)
            refuse("rooms", message, at_step=4)
    return found


def _exception_problems(draft, held, main, rooms) -> list:
    """A date held in another room: that room must be one the user may book, open,
    of the booking's organisation."""
    found = []
    by_id = {r.id: r for r in rooms}
    organisations = {r.organisation_id for r in main}
    for slot in held:
        for room_id in set(slot.room_ids) - set(draft.room_ids):
            room = by_id.get(room_id)
            if room is None or not room.active or room.organisation_id not in organisations:
                found.append(Problem("rooms", gettext("the room chosen for %(day)s cannot be booked.",
                                                      day=format_date(slot.start.date(), "short")), 4))
                return found
    return found


def participant_problems(lines) -> list:
    """The problems of the equipment lines, each naming its cell (`p-<line>-<column>`,
    as the wizard's participants table names its inputs)."""
    found = []
    seen_ids, seen_names = set(), set()

    def refuse(index, column, message):
        found.append(Problem("participants", message, cell=f"p-{index}-{column}"))

    for index, line in enumerate(lines):
        name = (line.name or "").strip()
        if not name:
            refuse(index, "name", gettext("every equipment needs a name."))
            continue
        try:
            kind = EquipmentKind(line.kind)
        except ValueError:
            refuse(index, "kind", gettext("“%(name)s”: unknown type.", name=name))
            continue
        if (line.equipment_id and line.equipment_id in seen_ids) or name.lower() in seen_names:
            refuse(index, "name", gettext("“%(name)s” is listed twice.", name=name))
        seen_names.add(name.lower())
        if line.equipment_id:
            seen_ids.add(line.equipment_id)
        if line.email and not EMAIL.match(line.email.strip()):
            refuse(index, "email", gettext("“%(name)s”: the email is not a valid address.", name=name))
        if line.vnoc_connects and kind is not EquipmentKind.ip:
            refuse(index, "vnoc_connects", gettext(
                "“%(name)s”: only IP equipment can be connected by the VNOC; "
                "ISDN and mobile participants connect themselves.", name=name))
        elif line.vnoc_connects and not (line.ip_address or "").strip():
            refuse(index, "ip_address", gettext(
                "“%(name)s”: the VNOC needs the IP address to connect it.", name=name))
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


@dataclass(frozen=True)
class Conflict:
    """A date of a draft that a room cannot hold: `other` is the held occurrence it
    overlaps (buffers included), or None when it is another date of the same draft."""

    slot: Slot
    room: Room
    other: Optional[BookingOccurrence]

    @property
    def start(self) -> datetime:
        return self.other.start_at if self.other is not None else self.slot.start

    @property
    def end(self) -> datetime:
        return self.other.end_at if self.other is not None else self.slot.end

    @property
    def buffer_only(self) -> bool:
        """The sessions themselves do not overlap: only the reconfiguration time does."""
        return self.other is not None and not (self.other.start_at < self.slot.end
                                               and self.other.end_at > self.slot.start)


def held_occurrences(room_ids, first, last, booking: Optional[Booking] = None, ranges=None) -> list:
    """Active occurrences of these rooms whose held range meets [first, last) (or one
    of `ranges`), another booking's only when `booking` is given (not scoped:
    another organisation's session still holds the room)."""
    if not room_ids:
        return []
    query = (select(BookingOccurrence)
             .where(BookingOccurrence.room_id.in_(list(room_ids)), BookingOccurrence.active.is_(True),
                    BookingOccurrence.blocked_from < last, BookingOccurrence.blocked_until > first))
    if booking is not None and booking.id is not None:
        query = query.where(BookingOccurrence.booking_id != booking.id)
    if ranges and len(ranges) <= 50:
        query = query.where(or_(*[and_(BookingOccurrence.blocked_from < e, BookingOccurrence.blocked_until > s)
                                  for s, e in ranges]))
    return db.session.scalars(query.order_by(BookingOccurrence.start_at)).all()


def find_conflicts(held, booking: Optional[Booking] = None) -> list:
    """Every (date, room) of `held` (Slots) that cannot be held: an occurrence of
    another booking overlaps it, buffers included, or another of its own dates does."""
    if not held:
        return []
    pad = buffer()
    ranges = [(slot.start - pad, slot.end + pad) for slot in held]
    room_ids = {room_id for slot in held for room_id in slot.room_ids}
    others = held_occurrences(room_ids, min(r[0] for r in ranges), max(r[1] for r in ranges), booking, ranges)
    found = []
    taken = {}
    for slot, (s, e) in sorted(zip(held, ranges), key=lambda item: item[0].start):
        for room_id in slot.room_ids:
            other = next((o for o in others if o.room_id == room_id and o.blocked_from < e
                          and o.blocked_until > s), None)
            own = not _is_free(slot.start, slot.end, taken.get(room_id, ()))
            if other is not None or own:
                found.append((slot, room_id, other))
            else:
                taken.setdefault(room_id, []).append((s, e))
    if not found:
        return []
    rooms = {room.id: room for room in db.session.scalars(select(Room).where(Room.id.in_(list(room_ids))))}
    return [Conflict(slot, rooms[room_id], other) for slot, room_id, other in found]


def conflicts(room_ids, times, booking: Optional[Booking] = None) -> list:
    """[(room, (start, end))] of held occurrences the given times would overlap,
    buffers included (not scoped: another organisation's session still holds the room)."""
    held = [Slot(s, s, e, tuple(room_ids)) for s, e in times]
    return [(c.room, (c.start, c.end)) for c in find_conflicts(held, booking) if c.other is not None]


def _is_free(start, end, taken) -> bool:
    """Whether a session [start, end) fits beside `taken`, held ranges (buffers included)."""
    pad = buffer()
    return not any(s < end + pad and e > start - pad for s, e in taken)


def _held_range(start, end):
    pad = buffer()
    return start - pad, end + pad


def free_rooms(slot: Slot, candidates, booking: Optional[Booking] = None, avoid=()) -> list:
    """The rooms of `candidates` (rooms the user may book) free for the whole of `slot`,
    besides the slot's own rooms; `avoid`: (room id, start, end) held by the draft."""
    others = [r for r in candidates if r.id not in slot.room_ids and r.active]
    if not others:
        return []
    pad = buffer()
    held = held_occurrences({r.id for r in others}, slot.start - pad, slot.end + pad, booking)
    free = []
    for room in others:
        taken = [(o.blocked_from, o.blocked_until) for o in held if o.room_id == room.id]
        taken += [_held_range(s, e) for room_id, s, e in avoid if room_id == room.id]
        if _is_free(slot.start, slot.end, taken):
            free.append(room)
    return free


def nearest_free(room_id, start, end, user, booking: Optional[Booking] = None, avoid=(), count=3,
                 days=7) -> list:
    """The free slots of one room nearest to [start, end) (the same length, within the
    service hours): the first free after and before it that day, then on each of the
    next working days the one nearest its time of day; at most `count`, nearest first.
    `avoid`: (start, end) the draft itself holds in that room."""
    config = current_app.config
    duration = end - start
    opening, closing = _clock(config["BOOKING_SERVICE_START"]), _clock(config["BOOKING_SERVICE_END"])
    earliest = local_now() + (timedelta(0) if is_vnoc(user) else timedelta(hours=config["BOOKING_NOTICE_HOURS"]))
    first_day = start.date()
    window = (datetime.combine(first_day, time.min), datetime.combine(first_day + timedelta(days=days + 1), time.min))
    taken = [(o.blocked_from, o.blocked_until) for o in held_occurrences({room_id}, *window, booking)]
    taken += [_held_range(s, e) for s, e in avoid]
    step = timedelta(minutes=15)

    def candidates(day):
        moment = datetime.combine(day, opening)
        while moment + duration <= datetime.combine(day, closing):
            if moment >= earliest and moment != start and _is_free(moment, moment + duration, taken):
                yield moment
            moment += step

    found = []
    same_day = list(candidates(first_day))
    after = [m for m in same_day if m > start]
    before = [m for m in same_day if m < start]
    if after:
        found.append(after[0])
    if before:
        found.append(before[-1])
    day = first_day
    while len(found) < count + 2 and day < first_day + timedelta(days=days):
        day += timedelta(days=1)
        if day.weekday() not in config["BOOKING_WORKING_DAYS"]:
            continue
        options = list(candidates(day))
        if options:
            wanted = datetime.combine(day, start.time())
            found.append(min(options, key=lambda m: abs(m - wanted)))
    found.sort(key=lambda m: abs(m - start))
    return [(m, m + duration) for m in found[:count]]


@dataclass
class ConflictChoice:
    """One conflicting date at review, with what the booker may do about it."""

    conflict: Conflict
    other_booking: Optional[Booking]  # the booking it overlaps, if the user may see it
    rooms: list  # rooms free at that time (another room)
    suggestions: list  # nearest free (start, end) in the same room


@dataclass
class Review:
    """What the review step shows: the dates held, those skipped, and the conflicts."""

    held: list
    skipped: list
    choices: list

    @property
    def conflicting(self) -> bool:
        return bool(self.choices)


def review(draft: BookingDraft, user, candidates, booking: Optional[Booking] = None) -> Review:
    """The review of a complete draft: its held dates and skipped ones, and for each
    conflicting date the rooms free then (among `candidates`: the rooms the user may
    book, of the draft's organisation) and the nearest free slots in the same room."""
    planned = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                               draft.recurrence_count)
    held = slots(draft, planned)
    clashes = find_conflicts(held, booking)
    organisations = {r.organisation_id for r in candidates if r.id in draft.room_ids}
    candidates = [r for r in candidates if r.organisation_id in organisations]
    visible = set()
    other_ids = {c.other.booking_id for c in clashes if c.other is not None}
    if other_ids:
        visible = set(db.session.scalars(apply_scope(select(Booking.id).where(Booking.id.in_(other_ids)), Booking)))
    choices = []
    for clash in clashes:
        avoid = [(room_id, s.start, s.end) for s in held if s is not clash.slot for room_id in s.room_ids]
        other = (db.session.get(Booking, clash.other.booking_id)
                 if clash.other is not None and clash.other.booking_id in visible else None)
        choices.append(ConflictChoice(
            clash, other, free_rooms(clash.slot, candidates, booking, avoid),
            nearest_free(clash.room.id, clash.slot.start, clash.slot.end, user, booking,
                         avoid=[(s, e) for room_id, s, e in avoid if room_id == clash.room.id])))
    return Review(held, skipped_dates(draft, planned), choices)


def resolve(draft: BookingDraft, key: str, choice: str) -> None:
    """Apply the booker's choice for the conflicting date `key` (ISO, its rule's date):
    "skip", "room:<from>:<to>" (held in another room) or "slot:<ISO start>:<ISO end>"
    (moved to a free slot). A single session (no series) changes itself."""
    kind, _, rest = choice.partition(":")
    if kind == "skip" and draft.recurrence:
        draft.exceptions[key] = {"skip": True}
    elif kind == "room":
        source, _, target = rest.partition(":")
        if not (source.isdigit() and target.isdigit()):
            return
        if not draft.recurrence:
            draft.room_ids = sorted({int(target) if r == int(source) else r for r in draft.room_ids})
            return
        change = draft.exceptions.setdefault(key, {})
        change.pop("skip", None)
        change.setdefault("rooms", {})[source] = int(target)
    elif kind == "slot":
        try:
            start, end = (datetime.fromisoformat(part) for part in rest.split("/"))
        except ValueError:
            return
        if not draft.recurrence:
            draft.day, draft.start_time, draft.end_time = start.date(), start.time(), end.time()
            return
        change = draft.exceptions.setdefault(key, {})
        change.pop("skip", None)
        change.update(day=start.date().isoformat(), start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))


def restore(draft: BookingDraft, key: str) -> None:
    """Undo what the booker changed for one date of a series."""
    draft.exceptions.pop(key, None)


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
    organisation_id = next(r for r in rooms if r.id in draft.room_ids).organisation_id
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
    before = describe(BookingDraft.from_booking(booking),
                      {**{o.room_id: o.room for o in booking.occurrences}, **{r.id: r for r in booking.rooms}})
    booking.occurrences.clear()
    booking.participants.clear()
    db.session.flush()
    _fill(booking, draft, rooms, equipment or {}, booking.organisation_id)
    _flush_occurrences(booking, draft, rooms)
    after = describe(draft, {r.id: r for r in rooms})
    changes = [(name, before[name], after[name]) for name in after if before[name] != after[name]]
    BOOKING_WORKFLOW.move(booking, "modify", user, BookingState.pending, changes=changes)
    send_mail(booking, "booking/modified")
    return booking


def describe(draft: BookingDraft, rooms_by_id) -> dict:
    """A draft's fields as a history row shows them ({field: text}), to tell what a
    modification changed."""
    def moment(value):
        return format_datetime(value, "short", rebase=False)

    schedule = ""
    if draft.start and draft.end:
        schedule = f"{moment(draft.start)}–{draft.end.strftime('%H:%M')}"
    recurrence = ""
    if draft.recurrence:
        recurrence = str(RECURRENCE_LABELS[Recurrence(draft.recurrence)])
        if draft.recurrence_count:
            recurrence += " × " + str(draft.recurrence_count)
        elif draft.recurrence_until:
            recurrence += " → " + format_date(draft.recurrence_until, "short")
    sessions = []
    planned = occurrence_times(draft.start, draft.end, draft.recurrence, draft.recurrence_until,
                               draft.recurrence_count) if draft.recurrence else []
    for start in skipped_dates(draft, planned):
        sessions.append(gettext("%(day)s skipped", day=format_date(start.date(), "short")))
    for slot in slots(draft, planned) if planned else []:
        if slot.moved or tuple(slot.room_ids) != tuple(draft.room_ids):
            where = ", ".join(rooms_by_id[r].name for r in slot.room_ids if r in rooms_by_id)
            sessions.append(gettext("%(day)s held %(when)s in %(rooms)s", day=format_date(slot.planned.date(), "short"),
                                    when=moment(slot.start), rooms=where))
    return {
        "rooms": ", ".join(rooms_by_id[r].name for r in draft.room_ids if r in rooms_by_id),
        "participants": ", ".join(line.name for line in draft.participants),
        "session_name": draft.session_name,
        "organiser_name": draft.organiser_name,
        "organiser_email": draft.organiser_email,
        "organiser_phone": draft.organiser_phone,
        "creator_phone": draft.creator_phone or "",
        "day": schedule,
        "recurrence": recurrence,
        "sessions": "; ".join(sessions),
        "notes": draft.notes or "",
    }


def _fill(booking, draft, rooms, equipment, organisation_id):
    rooms = [r for r in rooms if r.id in draft.room_ids]
    booking.kind = BookingKind.visio if any(r.kind is RoomKind.visio for r in rooms) else BookingKind.audio
    booking.rooms = rooms
    booking.session_name = draft.session_name.strip()
    booking.organiser_name = draft.organiser_name.strip()
    booking.organiser_email = draft.organiser_email.strip()
    booking.organiser_phone = draft.organiser_phone.strip()
    booking.creator_phone = (draft.creator_phone or "").strip() or None
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
    by_id = {room.id: room for room in rooms}
    for slot in slots(draft):
        for room_id in slot.room_ids:
            booking.occurrences.append(BookingOccurrence(
                room=by_id[room_id], start_at=slot.start, end_at=slot.end, blocked_from=slot.start - pad,
                blocked_until=slot.end + pad, planned_start=slot.planned, active=True))
    try:
        db.session.flush()
    except IntegrityError as error:  # the caller rolls the transaction back
        if EXCLUSION_CONSTRAINT not in str(error.orig):
            raise
        raise BookingRefused([Problem("rooms", gettext(
            "another booking of this slot was just recorded; choose another time."), 4)]) from None


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


def may_cancel(user) -> bool:
    """Who may cancel a booking, or one of its sessions (the cancel transition's roles)."""
    roles = role_names(user)
    return ADMIN in roles or bool(roles & set(BOOKING_WORKFLOW.transition("cancel").roles))


def sessions_to_cancel(booking, user) -> list:
    """The sessions of a holding booking the user may cancel alone: [(planned start,
    its occurrences)], not started (the VNOC may cancel a started one), in order."""
    if not may_change(booking) or not may_cancel(user):
        return []
    rows = {}
    for occurrence in booking.occurrences:
        if occurrence.active:
            rows.setdefault(occurrence.planned_start, []).append(occurrence)
    now = local_now()
    return [(planned, held) for planned, held in sorted(rows.items())
            if is_vnoc(user) or held[0].start_at > now]


class CancelRefused(Refused):
    """A session that may not be cancelled alone."""


def cancel_occurrence(booking, planned_start: datetime, user, comment=""):
    """Cancel one session of a series (every room of that date): it frees only that
    slot, is written in the history and mailed with its CANCEL (RECURRENCE-ID).
    The last session held left cancels the whole booking (its transition)."""
    BOOKING_WORKFLOW.lock(booking)
    refusal = change_refusal(booking)
    if refusal is not None:
        raise refusal
    if not may_cancel(user):
        raise CancelRefused(None, gettext("You may not “%(action)s” this record.",
                                          action=BOOKING_WORKFLOW.transition("cancel").label))
    held = dict(sessions_to_cancel(booking, user))
    rows = held.get(planned_start)
    if rows is None:
        active = any(o.active and o.planned_start == planned_start for o in booking.occurrences)
        message = (gettext("Start: the session has started; call the VNOC.") if active
                   else gettext("This session is no longer held: it was cancelled or skipped."))
        raise CancelRefused("occurrence", message)
    still = {o.planned_start for o in booking.occurrences if o.active} - {planned_start}
    if not still:
        return BOOKING_WORKFLOW.fire(booking, "cancel", user, comment)
    for occurrence in rows:
        occurrence.active = False
        occurrence.cancelled_on = utcnow()
    when = f"{format_datetime(rows[0].start_at, 'short', rebase=False)}–{rows[0].end_at.strftime('%H:%M')}"
    event = BOOKING_WORKFLOW.record(booking, "cancel_occurrence", user, comment,
                                    changes=[("sessions", when, gettext("cancelled"))])
    send_mail(booking, "booking/occurrence_cancelled", comment=event.comment, occurrence=rows[0])
    return event


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
                   confirmation=_l("Cancel the selected bookings?"), done=_l("cancelled this booking"),
                   page="BookingView.cancel"),
    ],
    final_states=(BookingState.refused, BookingState.cancelled),
    event_labels={"modify": _l("Changed"), "cancel_occurrence": _l("Session cancelled")},
    field_labels=FIELD_LABELS,
)


def recipients(booking) -> list:
    """Who hears of a booking: its creator, its organiser, every participant's contact, the VNOC."""
    people = [booking.creator, booking.organiser_email]
    people += [p.email for p in booking.participants if p.email]
    people.append(current_app.config["VNOC_MAILBOX"])
    return people


def recurrence_rule(booking) -> Optional[dict]:
    """A booking's series as an RRULE ({part: value}), None for a single session;
    daily means the working days, as `occurrence_times` expands it."""
    if not booking.recurrence:
        return None
    rule = {"freq": booking.recurrence.value.upper()}
    if booking.recurrence is Recurrence.daily:
        rule["byday"] = [ICAL_WEEKDAYS[d] for d in current_app.config["BOOKING_WORKING_DAYS"]]
    if booking.recurrence_count:
        rule["count"] = booking.recurrence_count
    elif booking.recurrence_until:
        rule["until"] = datetime.combine(booking.recurrence_until, time(23, 59, 59))
    else:
        rule["count"] = 1
    return rule


@dataclass
class BookedCalendar:
    """A booking's dates as its .ics says them."""

    rule: Optional[dict]  # its RRULE, None for a single session
    exdates: list  # starts of the rule's dates that do not happen (EXDATE)
    overrides: list  # [(planned start, start, end, rooms)]: dates held otherwise
    sessions: list  # [(start, end)] of the dates held
    skipped: list  # the rule's dates skipped or cancelled alone
    last_start: Optional[datetime] = None  # the start of its rule's last date


def calendar_of(booking) -> BookedCalendar:
    room_names = {room.id: room.name for room in booking.rooms}
    main = set(room_names)
    rows = {}
    for occurrence in booking.occurrences:
        if occurrence.cancelled_on is None:  # refused or cancelled whole: still its dates
            rows.setdefault(occurrence.planned_start, []).append(occurrence)
    sessions = sorted({(held[0].start_at, held[0].end_at) for held in rows.values()})
    rule = recurrence_rule(booking)
    if rule is None:
        return BookedCalendar(None, [], [], sessions, [])
    planned = [s for s, _ in occurrence_times(booking.start_at, booking.end_at, booking.recurrence.value,
                                              booking.recurrence_until, booking.recurrence_count)]
    skipped = [s for s in planned if s not in rows]
    exdates = list(skipped)
    # RFC 5545 counts DTSTART as the first date even where the rule would not give it.
    if booking.start_at not in planned:
        exdates.append(booking.start_at)
    length = booking.end_at - booking.start_at
    overrides = []
    for start in planned:
        held = rows.get(start)
        if held and (held[0].start_at != start or held[0].end_at - held[0].start_at != length
                     or {o.room_id for o in held} != main):
            names = ", ".join(sorted(o.room.name for o in held))
            overrides.append((start, held[0].start_at, held[0].end_at, names))
    return BookedCalendar(rule, sorted(exdates), overrides, sessions, skipped, planned[-1] if planned else None)


def send_mail(booking, template, comment=None, occurrence=None):
    """Mail everyone concerned, with the .ics: the whole booking (its series), or the
    CANCEL of one `occurrence` cancelled alone. SEQUENCE counts the booking's history."""
    db.session.flush()
    sequence = db.session.scalar(select(func.count()).select_from(WorkflowEvent).where(
        WorkflowEvent.object_type == Booking.__tablename__, WorkflowEvent.object_id == booking.id)) or 0
    link = f"/bookings/show/{booking.id}"
    rooms = ", ".join(room.name for room in booking.rooms)
    dates = calendar_of(booking)
    common = dict(uid=f"booking-{booking.reference}@guichet", url=link, sequence=sequence,
                  description=booking.connection_url or None, organizer=booking.organiser_email,
                  filename=f"reservation-{booking.reference}.ics")
    summary = f"{booking.session_name} ({booking.reference})"
    if occurrence is not None:
        where = ", ".join(sorted(o.room.name for o in booking.occurrences
                                 if o.planned_start == occurrence.planned_start))
        ics = notifications.ics_attachment(summary, occurrence.start_at, occurrence.end_at, location=where,
                                           cancelled=True, recurrence_id=occurrence.planned_start, **common)
    else:
        ics = notifications.ics_attachment(
            summary, booking.start_at, booking.end_at, location=rooms,
            cancelled=booking.state in BOOKING_WORKFLOW.final_states, recurrence=dates.rule,
            exdates=dates.exdates, overrides=dates.overrides, last_start=dates.last_start, **common)
    context = {"booking": booking, "rooms": rooms, "occurrences": dates.sessions, "skipped": dates.skipped,
               "comment": comment, "state_label": str(booking.state), "cancelled_occurrence": occurrence}
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

    @property
    def duration(self) -> str:
        """The time booked, as h:mm."""
        return hours_minutes(self.minutes)


def hours_minutes(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def month_bounds(month: date):
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min), datetime.combine(following, time.min)


def usage(month: date, viewer=None, organisation_id=None, room_id=None) -> list:
    """Validated sessions of the month the viewer sees (of one organisation, one room
    if given), by organisation and room: sessions, hours, participants. A session
    cancelled alone is not usage."""
    start, end = month_bounds(month)
    participants = (select(BookingParticipant.booking_id, func.count().label("n"))
                    .group_by(BookingParticipant.booking_id).subquery())
    query = (select(Organisation.name, Room.name, BookingOccurrence.start_at, BookingOccurrence.end_at,
                    func.coalesce(participants.c.n, 0)).select_from(Booking)
             .join(Organisation, Organisation.id == Booking.organisation_id)
             .join(BookingOccurrence, BookingOccurrence.booking_id == Booking.id)
             .join(Room, Room.id == BookingOccurrence.room_id)
             .outerjoin(participants, participants.c.booking_id == Booking.id)
             .where(Booking.state == BookingState.validated, BookingOccurrence.active.is_(True),
                    BookingOccurrence.start_at >= start, BookingOccurrence.start_at < end))
    if organisation_id is not None:
        query = query.where(Booking.organisation_id == organisation_id)
    if room_id is not None:
        query = query.where(BookingOccurrence.room_id == room_id)
    rows = {}
    for organisation, room, s, e, count in db.session.execute(apply_scope(query, Booking, viewer)):
        row = rows.setdefault((organisation, room), UsageRow(organisation, room))
        row.sessions += 1
        row.minutes += int((e - s).total_seconds() // 60)
        row.participants += int(count)
    return [rows[key] for key in sorted(rows)]


# ---------------------------------------------------------------------------
# The free/busy grid and the rooms' iCalendar feeds
# ---------------------------------------------------------------------------


@dataclass
class GridCell:
    """A run of time slots of one room on one day: free (one slot, which the viewer
    may book or not), the session of a booking, or its reconfiguration buffer."""

    start: datetime
    end: datetime
    kind: str  # "free", "busy" or "buffer"
    span: int = 1
    occurrence: Optional[BookingOccurrence] = None
    booking: Optional[Booking] = None  # the booking, when the viewer may see it
    bookable: bool = False


def grid_hours():
    config = current_app.config
    return _clock(config["BOOKING_SERVICE_START"]), _clock(config["BOOKING_SERVICE_END"])


def grid_slots(day: date, step: timedelta) -> list:
    """The starts of the grid's columns on `day`: the service hours by `step`."""
    opening, closing = grid_hours()
    moment, last = datetime.combine(day, opening), datetime.combine(day, closing)
    starts = []
    while moment < last:
        starts.append(moment)
        moment += step
    return starts


def freebusy(rooms, days, step: timedelta, user) -> list:
    """The free/busy grid of `rooms` (those the viewer may see) on `days`:
    [(day, [(room, [GridCell])])]. Busy cells name their booking only if the
    viewer's scope holds it; free cells are bookable from the notice on, on
    working days (the VNOC books any free slot to come)."""
    if not rooms or not days:
        return []
    config = current_app.config
    opening, closing = grid_hours()
    first, last = datetime.combine(min(days), time.min), datetime.combine(max(days) + timedelta(days=1), time.min)
    held = held_occurrences({r.id for r in rooms}, first, last)
    ids = {o.booking_id for o in held}
    visible = {}
    if ids:
        visible = {b.id: b for b in db.session.scalars(
            apply_scope(select(Booking).where(Booking.id.in_(ids)), Booking))}
    vnoc = is_vnoc(user)
    earliest = local_now() + (timedelta(0) if vnoc else timedelta(hours=config["BOOKING_NOTICE_HOURS"]))
    grid = []
    for day in days:
        starts = grid_slots(day, step)
        working = vnoc or day.weekday() in config["BOOKING_WORKING_DAYS"]
        lines = []
        for room in rooms:
            mine = [o for o in held if o.room_id == room.id]
            cells = []
            for start in starts:
                end = start + step
                session = next((o for o in mine if o.start_at < end and o.end_at > start), None)
                pad = None if session else next((o for o in mine if o.blocked_from < end and o.blocked_until > start),
                                                None)
                occurrence = session or pad
                kind = "busy" if session else "buffer" if pad else "free"
                previous = cells[-1] if cells else None
                if kind != "free" and previous and previous.kind == kind and previous.occurrence is occurrence:
                    previous.span += 1
                    previous.end = end
                    continue
                cells.append(GridCell(start, end, kind, occurrence=occurrence,
                                      booking=visible.get(occurrence.booking_id) if occurrence else None,
                                      bookable=kind == "free" and working and room.active and start >= earliest))
            lines.append((room, cells))
        grid.append((day, lines))
    return grid


def wizard_slot(cell: GridCell) -> dict:
    """What a free cell opens the wizard with: its room's day, its start, an hour
    (cut at closing time)."""
    _, closing = grid_hours()
    end = min(cell.start + timedelta(hours=1), datetime.combine(cell.start.date(), closing))
    return {"day": cell.start.date().isoformat(), "start": cell.start.strftime("%H:%M"),
            "end": end.strftime("%H:%M")}


FEED_PAST_DAYS, FEED_FUTURE_DAYS = 30, 180


def issue_feed_token(room) -> str:
    """A new secret for the room's feed: the URL given before stops working."""
    room.feed_token = secrets.token_urlsafe(32)
    return room.feed_token


def revoke_feed(room) -> None:
    room.feed_token = None


def feed_room(room_id, token) -> Optional[Room]:
    """The room whose feed this secret opens, or None (compared in constant time)."""
    room = db.session.get(Room, room_id)
    if room is None or not room.feed_token or not isinstance(token, str):
        return None
    return room if hmac.compare_digest(room.feed_token.encode(), token.encode()) else None


def feed(room) -> bytes:
    """The room's iCalendar feed: its sessions from FEED_PAST_DAYS ago to
    FEED_FUTURE_DAYS ahead, validated ones confirmed, pending ones tentative."""
    today = local_now().date()
    first = datetime.combine(today - timedelta(days=FEED_PAST_DAYS), time.min)
    last = datetime.combine(today + timedelta(days=FEED_FUTURE_DAYS), time.min)
    rows = db.session.execute(
        select(BookingOccurrence, Booking).join(Booking, Booking.id == BookingOccurrence.booking_id)
        .where(BookingOccurrence.room_id == room.id, BookingOccurrence.active.is_(True),
               Booking.state.in_(HOLDING_STATES), BookingOccurrence.start_at < last,
               BookingOccurrence.end_at > first)
        .order_by(BookingOccurrence.start_at)).all()
    events = [notifications.FeedEvent(
        uid=f"occurrence-{occurrence.id}@guichet", summary=f"{booking.reference} {booking.session_name}",
        start=occurrence.start_at, end=occurrence.end_at, location=room.name,
        url=f"/bookings/show/{booking.id}",
        tentative=booking.state is BookingState.pending) for occurrence, booking in rows]
    return notifications.ics_feed(room.name, events)
