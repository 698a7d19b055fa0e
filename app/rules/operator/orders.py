"""Desk E, e-Just Fibre — the decisions on orders: what each step of the wizard accepts
(the installation and its appointment, the offer and its options, the box's delivery),
the order written from them, the follow-up orders on an access ("Échanger la box",
"Résilier"), the workflow the wholesale back office moves them through and what its
end does to the access, and the dashboard's counts.

Every check raises OrderRefused naming the field, before anything is written: the
wizard and the TMF622 API (app/views/operator/orders.py) run the same ones.
"""
import re
import secrets
import uuid

from flask import url_for
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import func, select

from ...access.operator import ORDERS, entitled_criterion, entitled_operator_ids, viewer_of
from ...extensions import db
from ...models import (
    Access,
    Building,
    Offer,
    Order,
    OrderState,
    OrderType,
    Organisation,
    OrganisationKind,
    utcnow,
)
from ...platform import notifications
from ...platform.clock import local_today
from ...platform.refusals import Refused
from ...platform.workflow import Transition, Workflow
from ...security import OPERATOR_ADMIN, OPERATOR_USER, WHOLESALE_AGENT, role_names
from . import appointments, eligibility

#: The dashboard as the seed draws it: each type's row and its columns, in order.
ORDER_TYPE_STATES = {
    OrderType.creation: (OrderState.in_progress, OrderState.failed, OrderState.done,
                         OrderState.appointment_to_reschedule),
    OrderType.termination: (OrderState.in_progress, OrderState.awaiting_box_return, OrderState.done),
    OrderType.box_exchange: (OrderState.in_progress, OrderState.awaiting_box_return, OrderState.done),
}
#: The states whose orders still hold their access (no second follow-up meanwhile).
OPEN_STATES = (OrderState.in_progress, OrderState.appointment_to_reschedule, OrderState.awaiting_box_return)

FIELD_LABELS = {
    "operator_reference": _l("Operator's order reference"),
    "appointment_reference": _l("Appointment reference"),
    "imb_id": _l("Building id (IMB)"),
    "line_id": _l("Customer's line"),
    "offer": _l("Offer"),
    "gtr_option": _l("Option GTR 10 heures HO"),
    "delivery": _l("Box delivery address"),
    "delivery_name": _l("Recipient"),
    "delivery_street": _l("Street"),
    "delivery_postcode": _l("Postcode"),
    "delivery_city": _l("City"),
}
DELIVERY_CHOICES = {"installation": _l("The installation address"), "other": _l("Another address")}
GTR_LABEL = "Option GTR 10 heures HO"
BOX_MODEL = "Sagemcom F@st 5350"
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")
_POSTCODE = re.compile(r"^\d{5}$")


class OrderRefused(Refused):
    """An order step's input refused, naming its field."""


def _label(name) -> str:
    return str(FIELD_LABELS[name])


def _refuse(name, message):
    raise OrderRefused(name, gettext("%(field)s: %(message)s", field=_label(name), message=message))


def _text(values, name, required=True, length=None) -> str:
    value = values.get(name)
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            raise OrderRefused(name, gettext("%(field)s: this field is required.", field=_label(name)))
        return ""
    if "\x00" in value or (length and len(value) > length):
        _refuse(name, gettext("at most %(max)d characters.", max=length or 0))
    return value


# ---------------------------------------------------------------------------
# Who orders
# ---------------------------------------------------------------------------


def ordering_operator(user) -> Organisation:
    """The operator a person orders for: the first of theirs that opens e-Just Fibre
    to them. Platform staff and the wholesale back office order for nobody."""
    criterion = entitled_criterion(viewer_of(user), ORDERS, Organisation.id)
    operator = None
    if criterion is not None:
        operator = db.session.scalars(select(Organisation).where(
            Organisation.kind == OrganisationKind.operator, criterion).order_by(Organisation.id).limit(1)).first()
    if operator is None:
        raise OrderRefused(None, gettext("Only an operator's account entitled to e-Just Fibre may order."))
    return operator


# ---------------------------------------------------------------------------
# The wizard's steps
# ---------------------------------------------------------------------------


def building_of(imb_id):
    return db.session.scalars(select(Building).where(Building.imb_id == imb_id)).first() if imb_id else None


def active_lines(building) -> list:
    return [line for line in building.lines if line.active] if building is not None else []


def order_appointment(reference, organisation, building):
    """The appointment `reference` carrying this order: e-RDV's rule
    (`appointments.appointment_for_order`: the operator's, validated, at this building),
    and not carrying another order already."""
    try:
        appointment = appointments.appointment_for_order(reference, organisation, building)
    except appointments.AppointmentRefused as refusal:
        raise OrderRefused(refusal.field, refusal.message) from None
    used = db.session.scalar(select(Order.reference).where(
        Order.appointment_id == appointment.id, Order.state != OrderState.cancelled))
    if used:
        _refuse("appointment_reference",
                gettext("this appointment already carries the order %(reference)s.", reference=used))
    return appointment


def check_installation(organisation, values) -> dict:
    """Step 1: the operator's reference, the appointment and the building's line.
    Returns {building, line, appointment}."""
    _text(values, "operator_reference", length=50)
    if not _REFERENCE.match(values["operator_reference"].strip()):
        _refuse("operator_reference", gettext("letters, digits, spaces and . _ / - only."))
    reference = _text(values, "appointment_reference", length=30)
    imb_id = _text(values, "imb_id", length=30).upper()
    building = building_of(imb_id)
    if building is None:
        _refuse("imb_id", gettext("no building has this id."))
    appointment = order_appointment(reference, organisation, building)
    lines = active_lines(building)
    line = None
    line_id = values.get("line_id")
    if lines:
        if line_id in (None, ""):
            raise OrderRefused("line_id", gettext("%(field)s: this field is required.", field=_label("line_id")))
        line = next((line for line in lines if str(line.id) == str(line_id).strip()), None)
        if line is None:
            _refuse("line_id", gettext("choose one of the building's lines."))
    elif line_id not in (None, ""):
        _refuse("line_id", gettext("the building has no line in service: leave it empty."))
    return {"building": building, "line": line, "appointment": appointment}


def eligible_offers(building) -> list:
    """The offers the building is eligible to (app.rules.operator.eligibility)."""
    return [verdict.offer for verdict in eligibility.verdicts(building, eligibility.offers()) if verdict.eligible]


def check_offer(building, values) -> dict:
    """Step 2: an offer the building is eligible to, and the GTR option. {offer, gtr_option}"""
    code = _text(values, "offer", length=40)
    offer = next((offer for offer in eligible_offers(building) if offer.code == code), None)
    if offer is None:
        _refuse("offer", gettext("choose one of the offers the building is eligible to."))
    gtr = values.get("gtr_option")
    if gtr not in (None, "", True, False, "1", "on", "true", "0", "false"):
        _refuse("gtr_option", gettext("tick it or not."))
    return {"offer": offer, "gtr_option": gtr in (True, "1", "on", "true")}


def check_delivery(values) -> dict:
    """Step 3: the installation address, or another one, all of whose fields are then
    required."""
    choice = values.get("delivery") or ""
    if choice not in DELIVERY_CHOICES:
        _refuse("delivery", gettext("choose the installation address or another one."))
    if choice == "installation":
        return {"delivery_to_installation": True, "delivery_name": None, "delivery_street": None,
                "delivery_postcode": None, "delivery_city": None}
    delivery = {"delivery_to_installation": False,
                "delivery_name": _text(values, "delivery_name", length=100),
                "delivery_street": _text(values, "delivery_street", length=150),
                "delivery_postcode": _text(values, "delivery_postcode", length=5),
                "delivery_city": _text(values, "delivery_city", length=100)}
    if not _POSTCODE.match(delivery["delivery_postcode"]):
        _refuse("delivery_postcode", gettext("five digits are expected."))
    return delivery


STEPS = {1: ("operator_reference", "appointment_reference", "imb_id", "line_id"),
         2: ("offer", "gtr_option"),
         3: ("delivery", "delivery_name", "delivery_street", "delivery_postcode", "delivery_city")}


def check_step(step, organisation, draft) -> dict:
    """Check the draft up to and including `step` (a later step relies on the earlier
    ones: the offers are the building's); returns what was read."""
    read = check_installation(organisation, draft)
    if step >= 2:
        read.update(check_offer(read["building"], draft))
    if step >= 3:
        read.update(check_delivery(draft))
    return read


def _numbered(item, prefix, attribute, digits=8):
    """Give a new row its number from the table's id sequence: JF00000042; F10000015
    for an access an order opened (F1…: the accesses in service before Guichet, or
    loaded, keep their own F0… numbers)."""
    setattr(item, attribute, f"tmp-{uuid.uuid4().hex[:12]}")
    db.session.add(item)
    db.session.flush()
    setattr(item, attribute, f"{prefix}{item.id:0{digits}d}")
    return item


def create_order(user, draft) -> Order:
    """The wizard's "Valider la commande" and the API's POST: every step checked again,
    then the creation order written, in progress, with its history."""
    organisation = ordering_operator(user)
    read = check_step(3, organisation, draft)
    order = Order(operator_reference=draft["operator_reference"].strip(), organisation_id=organisation.id,
                  order_type=OrderType.creation, state=OrderState.in_progress, building_id=read["building"].id,
                  line_id=read["line"].id if read["line"] else None, appointment_id=read["appointment"].id,
                  offer_id=read["offer"].id, gtr_option=read["gtr_option"], created_by_id=user.id,
                  **{name: read[name] for name in ("delivery_to_installation", "delivery_name", "delivery_street",
                                                    "delivery_postcode", "delivery_city")})
    _numbered(order, "JF", "reference")
    ORDER_WORKFLOW.record(order, "created", user)
    return order


def follow_up_refusal(user, order):
    """Why `user` may not file a termination or box exchange on this order's access."""
    access = order.access
    if access is None or not access.active:
        return gettext("This order has no access in service: nothing to exchange or terminate.")
    if not (role_names(user) & {OPERATOR_ADMIN, OPERATOR_USER}) or access.organisation_id not in {
            operator.id for operator in _operators_ordering(user)}:
        return gettext("Only the access's operator may order on it.")
    pending = db.session.scalar(select(Order.reference).where(
        Order.access_id == access.id, Order.order_type != OrderType.creation, Order.state.in_(OPEN_STATES)))
    if pending:
        return gettext("The order %(reference)s is already under way on this access.", reference=pending)
    return None


def _operators_ordering(user) -> list:
    criterion = entitled_criterion(viewer_of(user), ORDERS, Organisation.id)
    if criterion is None:
        return []
    return db.session.scalars(select(Organisation).where(criterion)).all()


def file_follow_up(user, order, order_type) -> Order:
    """"Échanger la box" / "Résilier" on the order's access: a new order of that type.
    The access is locked first, so two clicks at once file one order."""
    from ...platform import transactions

    if order.access is not None:
        transactions.lock(order.access)
    problem = follow_up_refusal(user, order)
    if problem:
        raise OrderRefused(None, problem)
    access = order.access
    follow_up = Order(operator_reference=order.operator_reference, organisation_id=access.organisation_id,
                      order_type=order_type, state=OrderState.in_progress, building_id=access.building_id,
                      line_id=access.line_id, offer_id=access.offer_id, gtr_option=access.gtr_option,
                      delivery_to_installation=True, access_id=access.id, created_by_id=user.id)
    _numbered(follow_up, "JF", "reference")
    ORDER_WORKFLOW.record(follow_up, "created", user)
    return follow_up


# ---------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------


def _for_creation(item, user, comment):
    if item.order_type != OrderType.creation:
        return gettext("This step is for creation orders only.")
    return None


def _for_follow_up(item, user, comment):
    if item.order_type == OrderType.creation:
        return gettext("This step is for terminations and box exchanges only.")
    return None


def _operators_own(user, item) -> bool:
    """An operator's account may cancel its operator's orders (those it sees)."""
    return bool(role_names(user) & {OPERATOR_ADMIN, OPERATOR_USER}) and item.organisation_id in {
        operator.id for operator in _operators_ordering(user)}


def order_link(item) -> str:
    return url_for("OrderView.show", pk=item.id)


def _notify(item, event):
    """The operator's filer hears of every change of their order."""
    filer = item.created_by
    if filer is None:
        return None
    return ([filer], "operator/order_changed",
            {"order": item, "state": item.state, "action": ORDER_WORKFLOW.event_label(event),
             "comment": event.comment}, order_link(item))


WHOLESALE = (WHOLESALE_AGENT,)


class OrderWorkflow(Workflow):
    """The platform's workflow, plus what an order's end does to its access: a done
    creation opens it, a done termination closes it, a done box exchange changes its
    box; then the filer is told (with the access opened). Only the winner of a race
    gets there (the engine raises for the others)."""

    def fire(self, item, name, user, comment="", attachment=None):
        event = super().fire(item, name, user, comment, attachment)
        if item.state == OrderState.done:
            finish(item)
        message = _notify(item, event)
        if message:
            recipients, template, context, link = message
            notifications.notify(recipients, template, context, link=link)
        return event


def finish(order):
    if order.order_type == OrderType.creation:
        offer = db.session.get(Offer, order.offer_id)
        access = Access(organisation_id=order.organisation_id, building_id=order.building_id,
                        line_id=order.line_id, offer_id=order.offer_id, offer_label=offer.name,
                        gtr_option=order.gtr_option, box_model=BOX_MODEL, box_serial=new_box_serial(),
                        active=True, opened_on=local_today())
        _numbered(access, "F1", "prestation_id", digits=7)
        order.access_id = access.id
    elif order.access is not None and order.order_type == OrderType.termination:
        order.access.active = False
        order.access.closed_on = utcnow()
    elif order.access is not None:
        order.access.box_serial = new_box_serial()
    db.session.flush()


def new_box_serial() -> str:
    return secrets.token_hex(6).upper()


ORDER_WORKFLOW = OrderWorkflow(
    Order,
    states=OrderState,
    transitions=[
        Transition("complete", _l("Complete"), sources=(OrderState.in_progress,), target=OrderState.done,
                   roles=WHOLESALE, guards=(_for_creation,), icon="fa-check",
                   done=_l("completed this order")),
        Transition("fail", _l("Mark as failed"), sources=(OrderState.in_progress,), target=OrderState.failed,
                   roles=WHOLESALE, guards=(_for_creation,), icon="fa-times",
                   done=_l("marked this order as failed")),
        Transition("reschedule", _l("Appointment to reschedule"), sources=(OrderState.in_progress,),
                   target=OrderState.appointment_to_reschedule, roles=WHOLESALE, guards=(_for_creation,),
                   icon="fa-calendar", done=_l("asked for a new appointment")),
        Transition("resume", _l("Resume"), sources=(OrderState.appointment_to_reschedule,),
                   target=OrderState.in_progress, roles=WHOLESALE, icon="fa-play",
                   done=_l("resumed this order")),
        Transition("await_box", _l("Await the box's return"), sources=(OrderState.in_progress,),
                   target=OrderState.awaiting_box_return, roles=WHOLESALE, guards=(_for_follow_up,),
                   icon="fa-cube", done=_l("set this order to await the box")),
        Transition("box_returned", _l("Box returned"), sources=(OrderState.awaiting_box_return,),
                   target=OrderState.done, roles=WHOLESALE, icon="fa-check",
                   done=_l("recorded the box's return")),
        Transition("cancel", _l("Cancel the order"), sources=(OrderState.in_progress,
                                                             OrderState.appointment_to_reschedule),
                   target=OrderState.cancelled, roles=WHOLESALE, allowed=_operators_own,
                   icon="fa-ban", done=_l("cancelled this order")),
    ],
    final_states=(OrderState.failed, OrderState.done, OrderState.cancelled),
    event_labels={"created": _l("Order created")},
)


def transition_to(item, target):
    """The transition that takes this order from its state to `target` (the API's
    PATCH of `state`), or None."""
    for transition in ORDER_WORKFLOW.transitions:
        if item.state in transition.sources and transition.target == target and not any(
                guard(item, None, "") for guard in transition.guards):
            return transition
    return None


# ---------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------


def dashboard_operator_ids(viewer):
    """The operators whose orders the dashboard counts: None for all (the wholesale back
    office, platform Admins), else those opening e-Just Fibre to the viewer."""
    operators = entitled_operator_ids(viewer, ORDERS)
    return None if operators is None else list(operators)


def dashboard_counts(viewer) -> dict:
    """{(type, state): count} in one GROUP BY over the dashboard's index."""
    operators = dashboard_operator_ids(viewer)
    query = select(Order.order_type, Order.state, func.count()).group_by(Order.order_type, Order.state)
    if operators is not None:
        if not operators:
            return {}
        query = query.where(Order.organisation_id.in_(operators))
    return {(kind, state): count for kind, state, count in db.session.execute(query)}
