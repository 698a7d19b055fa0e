"""Desk E, e-RDV — the decisions about technician appointments (seed 001,
"Réservation de rendez-vous").

* **The window.** The seed: "Dans l'intervalle [J + 8 ; J + 26]". Both ends of the
  window the operator asks for are calendar days between D+8 and D+26 (D: today,
  local), and both are working days ("jours ouvrés": Monday to Friday, French public
  holidays excluded, from the `holidays` package); the window start may be left empty
  (the first working day from D+8). Slots are only offered on working days within it.
* **The address.** For FTTH and Just Fibre, the street number, RIVOLI street code and
  INSEE commune code designate a building (the buildings are reference data: no
  eligibility entitlement is needed to book); for the other products, the operator's
  access (its prestation id) does. The technicians' zone is the building's
  département (INSEE[:2], [:3] overseas).
* **Capacity.** A zone takes APPOINTMENT_SLOTS_PER_PERIOD appointments per half-day,
  unless the capacity calendar (`TechnicianCapacity`) says otherwise for that day;
  what is left is that minus the appointments not cancelled in the slot.
* **Taking a slot** claims the slot (`transactions.claim`: an advisory lock per zone,
  day and half-day on PostgreSQL, the write lock on SQLite) before it counts, so of two
  operators racing for the last slot exactly one gets it; the other is told to choose
  another. The appointment is `initialised` with its reference (RDV-<date>-<5
  characters>), which the operator confirms (`validated`) and carries into the order.
* **States** (TMF646, on the workflow engine): initialised → validated → attended /
  missed (the wholesale side, once the day has come), or cancelled (which frees the
  slot). A reschedule takes another slot under the same claim, keeps the reference and
  the state, and records the change in the history.

`appointment_for_order(reference, organisation, building)` is what the order's first
step calls: the validated appointment, or a refusal naming "Référence du rendez-vous".
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional

from flask import current_app
from flask_babel import format_date, gettext, lazy_gettext as _l
from sqlalchemy import func, select

from ...access.operator import APPOINTMENTS, entitled_criterion, operator_ids
from ...extensions import db
from ...models import (
    APPOINTMENT_STATE_LABELS,
    DAY_PERIOD_LABELS,
    OPERATION_TYPE_LABELS,
    Access,
    Appointment,
    AppointmentState,
    Building,
    DayPeriod,
    OperationType,
    Organisation,
    TechnicianCapacity,
)
from ...platform import clock, transactions
from ...platform.clock import local_today
from ...platform.refusals import Refused
from ...platform.workflow import Transition, Workflow
from ...security import WHOLESALE_AGENT, Viewer, viewer_of

FIRST_DAY, LAST_DAY = 8, 26  # [D+8, D+26]
WORKING_WEEKDAYS = (0, 1, 2, 3, 4)  # jours ouvrés: Monday to Friday
#: Where each half-day starts and ends, local time (TMF646's validFor).
PERIOD_HOURS = {DayPeriod.morning: (time(8), time(12)), DayPeriod.afternoon: (time(13), time(17))}

FIELD_LABELS = {
    "access_reference": _l("Access id"),
    "street_number": _l("Street number"),
    "rivoli_code": _l("Street code (RIVOLI)"),
    "insee_code": _l("Commune code (INSEE)"),
    "product": _l("Product"),
    "operation_type": _l("Operation type"),
    "appointment_type": _l("Appointment type"),
    "window_start": _l("Window start"),
    "window_end": _l("Window end"),
    "preferred_weekday": _l("Preferred day"),
    "preferred_period": _l("Preferred moment"),
    "slot": _l("Slot"),
    "appointment_reference": _l("Appointment reference"),
}
#: "Nature produit": the products booked by address; the others by access id.
PRODUCT_LABELS = {"just_fibre": _l("Just Fibre"), "ftth": _l("FTTH"), "copper": _l("Copper access")}
ADDRESS_PRODUCTS = ("just_fibre", "ftth")
APPOINTMENT_TYPE_LABELS = {"standard": _l("Standard"), "priority": _l("Priority")}
WEEKDAY_LABELS = {0: _l("Monday"), 1: _l("Tuesday"), 2: _l("Wednesday"), 3: _l("Thursday"), 4: _l("Friday")}


class AppointmentRefused(Refused):
    """An appointment that may not be booked, moved or used as asked; names the field."""


def _refuse(field, message):
    """Refuse, naming `field`: "Fin de plage : …" (`message` translated)."""
    raise AppointmentRefused(field, gettext("%(field)s: %(message)s", field=FIELD_LABELS[field], message=message))


# ---------------------------------------------------------------------------
# Working days and the window
# ---------------------------------------------------------------------------


def is_working_day(day: date) -> bool:
    return clock.is_working_day(day, WORKING_WEEKDAYS)


def bounds(today: Optional[date] = None) -> tuple:
    """(D+8, D+26): the first and last days an appointment may be on."""
    today = today or local_today()
    return today + timedelta(days=FIRST_DAY), today + timedelta(days=LAST_DAY)


def first_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def _why_not_working(day) -> str:
    if day.weekday() not in WORKING_WEEKDAYS:
        return gettext("%(day)s is not a working day (Monday to Friday).", day=format_date(day, "full"))
    return gettext("%(day)s is a public holiday.", day=format_date(day, "full"))


def check_window(start: Optional[date], end: Optional[date], today: Optional[date] = None) -> tuple:
    """The window (start, end) if it falls in [D+8, D+26] on working days, else the
    refusal naming the end at fault. An empty start is the first working day from D+8."""
    first, last = bounds(today)
    if end is None:
        _refuse("window_end", gettext("this field is required."))
    if start is None:
        start = first_working_day(first)
    for name, day in (("window_start", start), ("window_end", end)):
        if day < first:
            _refuse(name, gettext("%(day)s is too soon: appointments are taken from D+8, %(first)s.",
                    day=format_date(day, "short"), first=format_date(first, "short")))
        if day > last:
            _refuse(name, gettext("%(day)s is too late: appointments are taken until D+26, %(last)s.",
                    day=format_date(day, "short"), last=format_date(last, "short")))
        if not is_working_day(day):
            _refuse(name, _why_not_working(day))
    if end < start:
        _refuse("window_end", gettext("the window ends before it starts (%(start)s).",
                                      start=format_date(start, "short")))
    return start, end


# ---------------------------------------------------------------------------
# What the operator asks: reading the form (or the API's body)
# ---------------------------------------------------------------------------


@dataclass
class Request:
    """An appointment request as read and checked: where, what, and the window."""

    product: str
    operation_type: OperationType
    appointment_type: str
    rivoli_code: str
    insee_code: str
    street_number: Optional[int]
    access_reference: Optional[str]
    window_start: date
    window_end: date
    preferred_weekday: Optional[int]
    preferred_period: Optional[DayPeriod]
    building: Building
    access: Optional[Access]

    @property
    def zone(self) -> str:
        return zone_of(self.building.insee_code)


def zone_of(insee_code: str) -> str:
    """The technicians' zone: the département of the commune (971… overseas)."""
    return insee_code[:3] if insee_code.startswith("97") else insee_code[:2]


def _text(values, name) -> str:
    value = values.get(name)
    return "" if value is None else str(value).strip()


def read_day(value, name) -> Optional[date]:
    """A date typed as dd/mm/yyyy (the seed's "jj/mm/aaaa") or yyyy-mm-dd, or None."""
    if isinstance(value, date):
        return value
    typed = str(value or "").strip()
    if not typed:
        return None
    for form in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(typed, form).date()
        except ValueError:
            continue
    _refuse(name, gettext("a date dd/mm/yyyy is expected."))


def _choice(values, name, choices, required=True):
    typed = _text(values, name)
    if not typed:
        if required:
            _refuse(name, gettext("this field is required."))
        return None
    if typed not in choices:
        _refuse(name, gettext("one of %(values)s is expected.", values=", ".join(str(c) for c in choices)))
    return typed


def read_request(values: dict, viewer: Viewer, today: Optional[date] = None) -> Request:
    """The request typed (a dict of FIELD_LABELS' names to text), checked field by field
    in the form's order; the first fault is refused, naming its field."""
    product = _choice(values, "product", PRODUCT_LABELS)
    by_address = product in ADDRESS_PRODUCTS
    access_reference = _text(values, "access_reference").upper() or None
    number_typed = _text(values, "street_number")
    street_number = None
    if number_typed:
        if not number_typed.isdigit() or not 0 < int(number_typed) < 100000:
            _refuse("street_number", gettext("a number is expected (6)."))
        street_number = int(number_typed)
    if by_address and street_number is None:
        _refuse("street_number", gettext("this field is required for FTTH and Just Fibre."))
    if not by_address and access_reference is None:
        _refuse("access_reference", gettext("this field is required for products other than FTTH and Just Fibre."))
    if access_reference is not None and (len(access_reference) > 20 or not access_reference.isalnum()):
        _refuse("access_reference", gettext("up to 20 letters and digits are expected (F00000015)."))
    rivoli = _text(values, "rivoli_code").upper()
    if not rivoli:
        _refuse("rivoli_code", gettext("this field is required."))
    if len(rivoli) != 4 or not rivoli.isalnum():
        _refuse("rivoli_code", gettext("4 letters or digits are expected (0361)."))
    insee = _text(values, "insee_code").upper()
    if not insee:
        _refuse("insee_code", gettext("this field is required."))
    if len(insee) != 5 or not insee.isalnum():
        _refuse("insee_code", gettext("5 letters or digits are expected (77058)."))
    operation = OperationType(_choice(values, "operation_type", [t.value for t in OperationType]))
    appointment_type = _choice(values, "appointment_type", APPOINTMENT_TYPE_LABELS, required=False) or "standard"
    start, end = check_window(read_day(values.get("window_start"), "window_start"),
                              read_day(values.get("window_end"), "window_end"), today)
    weekday = _choice(values, "preferred_weekday", [str(day) for day in WEEKDAY_LABELS], required=False)
    period = _choice(values, "preferred_period", [p.value for p in DayPeriod], required=False)
    building, access = designated(viewer, by_address, street_number, rivoli, insee, access_reference)
    return Request(product, operation, appointment_type, rivoli, insee, street_number, access_reference,
                   start, end, None if weekday is None else int(weekday),
                   None if period is None else DayPeriod(period), building, access)


def designated(viewer, by_address, street_number, rivoli, insee, access_reference) -> tuple:
    """(building, access) the address designates: the building at that number of that
    street of that commune, or the viewer's operator's access and its building."""
    if by_address:
        building = db.session.scalars(
            select(Building).where(Building.insee_code == insee, Building.rivoli_code == rivoli,
                                   Building.street_number == street_number)
            .order_by(Building.number_suffix.isnot(None), Building.number_suffix, Building.id).limit(1)).first()
        if building is None:
            _refuse("street_number", gettext(
                "no building at number %(number)s of street %(rivoli)s in commune %(insee)s.",
                number=street_number, rivoli=rivoli, insee=insee))
        return building, None
    access = db.session.scalars(select(Access).where(
        Access.prestation_id == access_reference,
        Access.organisation_id.in_(list(operator_ids(viewer)) or [0]))).first()
    if access is None:
        _refuse("access_reference", gettext("no access %(access)s at your operator.", access=access_reference))
    if (access.building.insee_code, access.building.rivoli_code) != (insee, rivoli):
        _refuse("access_reference", gettext("the access %(access)s is not in street %(rivoli)s of commune %(insee)s.",
                access=access_reference, rivoli=rivoli, insee=insee))
    return access.building, access


# ---------------------------------------------------------------------------
# Capacity and free slots
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    day: date
    period: DayPeriod
    free: int

    @property
    def id(self) -> str:
        """How a form or the API names the slot: 2026-12-15.morning."""
        return f"{self.day.isoformat()}.{self.period.value}"

    @property
    def label(self) -> str:
        return f"{format_date(self.day, 'full')} — {DAY_PERIOD_LABELS[self.period]}"


def read_slot(value, field="slot") -> tuple:
    """(day, period) of a slot id (2026-12-15.morning)."""
    day, _, period = str(value or "").strip().partition(".")
    if not day and not period:
        _refuse(field, gettext("choose a slot."))
    try:
        return date.fromisoformat(day), DayPeriod(period)
    except ValueError:
        _refuse(field, gettext("a slot such as 2026-12-15.morning is expected."))


def default_slots() -> int:
    return current_app.config["APPOINTMENT_SLOTS_PER_PERIOD"]


TAKEN = (Appointment.state != AppointmentState.cancelled)


def free_slots(zone, first: date, last: date, weekday=None, period=None) -> list:
    """The slots of `zone` from `first` to `last` with room left, on working days (of
    the preferred weekday and half-day when given), soonest first: two queries, the
    calendar's exceptions and the appointments counted per slot."""
    periods = [period] if period is not None else list(DayPeriod)
    capacity = {(row.day, row.period): row.slots for row in db.session.execute(
        select(TechnicianCapacity.day, TechnicianCapacity.period, TechnicianCapacity.slots).where(
            TechnicianCapacity.zone == zone, TechnicianCapacity.day.between(first, last)))}
    taken = {(row[0], row[1]): row[2] for row in db.session.execute(
        select(Appointment.slot_date, Appointment.slot_period, func.count()).where(
            Appointment.zone == zone, Appointment.slot_date.between(first, last), TAKEN)
        .group_by(Appointment.slot_date, Appointment.slot_period))}
    default, slots, day = default_slots(), [], first
    while day <= last:
        if is_working_day(day) and (weekday is None or day.weekday() == weekday):
            for half in periods:
                free = capacity.get((day, half), default) - taken.get((day, half), 0)
                if free > 0:
                    slots.append(Slot(day, half, free))
        day += timedelta(days=1)
    return slots


def slots_for(request: Request) -> list:
    return free_slots(request.zone, request.window_start, request.window_end, request.preferred_weekday,
                      request.preferred_period)


def _claim(zone, day, period) -> None:
    """Count and take `zone`'s slot `day` `period`, whoever else tries, one at a time
    (the module's docstring); refused when it is full."""
    transactions.claim("appointment-slot", [f"{zone}:{day.isoformat()}:{period.value}"])
    capacity = db.session.scalar(select(TechnicianCapacity.slots).where(
        TechnicianCapacity.zone == zone, TechnicianCapacity.day == day, TechnicianCapacity.period == period))
    taken = db.session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.zone == zone, Appointment.slot_date == day, Appointment.slot_period == period, TAKEN))
    if taken >= (default_slots() if capacity is None else capacity):
        _refuse("slot", gettext("the slot of %(slot)s has just been taken: choose another.",
                slot=Slot(day, period, 0).label))


def _check_slot(day, period, start, end):
    if not (start <= day <= end) or not is_working_day(day):
        _refuse("slot", gettext("choose one of the slots offered in the window."))


# ---------------------------------------------------------------------------
# Taking, confirming, rescheduling, cancelling
# ---------------------------------------------------------------------------


def _own_operator(user, item) -> bool:
    return item.organisation_id in operator_ids(viewer_of(user))


def _day_has_come(item, user, comment):
    if item.slot_date > local_today():
        return gettext("The appointment is on %(day)s: it can be marked attended or missed from that day.",
                       day=format_date(item.slot_date, "short"))
    return None


APPOINTMENT_WORKFLOW = Workflow(
    Appointment, states=AppointmentState,
    final_states=(AppointmentState.attended, AppointmentState.missed, AppointmentState.cancelled),
    transitions=[
        Transition("validate", _l("Confirm the appointment"), sources=(AppointmentState.initialised,),
                   target=AppointmentState.validated, roles=(), allowed=_own_operator, icon="fa-check",
                   done=_l("confirmed this appointment")),
        Transition("cancel", _l("Cancel the appointment"),
                   sources=(AppointmentState.initialised, AppointmentState.validated),
                   target=AppointmentState.cancelled, roles=(WHOLESALE_AGENT,), allowed=_own_operator,
                   icon="fa-times", done=_l("cancelled this appointment")),
        Transition("attend", _l("Mark attended"), sources=(AppointmentState.validated,),
                   target=AppointmentState.attended, roles=(WHOLESALE_AGENT,), guards=(_day_has_come,),
                   done=_l("marked this appointment attended")),
        Transition("miss", _l("Mark missed"), sources=(AppointmentState.validated,),
                   target=AppointmentState.missed, roles=(WHOLESALE_AGENT,), guards=(_day_has_come,),
                   done=_l("marked this appointment missed")),
    ],
    event_labels={"book": _l("Slot taken"), "reschedule": _l("Rescheduled")},
    field_labels={"slot": _l("Slot"), "window": _l("Window")},
)
#: TMF646's names of the transitions an API PATCH asks for by the status wanted.
TRANSITION_TO = {AppointmentState.validated: "validate", AppointmentState.cancelled: "cancel",
                 AppointmentState.attended: "attend", AppointmentState.missed: "miss"}


def new_reference(today=None) -> str:
    """RDV-<today>-<5 letters or digits>, unused (without 0/O, 1/I: read over the phone)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        reference = f"RDV-{(today or local_today()):%Y%m%d}-{''.join(secrets.choice(alphabet) for _ in range(5))}"
        if not db.session.scalar(select(Appointment.id).where(Appointment.reference == reference)):
            return reference


def booking_operator(viewer: Viewer) -> int:
    """The operator the viewer books for: the first of theirs entitled to e-RDV."""
    ids = sorted(operator_ids(viewer))
    if viewer.is_admin and ids:
        return ids[0]
    for organisation_id in ids:
        criterion = entitled_criterion(viewer, APPOINTMENTS, Organisation.id)
        if db.session.scalar(select(Organisation.id).where(Organisation.id == organisation_id, criterion)):
            return organisation_id
    raise AppointmentRefused(None, gettext("Only an operator's account entitled to e-RDV books appointments."))


def take_slot(request: Request, slot_id, user, viewer: Viewer) -> Appointment:
    """Take the slot `slot_id` for `request` (claimed, counted, refused when full):
    the appointment, initialised, with its reference."""
    day, period = read_slot(slot_id)
    _check_slot(day, period, request.window_start, request.window_end)
    organisation_id = booking_operator(viewer)
    _claim(request.zone, day, period)
    item = Appointment(
        reference=new_reference(), organisation_id=organisation_id, building_id=request.building.id,
        access_reference=request.access_reference, street_number=request.street_number,
        rivoli_code=request.rivoli_code, insee_code=request.insee_code, product=request.product,
        operation_type=request.operation_type, appointment_type=request.appointment_type,
        window_start=request.window_start, window_end=request.window_end,
        preferred_weekday=request.preferred_weekday, preferred_period=request.preferred_period,
        zone=request.zone, slot_date=day, slot_period=period, state=AppointmentState.initialised)
    db.session.add(item)
    db.session.flush()
    APPOINTMENT_WORKFLOW.record(item, "book", user, changes=[("slot", "", slot_text(item))])
    return item


def slot_text(item) -> str:
    return f"{format_date(item.slot_date, 'short')} {DAY_PERIOD_LABELS[item.slot_period]}"


def window_text(item) -> str:
    return f"{format_date(item.window_start, 'short')} – {format_date(item.window_end, 'short')}"


def fire(item, name, user, comment="") -> None:
    APPOINTMENT_WORKFLOW.fire(item, name, user, comment)


def reschedule(item, slot_id, user, window_start=None, window_end=None, today=None) -> Appointment:
    """Move `item` to the slot `slot_id` (in the window given, else the slot's day):
    same reference and state, the change in the history; the old slot is freed."""
    APPOINTMENT_WORKFLOW.lock(item)
    if item.state not in (AppointmentState.initialised, AppointmentState.validated):
        raise AppointmentRefused(None, gettext(
            "An appointment %(state)s cannot be rescheduled.", state=str(APPOINTMENT_STATE_LABELS[item.state]).lower()))
    day, period = read_slot(slot_id)
    start, end = check_window(window_start or day, window_end or day, today)
    _check_slot(day, period, start, end)
    if (day, period) == (item.slot_date, item.slot_period):
        _refuse("slot", gettext("the appointment is already in this slot."))
    _claim(item.zone, day, period)
    before, window_before = slot_text(item), window_text(item)
    item.slot_date, item.slot_period, item.window_start, item.window_end = day, period, start, end
    db.session.flush()
    changes = [("slot", before, slot_text(item))]
    if window_text(item) != window_before:
        changes.append(("window", window_before, window_text(item)))
    APPOINTMENT_WORKFLOW.record(item, "reschedule", user, changes=changes)
    return item


# ---------------------------------------------------------------------------
# What the order checks
# ---------------------------------------------------------------------------


def appointment_for_order(reference, organisation, building, field="appointment_reference") -> Appointment:
    """The appointment `reference` an order of `organisation` (an Organisation or its
    id) at `building` (a Building or its id) carries: validated, that operator's, at
    that building. Otherwise a refusal naming "Référence du rendez-vous" (`field`): an
    unknown reference and another operator's read the same, so that nobody learns
    another operator's references."""
    typed = str(reference or "").strip().upper()
    if not typed:
        raise AppointmentRefused(field, gettext("%(field)s: this field is required.",
                                                field=FIELD_LABELS["appointment_reference"]))
    organisation_id = getattr(organisation, "id", organisation)
    building_id = getattr(building, "id", building)
    item = db.session.scalars(select(Appointment).where(Appointment.reference == typed)).first()
    label = FIELD_LABELS["appointment_reference"]
    if item is None or item.organisation_id != organisation_id:
        raise AppointmentRefused(field, gettext("%(field)s: no appointment %(reference)s at your operator.",
                                                field=label, reference=typed))
    if item.state != AppointmentState.validated:
        raise AppointmentRefused(field, gettext(
            "%(field)s: the appointment %(reference)s is %(state)s; only a confirmed appointment can be ordered.",
            field=label, reference=typed, state=str(APPOINTMENT_STATE_LABELS[item.state]).lower()))
    if item.building_id != building_id:
        raise AppointmentRefused(field, gettext(
            "%(field)s: the appointment %(reference)s is at another address (%(address)s).",
            field=label, reference=typed, address=item.building.imb_id if item.building else item.insee_code))
    return item


def describe(item) -> dict:
    """The labels a page shows of an appointment."""
    return {"operation": OPERATION_TYPE_LABELS[item.operation_type],
            "product": PRODUCT_LABELS.get(item.product, item.product),
            "type": APPOINTMENT_TYPE_LABELS.get(item.appointment_type, item.appointment_type),
            "state": APPOINTMENT_STATE_LABELS[item.state], "slot": slot_text(item),
            "period": DAY_PERIOD_LABELS[item.slot_period]}
