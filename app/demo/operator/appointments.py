"""Desk E's e-RDV demo: the technicians' capacity calendar of the seed's zone (77) and
of the demo operators' region (69, 73) — a training day closed, a reinforced day, an
afternoon already full — and Fibre Rhône Télécom's appointments in every state, among
them RDV-DEMO-0001, validated at the seed's building (IMB/77058/X/0218, 6 rue Étienne
Ganneron, Bussy-Saint-Georges), which the demo order carries. Dates are relative to
the day the demo is loaded: the appointments to come fall in [D+8, D+26].
"""
from datetime import timedelta

from flask import current_app

from ...extensions import db
from ...models import Appointment, AppointmentState, Building, DayPeriod, OperationType, TechnicianCapacity
from ...platform import clock
from ...rules.operator import appointments as rules
from ..platform import organisation
from .accounts import FIBRE
from .buildings import SEED_IMB

SEED_REFERENCE = "RDV-DEMO-0001"


def _working_day(day, step=1):
    while not rules.is_working_day(day):
        day += timedelta(days=step)
    return day


def demo_days(today):
    """{name: day} of the demo calendar, from the load date: distinct working days
    within [D+8, D+26] for the appointments to come, two past ones."""
    days, day = {}, today + timedelta(days=10)
    for name in ("seed", "full", "closed", "reinforced", "later"):
        day = _working_day(day + timedelta(days=2))
        days[name] = day
    days["past"] = _working_day(today - timedelta(days=6), step=-1)
    days["yesterday"] = _working_day(today - timedelta(days=1), step=-1)
    return days


def load():
    if db.session.query(Appointment.id).filter_by(reference=SEED_REFERENCE).first():
        yield "desk E: appointments already there"
        return
    today = clock.local_today()
    days = demo_days(today)
    capacity = [("77", days["full"], DayPeriod.afternoon, 1), ("77", days["closed"], DayPeriod.morning, 0),
                ("77", days["closed"], DayPeriod.afternoon, 0), ("77", days["reinforced"], DayPeriod.morning, 8),
                ("69", days["closed"], DayPeriod.morning, 0), ("73", days["full"], DayPeriod.morning, 2)]
    db.session.add_all(TechnicianCapacity(zone=zone, day=day, period=period, slots=slots)
                       for zone, day, period, slots in capacity)
    operator = organisation(FIBRE)
    author = current_app.appbuilder.sm.find_user(username="opuser")
    agent = current_app.appbuilder.sm.find_user(username="wholesale")
    seed = db.session.query(Building).filter_by(imb_id=SEED_IMB).one()
    others = (db.session.query(Building).filter(Building.insee_code == "77058", Building.id != seed.id,
                                                Building.rivoli_code.isnot(None), Building.street_number.isnot(None))
              .order_by(Building.id).limit(4).all())
    # reference, building, operation, slot day, period, state
    plan = [
        (SEED_REFERENCE, seed, OperationType.building, days["seed"], DayPeriod.morning, AppointmentState.validated),
        ("RDV-DEMO-0002", others[0], OperationType.short, days["full"], DayPeriod.afternoon,
         AppointmentState.initialised),
        ("RDV-DEMO-0003", others[1], OperationType.house, days["later"], DayPeriod.morning,
         AppointmentState.cancelled),
        ("RDV-DEMO-0004", others[2], OperationType.complex, days["past"], DayPeriod.morning,
         AppointmentState.attended),
        ("RDV-DEMO-0005", others[3], OperationType.building, days["yesterday"], DayPeriod.afternoon,
         AppointmentState.missed),
    ]
    for reference, building, operation, day, period, state in plan:
        item = Appointment(
            reference=reference, organisation_id=operator.id, building_id=building.id,
            street_number=building.street_number, rivoli_code=building.rivoli_code, insee_code=building.insee_code,
            product="just_fibre", operation_type=operation, appointment_type="standard",
            window_start=min(day, days["seed"]), window_end=day, zone=rules.zone_of(building.insee_code),
            slot_date=day, slot_period=period, state=AppointmentState.initialised, created_by_id=author.id)
        db.session.add(item)
        db.session.flush()
        rules.APPOINTMENT_WORKFLOW.record(item, "book", author, changes=[("slot", "", rules.slot_text(item))])
        if state != AppointmentState.initialised:
            item.state = state
            actor = agent if state in (AppointmentState.attended, AppointmentState.missed) else author
            rules.APPOINTMENT_WORKFLOW.record(item, rules.TRANSITION_TO[state], actor,
                                              from_state=AppointmentState.initialised, to_state=state)
    db.session.commit()
    yield f"desk E: {len(capacity)} days of the technicians' capacity calendar, {len(plan)} appointments"
