"""Desk D, event ticketing — the screens: the events list and an event's page (what
this person may take and, for the rest, why not), the booking form, "my places",
the organisers' grids of events, ticket types and places, and their REST APIs.
"""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l, ngettext

from ..access.events import holds
from ..desks import desk_of
from ..extensions import db
from ..i18n import money
from ..models import (
    AdminLevel,
    Event,
    ExtraInfo,
    ExtraInfoAnswer,
    ExtraInfoKind,
    PaymentProvider,
    Reservation,
    ReservationState,
    TicketType,
)
from ..platform import inputs, payments
from ..rules import events as rules
from ..security import ScopedInterface, apply_scope
from .base import Attempt, GuichetModelRestApi, GuichetModelView, WorkflowModelView

DESK = desk_of(__name__)

EVENT_LABELS = {
    "name": _l("Event"), "association": _l("Organiser"), "starts_on": _l("Starts on"), "ends_on": _l("Ends on"),
    "place": _l("Place"), "visibility": _l("Visibility"), "sale_opens_on": _l("Sale opens on"),
    "sale_closes_on": _l("Sale closes on"), "sponsorship_limit": _l("Guests per person"),
    "description": _l("Description"), "cancelled_on": _l("Cancelled on"),
}
TICKET_TYPE_LABELS = {
    "name": _l("Ticket"), "event": _l("Event"), "kind": _l("Kind"), "price": _l("Price"),
    "capacity": _l("Capacity"), "taken": _l("Places taken"), "sponsorship_allowed": _l("Sponsorship allowed"),
    "description": _l("Description"), "schools": _l("Schools"), "memberships": _l("Paid members of"),
}
RESERVATION_LABELS = {
    "id": _l("No."), "event": _l("Event"), "ticket_type": _l("Ticket"), "holder": _l("Holder"),
    "guest_name": _l("Guest"), "guest_email": _l("Guest's mail"), "sponsor": _l("Sponsor"), "price": _l("Price"),
    "state": _l("State"), "paid_on": _l("Paid on"), "opposition_reason": _l("Reason of the opposition"),
    "to_refund": _l("To refund"), "created_on": _l("Taken on"), "created_by": _l("Created by"),
    "changed_by": _l("Changed by"), "changed_on": _l("Changed on"),
}


def _ids(name) -> list:
    """The 64-bit integers a form sends under `name` (others are refused by the rule's check)."""
    values = []
    for value in request.form.getlist(name):
        if value:
            try:
                values.append(inputs.int64(value))
            except (TypeError, ValueError):
                raise rules.EventRefused(name, gettext("%(field)s: choose among the offered values.",
                                                       field=name)) from None
    return values


def _scoped_or_404(model, pk):
    item = apply_scope(db.session.query(model), model).filter(model.id == pk).one_or_none()
    if item is None:
        abort(404)
    return item


def _items_of(place) -> list:
    """A place's extra items, each with what was given for it (None: nothing yet)."""
    answers = {answer.extra_info_id: answer for answer in place.answers}
    return [(info, answers.get(info.id)) for info in place.ticket_type.extra_infos]


class EventView(GuichetModelView):
    """Events: everyone sees the ones their visibility shows them; their admins edit
    and cancel them; board members create them."""

    datamodel = ScopedInterface(Event)
    route_base = "/events"
    list_title = _l("Events")
    show_title = _l("Event")
    add_title = _l("New event")
    edit_title = _l("Edit the event")
    show_template = "events/show.html"
    list_columns = ["name", "association", "starts_on", "place", "visibility", "sale_opens_on"]
    show_columns = ["name", "association", "description", "place", "starts_on", "ends_on", "visibility",
                    "sale_opens_on", "sale_closes_on", "sponsorship_limit", "cancelled_on"]
    add_columns = ["association", "name", "description", "place", "starts_on", "ends_on", "visibility",
                   "sale_opens_on", "sale_closes_on", "sponsorship_limit"]
    edit_columns = ["name", "description", "place", "starts_on", "ends_on", "visibility", "sale_opens_on",
                    "sale_closes_on", "sponsorship_limit"]
    search_columns = ["name", "association", "starts_on", "visibility"]
    order_columns = ["name", "starts_on", "sale_opens_on"]
    label_columns = EVENT_LABELS
    base_order = ("starts_on", "asc")
    base_permissions = ["can_list", "can_show", "can_export", "can_add", "can_edit", "can_home", "can_book",
                        "can_places", "can_drop", "can_answer"]

    def pre_add(self, item):
        """Checked, then stored with its creator's grant: both are committed together."""
        rules.check_creation(g.user, item.association)
        self._check(item)
        db.session.add(item)
        db.session.flush()
        rules.give_creator_manage(g.user, item)

    def pre_update(self, item):
        rules.check_manager(g.user, item)
        self._check(item)

    @staticmethod
    def _check(item):
        rules.check_event(item, name=item.name, starts_on=item.starts_on, ends_on=item.ends_on,
                          sale_opens_on=item.sale_opens_on, sale_closes_on=item.sale_closes_on,
                          visibility=item.visibility, sponsorship_limit=item.sponsorship_limit,
                          place=item.place, description=item.description)

    @action("cancel", _l("Cancel the event"), _l("Cancel the selected events? Pre-reservations are deleted, "
                                                  "paid places marked to refund, every holder mailed."), "fa-ban")
    def cancel(self, items):
        for item in items if isinstance(items, list) else [items]:
            with Attempt(done=gettext("%(event)s is cancelled; its holders are mailed.", event=item.name)):
                rules.cancel_event(g.user, item)
        return redirect(self.get_redirect())

    @expose("/home")
    @has_access
    def home(self):
        return redirect(url_for(".list"))

    def _event(self, pk):
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return item

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        event, user = self._event(pk), g.user
        offers = [(ticket_type, rules.why_not(user, ticket_type)) for ticket_type in event.ticket_types]
        place = rules.place_of(user, event)
        return self.render_template(
            self.show_template, title=event.name, event=event, offers=offers, place=place,
            guests=rules.guests_of(user, event), level=rules.level_of(user, event),
            counts=rules.counts(event) if holds(user, event, AdminLevel.view) else None,
            may_book=place is None and any(reason is None for _, reason in offers),
            guest_slots=range(event.sponsorship_limit), form=request.form)

    @expose("/book/<pk>", methods=["POST"])
    @has_access
    def book(self, pk):
        """The booking form: the ticket, its options (group choices included), the guests."""
        event = self._event(pk)
        with Attempt() as attempt:
            ticket_type_id = _ids("ticket_type")[:1]
            guests = []
            for index in range(event.sponsorship_limit):
                name = request.form.get(f"guests-{index}-name", "").strip()
                if name:
                    guests.append({"name": name, "email": request.form.get(f"guests-{index}-email", ""),
                                   "ticket_type": (_ids(f"guests-{index}-ticket_type") or [None])[0],
                                   "options": _ids(f"guests-{index}-options")})
            places = rules.book(g.user, event, ticket_type_id[0] if ticket_type_id else None, _ids("options"),
                                guests)
            attempt.done = gettext("Your place is taken, %(total)s in all: see “My places”.",
                                   total=money(sum(place.price for place in places)))
        if attempt.refused is None:
            return redirect(url_for(".places"))
        return redirect(url_for(".show", pk=event.id))

    @expose("/places")
    @has_access
    def places(self):
        """My places: mine and my guests', their state and their extra items, given here."""
        user = g.user
        query = apply_scope(db.session.query(Reservation), Reservation).filter(
            (Reservation.holder_id == user.id) | (Reservation.sponsor_id == user.id)).order_by(Reservation.id.desc())
        places = [(place, _items_of(place)) for place in query.limit(200)]
        return self.render_template("events/places.html", title=gettext("My places"), places=places,
                                    PRERESERVED=ReservationState.prereserved, OPPOSED=ReservationState.opposed,
                                    FILE=ExtraInfoKind.file, SIZES=rules.SIZES)

    @expose("/answer/<int:reservation_id>/<int:info_id>", methods=["POST"])
    @has_access
    def answer(self, reservation_id, info_id):
        """Give one extra item of one's place (a value, or a file for a file item)."""
        place = _scoped_or_404(Reservation, reservation_id)
        info = _scoped_or_404(ExtraInfo, info_id)
        with Attempt(done=gettext("%(item)s: received, awaiting validation.", item=info.label)):
            rules.answer(g.user, place, info, request.form.get("value"), request.files.get("value"))
        return redirect(url_for(".places"))

    @expose("/drop/<int:reservation_id>", methods=["POST"])
    @has_access
    def drop(self, reservation_id):
        """Delete one's pre-reservation (a reservation is never deleted)."""
        place = _scoped_or_404(Reservation, reservation_id)
        with Attempt(done=gettext("The pre-reservation is deleted.")):
            rules.delete_prereservation(g.user, place)
        return redirect(url_for(".places"))


def _restrictions(item):
    parts = [", ".join(str(p) for p in item.promotions), ", ".join(s.name for s in item.schools),
             ", ".join(str(a) for a in item.memberships)]
    return "; ".join(p for p in parts if p) or "—"


class TicketTypeView(GuichetModelView):
    """An event's ticket types, changed only while they have no place; the kind is fixed at creation."""

    datamodel = ScopedInterface(TicketType)
    route_base = "/tickettypes"
    list_title = _l("Ticket types")
    show_title = _l("Ticket type")
    add_title = _l("New ticket type")
    edit_title = _l("Edit the ticket type")
    list_columns = ["name", "event", "kind", "price", "capacity", "taken"]
    formatters_columns = {"price": money}
    show_columns = ["name", "event", "kind", "price", "capacity", "taken", "sponsorship_allowed", "schools",
                    "memberships", "description"]
    add_columns = ["event", "name", "kind", "price", "capacity", "sponsorship_allowed", "schools", "memberships",
                   "description"]
    edit_columns = ["name", "price", "capacity", "sponsorship_allowed", "schools", "memberships", "description"]
    search_columns = ["name", "event", "kind"]
    order_columns = ["name", "price", "capacity", "taken"]
    label_columns = TICKET_TYPE_LABELS
    base_order = ("id", "asc")

    def pre_add(self, item):
        item.taken = 0
        self._check(item)

    def pre_update(self, item):
        self._check(item)

    def pre_delete(self, item):
        rules.check_configurable(g.user, item)

    @staticmethod
    def _check(item):
        if item.kind is not None and item.kind.value == "open":
            item.sponsorship_allowed = False
            if item.schools or item.memberships:
                raise rules.EventRefused("schools", gettext(
                    "Restrictions: an open ticket has none; create a restricted one."))
        with db.session.no_autoflush:
            rules.check_configurable(g.user, item)


class ReservationView(WorkflowModelView):
    """The places of the events one administers: mark paid, oppose (with a reason)."""

    datamodel = ScopedInterface(Reservation)
    workflow = rules.RESERVATION_WORKFLOW
    route_base = "/reservations"
    list_title = _l("Places")
    show_title = add_title = edit_title = _l("Place")
    # Places are taken through the booking form and change through their transitions;
    # FAB's add/edit forms are not offered (see base_permissions).
    add_columns = edit_columns = ["guest_name", "guest_email"]
    list_columns = ["id", "event", "ticket_type", "holder", "guest_name", "sponsor", "price", "state", "created_on"]
    formatters_columns = {"price": money}
    show_columns = ["id", "event", "ticket_type", "holder", "guest_name", "guest_email", "sponsor", "price",
                    "state", "paid_on", "opposition_reason", "to_refund", "created_on"]
    search_columns = ["event", "ticket_type", "state", "guest_name"]
    order_columns = ["id", "price", "state", "created_on"]
    label_columns = RESERVATION_LABELS
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "can_validate_item", "validate_items"]
    show_template = "events/reservation_show.html"

    def show_actions(self, item) -> dict:
        """The page validates each item on its own line; the bulk validation is the grid's."""
        return {name: found for name, found in super().show_actions(item).items() if name != "validate_items"}

    def show_context(self, item) -> dict:
        return {"items": _items_of(item), "may_validate": holds(g.user, item.event, AdminLevel.validate)}

    @expose("/validate_item/<int:answer_id>", methods=["POST"])
    @has_access
    def validate_item(self, answer_id):
        """Validate a holder's extra item, for good (the rule checks the validate level)."""
        item = _scoped_or_404(ExtraInfoAnswer, answer_id)
        with Attempt(done=gettext("%(item)s: validated.", item=item.extra_info.label)):
            rules.validate_answer(g.user, item)
        return redirect(url_for(".show", pk=item.reservation_id))

    @action("validate_items", _l("Validate the extra items"),
            _l("Validate, for good, the extra items given for the selected places?"), "fa-check")
    def validate_items(self, items):
        """The grid's bulk validation: each item given and not yet validated, each on its own."""
        answers = [answer for place in (items if isinstance(items, list) else [items])
                   for answer in place.answers if not answer.validated]
        validated = 0
        for answer in answers:
            with Attempt() as attempt:
                rules.validate_answer(g.user, answer)
            validated += attempt.refused is None
        flash(ngettext("%(num)d extra item validated.", "%(num)d extra items validated.", validated),
              "success" if validated else "info")
        return redirect(self.get_redirect())


class EventApi(GuichetModelRestApi):
    grid = EventView
    resource_name = "event"
    base_permissions = ["can_get", "can_info"]
    include_route_methods = {"get", "get_list", "info"}


class TicketTypeApi(GuichetModelRestApi):
    grid = TicketTypeView
    resource_name = "tickettype"
    base_permissions = ["can_get", "can_info"]
    include_route_methods = {"get", "get_list", "info"}


class ReservationApi(GuichetModelRestApi):
    """Places: read in scope; marked paid and opposed through their transitions."""

    grid = ReservationView
    resource_name = "reservation"
    base_permissions = ["can_get", "can_info"]
    include_route_methods = {"get", "get_list", "info"}


# -- Online payment (app.platform.payments): an event's accounts, "Pay" on My places --

EVENT_LABELS.update({"paypal_account": _l("PayPal account"), "lydia_account": _l("Lydia account")})
EventView.edit_columns = [*EventView.edit_columns, "paypal_account", "lydia_account"]
EventView.add_columns = [*EventView.add_columns, "paypal_account", "lydia_account"]
# Each drop-down offers the accounts of its provider (and, by the row scope, of one's organisations).
EventView.add_form_query_rel_fields = EventView.edit_form_query_rel_fields = {
    "paypal_account": [["provider", FilterEqual, PaymentProvider.paypal]],
    "lydia_account": [["provider", FilterEqual, PaymentProvider.lydia]],
}


def payment_offer(place) -> dict:
    """What "My places" offers to pay a place: why not (`blockers`), or the PayPal
    button's form and whether Lydia is offered, with the place's signed reference."""
    blockers = rules.online_payment_blockers(place)
    paypal = lydia = None
    if place.state is ReservationState.prereserved:
        if not blockers:
            paypal = payments.paypal_button(rules.PAYABLE_KIND, place)
            lydia = payments.lydia_offered(rules.PAYABLE_KIND, place)
        elif not (rules.payment_account(place, PaymentProvider.paypal)
                  or rules.payment_account(place, PaymentProvider.lydia)):
            blockers = []  # nothing is paid online here: nothing to say why not
    return {"blockers": blockers, "paypal": paypal, "lydia": lydia,
            "reference": payments.reference(rules.PAYABLE_KIND, place.id)}


def register(appbuilder):
    appbuilder.add_view(EventView, "EventList", icon="fa-calendar", label=_l("Events"), category=DESK.category)
    appbuilder.add_link("MyPlaces", href="/events/places", icon="fa-ticket", label=_l("My places"),
                        category=DESK.category)
    appbuilder.add_view(TicketTypeView, "TicketTypes", icon="fa-tags", label=_l("Ticket types"),
                        category=DESK.category)
    appbuilder.add_view(ReservationView, "Reservations", icon="fa-list", label=_l("Places"),
                        category=DESK.category)
    for api in (EventApi, TicketTypeApi, ReservationApi):
        appbuilder.add_api(api)
    appbuilder.app.jinja_env.globals["payment_offer"] = payment_offer
