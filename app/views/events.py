"""Desk D, event ticketing — the screens: the events list and an event's page (what
this person may take and, for the rest, why not), the booking form, "my places",
the organisers' grids of events, ticket types and places, and their REST APIs.
"""
import base64
import uuid
from datetime import datetime, timezone

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.api import safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_appbuilder.security.sqla.models import Group
from flask_babel import gettext, lazy_gettext as _l, ngettext

from ..access.events import holds, staffed_event
from ..desks import desk_of
from ..extensions import db
from ..i18n import money
from ..models import (
    AdminLevel,
    Association,
    CheckIn,
    Event,
    EventVisibility,
    ExtraInfo,
    ExtraInfoAnswer,
    ExtraInfoKind,
    PaymentProvider,
    Reservation,
    ReservationState,
    School,
    TicketKind,
    TicketType,
    utcnow,
)
from ..platform import clock, exports, inputs, payments
from ..rules import events as rules
from ..security import ScopedInterface, apply_scope
from .base import (
    Attempt,
    GuichetModelRestApi,
    GuichetModelView,
    JsonRefused,
    OffsetDateTime,
    WorkflowModelView,
    json_fields,
    read_json,
)

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


def _counts_chart(counts) -> dict:
    """The places per ticket as the platform's chart script reads them (FAB's data
    table), and the sentence that says the same to whoever cannot see the chart."""
    columns = [gettext("Ticket"), gettext("Pre-reserved"), gettext("Reserved"), gettext("Capacity")]
    rows = [{"c": [{"v": ticket_type.name}, {"v": pre}, {"v": reserved}, {"v": capacity}]}
            for ticket_type, pre, reserved, capacity in counts]
    summary = "; ".join(gettext("%(ticket)s: %(pre)d pre-reserved, %(reserved)d reserved of %(capacity)d",
                                ticket=ticket_type.name, pre=pre, reserved=reserved, capacity=capacity)
                        for ticket_type, pre, reserved, capacity in counts)
    return {"table": {"cols": [{"label": label} for label in columns], "rows": rows},
            "summary": gettext("Places per ticket: %(summary)s.", summary=summary)}


def _items_of(place) -> list:
    """A place's extra items, each with what was given for it (None: nothing yet)."""
    answers = {answer.extra_info_id: answer for answer in place.answers}
    return [(info, answers.get(info.id)) for info in place.ticket_type.extra_infos]


# ---------------------------------------------------------------------------
# The configuration screen: what its forms send, read as the rules take it
# ---------------------------------------------------------------------------

CONFIGURATION_TABS = (
    ("information", _l("Information")), ("tickets", _l("Ticket types")), ("options", _l("Options")),
    ("groups", _l("Option groups")), ("items", _l("Extra items")), ("admins", _l("Admins")),
    ("payments", _l("Payment accounts")),
)
#: How a datetime-local input writes a moment (local time, to the minute).
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _choice(name, label):
    """The id a drop-down sends under `name`, None when empty; refused naming it otherwise."""
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return inputs.int64(value)
    except ValueError:
        raise rules.EventRefused(name, gettext("%(field)s: choose among the offered values.", field=label)) from None


def _choices(name, label) -> list:
    """The ids a multiple drop-down sends under `name`."""
    values = []
    for value in request.form.getlist(name):
        if value.strip():
            try:
                values.append(inputs.int64(value))
            except ValueError:
                raise rules.EventRefused(name, gettext("%(field)s: choose among the offered values.",
                                                       field=label)) from None
    return values


def _whole(name):
    """A whole number typed under `name`, or the text as typed: the rule refuses it, naming the field."""
    value = request.form.get(name, "").strip()
    try:
        return inputs.int64(value)
    except ValueError:
        return value


def _promotions() -> list:
    """The promotions typed as comma-separated years (what is not a number, the rule refuses)."""
    return [_year(part.strip()) for part in request.form.get("promotions", "").split(",") if part.strip()]


def _year(text):
    try:
        return inputs.int64(text)
    except ValueError:
        return text


def _moment(name, label):
    """A moment typed in local time (a datetime-local input) as the UTC the database keeps;
    None when empty or unreadable (`check_event` then refuses it, naming the field)."""
    text = request.form.get(name, "").strip()
    try:
        typed = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if typed is None:
        return None
    problem = inputs.date_problem(typed)
    if problem:
        raise rules.EventRefused(name, gettext("%(field)s: %(message)s", field=label, message=problem))
    if typed.tzinfo is not None:
        return typed.astimezone(timezone.utc).replace(tzinfo=None)
    return clock.to_utc(typed)


def _local_input(moment) -> str:
    """A UTC moment as a datetime-local input shows it, in local time."""
    return clock.LocalMoments().one(moment).strftime(LOCAL_INPUT) if moment else ""


def _own(rows, name, label):
    """The row of `rows` (the event's own) whose id the form sends under `name`; refused otherwise."""
    wanted = _choice(name, label)
    for row in rows:
        if row.id == wanted:
            return row
    raise rules.EventRefused(name, gettext("%(field)s: choose among the offered values.", field=label))


def _save_information(event):
    rules.check_manager(g.user, event)
    rules.check_event(
        event, name=request.form.get("name"),
        starts_on=_moment("starts_on", gettext("Starts on")), ends_on=_moment("ends_on", gettext("Ends on")),
        sale_opens_on=_moment("sale_opens_on", gettext("Sale opens on")),
        sale_closes_on=_moment("sale_closes_on", gettext("Sale closes on")),
        visibility=request.form.get("visibility", ""), sponsorship_limit=_whole("sponsorship_limit"),
        place=request.form.get("place", "").strip() or None,
        description=request.form.get("description", "").strip() or None)
    inputs.check_row(event, {name: str(label) for name, label in EVENT_LABELS.items()})
    db.session.flush()
    return gettext("The event's information is saved.")


def _ticket_type_fields():
    return {"name": request.form.get("name"), "price": request.form.get("price", ""),
            "capacity": _whole("capacity"), "sponsorship_allowed": bool(request.form.get("sponsorship_allowed")),
            "promotions": _promotions(), "school_ids": _choices("schools", gettext("Schools")),
            "association_ids": _choices("memberships", gettext("Paid members of")),
            "description": request.form.get("description", "").strip() or None}


def _checked_ticket_type(ticket_type):
    inputs.check_row(ticket_type, {name: str(label) for name, label in TICKET_TYPE_LABELS.items()})
    db.session.flush()


def _add_ticket_type(event):
    ticket_type = rules.save_ticket_type(g.user, event, kind=request.form.get("kind", ""), **_ticket_type_fields())
    _checked_ticket_type(ticket_type)
    return gettext("%(name)s: created.", name=ticket_type.name)


def _edit_ticket_type(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    rules.save_ticket_type(g.user, event, ticket_type, **_ticket_type_fields())
    _checked_ticket_type(ticket_type)
    return gettext("%(name)s: saved.", name=ticket_type.name)


def _delete_ticket_type(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    name = ticket_type.name
    rules.delete_ticket_type(g.user, ticket_type)
    return gettext("%(name)s: deleted.", name=name)


def _add_option(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    option = rules.save_option(g.user, ticket_type, name=request.form.get("name"),
                               price_change=request.form.get("price_change", ""),
                               group_id=_choice("group", gettext("Group")))
    return gettext("%(name)s: created.", name=option.name)


def _delete_option(event):
    option = _own([o for t in event.ticket_types for o in t.options], "option", gettext("Option"))
    name = option.name
    rules.delete_configuration(g.user, option)
    return gettext("%(name)s: deleted.", name=name)


def _add_group(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    group = rules.save_option_group(g.user, ticket_type, name=request.form.get("name"))
    return gettext("%(name)s: created.", name=group.name)


def _delete_group(event):
    group = _own([o for t in event.ticket_types for o in t.option_groups], "group", gettext("Group"))
    name = group.name
    rules.delete_configuration(g.user, group)
    return gettext("%(name)s: deleted.", name=name)


def _add_item(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    item = rules.save_extra_info(g.user, ticket_type, label=request.form.get("label"),
                                 kind=request.form.get("kind", ""),
                                 choices=request.form.get("choices", "").strip() or None)
    inputs.check_row(item, {"label": gettext("Label"), "choices": gettext("Choices")})
    db.session.flush()
    return gettext("%(name)s: created.", name=item.label)


def _delete_item(event):
    item = _own([i for t in event.ticket_types for i in t.extra_infos], "item", gettext("Extra item"))
    name = item.label
    rules.delete_configuration(g.user, item)
    return gettext("%(name)s: deleted.", name=name)


def _set_template(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    rules.set_ticket_template(g.user, ticket_type, request.files.get("template"))
    return gettext("%(name)s: its tickets are drawn on the new template.", name=ticket_type.name)


def _remove_template(event):
    ticket_type = _own(event.ticket_types, "ticket_type", gettext("Ticket"))
    rules.remove_ticket_template(g.user, ticket_type)
    return gettext("%(name)s: its tickets use the default layout.", name=ticket_type.name)


def _choose_accounts(event):
    rules.choose_payment_accounts(g.user, event, _choice("paypal_account", gettext("PayPal account")),
                                  _choice("lydia_account", gettext("Lydia account")))
    return gettext("The event's payment accounts are saved.")


def _grant(event):
    kind = request.form.get("grantee_kind", "")
    value = request.form.get("grantee", "") if kind == "user" else _choice("grantee", gettext("Grantee"))
    grantee = rules.find_grantee(kind, value)
    grant_row = rules.grant_level(g.user, event, request.form.get("level", ""), **grantee)
    return gettext("%(grantee)s now holds the level %(level)s.", grantee=grant_row.grantee,
                             level=grant_row.level)


def _revoke(event):
    grant_row = _own(rules.active_grants(event), "grant", gettext("Right"))
    rules.revoke_level(g.user, grant_row)
    return gettext("%(grantee)s no longer holds the level %(level)s.", grantee=grant_row.grantee,
                             level=grant_row.level)


#: The configuration's forms: what each POST runs, returning what to say when it is done.
CONFIGURATION_FORMS = {
    "information": _save_information, "add_ticket_type": _add_ticket_type, "edit_ticket_type": _edit_ticket_type,
    "delete_ticket_type": _delete_ticket_type, "add_option": _add_option, "delete_option": _delete_option,
    "add_group": _add_group, "delete_group": _delete_group, "add_item": _add_item, "delete_item": _delete_item,
    "set_template": _set_template, "remove_template": _remove_template, "grant": _grant, "revoke": _revoke,
    "accounts": _choose_accounts,
}
#: Which tab each form lives on, to come back to it when refused.
FORM_TABS = {"information": "information", "add_ticket_type": "tickets", "edit_ticket_type": "tickets",
             "delete_ticket_type": "tickets", "add_option": "options", "delete_option": "options",
             "add_group": "groups", "delete_group": "groups", "add_item": "items", "delete_item": "items",
             "set_template": "tickets", "remove_template": "tickets", "grant": "admins", "revoke": "admins",
             "accounts": "payments"}


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
                        "can_places", "can_drop", "can_answer", "can_configure", "can_ticket"]

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
        place, level = rules.place_of(user, event), rules.level_of(user, event)
        counts = rules.counts(event) if level is not None else None
        may_give = (not event.cancelled and level is not None and level.rank >= AdminLevel.validate.rank
                    and self.appbuilder.sm.has_access("can_give", "ReservationView"))
        return self.render_template(
            self.show_template, title=event.name, event=event, offers=offers, place=place,
            guests=rules.guests_of(user, event), level=level,
            counts=counts, counts_chart=_counts_chart(counts) if counts else None, may_give=may_give,
            may_configure=level is not None and self.appbuilder.sm.has_access(
                "can_configure", self.class_permission_name),
            may_book=place is None and any(reason is None for _, reason in offers),
            may_export=level is not None and self.appbuilder.sm.has_access("can_export", "ReservationView"),
            guest_slots=range(event.sponsorship_limit), form=request.form)

    def _configured_event(self, pk):
        """The event and the reader's level on it: only its admins (view or more) see its
        configuration; for anyone else it does not exist (404)."""
        event = self._event(pk)
        level = rules.level_of(g.user, event)
        if level is None:
            abort(404)
        return event, level

    @expose("/configure/<int:pk>")
    @has_access
    @permission_name("configure")
    def configure_home(self, pk):
        self._configured_event(pk)
        return redirect(url_for(".configure", pk=pk, tab="information"))

    @expose("/configure/<int:pk>/<tab>")
    @has_access
    @permission_name("configure")
    def configure(self, pk, tab):
        """One tab of an event's configuration; read-only below the manage level."""
        event, level = self._configured_event(pk)
        if tab not in dict(CONFIGURATION_TABS):
            abort(404)
        frozen = {ticket_type.id: rules.is_frozen(ticket_type) for ticket_type in event.ticket_types}
        return self.render_template(
            "events/configure.html", title=gettext("Configuration of %(event)s", event=event.name), event=event,
            tab=tab, tabs=CONFIGURATION_TABS, tab_label=dict(CONFIGURATION_TABS)[tab],
            may_manage=level is AdminLevel.manage, level=level, frozen=frozen,
            moments={name: _local_input(getattr(event, name))
                     for name in ("starts_on", "ends_on", "sale_opens_on", "sale_closes_on")},
            visibilities=list(EventVisibility), ticket_kinds=list(TicketKind), item_kinds=list(ExtraInfoKind),
            levels=[lvl for lvl in AdminLevel if lvl.rank <= level.rank],
            schools=db.session.query(School).order_by(School.name).all() if tab == "tickets" else [],
            associations=db.session.query(Association).order_by(Association.id).all()
            if tab in ("tickets", "admins") else [],
            groups=db.session.query(Group).order_by(Group.name).all() if tab == "admins" else [],
            grants=rules.active_grants(event) if tab == "admins" else [],
            accounts={provider: rules.offered_accounts(event, provider) for provider in PaymentProvider}
            if tab == "payments" else {})

    @expose("/configure/<int:pk>/save/<form>", methods=["POST"])
    @has_access
    @permission_name("configure")
    def configure_save(self, pk, form):
        """One form of the configuration: parsed, then decided by the rule (which checks
        the manage level and the frozen ticket types); a refusal names its field."""
        event, _level = self._configured_event(pk)
        handler = CONFIGURATION_FORMS.get(form)
        if handler is None:
            abort(404)
        with Attempt() as attempt:
            attempt.done = handler(event)
        return redirect(url_for(".configure", pk=event.id, tab=FORM_TABS[form]))

    @expose("/ticket-template-sample")
    @has_access
    @permission_name("configure")
    def ticket_template_sample(self):
        """The sample template: the size and white zones a ticket type's artwork must keep."""
        return Response(rules.sample_ticket_template(), mimetype="image/png", headers={
            "Content-Disposition": 'attachment; filename="modele-billet-2480x1169.png"'})

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
                                    missing={place.id: rules.ticket_missing(place) for place, _ in places},
                                    payment_offer=payment_offer,
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

    @expose("/ticket/<int:reservation_id>", methods=["GET"])
    @has_access
    def ticket(self, reservation_id):
        """A place's PDF ticket with its signed QR code, or why not yet."""
        place = _scoped_or_404(Reservation, reservation_id)
        with Attempt() as attempt:
            pdf = rules.ticket_pdf(g.user, place)
        if attempt.refused is not None:
            return redirect(url_for(".places"))
        return Response(pdf, mimetype="application/pdf", headers={
            "Content-Disposition": f'inline; filename="billet-{place.id}.pdf"', "Cache-Control": "no-store"})


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
    base_permissions = ["can_list", "can_show", "can_export", "can_validate_item", "validate_items", "can_give",
                        "delete_prereservations"]
    show_template = "events/reservation_show.html"

    def show_actions(self, item) -> dict:
        """The page validates each item on its own line; the bulk validation is the grid's."""
        return {name: found for name, found in super().show_actions(item).items() if name != "validate_items"}

    def show_context(self, item) -> dict:
        may_validate = holds(g.user, item.event, AdminLevel.validate)
        return {"items": _items_of(item), "may_validate": may_validate,
                "may_give": may_validate and not item.event.cancelled
                and self.appbuilder.sm.has_access("can_give", self.class_permission_name)}

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
            label = f"{answer.reservation} — {answer.extra_info.label}"
            with Attempt(flash_refusal=False) as attempt:
                rules.validate_answer(g.user, answer)
            if attempt.refused is None:
                validated += 1
            else:
                flash(f"{label}: {attempt.refused.message}", "danger")
        flash(ngettext("%(num)d extra item validated.", "%(num)d extra items validated.", validated),
              "success" if validated else "info")
        return redirect(self.get_redirect())

    @action("delete_prereservations", _l("Delete the pre-reservations"),
            _l("Delete the selected pre-reservations? Their places are freed; reservations are kept."), "fa-trash")
    def delete_prereservations(self, items):
        """Each selected pre-reservation deleted on its own; a row skipped is named with its reason."""
        places = [(place, str(place)) for place in (items if isinstance(items, list) else [items])]
        deleted = 0
        for place, label in places:
            with Attempt(flash_refusal=False) as attempt:
                rules.delete_prereservation(g.user, place)
            if attempt.refused is None:
                deleted += 1
            else:
                flash(f"{label}: {attempt.refused.message}", "danger")
        flash(ngettext("%(num)d pre-reservation deleted.", "%(num)d pre-reservations deleted.", deleted),
              "success" if deleted else "info")
        return redirect(self.get_redirect())

    @expose("/give/<int:event_id>", methods=["GET", "POST"])
    @has_access
    def give(self, event_id):
        """Give a place to a named person (an organiser's decision: no restriction, no
        sale window; the capacity and one place per person hold)."""
        event = _scoped_or_404(Event, event_id)
        refused = None
        if request.method == "POST":
            with Attempt(flash_refusal=False) as attempt:
                ticket_type_id = _ids("ticket_type")[:1]
                place = rules.give_place(g.user, event, ticket_type_id[0] if ticket_type_id else None,
                                         request.form.get("person", ""), _ids("options"))
                attempt.done = gettext("A place is given to %(name)s, who is mailed.", name=place.holder_name)
            if attempt.refused is None:
                return redirect(url_for(".show", pk=place.id))
            refused = attempt.refused
        elif not holds(g.user, event, AdminLevel.validate):
            refused = rules.EventRefused(None, gettext(
                "Only the event's organisers at validate level may give places."))
        return self.render_template("events/give.html", title=gettext("Give a place"), event=event,
                                    refused=refused, form=request.form)

    @expose("/export_places/<int:event_id>/<fmt>", methods=["POST"])
    @has_access
    @permission_name("export")
    def export_places(self, event_id, fmt):
        """An event's places, written by the platform's export job (the door's list in
        PDF; every field in XLSX; with the uploaded files in zip or tar.gz) for its
        admins (the rule checks the level); the export's page follows its progress."""
        document = rules.PLACES_EXPORTS.get(fmt)
        if document is None:
            abort(404)
        with Attempt() as attempt:
            export = exports.start_document(document, fmt, {"event": event_id})
        if attempt.refused is not None:
            return redirect(url_for("EventView.show", pk=event_id))
        return redirect(url_for("ExportView.progress", export_id=export.id))


def _json_ids(values, field) -> list:
    """A JSON list of ids (64-bit integers), or JsonRefused naming the field."""
    values = values or []
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and inputs.is_int64(v) for v in values):
        raise JsonRefused(field, gettext("%(field)s: a list of integers is expected.", field=field))
    return values


def _json_event(values, read=None):
    """The event a JSON body names under "event", in the reader's scope (None: not one they
    see); `read(event_id)`: how it is read instead."""
    if "event" not in values:
        raise JsonRefused("event", gettext("%(field)s: this field is required.", field="event"))
    if read is not None:
        return read(values["event"])
    return apply_scope(db.session.query(Event), Event).filter(Event.id == values["event"]).one_or_none()


def _json_guests(guests) -> list:
    """The guests of a JSON booking, each {name, email, ticket_type, options} checked for its kinds."""
    if not isinstance(guests, list):
        raise JsonRefused("guests", gettext("%(field)s: a list is expected.", field="guests"))
    read = []
    for index, guest in enumerate(guests):
        field = f"guests[{index}]"
        if not isinstance(guest, dict):
            raise JsonRefused(field, gettext("%(field)s: an object is expected.", field=field))
        values = json_fields(guest, {"name": str, "email": str, "ticket_type": int}, f"{field}.")
        values["options"] = _json_ids(guest.get("options"), f"{field}.options")
        read.append(values)
    return read


class EventApi(GuichetModelRestApi):
    """Events: read in scope; cancelled through the rule (the manage level is checked on the event)."""

    grid = EventView
    resource_name = "event"
    base_permissions = ["can_get", "can_info", "can_cancel"]
    include_route_methods = {"get", "get_list", "info", "cancel"}

    @expose("/<int:pk>/cancel", methods=["POST"])
    @protect()
    @safe
    @permission_name("cancel")
    def cancel(self, pk):
        """Cancel an event, as its grid's action does.
        ---
        post:
          summary: Cancel an event (pre-reservations deleted, paid places to refund, holders mailed)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: Cancelled
              content:
                application/json:
                  schema: {type: object, properties: {deleted: {type: integer}, to_refund: {type: integer}}}
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self.run_on_row(pk, lambda event: rules.cancel_event(g.user, event), answer=lambda result: result)


class TicketTypeApi(GuichetModelRestApi):
    """Ticket types: read in scope; created, changed and deleted through the configuration
    rules (the manage level, the kind fixed at creation, frozen once a place is taken)."""

    grid = TicketTypeView
    resource_name = "tickettype"
    base_permissions = ["can_get", "can_info", "can_post", "can_put", "can_delete"]
    include_route_methods = {"get", "get_list", "info", "post", "put", "delete"}
    FIELDS = {"name": str, "price": str, "capacity": int, "sponsorship_allowed": bool, "promotions": list,
              "schools": list, "memberships": list, "description": str}

    def _save(self, event, ticket_type=None):
        if event is None:
            raise rules.EventRefused("event", gettext("Event: no such event."))
        values = read_json({"event": int, "kind": str, **self.FIELDS})
        current = ticket_type or TicketType(price=0, capacity=0, sponsorship_allowed=False)
        return rules.save_ticket_type(
            g.user, event, ticket_type, name=values.get("name", getattr(current, "name", None)),
            kind=values.get("kind"), price=values.get("price", current.price),
            capacity=values.get("capacity", current.capacity),
            sponsorship_allowed=values.get("sponsorship_allowed", current.sponsorship_allowed),
            promotions=_json_ids(values["promotions"], "promotions") if "promotions" in values
            else [row.promotion for row in getattr(current, "promotion_rows", [])],
            school_ids=_json_ids(values["schools"], "schools") if "schools" in values
            else [school.id for school in current.schools],
            association_ids=_json_ids(values["memberships"], "memberships") if "memberships" in values
            else [association.id for association in current.memberships],
            description=values.get("description", current.description))

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """Create a ticket type on an event one manages.
        ---
        post:
          summary: Create a ticket type (kind open or restricted, fixed at creation)
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [event, name, kind]
                  properties:
                    event: {type: integer}
                    name: {type: string}
                    kind: {type: string, enum: [open, restricted]}
                    price: {type: string}
                    capacity: {type: integer}
                    sponsorship_allowed: {type: boolean}
                    promotions: {type: array, items: {type: integer}}
                    schools: {type: array, items: {type: integer}}
                    memberships: {type: array, items: {type: integer}}
                    description: {type: string}
          responses:
            201:
              description: Created; its id
            422:
              $ref: '#/components/responses/422'
        """
        return self.run_rule(lambda: self._save(_json_event(read_json({"event": int}))), 201,
                             lambda ticket_type: {"id": ticket_type.id})

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def put(self, pk):
        """Change a ticket type while it has no place (its kind never changes).
        ---
        put:
          summary: Change a ticket type (refused once it has a place)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: Changed
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self.run_on_row(pk, lambda ticket_type: self._save(ticket_type.event, ticket_type),
                               answer=lambda changed: {"id": changed.id})

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    def delete(self, pk):
        """Delete a ticket type while it has no place.
        ---
        delete:
          summary: Delete a ticket type (refused once it has a place)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: Deleted
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self.run_on_row(pk, lambda ticket_type: rules.delete_ticket_type(g.user, ticket_type))


def _place_answer(places) -> dict:
    return {"ids": [place.id for place in places], "states": [place.state.value for place in places],
            "total": str(sum((place.price for place in places), rules.ZERO))}


class ReservationApi(GuichetModelRestApi):
    """Places: read in scope; booked, given, deleted and their items validated through
    the desk's rules; marked paid and opposed through their transitions."""

    grid = ReservationView
    resource_name = "reservation"
    base_permissions = ["can_get", "can_info", "can_post", "can_delete", "can_give", "can_validate_item"]
    include_route_methods = {"get", "get_list", "info", "post", "delete", "give", "validate_item"}

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """Book, as the booking form does.
        ---
        post:
          summary: Take a place (and places for guests) on an event
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [event, ticket_type]
                  properties:
                    event: {type: integer}
                    ticket_type: {type: integer}
                    options: {type: array, items: {type: integer}}
                    guests:
                      type: array
                      items:
                        type: object
                        required: [name]
                        properties:
                          name: {type: string}
                          email: {type: string}
                          ticket_type: {type: integer}
                          options: {type: array, items: {type: integer}}
          responses:
            201:
              description: Taken; the places' ids (the holder's first), states and total price
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      ids: {type: array, items: {type: integer}}
                      states: {type: array, items: {type: string}}
                      total: {type: string}
            401:
              $ref: '#/components/responses/401'
            422:
              $ref: '#/components/responses/422'
        """
        def book():
            values = read_json({"event": int, "ticket_type": int, "options": list, "guests": list})
            options = _json_ids(values.get("options"), "options")
            guests = _json_guests(values.get("guests", []))
            return rules.book(g.user, _json_event(values), values.get("ticket_type"), options, guests)

        return self.run_rule(book, 201, _place_answer)

    @expose("/give", methods=["POST"])
    @protect()
    @safe
    @permission_name("give")
    def give(self):
        """Give a place to a named person, as the organisers' page does.
        ---
        post:
          summary: Give a place to a person (organisers at validate level)
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [event, ticket_type, person]
                  properties:
                    event: {type: integer}
                    ticket_type: {type: integer}
                    person: {type: string, description: "the person's username or mail"}
                    options: {type: array, items: {type: integer}}
          responses:
            201:
              description: Given
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      ids: {type: array, items: {type: integer}}
                      states: {type: array, items: {type: string}}
                      total: {type: string}
            401:
              $ref: '#/components/responses/401'
            422:
              $ref: '#/components/responses/422'
        """
        def give():
            values = read_json({"event": int, "ticket_type": int, "person": str, "options": list})
            options = _json_ids(values.get("options"), "options")
            event = _json_event(values)
            if "person" not in values:
                raise JsonRefused("person", gettext("%(field)s: this field is required.", field="person"))
            return [rules.give_place(g.user, event, values.get("ticket_type"), values["person"], options)]

        return self.run_rule(give, 201, _place_answer)

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    def delete(self, pk):
        """Delete a pre-reservation (its holder, its sponsor or an organiser at validate level).
        ---
        delete:
          summary: Delete a pre-reservation (a reservation is never deleted, only opposed)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: Deleted
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self.run_on_row(pk, lambda place: rules.delete_prereservation(g.user, place),
                               answer=lambda _: {"id": pk, "message": gettext("The pre-reservation is deleted.")})

    @expose("/<int:pk>/items/<int:info_id>/validate", methods=["POST"])
    @protect()
    @safe
    @permission_name("validate_item")
    def validate_item(self, pk, info_id):
        """Validate, for good, the extra item a holder gave (organisers at validate level).
        ---
        post:
          summary: Validate an extra item of a place
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          - {in: path, name: info_id, schema: {type: integer}, description: "the extra item (its id)"}
          responses:
            200:
              description: Validated
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id: {type: integer}
                      validated_on: {type: string, format: date-time}
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        place = self.datamodel.get(pk, self._base_filters)
        if place is None or info_id not in {info.id for info in place.ticket_type.extra_infos}:
            return self.response_404()

        def validate():
            given = next((answer for answer in place.answers if answer.extra_info_id == info_id), None)
            if given is None:
                raise rules.EventRefused("extra_info", gettext("Extra item: nothing was given for it yet."))
            return rules.validate_answer(g.user, given)

        return self.run_rule(validate, answer=lambda given: {
            "id": given.id, "validated_on": OffsetDateTime()._serialize(given.validated_on, None, None)})


# -- Online payment (app.platform.payments): "Pay" on My places; an event's accounts are
# chosen on its configuration's "Payment accounts" tab, among its association's --


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
    register_checkin(appbuilder)


# ---------------------------------------------------------------------------
# Check-in: the scanner page (camera or typed codes, offline with its pack) and its API
# ---------------------------------------------------------------------------


def _checkin_event(event_id):
    """The event of a scanner page: 404 when the reader does not see it, 403 below the check-in level."""
    event = staffed_event(g.user, event_id)
    if event is None:
        abort(404)
    if not holds(g.user, event, AdminLevel.checkin):
        abort(403)
    return event


def _rfc3339(value):
    return OffsetDateTime()._serialize(value, None, None) if value is not None else None


def verdict_answer(verdict) -> dict:
    """A scan's verdict as the scanner page and API clients read it."""
    place, entry = verdict.reservation, verdict.entry
    return {"verdict": verdict.code, "ok": verdict.ok, "message": verdict.message,
            "reservation": place.id if place is not None else None,
            "holder": place.holder_name if place is not None else None,
            "ticket": place.ticket_type.name if place is not None else None,
            "checked_in_on": _rfc3339(entry.checked_in_on) if entry is not None else None,
            "by": entry.by.get_full_name() if entry is not None and entry.by is not None else None,
            "duplicate": verdict.duplicate, "replayed": verdict.replayed}


def pack_answer(pack) -> dict:
    """The offline pack, its public key in base64 (what WebCrypto imports), stamped now."""
    key = pack["public_key"]
    return {**pack, "public_key": base64.b64encode(key).decode("ascii") if key else None,
            "generated_on": _rfc3339(utcnow())}


def _scan_time(text):
    """The `scanned_on` an offline scanner sends (RFC 3339 with its offset), or None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise JsonRefused("scanned_on", gettext("Scanned on: a date and time with its offset is expected."))
    return moment


class CheckInView(BaseView):
    """The scanner page of an event's door, for its check-in staff: the camera or a typed
    code (a form that works without JavaScript), the verdict, the live counts, the last
    entry undone with a reason. Its script uses CheckInApi, and keeps the offline pack."""

    route_base = "/events/checkin"
    base_permissions = ["can_checkin"]

    def _page(self, event, verdict=None, refused=None, token=""):
        return self.render_template(
            "events/checkin.html", title=gettext("Check-in — %(event)s", event=event.name), event=event,
            verdict=verdict, refused=refused, token=token, counts=rules.checkin_counts(event), nonce=uuid.uuid4().hex)

    @expose("/<int:event_id>", methods=["GET", "POST"])
    @has_access
    @permission_name("checkin")
    def scanner(self, event_id):
        """The page; its typed-code form posts here and is answered on the page (sent
        again, the same nonce gets the same answer)."""
        event = _checkin_event(event_id)
        if request.method == "GET":
            return self._page(event)
        answer = None
        with Attempt(flash_refusal=False) as attempt:
            answer = verdict_answer(rules.scan(g.user, event, request.form.get("token", ""),
                                               request.form.get("nonce", "")))
        return self._page(event, verdict=answer, refused=attempt.refused,
                          token=request.form.get("token", "") if attempt.refused else "")

    @expose("/<int:event_id>/undo", methods=["POST"])
    @has_access
    @permission_name("checkin")
    def undo(self, event_id):
        """Undo the last entry one recorded, with the reason typed."""
        event = _checkin_event(event_id)
        with Attempt() as attempt:
            entry = rules.undo_last(g.user, event, request.form.get("reason", ""))
            attempt.done = gettext("Entry undone: %(name)s.", name=entry.reservation.holder_name)
        return redirect(url_for(".scanner", event_id=event.id))


CHECKIN_LABELS = {
    "id": _l("No."), "event_id": _l("Event"), "reservation_id": _l("Place (no.)"), "checked_in_on": _l("Checked in on"),
    "recorded_on": _l("Recorded on"), "by_id": _l("Checked in by"), "nonce": _l("Scan's nonce"),
    "offline": _l("Scanned offline"), "undone_on": _l("Undone on"), "undone_by_id": _l("Undone by"),
    "undo_reason": _l("Reason of the undo"),
}


class CheckInApi(GuichetModelRestApi):
    """Entries at events' doors: read by the events' admins; a scan, the live counts,
    the last entry undone and the offline pack for their check-in staff (the rule checks
    the level on the event), with a bearer token or the scanner page's session."""

    datamodel = ScopedInterface(CheckIn)
    resource_name = "checkin"
    list_title = _l("Entries")
    show_title = add_title = edit_title = _l("Entry")
    base_permissions = ["can_get", "can_info", "can_post"]
    include_route_methods = {"get", "get_list", "info", "post", "counts", "undo", "pack"}
    list_columns = show_columns = list(CHECKIN_LABELS)
    search_columns = ["event_id", "reservation_id", "offline", "checked_in_on"]
    label_columns = CHECKIN_LABELS
    base_order = ("id", "desc")

    def _event(self, event_id):
        """The event in the reader's scope, read with their level on it, which the rule checks next."""
        return staffed_event(g.user, event_id)

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """Check a ticket in, as the scanner page does.
        ---
        post:
          summary: Scan a ticket at an event's door (check-in level); the verdict
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [event, token, nonce]
                  properties:
                    event: {type: integer}
                    token: {type: string, description: "what the ticket's QR code holds"}
                    nonce:
                      type: string
                      description: "the scanner's name for this scan (a UUID): sent again, the same answer"
                    scanned_on:
                      type: string
                      format: date-time
                      description: "an offline scan's own time, when synced"
          responses:
            200:
              description: >-
                The verdict: ok, already, not_paid, items_missing, opposed, cancelled,
                other_event, unknown or bad_signature
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      verdict: {type: string}
                      ok: {type: boolean}
                      message: {type: string}
                      reservation: {type: integer, nullable: true}
                      holder: {type: string, nullable: true}
                      ticket: {type: string, nullable: true}
                      checked_in_on: {type: string, format: date-time, nullable: true}
                      by: {type: string, nullable: true}
                      duplicate: {type: boolean}
                      replayed: {type: boolean}
            401:
              $ref: '#/components/responses/401'
            422:
              $ref: '#/components/responses/422'
        """
        def scan():
            values = read_json({"event": int, "token": str, "nonce": str, "scanned_on": str})
            event = _json_event(values, read=self._event)
            if event is None:
                raise rules.EventRefused("event", gettext("Event: no such event."))
            return verdict_answer(rules.scan(g.user, event, values.get("token", ""), values.get("nonce"),
                                             _scan_time(values.get("scanned_on"))))

        return self.run_rule(scan, answer=lambda answer: answer)

    @expose("/counts/<int:event_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def counts(self, event_id):
        """An event's live counts at its door.
        ---
        get:
          summary: Places entered and expected (reserved) at an event's door (check-in level)
          parameters:
          - {in: path, name: event_id, schema: {type: integer}}
          responses:
            200:
              description: The counts
              content:
                application/json:
                  schema: {type: object, properties: {entered: {type: integer}, expected: {type: integer}}}
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        event = self._event(event_id)
        if event is None:
            return self.response_404()

        def counts():
            rules.check_checkin_staff(g.user, event)
            return rules.checkin_counts(event)

        return self.run_rule(counts, answer=lambda answer: answer)

    @expose("/undo/<int:event_id>", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def undo(self, event_id):
        """Undo the last entry one recorded at an event's door, with a reason.
        ---
        post:
          summary: Undo one's last entry at an event's door (check-in level; a reason is required)
          parameters:
          - {in: path, name: event_id, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, required: [reason], properties: {reason: {type: string}}}
          responses:
            200:
              description: Undone; the entry and the live counts
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        event = self._event(event_id)
        if event is None:
            return self.response_404()

        def undo():
            entry = rules.undo_last(g.user, event, read_json({"reason": str}).get("reason"))
            return {"id": entry.id, "reservation": entry.reservation_id, "holder": entry.reservation.holder_name,
                    "undone_on": _rfc3339(entry.undone_on), "reason": entry.undo_reason,
                    "message": gettext("Entry undone: %(name)s.", name=entry.reservation.holder_name),
                    "counts": rules.checkin_counts(event)}

        return self.run_rule(undo, answer=lambda answer: answer)

    @expose("/pack/<int:event_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def pack(self, event_id):
        """What a scanner keeps to check tickets offline.
        ---
        get:
          summary: The offline pack of an event's door (check-in level)
          parameters:
          - {in: path, name: event_id, schema: {type: integer}}
          responses:
            200:
              description: >-
                The event's public key (base64 of its 32 raw Ed25519 bytes; null before its
                first ticket) and the places a valid signature does not let in
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      public_key: {type: string, nullable: true}
                      cancelled: {type: boolean}
                      revoked: {type: array, items: {type: integer}}
                      not_paid: {type: array, items: {type: integer}}
                      items_missing: {type: array, items: {type: integer}}
                      entered: {type: array, items: {type: integer}}
                      generated_on: {type: string, format: date-time}
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        event = self._event(event_id)
        if event is None:
            return self.response_404()
        return self.run_rule(lambda: pack_answer(rules.offline_pack(g.user, event)), answer=lambda answer: answer)


def register_checkin(appbuilder):
    appbuilder.add_view_no_menu(CheckInView)
    appbuilder.add_api(CheckInApi)
