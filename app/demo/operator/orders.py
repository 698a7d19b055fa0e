"""Desk E's demo orders (e-Just Fibre): Fibre Rhône Télécom's orders in every cell of
the dashboard, filed by `opuser` and moved by the back office's `ops`, with the accesses
their done creations opened. One creation in progress is on the seed's building
(IMB/77058/X/0218), carried by e-RDV's demo appointment RDV-DEMO-0001 when there is one."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import (
    Appointment,
    AppointmentState,
    Building,
    BuildingState,
    Offer,
    Order,
    OrderState,
    OrderType,
    utcnow,
)
from ...platform.clock import local_today
from ...rules.operator import orders as rules
from ..platform import organisation
from .accounts import FIBRE
from .buildings import SEED_IMB

SEED_APPOINTMENT = "RDV-DEMO-0001"
# The transitions that take a new order to each state, by type.
PATHS = {
    (OrderType.creation, OrderState.in_progress): (),
    (OrderType.creation, OrderState.failed): ("fail",),
    (OrderType.creation, OrderState.done): ("complete",),
    (OrderType.creation, OrderState.appointment_to_reschedule): ("reschedule",),
    (OrderType.termination, OrderState.in_progress): (),
    (OrderType.termination, OrderState.awaiting_box_return): ("await_box",),
    (OrderType.termination, OrderState.done): ("await_box", "box_returned"),
    (OrderType.box_exchange, OrderState.in_progress): (),
    (OrderType.box_exchange, OrderState.awaiting_box_return): ("await_box",),
    (OrderType.box_exchange, OrderState.done): ("await_box", "box_returned"),
}
# The creations: (state, how many); the follow-ups: (access index, type, state), in order.
CREATIONS = [(OrderState.in_progress, 2), (OrderState.failed, 3), (OrderState.done, 5),
             (OrderState.appointment_to_reschedule, 1)]
FOLLOW_UPS = [(0, OrderType.box_exchange, OrderState.done), (0, OrderType.termination, OrderState.done),
              (1, OrderType.termination, OrderState.in_progress),
              (2, OrderType.termination, OrderState.awaiting_box_return),
              (3, OrderType.box_exchange, OrderState.awaiting_box_return),
              (4, OrderType.box_exchange, OrderState.in_progress)]


def _walk(order, kind, state, ops):
    """Take the order to `state` as the back office would (without the mails)."""
    for name in PATHS[(kind, state)]:
        transition = rules.ORDER_WORKFLOW.transition(name)
        rules.ORDER_WORKFLOW.move(order, name, ops, transition.target)
        if transition.target == OrderState.done:
            rules.finish(order)


def _order(operator, kind, building, offer, filer, days_ago, number, **values):
    order = Order(operator_reference=f"FRT-CMD-{number:04d}", organisation_id=operator.id, order_type=kind,
                  state=OrderState.in_progress, building_id=building.id, offer_id=offer.id,
                  created_on=utcnow() - timedelta(days=days_ago), created_by_id=filer.id, **values)
    rules._numbered(order, "JF", "reference")
    rules.ORDER_WORKFLOW.record(order, "created", filer)
    order.changed_on = order.created_on
    return order


def load():
    if db.session.query(Order.id).first():
        return
    sm = current_app.appbuilder.sm
    filer, ops = sm.find_user(username="opuser"), sm.find_user(username="ops")
    operator = organisation(FIBRE)
    offer = db.session.scalars(select(Offer).where(Offer.code == "just-fibre")).one()
    seed = db.session.scalars(select(Building).where(Building.imb_id == SEED_IMB)).one()
    others = db.session.scalars(select(Building).where(
        Building.state == BuildingState.available, Building.access_supply_from <= local_today(),
        Building.imb_id != SEED_IMB).order_by(Building.id).limit(20)).all()
    appointment = db.session.scalars(select(Appointment).where(
        Appointment.reference == SEED_APPOINTMENT, Appointment.organisation_id == operator.id,
        Appointment.state == AppointmentState.validated, Appointment.building_id == seed.id)).first()
    number, done = 0, []
    for state, count in CREATIONS:
        for _ in range(count):
            building = seed if number == 0 else others[number % len(others)]
            lines = rules.active_lines(building)
            number += 1
            order = _order(operator, OrderType.creation, building, offer, filer, 30 - number, number,
                           line_id=lines[0].id if lines else None, gtr_option=number % 3 == 0,
                           appointment_id=appointment.id if number == 1 and appointment else None,
                           delivery_to_installation=number % 4 != 2,
                           **({"delivery_name": "Service logistique FRT", "delivery_street": "12 rue du Dauphiné",
                               "delivery_postcode": "69003", "delivery_city": "Lyon"} if number % 4 == 2 else {}))
            _walk(order, OrderType.creation, state, ops)
            if state == OrderState.done:
                done.append(order)
    for index, kind, state in FOLLOW_UPS:
        creation = done[index]
        number += 1
        order = _order(operator, kind, creation.building, offer, filer, 10 - index, number, line_id=creation.line_id,
                       gtr_option=creation.gtr_option, access_id=creation.access_id)
        _walk(order, kind, state, ops)
    db.session.commit()
    yield f"desk E: {number} Just Fibre orders in every dashboard cell, {len(done)} accesses opened"
