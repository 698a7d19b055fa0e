"""Desk E, e-RDV: technician appointments (seed 001, "Réservation de rendez-vous").

An operator books a technician's visit to its end customer's address before it orders
a Just Fibre access; the appointment's `reference` is what the order's first step asks
for (app.rules.operator.orders checks it against the address). States follow TM
Forum's TMF646 Appointment: initialised (slot taken, not yet confirmed) → validated →
attended / missed / cancelled. The technicians' capacity per zone and half-day is the
setting APPOINTMENT_SLOTS_PER_PERIOD, except where `TechnicianCapacity` (the planning's
calendar) says otherwise.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext, lazy_pgettext
from sqlalchemy import Column, Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import relationship

from ..base import LABELS, Audited, LabelledEnum, state_column
from ..platform import Organisation
from . import Building

__all__ = ["AppointmentState", "APPOINTMENT_STATE_LABELS", "OperationType", "OPERATION_TYPE_LABELS",
           "DayPeriod", "DAY_PERIOD_LABELS", "Appointment", "TechnicianCapacity"]


class AppointmentState(LabelledEnum):
    """TMF646's appointment states."""

    initialised = "initialised"
    validated = "validated"
    attended = "attended"
    missed = "missed"
    cancelled = "cancelled"


APPOINTMENT_STATE_LABELS = LABELS[AppointmentState] = {
    AppointmentState.initialised: lazy_gettext("Initialised"),
    AppointmentState.validated: lazy_pgettext("appointment state", "Validated"),
    AppointmentState.attended: lazy_gettext("Attended"),
    AppointmentState.missed: lazy_gettext("Missed"),
    AppointmentState.cancelled: lazy_pgettext("appointment state", "Cancelled"),
}


class OperationType(LabelledEnum):
    """The seed's four kinds of visit, from the order's qualification."""

    short = "short"  # RDV Court – prise optique présente
    building = "building"  # RDV Immeuble – prise optique à poser dans l'immeuble
    house = "house"  # RDV Pavillon – prise optique à poser dans pavillon
    complex = "complex"  # RDV Immeuble (RDC) – intervention complexe


OPERATION_TYPE_LABELS = LABELS[OperationType] = {
    OperationType.short: lazy_gettext("Short visit – optical socket present"),
    OperationType.building: lazy_gettext("Building visit – optical socket to install in the building"),
    OperationType.house: lazy_gettext("House visit – optical socket to install in the house"),
    OperationType.complex: lazy_gettext("Building visit (ground floor) – complex work"),
}


class DayPeriod(LabelledEnum):
    """Half a technician's day: a slot is one of them."""

    morning = "morning"
    afternoon = "afternoon"


DAY_PERIOD_LABELS = LABELS[DayPeriod] = {
    DayPeriod.morning: lazy_gettext("Morning"),
    DayPeriod.afternoon: lazy_gettext("Afternoon"),
}


class Appointment(Audited, Model):
    """One technician visit booked by an operator at an end customer's address.

    The address is the seed's form: the street number, RIVOLI street code and INSEE
    commune code (FTTH and Just Fibre), or the access id for other products; `building`
    is the building those designate. The slot taken is `slot_date` and `slot_period` in
    the technicians' `zone`; the window and preferences are what the operator asked."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_slot", "zone", "slot_date", "slot_period", "state"),
        Index("ix_appointment_organisation_state", "organisation_id", "state"),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(30), unique=True, nullable=False)  # carried into the order
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    building_id = Column(Integer, ForeignKey("building.id", ondelete="RESTRICT"))
    access_reference = Column(String(30))  # "Identifiant de l'accès", products other than FTTH
    street_number = Column(Integer)
    rivoli_code = Column(String(4), nullable=False)
    insee_code = Column(String(5), nullable=False)
    product = Column(String(30), nullable=False)  # "Nature produit": just_fibre, ftth…
    operation_type = Column(Enum(OperationType, native_enum=False, length=20, name="operation_type"),
                            nullable=False)
    appointment_type = Column(String(30), nullable=False, default="standard")
    pairs = Column(Integer)  # "Nombre de paires", copper products
    window_start = Column(Date, nullable=False)
    window_end = Column(Date, nullable=False)
    preferred_weekday = Column(Integer)  # 0 Monday … 5 Saturday; None: any day
    preferred_period = Column(Enum(DayPeriod, native_enum=False, length=10, name="preferred_period"))
    zone = Column(String(10), nullable=False)  # the technicians' zone (the département)
    slot_date = Column(Date, nullable=False)
    slot_period = Column(Enum(DayPeriod, native_enum=False, length=10, name="slot_period"), nullable=False)
    state = state_column(AppointmentState, "appointment_state", default=AppointmentState.initialised)

    organisation = relationship(Organisation)
    building = relationship(Building)

    def __str__(self):
        return self.reference


class TechnicianCapacity(Model):
    """The technicians' capacity of one zone on one day and half-day, where it differs
    from the setting APPOINTMENT_SLOTS_PER_PERIOD (a day off, a reinforced team): the
    planning's calendar of exceptions. `slots` 0 closes the half-day."""

    __tablename__ = "technician_capacity"
    __table_args__ = (UniqueConstraint("zone", "day", "period", name="uq_technician_capacity_slot"),)

    id = Column(Integer, primary_key=True)
    zone = Column(String(10), nullable=False)
    day = Column(Date, nullable=False)
    period = Column(Enum(DayPeriod, native_enum=False, length=10, name="capacity_period"), nullable=False)
    slots = Column(Integer, nullable=False)

    def __str__(self):
        return f"{self.zone} {self.day} {self.period.value}: {self.slots}"
