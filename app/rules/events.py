"""Desk D, event ticketing — the decisions: who may take which ticket type and why
not, booking (options, sponsored guests, price, capacity), pre-reservations deleted,
places marked paid or opposed, extra items answered and validated, the events'
configuration (frozen once a ticket type has a place), admin levels, event creation
and cancellation, when an external account may leave, the reminders the day before.

Capacity holds under any concurrency, on both databases: a booking raises the ticket
type's `taken` with a conditional update (`taken = taken + n WHERE taken + n <=
capacity`), which PostgreSQL runs under the row's lock (the second writer waits, then
re-reads) and SQLite under its one write lock, taken before the booking reads
anything (`transactions.serialise`). One place per person per event is the unique
index of `Reservation`: a concurrent second booking of the same person fails on it
and everything it wrote is rolled back.
"""
from __future__ import annotations

import functools
import logging
import mimetypes
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional

from flask_appbuilder.security.sqla.models import Group, User
from flask_babel import format_date, format_datetime, format_time, gettext, lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, joinedload

from ..access.events import holds, is_board_member, level_of, organisers, sees_event
from ..extensions import db
from ..models import (
    AdminLevel,
    Association,
    AssociationMembership,
    CheckIn,
    DelegationAction,
    Event,
    EventAdminGrant,
    EventVisibility,
    ExtraInfo,
    ExtraInfoAnswer,
    ExtraInfoKind,
    Option,
    OptionGroup,
    Payment,
    PaymentAccount,
    PaymentProvider,
    PaymentState,
    PersonProfile,
    Reservation,
    ReservationState,
    School,
    StoredFile,
    TicketKind,
    TicketType,
    TicketTypePromotion,
    reservation_option,
    utcnow,
)
from ..platform import (accounts, delegation, exports, files, inputs, jobs, notifications, passes, payments, signing,
                        transactions)
from ..platform.clock import LocalMoments, local_today, start_of_local_day, zone
from ..platform.refusals import Refused
from ..platform.workflow import OnBehalf, Transition, Workflow
from ..security import apply_scope, is_admin, signed_in_person

SIZES = ("XS", "S", "M", "L", "XL", "XXL")
PRERESERVED, RESERVED, OPPOSED = ReservationState.prereserved, ReservationState.reserved, ReservationState.opposed
ZERO = Decimal("0.00")

log = logging.getLogger(__name__)


class EventRefused(Refused):
    """A booking, a configuration change or a grant that is refused; the message names the field."""


def _when(moment) -> str:
    """A UTC datetime as people read it, in their zone."""
    local = moment.replace(tzinfo=timezone.utc).astimezone(zone()).replace(tzinfo=None)
    return format_datetime(local, "short", rebase=False)


def _link(event) -> str:
    return f"/events/show/{event.id}"


MY_PLACES = "/events/places"  # "My places": each place's state, items and PDF ticket


# ---------------------------------------------------------------------------
# People: school, promotion, memberships
# ---------------------------------------------------------------------------


def profile_of(user):
    return db.session.get(PersonProfile, user.id) if user is not None else None


def paid_member_of(user, association_ids, today=None) -> bool:
    """Whether the person's paid membership ("adhésion") of one of these associations runs today."""
    today = today or local_today()
    return db.session.query(AssociationMembership.id).filter(
        AssociationMembership.user_id == user.id, AssociationMembership.association_id.in_(list(association_ids)),
        AssociationMembership.paid_until >= today).first() is not None


def _promotions_text(promotions) -> str:
    return "–".join(str(p) for p in promotions) if len(promotions) == 2 and promotions[1] == promotions[0] + 1 \
        else ", ".join(str(p) for p in promotions)


def restriction_refusal(user, ticket_type):
    """Why the restrictions of a ticket type keep this person out, or None. Within a
    kind of restriction any one suffices; every kind the type has must hold."""
    if ticket_type.kind is TicketKind.open:
        return None
    profile = profile_of(user)
    promotions = ticket_type.promotions
    if promotions and (profile is None or profile.promotion not in promotions):
        return gettext("reserved for the promotions %(promotions)s", promotions=_promotions_text(promotions))
    schools = ticket_type.schools
    if schools and (profile is None or profile.school_id not in {s.id for s in schools}):
        return gettext("reserved for the students of %(schools)s", schools=", ".join(s.name for s in schools))
    associations = ticket_type.memberships
    if associations and not paid_member_of(user, [a.id for a in associations]):
        return gettext("reserved for the paid members of %(associations)s",
                       associations=", ".join(str(a) for a in associations))
    return None


def why_not(user, ticket_type, now=None):
    """Why this person may not take this ticket type now (as the event page says it), or None."""
    now = now or utcnow()
    event = ticket_type.event
    if event.cancelled:
        return gettext("the event is cancelled")
    if now < event.sale_opens_on:
        return gettext("sale opens on %(when)s", when=_when(event.sale_opens_on))
    if now >= event.sale_closes_on:
        return gettext("sale closed on %(when)s", when=_when(event.sale_closes_on))
    refusal = restriction_refusal(user, ticket_type)
    if refusal:
        return refusal
    if ticket_type.taken >= ticket_type.capacity:
        return gettext("full")
    return None


def place_of(user, event):
    """The person's own place on an event (not opposed), or None."""
    return db.session.scalar(select(Reservation).where(
        Reservation.event_id == event.id, Reservation.holder_id == user.id, Reservation.state != OPPOSED))


def guests_of(user, event) -> list:
    return db.session.scalars(select(Reservation).where(
        Reservation.event_id == event.id, Reservation.sponsor_id == user.id, Reservation.state != OPPOSED)
        .order_by(Reservation.id)).all()


# ---------------------------------------------------------------------------
# Booking
# ---------------------------------------------------------------------------


def _ticket_type(event, ticket_type_id, field):
    ticket_type = db.session.get(TicketType, ticket_type_id) if ticket_type_id else None
    if ticket_type is None or ticket_type.event_id != event.id:
        raise EventRefused(field, gettext("Ticket: choose one of the event's tickets."))
    return ticket_type


def chosen_options(ticket_type, option_ids, field="options") -> list:
    """The options chosen on a ticket type: its own, at most one per group (none: free)."""
    own = {option.id: option for option in ticket_type.options}
    chosen = []
    for option_id in dict.fromkeys(option_ids or ()):
        if option_id not in own:
            raise EventRefused(field, gettext("Options: choose among the ticket's options."))
        chosen.append(own[option_id])
    groups = [option.group_id for option in chosen if option.group_id is not None]
    if len(groups) != len(set(groups)):
        raise EventRefused(field, gettext("Options: one choice per group at most."))
    return chosen


def price_of(ticket_type, options) -> Decimal:
    """Ticket plus options, never below zero."""
    total = Decimal(ticket_type.price or 0) + sum((Decimal(o.price_change or 0) for o in options), ZERO)
    return max(total, ZERO).quantize(Decimal("0.01"))


def _take_places(ticket_type, count) -> None:
    """Raise the ticket type's count of places, or refuse when it would pass its capacity:
    one conditional update, which concurrent bookings run one after the other."""
    changed = db.session.execute(
        update(TicketType).where(TicketType.id == ticket_type.id, TicketType.taken + count <= TicketType.capacity)
        .values(taken=TicketType.taken + count).execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise EventRefused("ticket_type", gettext("Ticket: %(name)s is full.", name=ticket_type.name))


def _free_place(ticket_type_id) -> None:
    db.session.execute(update(TicketType).where(TicketType.id == ticket_type_id, TicketType.taken > 0)
                       .values(taken=TicketType.taken - 1).execution_options(synchronize_session=False))


def book(user, event, ticket_type_id, option_ids=(), guests=(), now=None) -> list:
    """Pre-reserve (or reserve, at price 0) a place for `user` and for their guests
    (each {"name", "email", "ticket_type", "options"}); the caller commits. Returns the
    reservations, the holder's first. Raises EventRefused naming the field, having
    changed nothing the caller's rollback does not undo."""
    transactions.serialise()
    if event is None or not sees_event(user, event):
        raise EventRefused("event", gettext("Event: no such event."))
    now = now or utcnow()
    if event.cancelled:
        raise EventRefused("event", gettext("Event: the event is cancelled."))
    if not event.sale_opens_on <= now < event.sale_closes_on:
        reason = (gettext("sale opens on %(when)s", when=_when(event.sale_opens_on)) if now < event.sale_opens_on
                  else gettext("sale closed on %(when)s", when=_when(event.sale_closes_on)))
        raise EventRefused("event", gettext("Event: %(reason)s.", reason=reason))
    if place_of(user, event) is not None:
        raise EventRefused("ticket_type", gettext("Ticket: you already hold a place for this event."))
    guests = list(guests or ())
    if guests and len(guests_of(user, event)) + len(guests) > event.sponsorship_limit:
        raise EventRefused("guests", gettext("Guests: at most %(num)d guests per person for this event.",
                                             num=event.sponsorship_limit))
    lines = []
    ticket_type = _ticket_type(event, ticket_type_id, "ticket_type")
    lines.append((ticket_type, chosen_options(ticket_type, option_ids), None))
    for index, guest in enumerate(guests):
        field = f"guests[{index}]"
        name, email = (guest.get("name") or "").strip(), (guest.get("email") or "").strip()
        if not name:
            raise EventRefused(f"{field}.name", gettext("Guest: a name is required."))
        if len(name) > 150 or (email and ("@" not in email or len(email) > 254)):
            raise EventRefused(f"{field}.email", gettext("Guest: a valid name and mail are required."))
        guest_type = _ticket_type(event, guest.get("ticket_type") or ticket_type.id, f"{field}.ticket_type")
        if not guest_type.sponsorship:
            raise EventRefused(f"{field}.ticket_type", gettext(
                "Guest: %(name)s cannot be taken for a guest.", name=guest_type.name))
        lines.append((guest_type, chosen_options(guest_type, guest.get("options"), f"{field}.options"),
                      (name, email or None)))
    for index, (line_type, _options, _guest) in enumerate(lines):
        refusal = restriction_refusal(user, line_type)
        if refusal:
            field = "ticket_type" if index == 0 else f"guests[{index - 1}].ticket_type"
            raise EventRefused(field, gettext("Ticket: %(name)s is %(reason)s.", name=line_type.name, reason=refusal))
    counts = {}
    for line_type, _options, _guest in lines:
        counts[line_type] = counts.get(line_type, 0) + 1
    for line_type, count in counts.items():  # what is already full is refused without waiting for a lock
        if line_type.taken + count > line_type.capacity:
            raise EventRefused("ticket_type", gettext("Ticket: %(name)s is full.", name=line_type.name))
    reservations = []
    for line_type, options, guest in lines:
        price = price_of(line_type, options)
        reservation = Reservation(
            event_id=event.id, ticket_type_id=line_type.id, price=price, options=options,
            state=RESERVED if price == ZERO else PRERESERVED,
            holder_id=None if guest else user.id, sponsor_id=user.id if guest else None,
            guest_name=guest[0] if guest else None, guest_email=guest[1] if guest else None)
        db.session.add(reservation)
        reservations.append(reservation)
    try:
        db.session.flush()
    except IntegrityError:
        raise EventRefused("ticket_type", gettext("Ticket: you already hold a place for this event.")) from None
    for reservation in reservations:
        RESERVATION_WORKFLOW.record(reservation, "book", user)
    template = "events/reserved" if reservations[0].state is RESERVED else "events/prereserved"
    notifications.notify([user], template, {"event": event, "reservations": reservations}, link=_link(event))
    # Last: the counter's row stays locked from this update to the commit, so that the
    # next buyer waits for as short a time as can be.
    for line_type in sorted(counts, key=lambda t: t.id):  # always in one order: no deadlock
        _take_places(line_type, counts[line_type])
    return reservations


def find_person(text):
    """An active account named by its username or its mail (either, case-insensitively), or None."""
    text = (text or "").strip()
    if not text or len(text) > 254:
        return None
    return db.session.scalar(select(User).where(
        User.active.is_(True), (func.lower(User.username) == text.lower()) | (func.lower(User.email) == text.lower()))
        .order_by(User.id).limit(1))


def give_place(user, event, ticket_type_id, person, option_ids=()) -> Reservation:
    """An organiser at validate level gives a place to a named person (username or
    mail): their decision, so neither the ticket's restrictions nor the sale window
    apply, but the capacity and one place per person do. Pre-reserved (reserved at
    price 0) like a booking, recorded in the place's history, the person mailed. The
    caller commits."""
    transactions.serialise()
    if event is None or not sees_event(user, event):
        raise EventRefused("event", gettext("Event: no such event."))
    if not holds(user, event, AdminLevel.validate):
        raise EventRefused(None, gettext("Only the event's organisers at validate level may give places."))
    if event.cancelled:
        raise EventRefused("event", gettext("Event: the event is cancelled."))
    ticket_type = _ticket_type(event, ticket_type_id, "ticket_type")
    holder = find_person(person) if isinstance(person, str) else person
    if not isinstance(holder, User):
        raise EventRefused("person", gettext("Person: no account has this username or mail."))
    if place_of(holder, event) is not None:
        raise EventRefused("person", gettext("Person: %(name)s already holds a place for this event.",
                                             name=holder.get_full_name()))
    options = chosen_options(ticket_type, option_ids)
    if ticket_type.taken + 1 > ticket_type.capacity:  # refused without waiting for the counter's lock
        raise EventRefused("ticket_type", gettext("Ticket: %(name)s is full.", name=ticket_type.name))
    price = price_of(ticket_type, options)
    reservation = Reservation(event_id=event.id, ticket_type_id=ticket_type.id, price=price, options=options,
                              state=RESERVED if price == ZERO else PRERESERVED, holder_id=holder.id)
    db.session.add(reservation)
    try:
        db.session.flush()
    except IntegrityError:
        raise EventRefused("person", gettext("Person: %(name)s already holds a place for this event.",
                                             name=holder.get_full_name())) from None
    RESERVATION_WORKFLOW.record(reservation, "give", user)
    notifications.notify([holder], "events/given", {"event": event, "reservations": [reservation], "giver": user},
                         link=_link(event))
    _take_places(ticket_type, 1)
    return reservation


def delete_prereservation(user, reservation) -> None:
    """A pre-reservation deleted by its holder (its sponsor for a guest) or an organiser
    at validate level; a reservation is never deleted. The caller commits."""
    transactions.lock(reservation)
    if reservation.state is not PRERESERVED:
        raise EventRefused(None, gettext("Only a pre-reservation can be deleted; a reservation can only be opposed."))
    own = user.id in (reservation.holder_id, reservation.sponsor_id)
    if not own and not holds(user, reservation.event, AdminLevel.validate):
        raise EventRefused(None, gettext("You may not delete this pre-reservation."))
    _free_place(reservation.ticket_type_id)
    db.session.delete(reservation)
    db.session.flush()


# ---------------------------------------------------------------------------
# Paid, opposed (the workflow)
# ---------------------------------------------------------------------------


def payment_blockers(reservation) -> list:
    """The extra items still missing or not validated: they block payment and entry."""
    answers = {answer.extra_info_id: answer for answer in reservation.answers}
    return [info for info in reservation.ticket_type.extra_infos
            if info.id not in answers or not answers[info.id].validated]


def may_enter(reservation) -> bool:
    return reservation.state is RESERVED and not payment_blockers(reservation) and not reservation.event.cancelled


def _validator(user, reservation) -> bool:
    return holds(user, reservation.event, AdminLevel.validate)


def _items_complete(reservation, user, comment):
    blockers = payment_blockers(reservation)
    if blockers:
        return gettext("Extra items missing or not validated: %(items)s.",
                       items=", ".join(info.label for info in blockers))
    return None


def _event_running(reservation, user, comment):
    return gettext("The event is cancelled.") if reservation.event.cancelled else None


def _notify_opposed(reservation, event):
    return ([reservation.holder or reservation.guest_email, reservation.sponsor], "events/opposed",
            {"reservation": reservation, "event_obj": reservation.event, "reason": event.comment},
            _link(reservation.event))


def _notify_paid(reservation, event):
    """Marked paid (by a gateway or by an organiser): its payer is told, with the way to its ticket."""
    payer = reservation.sponsor or reservation.holder
    if payer is None or not payer.active:
        return None
    return [payer], "events/paid", {"reservation": reservation, "event": reservation.event}, MY_PLACES


class ReservationWorkflow(Workflow):
    """The engine, plus what opposition does besides the state: the reason kept, the place freed."""

    def fire(self, item, name, user, comment="", attachment=None):
        event = super().fire(item, name, user, comment, attachment)
        if name == "oppose":
            item.opposition_reason = event.comment
            item.ticket_secret = None  # its QR ticket no longer opens the door
            _free_place(item.ticket_type_id)
        elif name == "mark_paid":
            item.paid_on = event.happened_on
        db.session.flush()
        return event


RESERVATION_WORKFLOW = ReservationWorkflow(
    Reservation, states=ReservationState, final_states=(OPPOSED,),
    transitions=[
        Transition("mark_paid", _l("Mark paid"), (PRERESERVED,), RESERVED, allowed=_validator,
                   guards=(_event_running, _items_complete), notify=_notify_paid, icon="fa-eur",
                   confirmation=_l("Mark the selected places paid?"), done=_l("marked this place paid")),
        Transition("oppose", _l("Oppose"), (PRERESERVED, RESERVED), OPPOSED, allowed=_validator,
                   comment_required=True, notify=_notify_opposed, icon="fa-ban",
                   done=_l("opposed this place")),
    ],
    event_labels={"book": _l("Place taken"), "give": _l("Place given")},
)


# ---------------------------------------------------------------------------
# Extra items
# ---------------------------------------------------------------------------


def _answer_value(info, value):
    text = (value or "").strip()
    if not text:
        raise EventRefused("value", gettext("%(item)s: a value is required.", item=info.label))
    if info.kind is ExtraInfoKind.number:
        try:
            Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise EventRefused("value", gettext("%(item)s: a number is expected.", item=info.label)) from None
    elif info.kind is ExtraInfoKind.date:
        try:
            date.fromisoformat(text)
        except ValueError:
            raise EventRefused("value", gettext("%(item)s: a date (YYYY-MM-DD) is expected.", item=info.label)) from None
    elif info.kind is ExtraInfoKind.size and text.upper() not in SIZES:
        raise EventRefused("value", gettext("%(item)s: one of %(sizes)s is expected.", item=info.label,
                                            sizes=", ".join(SIZES)))
    elif info.kind is ExtraInfoKind.choice and text not in info.choice_list:
        raise EventRefused("value", gettext("%(item)s: choose one of the offered answers.", item=info.label))
    elif len(text) > 2000:
        raise EventRefused("value", gettext("%(item)s: at most %(num)d characters.", item=info.label, num=2000))
    return text.upper() if info.kind is ExtraInfoKind.size else text


def answer(user, reservation, info, value=None, upload=None) -> ExtraInfoAnswer:
    """The holder (or the sponsor) gives an extra item; a validated one never changes."""
    if user.id not in (reservation.holder_id, reservation.sponsor_id):
        raise EventRefused(None, gettext("Only the holder of the place gives its extra items."))
    if info.ticket_type_id != reservation.ticket_type_id:
        raise EventRefused("extra_info", gettext("Extra item: not one of this ticket's items."))
    if reservation.state is OPPOSED:
        raise EventRefused(None, gettext("This place is opposed."))
    existing = db.session.scalar(select(ExtraInfoAnswer).where(
        ExtraInfoAnswer.reservation_id == reservation.id, ExtraInfoAnswer.extra_info_id == info.id))
    if existing is not None and existing.validated:
        raise EventRefused("value", gettext("%(item)s: already validated, it cannot change any more.",
                                            item=info.label))
    item = existing or ExtraInfoAnswer(reservation_id=reservation.id, extra_info_id=info.id)
    if info.kind is ExtraInfoKind.file:
        if upload is None or not upload.filename:
            raise EventRefused("value", gettext("%(item)s: a file is required.", item=info.label))
        item.file = files.save_upload(upload, reservation, user, info.label, field="value")
        item.value = None
    else:
        item.value = _answer_value(info, value)
    db.session.add(item)
    db.session.flush()
    return item


def validate_answer(user, item) -> ExtraInfoAnswer:
    """An organiser at validate level validates an extra item, for good (there is no way back)."""
    transactions.lock(item)
    if not holds(user, item.reservation.event, AdminLevel.validate):
        raise EventRefused(None, gettext("You may not validate the extra items of this event."))
    if item.validated:
        raise EventRefused(None, gettext("%(item)s: already validated.", item=item.extra_info.label))
    item.validated_by_id, item.validated_on = user.id, utcnow()
    db.session.flush()
    return item


# ---------------------------------------------------------------------------
# QR tickets
# ---------------------------------------------------------------------------


def ticket_missing(reservation) -> list:
    """What keeps a place from its ticket, as its holder reads it (nothing: it may be printed)."""
    if reservation.event.cancelled:
        return [gettext("the event is cancelled")]
    if reservation.state is OPPOSED:
        return [gettext("the place is opposed")]
    missing = [] if reservation.state is RESERVED else [gettext("the payment")]
    missing += [gettext("%(item)s (validated)", item=info.label) for info in payment_blockers(reservation)]
    return missing


def _event_keys(event):
    """The event's key pair, made once (two first tickets at once make one pair)."""
    if event.signing_key is None:
        transactions.lock(event)
        if event.signing_key is None:
            event.signing_key, event.public_key = signing.new_key_pair()
            db.session.flush()
    return event.signing_key


def ticket_token(reservation) -> str:
    """The signed token a place's QR code holds: its number and secret."""
    key = _event_keys(reservation.event)
    if reservation.ticket_secret is None:
        reservation.ticket_secret = signing.new_secret()
        db.session.flush()
    return signing.sign(key, reservation.id, reservation.ticket_secret)


def may_print(user, reservation) -> bool:
    """The holder, the sponsor of a guest's place, and the event's admins print a ticket."""
    return user.id in (reservation.holder_id, reservation.sponsor_id) \
        or holds(user, reservation.event, AdminLevel.view)


def ticket_pdf(user, reservation) -> bytes:
    """The place's PDF ticket, once it is reserved with its items validated; the caller
    commits (the first ticket makes the event's keys and the place's secret)."""
    if not may_print(user, reservation):
        raise EventRefused(None, gettext("Only the holder of the place prints its ticket."))
    missing = ticket_missing(reservation)
    if missing:
        raise EventRefused(None, gettext("No ticket yet: missing %(what)s.", what=", ".join(missing)))
    event = reservation.event
    holder = reservation.holder_name
    starts = event.starts_on.replace(tzinfo=timezone.utc).astimezone(zone()).replace(tzinfo=None)
    when = f"{format_date(starts, 'full')} {format_time(starts, 'short', rebase=False)}"
    details = [holder, reservation.ticket_type.name]
    if reservation.options:
        details.append(gettext("Options: %(options)s", options=", ".join(o.name for o in reservation.options)))
    if event.place:
        details.append(event.place)
    page = {"title": [event.name, when], "details": details,
            "reference": gettext("Place no. %(number)d", number=reservation.id), "qr": ticket_token(reservation)}
    return passes.draw([page], ticket_template(reservation.ticket_type))


def ticket_template(ticket_type):
    """The image a ticket type's tickets are drawn on, None for the default layout (also
    when its file has gone from the disk: a ticket on white beats no ticket)."""
    stored = ticket_type.template_file
    if stored is None:
        return None
    try:
        with open(files.absolute_path(stored), "rb") as handle:
            return handle.read()
    except OSError:
        return None


def set_ticket_template(user, ticket_type, upload) -> None:
    """A ticket type's PDF template: a PNG or JPEG of 2480 × 1169 pixels. It may change
    while places are sold (it changes how a ticket looks, not what was bought); a
    refused image is not kept (the refusal rolls its file back)."""
    _manager(user, ticket_type.event)
    label = gettext("Ticket template")
    if upload is None or not upload.filename:
        raise EventRefused("template", gettext("%(field)s: choose an image.", field=label))
    stored = files.save_upload(upload, ticket_type, user, label, field="template")
    with open(files.absolute_path(stored), "rb") as handle:
        data = handle.read()
    try:
        passes.check_template(data)
    except passes.BadTemplate as bad:
        if bad.size is None:
            raise EventRefused("template", gettext("%(field)s: a PNG or JPEG image is expected.",
                                                   field=label)) from None
        raise EventRefused("template", gettext(
            "%(field)s: the image must be %(width)d × %(height)d pixels (landscape); this one is "
            "%(given_width)d × %(given_height)d.", field=label, width=passes.WIDTH, height=passes.HEIGHT,
            given_width=bad.size[0], given_height=bad.size[1])) from None
    ticket_type.template_file = stored
    db.session.flush()


def remove_ticket_template(user, ticket_type) -> None:
    """Back to the default layout."""
    _manager(user, ticket_type.event)
    ticket_type.template_file = None
    db.session.flush()


def sample_ticket_template() -> bytes:
    """The designers' guide: the template's size, its white zones named in the reader's language."""
    return passes.sample_template({
        "title": gettext("Event, date and time"), "details": gettext("Holder, ticket, options, place"),
        "reference": gettext("Place number"), "qr": gettext("QR code")})


# ---------------------------------------------------------------------------
# Configuration: ticket types, options, groups, extra items
# ---------------------------------------------------------------------------


def _manager(user, event):
    if not holds(user, event, AdminLevel.manage):
        raise EventRefused(None, gettext("You may not change the configuration of this event."))


def check_configurable(user, ticket_type) -> None:
    """Ticket types and what hangs on them change only while the type has no place."""
    _manager(user, ticket_type.event)
    if ticket_type.id is not None and db.session.query(Reservation.id).filter(
            Reservation.ticket_type_id == ticket_type.id).first() is not None:
        raise EventRefused("ticket_type", gettext(
            "Ticket: %(name)s already has (pre-)reservations, its configuration can no longer change.",
            name=ticket_type.name))


def _money(value, field, label):
    try:
        amount = Decimal(str(value if value not in (None, "") else "0").replace(",", "."))
    except InvalidOperation:
        raise EventRefused(field, gettext("%(field)s: an amount is expected.", field=label)) from None
    if not amount.is_finite() or abs(amount) >= Decimal("100000000"):
        raise EventRefused(field, gettext("%(field)s: an amount is expected.", field=label))
    return amount.quantize(Decimal("0.01"))


def _name(value, field, label, length=100):
    text = (value or "").strip()
    if not text:
        raise EventRefused(field, gettext("%(field)s: this field is required.", field=label))
    if len(text) > length:
        raise EventRefused(field, gettext("%(field)s: at most %(num)d characters.", field=label, num=length))
    return text


def save_ticket_type(user, event, ticket_type=None, *, name, kind=None, price=0, capacity=0,
                     sponsorship_allowed=False, promotions=(), school_ids=(), association_ids=(),
                     description=None) -> TicketType:
    """Create a ticket type, or change one that has no place yet; its kind is fixed at creation."""
    if ticket_type is None:
        try:
            kind = TicketKind(kind)
        except ValueError:
            raise EventRefused("kind", gettext("Kind: choose open or restricted.")) from None
        _manager(user, event)
        ticket_type = TicketType(event_id=event.id, kind=kind, taken=0)
    else:
        if kind is not None and TicketKind(kind) is not ticket_type.kind:
            raise EventRefused("kind", gettext("Kind: the kind of a ticket is fixed at its creation."))
        check_configurable(user, ticket_type)
    ticket_type.name = _name(name, "name", gettext("Name"))
    ticket_type.description = description
    ticket_type.price = _money(price, "price", gettext("Price"))
    if ticket_type.price < 0:
        raise EventRefused("price", gettext("Price: an amount of zero or more is expected."))
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= 1000000:
        raise EventRefused("capacity", gettext("Capacity: a whole number between 0 and 1000000 is expected."))
    ticket_type.capacity = capacity
    restricted = ticket_type.kind is TicketKind.restricted
    ticket_type.sponsorship_allowed = bool(sponsorship_allowed) and restricted
    if not restricted and (promotions or school_ids or association_ids):
        raise EventRefused("kind", gettext("Restrictions: an open ticket has none; create a restricted one."))
    for promotion in promotions:
        if not isinstance(promotion, int) or isinstance(promotion, bool) or not 1900 <= promotion <= 2200:
            raise EventRefused("promotions", gettext("Promotions: years between 1900 and 2200 are expected."))
    ticket_type.promotion_rows = [TicketTypePromotion(promotion=p) for p in sorted(set(promotions))]
    schools = db.session.scalars(select(School).where(School.id.in_(list(school_ids)))).all() if school_ids else []
    if len(schools) != len(set(school_ids)):
        raise EventRefused("schools", gettext("Schools: choose among the schools."))
    ticket_type.schools = schools
    associations = (db.session.scalars(select(Association).where(Association.id.in_(list(association_ids)))).all()
                    if association_ids else [])
    if len(associations) != len(set(association_ids)):
        raise EventRefused("memberships", gettext("Memberships: choose among the associations."))
    ticket_type.memberships = associations
    db.session.add(ticket_type)
    db.session.flush()
    return ticket_type


def delete_ticket_type(user, ticket_type) -> None:
    check_configurable(user, ticket_type)
    db.session.delete(ticket_type)
    db.session.flush()


def save_option_group(user, ticket_type, group=None, *, name) -> OptionGroup:
    check_configurable(user, ticket_type)
    group = group or OptionGroup(ticket_type_id=ticket_type.id)
    group.name = _name(name, "name", gettext("Name"))
    db.session.add(group)
    db.session.flush()
    return group


def save_option(user, ticket_type, option=None, *, name, price_change=0, group_id=None) -> Option:
    check_configurable(user, ticket_type)
    if group_id is not None and group_id not in {g.id for g in ticket_type.option_groups}:
        raise EventRefused("group", gettext("Group: choose one of the ticket's option groups."))
    option = option or Option(ticket_type_id=ticket_type.id)
    option.name = _name(name, "name", gettext("Name"))
    option.price_change = _money(price_change, "price_change", gettext("Price change"))
    option.group_id = group_id
    db.session.add(option)
    db.session.flush()
    return option


def save_extra_info(user, ticket_type, info=None, *, label, kind=None, choices=None) -> ExtraInfo:
    """An extra item; its kind is fixed at creation."""
    check_configurable(user, ticket_type)
    if info is None:
        try:
            kind = ExtraInfoKind(kind)
        except ValueError:
            raise EventRefused("kind", gettext("Kind: choose the kind of information asked.")) from None
        info = ExtraInfo(ticket_type_id=ticket_type.id, kind=kind)
    elif kind is not None and ExtraInfoKind(kind) is not info.kind:
        raise EventRefused("kind", gettext("Kind: the kind of an extra item is fixed at its creation."))
    info.label = _name(label, "label", gettext("Label"), 150)
    info.choices = choices
    if info.kind is ExtraInfoKind.choice and not info.choice_list:
        raise EventRefused("choices", gettext("Choices: give at least one choice, one per line."))
    db.session.add(info)
    db.session.flush()
    return info


def delete_configuration(user, item) -> None:
    """Delete an option, an option group or an extra item, while its ticket type has no place."""
    check_configurable(user, item.ticket_type)
    db.session.delete(item)
    db.session.flush()


def is_frozen(ticket_type) -> bool:
    """Whether a ticket type's configuration is frozen: it has a (pre-)reservation (as
    `check_configurable` refuses), so that a page offers no form that would be refused."""
    return ticket_type.id is not None and db.session.query(Reservation.id).filter(
        Reservation.ticket_type_id == ticket_type.id).first() is not None


# ---------------------------------------------------------------------------
# Admin levels
# ---------------------------------------------------------------------------


def _log(actor, action, grant_row) -> None:
    delegation.record(actor, action, f"event_admin:{grant_row.level.value}", grant_row.user,
                      grant_row.event.association.organisation_id, obj=grant_row)


def grant_level(grantor, event, level, *, user=None, group=None, board=None) -> EventAdminGrant:
    """Give a level on an event to a person, a FAB group or an association's board. Only
    an event's managers grant, and never above their own level; logged."""
    try:
        level = AdminLevel(level)
    except ValueError:
        raise EventRefused("level", gettext("Level: choose view, check-in, validate or manage.")) from None
    own = level_of(grantor, event)
    if own is None or own.rank < AdminLevel.manage.rank:
        raise EventRefused(None, gettext("Only the event's managers may grant admin levels."))
    if level.rank > own.rank:
        raise EventRefused("level", gettext("Level: you cannot grant more than your own level."))
    targets = [t for t in (user, group, board) if t is not None]
    if len(targets) != 1:
        raise EventRefused("grantee", gettext("Grantee: choose one person, one group or one board."))
    grant_row = EventAdminGrant(event=event, event_id=event.id, level=level, granted_by_id=grantor.id,
                                granted_on=utcnow(),
                                user=user if isinstance(user, User) else None,
                                group=group if isinstance(group, Group) else None,
                                board=board if isinstance(board, Association) else None)
    db.session.add(grant_row)
    db.session.flush()
    _log(grantor, DelegationAction.grant, grant_row)
    return grant_row


def revoke_level(revoker, grant_row) -> None:
    if not grant_row.active:
        raise EventRefused(None, gettext("This right was already revoked."))
    own = level_of(revoker, grant_row.event)
    if own is None or own.rank < AdminLevel.manage.rank or grant_row.level.rank > own.rank:
        raise EventRefused(None, gettext("Only the event's managers may revoke admin levels."))
    grant_row.revoked_by_id, grant_row.revoked_on = revoker.id, utcnow()
    db.session.flush()
    _log(revoker, DelegationAction.revoke, grant_row)


def active_grants(event) -> list:
    """An event's grants in force, the highest levels first."""
    rows = db.session.scalars(select(EventAdminGrant).where(
        EventAdminGrant.event_id == event.id, EventAdminGrant.revoked_on.is_(None))
        .order_by(EventAdminGrant.granted_on, EventAdminGrant.id)).all()
    return sorted(rows, key=lambda row: -row.level.rank)


def find_grantee(kind, value) -> dict:
    """Who a level is granted to, as `grant_level` takes it ({"user": ...}, {"group": ...}
    or {"board": ...}), from what a form gives: a person's username or mail, a group's
    or an association's id. Refuses naming "grantee" when there is no such one."""
    text = (value or "").strip() if isinstance(value, str) else value
    if kind == "user":
        person = db.session.scalar(select(User).where(
            (User.username == text) | (func.lower(User.email) == str(text or "").lower()),
            User.active.is_(True))) if text else None
        if person is None:
            raise EventRefused("grantee", gettext("Person: no active account has this username or mail."))
        return {"user": person}
    model = {"group": Group, "board": Association}.get(kind)
    if model is None:
        raise EventRefused("grantee", gettext("Grantee: choose one person, one group or one board."))
    found = db.session.get(model, value) if isinstance(value, int) and not isinstance(value, bool) else None
    if found is None:
        raise EventRefused("grantee", gettext("Group: choose one of the groups.") if kind == "group"
                           else gettext("Board: choose one of the associations."))
    return {kind: found}


# ---------------------------------------------------------------------------
# Events: creation, cancellation
# ---------------------------------------------------------------------------


def boards_of(user) -> list:
    """The associations whose board the person sits on (where they may create events)."""
    if is_admin(user):
        return db.session.scalars(select(Association).order_by(Association.id)).all()
    return db.session.scalars(select(Association).join(
        AssociationMembership, AssociationMembership.association_id == Association.id)
        .where(AssociationMembership.user_id == user.id, AssociationMembership.board_member.is_(True))
        .order_by(Association.id)).all()


def check_creation(user, association) -> None:
    """Events are created by the board members of their organiser association."""
    if association is None:
        raise EventRefused("association", gettext("Association: choose the organiser."))
    if not is_admin(user) and not is_board_member(user, association):
        raise EventRefused("association", gettext(
            "Association: only its board members may create its events."))


def give_creator_manage(user, event) -> EventAdminGrant:
    """The creator of an event holds "manage" on it: a grant like any other, logged."""
    grant_row = EventAdminGrant(event=event, event_id=event.id, level=AdminLevel.manage, user=user,
                                granted_by_id=user.id, granted_on=utcnow())
    db.session.add(grant_row)
    db.session.flush()
    _log(user, DelegationAction.grant, grant_row)
    return grant_row


def check_manager(user, event) -> None:
    _manager(user, event)


def create_event(user, association, *, name, starts_on, ends_on, sale_opens_on, sale_closes_on,
                 visibility=EventVisibility.public, sponsorship_limit=0, place=None, description=None) -> Event:
    """An association's board member creates an event, and holds "manage" on it."""
    check_creation(user, association)
    event = Event(association=association, association_id=association.id)
    check_event(event, name=name, starts_on=starts_on, ends_on=ends_on, sale_opens_on=sale_opens_on,
                sale_closes_on=sale_closes_on, visibility=visibility, sponsorship_limit=sponsorship_limit,
                place=place, description=description)
    db.session.add(event)
    db.session.flush()
    give_creator_manage(user, event)
    return event


def check_event(event, *, name, starts_on, ends_on, sale_opens_on, sale_closes_on, visibility,
                sponsorship_limit, place=None, description=None) -> Event:
    """Fill an event's information, refusing what does not hold together."""
    event.name = _name(name, "name", gettext("Name"), 150)
    for field, label, value in (("starts_on", gettext("Starts on"), starts_on),
                                ("ends_on", gettext("Ends on"), ends_on),
                                ("sale_opens_on", gettext("Sale opens on"), sale_opens_on),
                                ("sale_closes_on", gettext("Sale closes on"), sale_closes_on)):
        if not isinstance(value, datetime):
            raise EventRefused(field, gettext("%(field)s: a date and time are expected.", field=label))
    if ends_on < starts_on:
        raise EventRefused("ends_on", gettext("Ends on: the event cannot end before it starts."))
    if sale_closes_on <= sale_opens_on:
        raise EventRefused("sale_closes_on", gettext("Sale closes on: the sale must close after it opens."))
    try:
        visibility = EventVisibility(visibility)
    except ValueError:
        raise EventRefused("visibility", gettext("Visibility: choose who sees the event.")) from None
    if not isinstance(sponsorship_limit, int) or isinstance(sponsorship_limit, bool) \
            or not 0 <= sponsorship_limit <= 100:
        raise EventRefused("sponsorship_limit", gettext(
            "Guests per person: a whole number between 0 and 100 is expected."))
    event.starts_on, event.ends_on = starts_on, ends_on
    event.sale_opens_on, event.sale_closes_on = sale_opens_on, sale_closes_on
    event.visibility, event.sponsorship_limit = visibility, sponsorship_limit
    event.place, event.description = place, description
    return event


def cancel_event(user, event) -> dict:
    """Cancel an event (the seed has no procedure: this is ours): its pre-reservations are
    deleted, its paid places marked "to refund", every holder mailed. The caller commits."""
    transactions.lock(event)
    if not holds(user, event, AdminLevel.manage):
        raise EventRefused(None, gettext("Only the event's managers may cancel it."))
    if event.cancelled:
        raise EventRefused(None, gettext("This event is already cancelled."))
    places = db.session.scalars(select(Reservation).where(
        Reservation.event_id == event.id, Reservation.state != OPPOSED).order_by(Reservation.id)).all()
    recipients = []
    deleted = refunded = 0
    for place in places:
        recipients.extend([place.holder or place.guest_email, place.sponsor])
        if place.state is PRERESERVED:
            db.session.delete(place)
            deleted += 1
        else:
            place.to_refund = True
            refunded += 1
    event.cancelled_on, event.cancelled_by_id = utcnow(), user.id
    db.session.flush()
    for ticket_type in event.ticket_types:
        db.session.execute(update(TicketType).where(TicketType.id == ticket_type.id).values(
            taken=select(func.count(Reservation.id)).where(Reservation.ticket_type_id == ticket_type.id,
                                                          Reservation.state != OPPOSED).scalar_subquery()))
    notifications.notify([r for r in recipients if r], "events/cancelled", {"event": event}, link=_link(event))
    return {"deleted": deleted, "to_refund": refunded}


def counts(event) -> list:
    """Per ticket type: (ticket type, pre-reserved, reserved, capacity)."""
    rows = dict(((tt, state), n) for tt, state, n in db.session.execute(
        select(Reservation.ticket_type_id, Reservation.state, func.count(Reservation.id))
        .where(Reservation.event_id == event.id).group_by(Reservation.ticket_type_id, Reservation.state)))
    return [(tt, rows.get((tt.id, PRERESERVED), 0), rows.get((tt.id, RESERVED), 0), tt.capacity)
            for tt in event.ticket_types]


# ---------------------------------------------------------------------------
# Online payment of a place (app.platform.payments)
# ---------------------------------------------------------------------------

PAYABLE_KIND = Reservation.__tablename__


def payment_account(reservation, provider):
    """The event's account of a provider, if it pays the event's organiser association."""
    event = reservation.event
    account = event.paypal_account if provider is PaymentProvider.paypal else event.lydia_account
    if account is None or account.provider is not provider \
            or account.organisation_id != event.association.organisation_id:
        return None
    return account


def offered_accounts(event, provider) -> list:
    """The accounts an event may be paid to: its organiser association's, of one provider."""
    return db.session.scalars(select(PaymentAccount).where(
        PaymentAccount.organisation_id == event.association.organisation_id,
        PaymentAccount.provider == provider).order_by(PaymentAccount.id)).all()


def choose_payment_accounts(user, event, paypal_account_id=None, lydia_account_id=None) -> None:
    """The accounts an event is paid to (none: not paid online by that provider), among
    its association's; a manager chooses them."""
    _manager(user, event)
    for provider, wanted, field, label in (
            (PaymentProvider.paypal, paypal_account_id, "paypal_account", gettext("PayPal account")),
            (PaymentProvider.lydia, lydia_account_id, "lydia_account", gettext("Lydia account"))):
        if wanted is not None and wanted not in {account.id for account in offered_accounts(event, provider)}:
            raise EventRefused(field, gettext("%(field)s: choose one of the organiser's accounts.", field=label))
    event.paypal_account_id, event.lydia_account_id = paypal_account_id, lydia_account_id
    db.session.flush()


def online_payment_blockers(reservation) -> list:
    """Why a place cannot be paid online now (empty: it can)."""
    if reservation.state is not PRERESERVED:
        return [gettext("This place is not waiting for a payment.")]
    if reservation.event.cancelled:
        return [gettext("The event is cancelled.")]
    refusal = _items_complete(reservation, None, "")
    return [refusal] if refusal else []


def _payer_id(reservation):
    """Who pays a place: its holder, or the sponsor for a guest."""
    return reservation.sponsor_id or reservation.holder_id


def _paid_online(reservation, payment) -> None:
    """The gateway confirmed the payment: the place is marked paid, for its payer, with the
    provider and its reference in the history; its guards (extra items, event running) hold."""
    RESERVATION_WORKFLOW.fire(reservation, "mark_paid", OnBehalf(_payer_id(reservation)), gettext(
        "Paid by %(provider)s, reference %(reference)s.", provider=payment.provider, reference=payment.reference))


def _opposed_by_payment(reservation, payment, reason) -> None:
    """A payment that does not match what was due puts the place in opposition, with the reason."""
    if reservation.state is OPPOSED:
        return
    RESERVATION_WORKFLOW.fire(reservation, "oppose", OnBehalf(None), reason)


def _pays_for(user, reservation) -> bool:
    return user is not None and getattr(user, "id", None) in (reservation.holder_id, reservation.sponsor_id)


payments.register_payable(payments.Payable(
    kind=PAYABLE_KIND, model=Reservation, amount=lambda reservation: Decimal(reservation.price),
    account=payment_account, blockers=online_payment_blockers,
    label=lambda reservation: f"{reservation.event.name} — {reservation.ticket_type.name} (#{reservation.id})",
    may_pay=_pays_for, confirmed=_paid_online, mismatch=_opposed_by_payment,
    alerted=lambda reservation: organisers(reservation.event, AdminLevel.validate),
    mismatch_template="events/payment_mismatch", link=lambda reservation: MY_PLACES))


# ---------------------------------------------------------------------------
# Leaving: an external account deletes itself (app.platform.accounts.leave)
# ---------------------------------------------------------------------------

LEAVING_DELAY = timedelta(days=30)  # after the end of the last event one holds a place for


def _kept_by_school(user):
    """Only external accounts (no school) leave by themselves."""
    profile = profile_of(user)
    if profile is not None and not profile.external:
        return gettext("Only external accounts (without a school) can be deleted here; yours belongs to "
                       "%(school)s.", school=profile.school.name)
    return None


def leaving_day(user):
    """The first local day a person may delete their account: 30 days after the end of the
    last event they hold a place for, their own or a guest's they paid for (None: no place)."""
    last = db.session.scalar(select(func.max(Event.ends_on)).join(Reservation, Reservation.event_id == Event.id)
                             .where((Reservation.holder_id == user.id) | (Reservation.sponsor_id == user.id),
                                    Reservation.state != OPPOSED))
    if last is None:
        return None
    return last.replace(tzinfo=timezone.utc).astimezone(zone()).date() + LEAVING_DELAY


def _erase_person(user) -> None:
    """What desk D keeps of a person who leaves: their school and memberships go; their
    places stay as proof (held by the anonymised account), but the extra items they gave
    are erased (files deleted, the validation kept) and so are the names and mails of the
    guests they took places for, which came through them alone."""
    db.session.execute(delete(PersonProfile).where(PersonProfile.user_id == user.id))
    db.session.execute(delete(AssociationMembership).where(AssociationMembership.user_id == user.id))
    places = db.session.scalars(select(Reservation).where(
        (Reservation.holder_id == user.id) | (Reservation.sponsor_id == user.id))).all()
    for place in places:
        if place.holder_id is None:
            place.guest_name, place.guest_email = accounts.ERASED_NAME, None
        for given in place.answers:
            stored, given.value, given.file = given.file, None, None
            if stored is not None:
                files.delete_file(stored)
    db.session.flush()


accounts.register_leaving(accounts.LeavingRule(kept=_kept_by_school, not_before=leaving_day, erase=_erase_person))


# ---------------------------------------------------------------------------
# The reminder, the day before an event (a periodic job)
# ---------------------------------------------------------------------------


def send_reminders(now=None) -> int:
    """Periodic job: remind the people of each reserved place of an event that starts
    before the end of tomorrow (its holder, or its sponsor and its guest's mail), each
    person one mail per event listing their places. A place is claimed before it is
    mailed (`reminded_on`, set where it is still empty), so a second run, or two at
    once, mail nobody twice; cancelled events and opposed or unpaid places get none.
    Commits; returns the number of mails."""
    now = now or utcnow()
    until = start_of_local_day(local_today() + timedelta(days=2))
    events = db.session.scalars(select(Event).where(
        Event.cancelled_on.is_(None), Event.starts_on > now, Event.starts_on < until).order_by(Event.starts_on)).all()
    sent = 0
    for event in events:
        claimed = db.session.scalars(
            update(Reservation).where(Reservation.event_id == event.id, Reservation.state == RESERVED,
                                      Reservation.reminded_on.is_(None))
            .values(reminded_on=now).returning(Reservation.id).execution_options(synchronize_session=False)).all()
        letters = {}  # {who: (recipient, link, [places])}: one mail per person
        for place in db.session.scalars(select(Reservation).where(Reservation.id.in_(claimed))
                                        .order_by(Reservation.id)):
            for person in (place.holder, place.sponsor):
                if person is not None and person.active:
                    letters.setdefault(person.id, (person, MY_PLACES, []))[2].append(place)
            if place.guest_email:
                letters.setdefault(place.guest_email.lower(), (place.guest_email, None, []))[2].append(place)
        for recipient, link, places in letters.values():
            notifications.notify([recipient], "events/reminder", {"event": event, "places": places}, link=link)
        db.session.commit()
        sent += len(letters)
    return sent


#: Desk D's periodic jobs (app/platform/schedule.py registers them): the reminders at 10:00.
PERIODIC_JOBS = [{"func": send_reminders, "queue_name": jobs.DEFAULT_QUEUE, "cron": "0 10 * * *"}]


# ---------------------------------------------------------------------------
# Exports of an event's places, written by the platform's export job
# ---------------------------------------------------------------------------


def person_name(user) -> str:
    """How the desk names a person in its lists, tickets and exports: the one place."""
    return user.get_full_name() if user is not None else ""


def _names_by_id():
    """`person_name` of a user id ("" for none), each person read once: an export names
    the same few staff on thousands of rows."""
    known = {}

    def name(user_id):
        if user_id not in known:
            known[user_id] = person_name(db.session.get(User, user_id)) if user_id else ""
        return known[user_id]

    return name


def _holder_sort(holder):
    """SQL that sorts places as `Reservation.holder_name` names them (`holder`: the holder's alias)."""
    return func.lower(case((Reservation.holder_id.isnot(None), holder.first_name + " " + holder.last_name),
                           else_=Reservation.guest_name))


DOOR_LIST, PLACES, ARCHIVE = "events.door_list", "events.places", "events.archive"
#: The document each format of an event's places export is: the door's short list in
#: PDF; every field in XLSX; the XLSX with every uploaded file in an archive.
PLACES_EXPORTS = {"pdf": DOOR_LIST, "xlsx": PLACES, "zip": ARCHIVE, "tar.gz": ARCHIVE}
EXPORT_BATCH = 1000  # places read, and their options, items and payments looked up, at a time


def _exported_event(params) -> Event:
    """The event of an export of places, if the requester holds the view level on it."""
    try:
        event_id = inputs.int64(params.get("event"))
    except (TypeError, ValueError):
        event_id = None
    event = db.session.get(Event, event_id) if event_id is not None else None
    if event is None or not holds(signed_in_person(), event, AdminLevel.view):
        raise EventRefused(None, gettext("Only the admins of an event export its places."))
    return event


def _scoped_places(event):
    """The event's places the requester sees (row scope)."""
    return apply_scope(select(Reservation), Reservation).where(Reservation.event_id == event.id)


def _places_in_batches(event):
    """The event's places in order of their holder's name, EXPORT_BATCH at a time, their
    holder and sponsor loaded with them; read from a server-side cursor."""
    holder = aliased(User)
    statement = (_scoped_places(event).outerjoin(holder, Reservation.holder_id == holder.id)
                 .options(contains_eager(Reservation.holder.of_type(holder)), joinedload(Reservation.sponsor))
                 .order_by(_holder_sort(holder), Reservation.id))
    result = db.session.execute(statement.execution_options(yield_per=EXPORT_BATCH))
    try:
        yield from result.scalars().partitions()
    finally:
        result.close()


def _places_count(params) -> int:
    event = _exported_event(params)
    return db.session.scalar(select(func.count()).select_from(_scoped_places(event).subquery()))


def _option_names(places) -> dict:
    """{place id: "option, option"} of a batch of places."""
    names = {}
    for place_id, name in db.session.execute(
            select(reservation_option.c.reservation_id, Option.name)
            .join(Option, Option.id == reservation_option.c.option_id)
            .where(reservation_option.c.reservation_id.in_([place.id for place in places])).order_by(Option.id)):
        names[place_id] = f"{names[place_id]}, {name}" if place_id in names else name
    return names


class _Columns:
    """Columns of the complete export: their headers, and `cells(places)`, which gives
    one tuple of cells per place of a batch (looking the batch up at once)."""

    def __init__(self, headers, cells):
        self.headers, self.cells = list(headers), cells


def _place_columns(event, local) -> _Columns:
    ticket_names = {ticket_type.id: ticket_type.name for ticket_type in event.ticket_types}
    headers = [gettext("No."), gettext("Holder"), gettext("Mail"), gettext("Sponsor"), gettext("Ticket type"),
               gettext("Options"), gettext("Price"), gettext("State"), gettext("Taken on"), gettext("Paid on"),
               gettext("Changed on"), gettext("Reason of the opposition"), gettext("To refund")]
    states = {state: str(state) for state in ReservationState}

    def cells(places):
        options = _option_names(places)
        return [(place.id, place.holder_name, place.holder_email or "", person_name(place.sponsor),
                 ticket_names.get(place.ticket_type_id, ""), options.get(place.id, ""), float(place.price),
                 states[place.state], local.one(place.created_on), local.one(place.paid_on),
                 local.one(place.changed_on), place.opposition_reason or "", place.to_refund)
                for place in places]

    return _Columns(headers, cells)


def _item_columns(event, local) -> _Columns:
    """Three columns per extra item of the event: what was given (the value, or the
    file's name), who validated it and when."""
    items = [info for ticket_type in event.ticket_types for info in ticket_type.extra_infos]
    labels = [info.label for info in items]
    headers = []
    for info in items:
        label = info.label if labels.count(info.label) == 1 else f"{info.label} — {info.ticket_type.name}"
        headers += [label, gettext("%(item)s: validated by", item=label),
                    gettext("%(item)s: validated on", item=label)]
    validator = _names_by_id()

    def cells(places):
        given = {(row.reservation_id, row.extra_info_id): row for row in db.session.execute(
            select(ExtraInfoAnswer.reservation_id, ExtraInfoAnswer.extra_info_id, ExtraInfoAnswer.value,
                   ExtraInfoAnswer.validated_by_id, ExtraInfoAnswer.validated_on, StoredFile.original_name)
            .outerjoin(StoredFile, StoredFile.id == ExtraInfoAnswer.file_id)
            .where(ExtraInfoAnswer.reservation_id.in_([place.id for place in places])))}
        rows = []
        for place in places:
            row = []
            for info in items:
                answer_row = given.get((place.id, info.id))
                if answer_row is None:
                    row += ["", "", None]
                else:
                    row += [answer_row.value or answer_row.original_name or "",
                            validator(answer_row.validated_by_id), local.one(answer_row.validated_on)]
            rows.append(tuple(row))
        return rows

    return _Columns(headers, cells)


def _payment_columns(event, local) -> _Columns:
    """Seven columns per payment (as many as the place with the most has, one at
    least): provider, state, amount, currency, reference, created and changed on."""
    most = db.session.scalar(select(func.max(select(func.count(Payment.id)).where(
        Payment.payable_type == PAYABLE_KIND, Payment.payable_id == Reservation.id).scalar_subquery()))
        .where(Reservation.event_id == event.id)) or 0
    headers = []
    for number in range(1, max(most, 1) + 1):
        headers += [gettext("Payment %(num)d: %(field)s", num=number, field=field) for field in (
            gettext("provider"), gettext("state"), gettext("amount"), gettext("currency"), gettext("reference"),
            gettext("created on"), gettext("changed on"))]
    labels = {member: str(member) for member in (*PaymentProvider, *PaymentState)}

    def cells(places):
        paid = {}
        for payment in db.session.execute(
                select(Payment.payable_id, Payment.provider, Payment.state, Payment.amount, Payment.currency,
                       Payment.reference, Payment.created_on, Payment.changed_on)
                .where(Payment.payable_type == PAYABLE_KIND, Payment.payable_id.in_([place.id for place in places]))
                .order_by(Payment.id)):
            amount = None if payment.amount is None else float(payment.amount)
            paid.setdefault(payment.payable_id, []).extend((
                labels[payment.provider], labels[payment.state], amount, payment.currency or "",
                payment.reference or "", local.one(payment.created_on), local.one(payment.changed_on)))
        width = len(headers)
        return [tuple(paid.get(place.id, ())) + (None,) * (width - len(paid.get(place.id, ()))) for place in places]

    return _Columns(headers, cells)


def _checkin_columns(event, local) -> _Columns:
    """The door: when the place entered and who scanned it (its live entry), whether the
    scan was made offline, and the entries undone, each with who undid it and why."""
    headers = [gettext("Entered on"), gettext("Checked in by"), gettext("Scanned offline"),
               gettext("Entries undone")]
    name = _names_by_id()

    def cells(places):
        live, undone = {}, {}
        for entry in db.session.execute(
                select(CheckIn.reservation_id, CheckIn.checked_in_on, CheckIn.by_id, CheckIn.offline,
                       CheckIn.undone_on, CheckIn.undone_by_id, CheckIn.undo_reason)
                .where(CheckIn.reservation_id.in_([place.id for place in places])).order_by(CheckIn.id)):
            if entry.undone_on is None:
                live[entry.reservation_id] = (local.one(entry.checked_in_on), name(entry.by_id),
                                              gettext("Yes") if entry.offline else gettext("No"))
            else:
                undone.setdefault(entry.reservation_id, []).append(gettext(
                    "%(when)s, undone by %(name)s: %(reason)s", when=_when(entry.checked_in_on),
                    name=name(entry.undone_by_id), reason=entry.undo_reason or ""))
        return [live.get(place.id, (None, "", "")) + ("; ".join(undone.get(place.id, ())),) for place in places]

    return _Columns(headers, cells)


def _complete_columns(event) -> list:
    local = LocalMoments()
    return [columns(event, local) for columns in (_place_columns, _item_columns, _payment_columns, _checkin_columns)]


def _complete_rows(event, columns, progress, done=0):
    """One row per place (every column of `columns`), `progress(done)` after each."""
    for places in _places_in_batches(event):
        for row in zip(*(group.cells(places) for group in columns)):
            yield sum(row, ())
            done += 1
            progress(done)


def _places_title(params):
    return gettext("Places of %(event)s", event=_exported_event(params).name)


def _write_places(path, fmt, params, progress) -> int:
    """The complete XLSX: one row per place, every field, its extra items, payments and check-ins."""
    event = _exported_event(params)
    columns = _complete_columns(event)
    return exports.write_xlsx(path, _places_title(params), [header for group in columns for header in group.headers],
                              _complete_rows(event, columns, progress))


def _door_list_title(params):
    return gettext("Door list of %(event)s", event=_exported_event(params).name)


def _write_door_list(path, fmt, params, progress) -> int:
    """The door's short list in PDF: number, name, ticket, options, state, by name."""
    event = _exported_event(params)
    ticket_names = {ticket_type.id: ticket_type.name for ticket_type in event.ticket_types}
    states = {state: str(state) for state in ReservationState}
    starts = LocalMoments().one(event.starts_on)
    subtitle = " — ".join(part for part in (
        f"{format_date(starts, 'full')} {format_time(starts, 'short', rebase=False)}", event.place) if part)

    def rows():
        done = 0
        for places in _places_in_batches(event):
            options = _option_names(places)
            for place in places:
                yield (place.id, place.holder_name, ticket_names.get(place.ticket_type_id, ""),
                       options.get(place.id, ""), states[place.state])
                done += 1
                progress(done)

    return exports.write_pdf_list(path, _door_list_title(params), subtitle,
                                  [gettext("No."), gettext("Name"), gettext("Ticket type"), gettext("Options"),
                                   gettext("State")], (1, 5, 4, 5, 3), rows())


def _archive_title(params):
    return gettext("Places and files of %(event)s", event=_exported_event(params).name)


def _archive_count(params) -> int:
    """Each place (a row of the XLSX), then each uploaded file."""
    event = _exported_event(params)
    return _places_count(params) + db.session.scalar(select(func.count()).select_from(
        _uploaded_files(event).subquery()))


def _uploaded_files(event):
    return (select(Reservation, ExtraInfo, StoredFile)
            .join(ExtraInfoAnswer, ExtraInfoAnswer.reservation_id == Reservation.id)
            .join(ExtraInfo, ExtraInfo.id == ExtraInfoAnswer.extra_info_id)
            .join(StoredFile, StoredFile.id == ExtraInfoAnswer.file_id)
            .where(Reservation.event_id == event.id, Reservation.id.in_(
                _scoped_places(event).with_only_columns(Reservation.id))))


def _extension(stored) -> str:
    """A file's extension from its type (read from its content), else from its name."""
    guessed = mimetypes.guess_extension(stored.content_type or "")
    if guessed:
        return guessed.lstrip(".")
    _, dot, extension = stored.original_name.rpartition(".")
    return exports.slug(extension) if dot and exports.slug(extension) else "bin"


def _archive_name(place, info, stored) -> str:
    """Where an uploaded file goes in the archive: `<place no.>-<holder>/<item>.<extension>`."""
    holder = exports.slug(place.holder_name) or "place"
    return f"{place.id}-{holder}/{exports.slug(info.label) or 'item'}.{_extension(stored)}"


def _archive_members(event, spreadsheet, progress, done):
    """The archive's members: the XLSX, then each uploaded file of the places (a second
    item whose label makes the same name gets its item's number too)."""
    yield os.path.basename(spreadsheet), spreadsheet
    statement = _uploaded_files(event).options(joinedload(Reservation.holder)).order_by(Reservation.id, ExtraInfo.id)
    result = db.session.execute(statement.execution_options(yield_per=EXPORT_BATCH))
    try:
        names, folder = set(), None
        for place, info, stored in result:
            if place.id != folder:
                names, folder = set(), place.id
            name = _archive_name(place, info, stored)
            if name in names:
                stem, dot, extension = name.rpartition(".")
                name = f"{stem}-{info.id}{dot}{extension}"
            names.add(name)
            path = files.absolute_path(stored)
            if os.path.exists(path):
                yield name, path
            else:
                log.warning("export of event %s: the file of %s is missing (%s)", event.id, name, path)
            done += 1
            progress(done)
    finally:
        result.close()


def _write_archive(path, fmt, params, progress) -> int:
    """The complete XLSX and every uploaded file of the places, in a zip or tar.gz."""
    event = _exported_event(params)
    columns = _complete_columns(event)
    folder = tempfile.mkdtemp(dir=os.path.dirname(path))
    spreadsheet = os.path.join(folder, exports.file_name(_places_title(params), "xlsx"))
    try:
        places = exports.write_xlsx(spreadsheet, _places_title(params),
                                    [header for group in columns for header in group.headers],
                                    _complete_rows(event, columns, progress))
        files_done = exports.write_archive(path, fmt, _archive_members(event, spreadsheet, progress, places)) - 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return places + files_done


exports.register_document(exports.Document(
    name=DOOR_LIST, formats=("pdf",), title=_door_list_title, rows_total=_places_count, write=_write_door_list,
    check=_exported_event))
exports.register_document(exports.Document(
    name=PLACES, formats=("xlsx",), title=_places_title, rows_total=_places_count, write=_write_places,
    check=_exported_event))
exports.register_document(exports.Document(
    name=ARCHIVE, formats=("zip", "tar.gz"), title=_archive_title, rows_total=_archive_count, write=_write_archive,
    check=_exported_event))


# ---------------------------------------------------------------------------
# Check-in
# ---------------------------------------------------------------------------
#
# A scan is decided under the place's row lock (`transactions.LockedRead`: FOR UPDATE on
# PostgreSQL, the write lock on SQLite), so that of many scans of one ticket at once
# the first records the entry and the others read it; the unique index over the live
# entries (`CheckIn`) is the database's own guard behind it.

#: What the scanner names a scan by: a UUID, or any 8 to 64 letters, digits, "-" and "_".
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: How far ahead of the server's clock an offline scanner's may be, and how old a scan it may sync.
SCAN_CLOCK_SKEW, SCAN_MAX_AGE = timedelta(minutes=5), timedelta(days=7)
UNDO_REASON_LENGTH = 500
#: The largest id an integer key holds on both databases: a token's 6-byte number beyond it is no place.
PLACE_ID_MAX = 2 ** 31 - 1

RESERVATION_WORKFLOW.event_labels.update({"check_in": _l("Checked in"), "check_in_undone": _l("Entry undone")})


@dataclass
class ScanVerdict:
    """What the door is told of one scan: its code (ok, already, not_paid, items_missing,
    opposed, cancelled, other_event, unknown, bad_signature), the sentence, the place it
    is about (once the ticket is known) and the live entry (this scan's when "ok", the
    earlier one when "already")."""

    code: str
    message: str
    reservation: Optional[Reservation] = None
    entry: Optional[CheckIn] = None
    duplicate: bool = False  # an offline scan synced after the place had entered
    replayed: bool = False  # the scan was sent before (same nonce): its first answer again

    @property
    def ok(self) -> bool:
        return self.code == "ok"


def check_checkin_staff(user, event) -> None:
    """Scanning, undoing and the offline pack are for the event's check-in level and up."""
    if not holds(user, event, AdminLevel.checkin):
        raise EventRefused(None, gettext("Only the event's check-in staff may check tickets in."))


def _at(moment) -> str:
    """When an entry happened, as the door reads it: the time today, else the day and time."""
    local = moment.replace(tzinfo=timezone.utc).astimezone(zone())
    if local.date() == local_today():
        return format_time(local.replace(tzinfo=None), "short", rebase=False)
    return _when(moment)


def _scanner_name(entry) -> str:
    return entry.by.get_full_name() if entry.by is not None else gettext("Someone")


def _checked_nonce(nonce) -> str:
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise EventRefused("nonce", gettext("Nonce: 8 to 64 letters, digits, “-” or “_” are expected."))
    return nonce


def _checked_scan_time(scanned_on, now):
    """An offline scan's own time (UTC, naive), within what a scanner's clock may say."""
    if scanned_on is None:
        return None
    if not isinstance(scanned_on, datetime):
        raise EventRefused("scanned_on", gettext("Scanned on: a date and time with its offset is expected."))
    if scanned_on.tzinfo is not None:
        scanned_on = scanned_on.astimezone(timezone.utc).replace(tzinfo=None)
    if scanned_on > now + SCAN_CLOCK_SKEW:
        raise EventRefused("scanned_on", gettext("Scanned on: this moment is in the future."))
    if scanned_on < now - SCAN_MAX_AGE:
        raise EventRefused("scanned_on", gettext("Scanned on: a scan older than %(num)d days is not synced.",
                                                 num=SCAN_MAX_AGE.days))
    return scanned_on


def _signed_by(event, token) -> bool:
    if event is None or event.public_key is None:
        return False
    try:
        signing.verify(event.public_key, token)
    except signing.BadToken:
        return False
    return True


def _no_validated_answer(reservation_id):
    """On ExtraInfo: the place (an id, or a column) has no validated answer to it —
    `payment_blockers` in SQL, for the door's one query per scan and its offline pack."""
    return ~select(ExtraInfoAnswer.id).where(
        ExtraInfoAnswer.reservation_id == reservation_id, ExtraInfoAnswer.extra_info_id == ExtraInfo.id,
        ExtraInfoAnswer.validated_on.isnot(None)).exists()


# A door's statements are built once, with bind parameters: building one costs more
# than the database's answer to it.

#: The scanned place, locked, with its ticket type, its holder and whether an extra item
#: of its ticket type has no validated answer (only then are the missing ones listed).
SCANNED_PLACE = transactions.LockedRead(Reservation, lambda: select(
    Reservation, select(ExtraInfo.id).where(ExtraInfo.ticket_type_id == Reservation.ticket_type_id,
                                            _no_validated_answer(Reservation.id)).exists().label("items_missing"))
    .where(Reservation.id == bindparam("place_id"))
    .options(joinedload(Reservation.ticket_type, innerjoin=True), joinedload(Reservation.holder)))


@functools.cache
def _scan_entries():
    """The event's entries a scan needs: its nonce's (a scan sent again), the place's live one."""
    return select(CheckIn).where(CheckIn.event_id == bindparam("event_id"), or_(
        CheckIn.nonce == bindparam("nonce"),
        and_(CheckIn.reservation_id == bindparam("place_id"), CheckIn.undone_on.is_(None))))


def _already(place, entry, duplicate) -> ScanVerdict:
    values = {"time": _at(entry.checked_in_on), "name": _scanner_name(entry)}
    message = (gettext("Synced duplicate: already checked in at %(time)s by %(name)s.", **values) if duplicate
               else gettext("Already checked in at %(time)s by %(name)s.", **values))
    return ScanVerdict("already", message, place, entry, duplicate=duplicate)


def _entered(place, entry, replayed=False) -> ScanVerdict:
    values = {"name": place.holder_name, "ticket": place.ticket_type.name}
    message = (gettext("Entry recorded (scanned offline at %(time)s): %(name)s, %(ticket)s.",
                       time=_at(entry.checked_in_on), **values) if entry.offline
               else gettext("Entry recorded: %(name)s, %(ticket)s.", **values))
    return ScanVerdict("ok", message, place, entry, replayed=replayed)


def _unknown_place() -> ScanVerdict:
    return ScanVerdict("unknown", gettext("Unknown ticket: this place no longer exists."))


def _scan_verdict(event, number, secret, nonce, scanned_on, lock):
    """(verdict, place) of a signed scan of place `number`: the verdict is
    None when the place may enter now. Read without a lock first: a scan that finds the
    place entered, opposed or unpaid writes nothing and need not wait for another door's
    scan; only one that would record the entry reads again, locked."""
    read = SCANNED_PLACE.first(place_id=number, lock=lock)
    place, items_missing = read if read is not None else (None, False)
    if place is None or place.event_id != event.id:
        return _unknown_place(), None
    entries = db.session.scalars(_scan_entries(), {"event_id": event.id, "nonce": nonce, "place_id": place.id},
                                 execution_options={"populate_existing": True}).all()
    sent_before = next((entry for entry in entries if entry.nonce == nonce), None)
    if sent_before is not None:
        if sent_before.reservation_id != place.id:
            raise EventRefused("nonce", gettext("Nonce: already used for another ticket."))
        return _entered(place, sent_before, replayed=True), place
    if place.state is OPPOSED or place.ticket_secret != secret:
        return ScanVerdict("opposed", gettext("Revoked ticket: the place is opposed."), place), place
    if event.cancelled:
        return ScanVerdict("cancelled", gettext("The event is cancelled."), place), place
    if place.state is not RESERVED:
        return ScanVerdict("not_paid", gettext("Not paid: the place is only pre-reserved."), place), place
    missing = db.session.scalars(select(ExtraInfo.label).where(
        ExtraInfo.ticket_type_id == place.ticket_type_id, _no_validated_answer(place.id)).order_by(ExtraInfo.id)
        ).all() if items_missing else None
    if missing:
        return ScanVerdict("items_missing", gettext("Extra items missing or not validated: %(items)s.",
                                                    items=", ".join(missing)), place), place
    live = next((entry for entry in entries if entry.reservation_id == place.id), None)
    if live is not None:
        return _already(place, live, duplicate=scanned_on is not None), place
    return None, place


def scan(user, event, token, nonce, scanned_on=None) -> ScanVerdict:
    """Check a ticket in at the event's door: the verdict, and the entry recorded when
    it is "ok". `nonce` names the scan (a scan sent again gets its first answer);
    `scanned_on` is given by an offline scanner syncing (when it scanned), and its scan
    of a place that had entered meanwhile is flagged a duplicate. The caller commits.

    A door scans fast: the place is read in one statement (with whether it has items
    missing), its entries (the live one, the nonce's) in one more; a scan that would
    record the entry reads both again under the place's lock (`_scan_verdict`)."""
    check_checkin_staff(user, event)
    nonce = _checked_nonce(nonce)
    now = utcnow()
    scanned_on = _checked_scan_time(scanned_on, now)
    try:
        number, secret, _payload, _signature = signing.read(token if isinstance(token, str) else "")
    except signing.BadToken:
        return ScanVerdict("unknown", gettext("Unknown code: this is not one of our tickets."))
    known = number <= PLACE_ID_MAX
    if not _signed_by(event, token):
        place = db.session.get(Reservation, number) if known else None
        if place is not None and place.event_id != event.id and _signed_by(place.event, token):
            return ScanVerdict("other_event", gettext("This ticket is for another event."))
        return ScanVerdict("bad_signature", gettext("Bad signature: this ticket was not issued for this event."))
    verdict, place = _scan_verdict(event, number, secret, nonce, scanned_on, lock=False) if known \
        else (_unknown_place(), None)
    if verdict is None:  # it would enter: decide again under the place's lock, as the winner left it
        verdict, place = _scan_verdict(event, number, secret, nonce, scanned_on, lock=True)
    if verdict is not None:
        return verdict
    entry = CheckIn(event_id=event.id, reservation_id=place.id, checked_in_on=scanned_on or now, recorded_on=now,
                    by_id=user.id, nonce=nonce, offline=scanned_on is not None)
    db.session.add(entry)
    try:
        db.session.flush()
    except IntegrityError:  # the unique indexes: only if something bypassed the lock
        raise EventRefused(None, gettext("This ticket was scanned elsewhere at the same moment: scan it again.")) \
            from None
    RESERVATION_WORKFLOW.record(place, "check_in", user)
    return _entered(place, entry)


def checkin_counts(event) -> dict:
    """The door's live counts: places entered (live entries) and places expected (reserved)."""
    entered = db.session.scalar(select(func.count(CheckIn.id)).where(
        CheckIn.event_id == event.id, CheckIn.undone_on.is_(None)))
    expected = db.session.scalar(select(func.count(Reservation.id)).where(
        Reservation.event_id == event.id, Reservation.state == RESERVED))
    return {"entered": entered, "expected": expected}


def undo_last(user, event, reason) -> CheckIn:
    """Undo the last entry this person recorded at the event's door (each scanner undoes
    its own mistake), with a reason; the entry is kept, marked undone, and the place's
    history says it. The caller commits."""
    check_checkin_staff(user, event)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise EventRefused("reason", gettext("Reason: a reason is required to undo an entry."))
    if len(reason) > UNDO_REASON_LENGTH:
        raise EventRefused("reason", gettext("Reason: at most %(num)d characters.", num=UNDO_REASON_LENGTH))
    entry = db.session.scalar(select(CheckIn).where(
        CheckIn.event_id == event.id, CheckIn.by_id == user.id, CheckIn.undone_on.is_(None))
        .order_by(CheckIn.id.desc()).limit(1))
    if entry is None:
        raise EventRefused(None, gettext("You have recorded no entry to undo."))
    transactions.lock(entry)
    if entry.undone_on is not None:
        raise EventRefused(None, gettext("This entry was undone meanwhile: nothing changed."))
    entry.undone_on, entry.undone_by_id, entry.undo_reason = utcnow(), user.id, reason
    db.session.flush()
    RESERVATION_WORKFLOW.record(entry.reservation, "check_in_undone", user, reason)
    return entry


def offline_pack(user, event) -> dict:
    """What a scanner keeps to check tickets while the network is down: the event's
    public key (raw bytes; None before its first ticket) and the places a valid
    signature does not let in — revoked (opposed), not paid, items missing — and
    those already entered, as of now."""
    check_checkin_staff(user, event)
    of_event = Reservation.event_id == event.id
    revoked = db.session.scalars(select(Reservation.id).where(of_event, Reservation.state == OPPOSED)
                                 .order_by(Reservation.id)).all()
    not_paid = db.session.scalars(select(Reservation.id).where(of_event, Reservation.state == PRERESERVED)
                                  .order_by(Reservation.id)).all()
    items_missing = db.session.scalars(
        select(Reservation.id).distinct().join(ExtraInfo, ExtraInfo.ticket_type_id == Reservation.ticket_type_id)
        .where(of_event, Reservation.state == RESERVED, _no_validated_answer(Reservation.id))
        .order_by(Reservation.id)).all()
    entered = db.session.scalars(select(CheckIn.reservation_id).where(
        CheckIn.event_id == event.id, CheckIn.undone_on.is_(None)).order_by(CheckIn.reservation_id)).all()
    return {"public_key": event.public_key, "cancelled": event.cancelled, "revoked": revoked,
            "not_paid": not_paid, "items_missing": items_missing, "entered": entered}
