"""Desk A, visio booking — the screens: rooms and their calendars, equipment, the
booking wizard, the bookings grid, the queue of the VNOC (visio network operations
centre), today's connections and the usage report.

Every query goes through the row scope (ScopedInterface or apply_scope): a Booker
reaches their organisation's rows only, the VNOC every row; others answer 404.
"""
import json
from datetime import date, datetime, time, timedelta

from flask import Response, abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import format_datetime, gettext, lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from ..models import (
    EQUIPMENT_KIND_LABELS,
    RECURRENCE_LABELS,
    Booking,
    BookingOccurrence,
    BookingState,
    Equipment,
    EquipmentKind,
    Recurrence,
    Room,
    utcnow,
)
from ..platform import exports, inputs
from ..platform.notifications import absolute_url
from ..rules import booking as rules
from ..security import ScopedInterface, apply_scope
from ..desks import desk_of
from .base import Attempt, GuichetModelRestApi, GuichetModelView, WorkflowModelView

DESK = desk_of(__name__)

ROOM_LABELS = {
    "name": _l("Name"),
    "kind": _l("Kind"),
    "organisation": _l("Organisation"),
    "capacity": _l("Capacity"),
    "active": _l("Open to booking"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}
EQUIPMENT_LABELS = {
    "name": _l("Name"),
    "kind": _l("Type"),
    "contact_name": _l("Contact"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "ip_address": _l("IP address"),
    "bridge_id": _l("Bridge identifier"),
    "organisation": _l("Organisation"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}
BOOKING_LABELS = {
    "reference": _l("Reference"),
    "kind": _l("Kind"),
    "organisation": _l("Organisation"),
    "creator": _l("Requested by"),
    "creator_phone": _l("Requester's phone"),
    "session_name": _l("Session name"),
    "organiser_name": _l("Organiser"),
    "organiser_email": _l("Organiser's email"),
    "organiser_phone": _l("Organiser's phone"),
    "start_at": _l("Start"),
    "end_at": _l("End"),
    "rooms": _l("Rooms"),
    "recurrence": _l("Recurrence"),
    "recurrence_until": _l("Until"),
    "recurrence_count": _l("Number of sessions"),
    "state": _l("State"),
    "requested_on": _l("Requested on"),
    "connection_id": _l("Connection identifier"),
    "connection_url": _l("Connection address"),
    "notes": _l("Notes"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}


# ---------------------------------------------------------------------------
# Rooms and their calendars
# ---------------------------------------------------------------------------


class RoomView(GuichetModelView):
    datamodel = ScopedInterface(Room)
    route_base = "/rooms"
    list_title = _l("Rooms and bridges")
    show_title = _l("Room")
    add_title = _l("Add a room")
    edit_title = _l("Edit a room")
    list_columns = ["name", "kind", "organisation", "capacity", "active"]
    show_columns = ["name", "kind", "organisation", "capacity", "active", "created_on", "changed_on"]
    add_columns = edit_columns = ["name", "kind", "organisation", "capacity", "active"]
    search_columns = ["name", "kind", "organisation", "active"]
    label_columns = ROOM_LABELS
    base_order = ("name", "asc")
    base_permissions = ["can_list", "can_show", "can_export", "can_add", "can_edit", "can_delete",
                        "can_calendar", "can_calendar_events", "can_freebusy", "can_feed"]
    show_template = "booking/room_show.html"

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's detail page, plus the room's feed URL for whoever manages the room
        (the VNOC, Admin)."""
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        feed = {}
        if self.appbuilder.sm.has_access("can_feed", self.class_permission_name):
            room = self.datamodel.get(pk, self._base_filters)
            feed = {"may_manage_feed": True, "feed_url": absolute_url(url_for(
                "RoomFeedView.feed", pk=room.id, token=room.feed_token)) if room.feed_token else None}
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=widgets,
                                    related_views=self._related_views, **feed)

    @expose("/feed/<int:pk>", methods=["POST"])
    @has_access
    def feed(self, pk):
        """Issue a new secret URL for the room's feed (the old one stops working), or revoke it."""
        room = _scoped_or_404(Room, pk)
        revoke = request.form.get("action") == "revoke"
        with Attempt(done=gettext("The feed's address is revoked.") if revoke
                     else gettext("A new feed address is issued; the previous one no longer works.")):
            if revoke:
                rules.revoke_feed(room)
            else:
                rules.issue_feed_token(room)
        return redirect(url_for("RoomView.show", pk=pk))

    @expose("/freebusy/")
    @has_access
    def freebusy(self):
        """Every room the viewer may see, by day or by week (working days), as MRBS
        and Indico show them: a free slot opens the wizard on it."""
        mode = request.args.get("view", "day")
        if mode not in ("day", "week"):
            raise inputs.InputRefused("view", gettext("%(field)s: choose one of the listed values.", field="view"))
        day = inputs.parse_date(request.args.get("day"), "day") or rules.local_now().date()
        if mode == "week":
            monday = day - timedelta(days=day.weekday())
            days = [monday + timedelta(days=n) for n in range(7)
                    if n in current_app.config["BOOKING_WORKING_DAYS"]]
            step, previous, following = timedelta(minutes=30), monday - timedelta(weeks=1), monday + timedelta(weeks=1)
        else:
            days = [day]
            step, previous, following = timedelta(minutes=15), day - timedelta(days=1), day + timedelta(days=1)
        rooms = db.session.scalars(apply_scope(select(Room).where(Room.active.is_(True)), Room)
                                   .order_by(Room.kind, Room.name)).all()
        grid = rules.freebusy(rooms, days, step, g.user)
        columns = rules.grid_slots(days[0], step) if days else []
        return self.render_template(
            "booking/freebusy.html", grid=grid, columns=columns, mode=mode, day=day, days=days,
            previous=previous, following=following, today=rules.local_now().date(),
            show_organisation=len({r.organisation_id for r in rooms}) > 1,
            may_book=self.appbuilder.sm.has_access("can_book", "BookingWizard"),
            wizard_slot=rules.wizard_slot, title=gettext("Free/busy grid"))

    @expose("/calendar/<int:pk>")
    @has_access
    def calendar(self, pk):
        room = _scoped_or_404(Room, pk)
        return self.render_template("booking/calendar.html", room=room, title=str(room))

    @expose("/calendar/<int:pk>/events")
    @has_access
    def calendar_events(self, pk):
        """The room's sessions between `start` and `end` (FullCalendar's feed)."""
        room = _scoped_or_404(Room, pk)
        start, end = (inputs.parse_date((request.args.get(name) or "")[:19], name, datetime.fromisoformat)
                      for name in ("start", "end"))
        query = apply_scope(
            select(BookingOccurrence, Booking).join(Booking, Booking.id == BookingOccurrence.booking_id)
            .where(BookingOccurrence.room_id == room.id, BookingOccurrence.active.is_(True)), Booking)
        if start:
            query = query.where(BookingOccurrence.end_at > start)
        if end:
            query = query.where(BookingOccurrence.start_at < end)
        events = [{
            "id": occurrence.id,
            "title": f"{booking.reference} {booking.session_name}",
            "start": occurrence.start_at.isoformat(),
            "end": occurrence.end_at.isoformat(),
            "url": url_for("BookingView.show", pk=booking.id),
            "classNames": [f"booking-{booking.state.value}"],
            "extendedProps": {"state": str(booking.state)},
        } for occurrence, booking in db.session.execute(query.limit(2000))]
        return jsonify(events)


def _scoped_or_404(model, pk):
    item = db.session.scalar(apply_scope(select(model).where(model.id == pk), model))
    if item is None:
        abort(404)
    return item


class RoomFeedView(BaseView):
    """A room's iCalendar feed, for calendar applications: no sign-in, the secret in
    its URL is the key (a wrong one answers 404, as an unknown room)."""

    route_base = "/rooms"

    @expose("/<int:pk>/feed/<token>.ics")
    def feed(self, pk, token):
        room = rules.feed_room(pk, token)
        if room is None:
            abort(404)
        return Response(rules.feed(room), mimetype="text/calendar",
                        headers={"Content-Disposition": f'inline; filename="salle-{room.id}.ics"',
                                 "Cache-Control": "private, max-age=300"})


class RoomApi(GuichetModelRestApi):
    grid = RoomView
    resource_name = "room"


# ---------------------------------------------------------------------------
# Equipment
# ---------------------------------------------------------------------------


class EquipmentView(GuichetModelView):
    datamodel = ScopedInterface(Equipment)
    route_base = "/equipment"
    list_title = _l("Participant equipment")
    show_title = _l("Equipment")
    add_title = _l("Add equipment")
    edit_title = _l("Edit equipment")
    list_columns = ["name", "kind", "contact_name", "email", "phone", "ip_address", "organisation"]
    show_columns = ["name", "kind", "contact_name", "email", "phone", "ip_address", "bridge_id",
                    "organisation", "created_on", "changed_on"]
    add_columns = edit_columns = ["name", "kind", "contact_name", "email", "phone", "ip_address",
                                  "bridge_id", "organisation"]
    search_columns = ["name", "kind", "contact_name", "email", "organisation"]
    label_columns = EQUIPMENT_LABELS
    base_order = ("name", "asc")


class EquipmentApi(GuichetModelRestApi):
    grid = EquipmentView
    resource_name = "equipment"


# ---------------------------------------------------------------------------
# Bookings: grid, detail, VNOC queue, today's connections, usage report
# ---------------------------------------------------------------------------


class BookingView(WorkflowModelView):
    datamodel = ScopedInterface(Booking)
    workflow = rules.BOOKING_WORKFLOW
    route_base = "/bookings"
    list_title = _l("Bookings")
    show_title = _l("Booking")
    list_columns = ["reference", "session_name", "organisation", "organiser_name", "start_at", "end_at",
                    "kind", "state"]
    show_columns = ["reference", "kind", "state", "session_name", "organisation", "creator", "creator_phone",
                    "organiser_name", "organiser_email", "organiser_phone", "start_at", "end_at", "rooms",
                    "recurrence", "recurrence_until", "recurrence_count", "connection_id", "connection_url",
                    "notes", "requested_on"]
    search_columns = ["reference", "session_name", "organiser_name", "organisation", "state", "kind",
                      "start_at"]
    label_columns = BOOKING_LABELS
    base_order = ("start_at", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "validate", "refuse", "cancel", "can_home",
                        "can_queue", "can_connections", "can_connection", "can_report"]
    show_template = "booking/show.html"

    def show_context(self, booking):
        sm = self.appbuilder.sm
        may_cancel = sm.has_access("cancel", self.class_permission_name)
        return {
            "may_change": rules.may_change(booking) and sm.has_access("can_book", "BookingWizard"),
            "may_connect": rules.may_change(booking) and sm.has_access("can_connection", self.class_permission_name),
            "cancellable": {planned for planned, _ in rules.sessions_to_cancel(booking, g.user)}
            if may_cancel and booking.recurrence else set(),
            "dates": rules.calendar_of(booking),
        }

    @expose("/cancel/<int:pk>", methods=["GET", "POST"])
    def cancel(self, pk):
        """Cancel a booking, or one session of a series, once the person confirmed
        (a page of its own: nothing is cancelled by a single click). The permission is
        the cancel transition's."""
        if not self.appbuilder.sm.has_access("cancel", self.class_permission_name):
            abort(404)
        booking = _scoped_or_404(Booking, pk)
        whole = any(t.name == "cancel" for t in self.workflow.available(booking, g.user))
        sessions = rules.sessions_to_cancel(booking, g.user) if booking.recurrence else []
        if not whole and not sessions:
            refusal = rules.change_refusal(booking)
            flash(refusal.message if refusal else gettext("Start: the session has started; call the VNOC."),
                  "danger")
            return redirect(url_for("BookingView.show", pk=pk))
        chosen = request.values.get("what") or ("all" if whole else sessions[0][0].isoformat())
        if request.method == "POST":
            comment = request.form.get("comment", "")
            if chosen == "all":
                attempt_done = gettext("Booking %(reference)s cancelled.", reference=booking.reference)
                with Attempt(done=attempt_done):
                    self.workflow.fire(booking, "cancel", g.user, comment)
            else:
                try:
                    planned = datetime.fromisoformat(chosen)
                except ValueError:
                    abort(400)
                with Attempt(done=gettext("The session of %(day)s is cancelled; the others are unchanged.",
                                          day=format_datetime(planned, "short", rebase=False))):
                    rules.cancel_occurrence(booking, planned, g.user, comment)
            return redirect(url_for("BookingView.show", pk=pk))
        return self.render_template("booking/cancel.html", booking=booking, whole=whole, sessions=sessions,
                                    chosen=chosen, title=gettext("Cancel booking %(reference)s",
                                                                 reference=booking.reference))

    @expose("/home")
    @has_access
    def home(self):
        """Where the desk opens: the VNOC on its queue, bookers on the wizard."""
        return redirect(url_for(rules.landing(g.user)))

    @expose("/connection/<int:pk>", methods=["POST"])
    @has_access
    def connection(self, pk):
        """The VNOC records the connection details, and validates if asked."""
        booking = _scoped_or_404(Booking, pk)
        with Attempt(done=gettext("Connection details saved.")) as attempt:
            rules.set_connection(booking, request.form.get("connection_id"), request.form.get("connection_url"))
            if request.form.get("validate"):
                self.workflow.fire(booking, "validate", g.user)
                attempt.done = gettext("Booking %(reference)s validated.", reference=booking.reference)
        target = request.form.get("next")
        return redirect(target if target in (url_for("BookingView.queue"),) else url_for("BookingView.show", pk=pk))

    @expose("/queue/")
    @has_access
    def queue(self):
        query = apply_scope(select(Booking).where(Booking.state == BookingState.pending), Booking)
        bookings = db.session.scalars(query.order_by(Booking.requested_on).limit(500)).all()
        now = utcnow()
        rows = [(booking, rules.minutes_left(booking, now)) for booking in bookings]
        return self.render_template("booking/queue.html", rows=rows, title=gettext("VNOC queue"))

    @expose("/connections/")
    @has_access
    def connections(self):
        day = inputs.parse_date(request.args.get("day"), "day") or rules.local_now().date()
        calls = rules.calls_of_day(day)
        return self.render_template("booking/connections.html", calls=calls, day=day,
                                    previous=day - timedelta(days=1), following=day + timedelta(days=1),
                                    title=gettext("Today's connections"))

    @expose("/report/")
    @has_access
    def report(self):
        """Usage of the month, by organisation and room, filtered by one organisation
        or room the viewer may see (anything else is refused: 400)."""
        month = inputs.parse_month(request.args.get("month"), "month") or rules.local_now().date().replace(day=1)
        rooms = db.session.scalars(apply_scope(select(Room), Room).order_by(Room.name)).all()
        organisations = sorted({room.organisation for room in rooms}, key=lambda o: o.name)
        organisation_id = _choice(request.args.get("organisation"), {o.id for o in organisations}, "organisation")
        room_id = _choice(request.args.get("room"), {r.id for r in rooms}, "room")
        filters = {"organisation": organisation_id, "room": room_id}
        rows = rules.usage(month, organisation_id=organisation_id, room_id=room_id)
        fmt = request.args.get("format")
        if fmt:
            return _report_export(rows, month, fmt)
        previous = (month - timedelta(days=1)).replace(day=1)
        following = (month + timedelta(days=32)).replace(day=1)
        totals = rules.UsageRow("", "", sum(r.sessions for r in rows), sum(r.minutes for r in rows),
                                sum(r.participants for r in rows))
        # The platform's chart (app/static/js/chart.js) reads FAB's data table.
        chart = {"cols": [{"label": gettext("Room")}, {"label": gettext("Hours")}],
                 "rows": [{"c": [{"v": f"{r.room} ({r.organisation})"}, {"v": r.hours}]} for r in rows]}
        return self.render_template("booking/report.html", rows=rows, totals=totals, month=month,
                                    previous=previous, following=following, organisations=organisations,
                                    rooms=rooms, filters={k: v for k, v in filters.items() if v is not None},
                                    chart=chart, title=gettext("Usage report"))


def _choice(value, allowed, field):
    """A filter's id, one of `allowed` (what the viewer may see), else refused naming `field`."""
    if not value:
        return None
    if not value.isdigit() or int(value) not in allowed:
        raise inputs.InputRefused(field, gettext("%(field)s: choose one of the listed values.", field=field))
    return int(value)


def _report_export(rows, month, fmt):
    if fmt not in GuichetModelView.export_formats:
        abort(404)
    headers = [gettext("Organisation"), gettext("Room"), gettext("Sessions"), gettext("Hours"),
               gettext("Participants")]
    data = [(r.organisation, r.room, r.sessions, r.duration, r.participants) for r in rows]
    return exports.rows_response(f"{gettext('Usage report')} {month:%Y-%m}", headers, data, fmt)


class BookingApi(GuichetModelRestApi):
    grid = BookingView
    resource_name = "booking"
    add_title = _l("Book a session")
    edit_title = _l("Change a booking")
    # Bookings are written through the wizard (its rules and mails); the API reads them.
    add_columns = edit_columns = ["session_name", "organiser_name", "organiser_email", "organiser_phone", "notes"]
    base_permissions = ["can_get", "can_info"]


# ---------------------------------------------------------------------------
# The booking wizard
# ---------------------------------------------------------------------------

STEPS = (_l("Rooms"), _l("Participants"), _l("Schedule"), _l("Review and confirm"))
PARTICIPANT_FIELDS = ("name", "kind", "contact_name", "email", "phone", "ip_address", "bridge_id")


class BookingWizard(BaseView):
    """Book (or change) a session in four steps; the draft travels in the form.

    The review (step 4) lists the dates that conflict; the booker resolves each
    there (skip it, another room, a nearby free slot) and is never sent back to
    step 1 for a date. A free slot of the free/busy grid opens step 1 with its
    room, day and times (`?room=&day=&start=&end=`)."""

    route_base = "/booking-wizard"
    default_view = "book"
    SCHEDULE = ("day", "start_time", "end_time", "recurrence", "recurrence_until", "recurrence_count")

    @expose("/", methods=["GET", "POST"])
    @has_access
    def book(self):
        booking = None
        booking_id = request.values.get("booking", type=inputs.int64)
        if booking_id:
            booking = _scoped_or_404(Booking, booking_id)
            refusal = rules.change_refusal(booking)
            if refusal is not None:
                if request.method == "GET":
                    abort(404)
                # Refused or cancelled while the wizard was open: say by whom.
                flash(refusal.message, "danger")
                return redirect(url_for("BookingView.show", pk=booking.id))
        if request.method == "GET":
            draft = rules.BookingDraft.from_booking(booking) if booking else self._new_draft()
            return self._render(draft, 1, [], booking)
        try:
            carried = json.loads(request.form.get("draft") or "{}")
        except ValueError:
            raise inputs.InputRefused("draft", gettext("%(field)s: this value is not of the expected kind.",
                                                       field="draft")) from None
        draft = rules.BookingDraft.from_dict(carried)
        step = min(max(request.form.get("step", 1, type=inputs.int64) or 1, 1), 4)
        self._merge(draft, step)
        action = request.form.get("action", "next")
        if action == "back":
            return self._render(draft, max(step - 1, 1), [], booking)
        rooms = self._rooms(draft.all_room_ids)
        if action == "confirm":
            return self._confirm(draft, rooms, booking)
        if step == 4 and self._resolve(draft, action):
            return self._render(draft, 4, self._review_problems(draft, booking), booking)
        found = [p for p in rules.problems(draft, g.user, rooms, booking=booking, check_rooms=step >= 3)
                 if p.step <= step]
        if found:
            return self._render(draft, min(p.step for p in found), found, booking)
        return self._render(draft, min(step + 1, 4), [], booking)

    @expose("/equipment")
    @has_access
    def equipment(self):
        """Saved equipment whose name contains `q` (the participants' autocomplete)."""
        text = (request.args.get("q") or "").strip()
        query = apply_scope(select(Equipment), Equipment)
        if text:
            query = query.where(func.lower(Equipment.name).contains(text.lower(), autoescape=True))
        rows = db.session.scalars(query.order_by(Equipment.name).limit(15))
        return jsonify([{
            "id": e.id, "name": e.name, "kind": e.kind.value, "contact_name": e.contact_name or "",
            "email": e.email or "", "phone": e.phone or "", "ip_address": e.ip_address or "",
            "bridge_id": e.bridge_id or "", "organisation": e.organisation.name,
        } for e in rows])

    # -- steps -----------------------------------------------------------

    def _new_draft(self):
        """A new draft: the signed-in person as organiser, their phone from their last
        request, and the free slot they came from (the free/busy grid), if any."""
        user = g.user
        last_phone = db.session.scalar(
            select(Booking.creator_phone).where(Booking.creator_id == user.id, Booking.creator_phone.is_not(None))
            .order_by(Booking.id.desc()).limit(1))
        draft = rules.BookingDraft(organiser_name=user.get_full_name(), organiser_email=user.email or "",
                                   creator_phone=last_phone or "")
        room_id = request.args.get("room", type=int)
        if room_id and self._rooms({room_id}):
            draft.room_ids = [room_id]
        draft.day = _parse(date.fromisoformat, request.args.get("day"))
        draft.start_time = _parse(time.fromisoformat, request.args.get("start"))
        draft.end_time = _parse(time.fromisoformat, request.args.get("end"))
        return draft

    def _rooms(self, ids):
        if not ids:
            return []
        return db.session.scalars(apply_scope(select(Room).where(Room.id.in_(list(ids))), Room)).all()

    def _equipment(self, draft):
        ids = [line.equipment_id for line in draft.participants if line.equipment_id]
        if not ids:
            return {}
        rows = db.session.scalars(apply_scope(select(Equipment).where(Equipment.id.in_(ids)), Equipment))
        return {e.id: e for e in rows}

    def _merge(self, draft, step):
        form = request.form
        if step == 1:
            rooms = sorted({int(v) for v in form.getlist("room") if v.isdigit()})
            if rooms != draft.room_ids:  # the dates held in other rooms were chosen for the old ones
                for change in draft.exceptions.values():
                    change.pop("rooms", None)
                draft.exceptions = {k: v for k, v in draft.exceptions.items() if v}
            draft.room_ids = rooms
        elif step == 2:
            indexes = sorted({int(key.split("-")[1]) for key in form if key.startswith("p-")
                              and key.split("-")[1].isdigit() and inputs.is_int64(key.split("-")[1])})
            lines = []
            for index in indexes:
                values = {name: (form.get(f"p-{index}-{name}") or "").strip() for name in PARTICIPANT_FIELDS}
                if not any(values[name] for name in PARTICIPANT_FIELDS if name != "kind"):
                    continue
                equipment_id = form.get(f"p-{index}-equipment_id") or ""
                lines.append(rules.ParticipantLine(
                    **values, vnoc_connects=form.get(f"p-{index}-vnoc_connects") == "yes",
                    save=bool(form.get(f"p-{index}-save")),
                    equipment_id=int(equipment_id) if equipment_id.isdigit() and inputs.is_int64(equipment_id)
                    else None))
            draft.participants = lines
        elif step == 3:
            before = [getattr(draft, name) for name in self.SCHEDULE]
            for name in ("session_name", "organiser_name", "organiser_email", "organiser_phone", "creator_phone",
                         "notes"):
                setattr(draft, name, (form.get(name) or "").strip())
            draft.day = _parse(date.fromisoformat, form.get("day"))
            draft.start_time = _parse(time.fromisoformat, form.get("start_time"))
            draft.end_time = _parse(time.fromisoformat, form.get("end_time"))
            draft.recurrence = form.get("recurrence") or None
            draft.recurrence_until = _parse(date.fromisoformat, form.get("recurrence_until"))
            count = (form.get("recurrence_count") or "").strip()
            draft.recurrence_count = int(count) if count.lstrip("-").isdigit() else None
            if [getattr(draft, name) for name in self.SCHEDULE] != before:  # other dates: start afresh
                draft.exceptions = {}

    def _resolve(self, draft, action) -> bool:
        """The review's buttons: "skip:<date>", "room:<date>:<room>" (with the room
        chosen in its select), "slot:<date>:<start>/<end>", "restore:<date>",
        "skip_all". Returns whether the action was one of them."""
        if action == "skip_all":
            for choice in rules.review(draft, g.user, self._bookable_rooms(), self._booking()).choices:
                rules.resolve(draft, choice.conflict.slot.key, "skip")
            return True
        kind, _, rest = action.partition(":")
        key, _, detail = rest.partition(":")
        if kind not in ("skip", "room", "slot", "restore") or not rules.is_iso_date(key):
            return False
        if kind == "restore":
            rules.restore(draft, key)
        elif kind == "room":
            target = request.form.get(f"room-{key}-{detail}") or ""
            rules.resolve(draft, key, f"room:{detail}:{target}")
        else:
            rules.resolve(draft, key, f"{kind}:{detail}")
        return True

    def _booking(self):
        booking_id = request.values.get("booking", type=int)
        return db.session.get(Booking, booking_id) if booking_id else None

    def _bookable_rooms(self):
        return db.session.scalars(apply_scope(select(Room).where(Room.active.is_(True)), Room)
                                  .order_by(Room.kind, Room.name)).all()

    def _review_problems(self, draft, booking):
        """What the review shows besides the conflicts it lists (every date skipped...)."""
        rooms = self._rooms(draft.all_room_ids)
        return [p for p in rules.problems(draft, g.user, rooms, booking=booking, check_rooms=False)
                if p.step == 4 or p.field == "rooms"]

    def _confirm(self, draft, rooms, booking):
        booking_id = booking.id if booking is not None else None
        with Attempt(flash_refusal=False) as attempt:  # the wizard shows the problems at their step
            if booking is None:
                booking = rules.create_booking(draft, g.user, rooms, self._equipment(draft))
            else:
                rules.modify_booking(booking, draft, g.user, rooms, self._equipment(draft))
            reference, booking_id = booking.reference, booking.id
        if attempt.refused is not None and not isinstance(attempt.refused, rules.BookingRefused):
            # nothing to show at a step (busy database, a value no column holds): stay on the review
            flash(attempt.refused.message, "danger")
            return self._render(draft, 4, [], db.session.get(Booking, booking_id) if booking_id else None)
        if attempt.refused is not None:
            problems = getattr(attempt.refused, "problems", None) or [
                rules.Problem(attempt.refused.field or "day", attempt.refused.message, 4)]
            booking = db.session.get(Booking, booking_id) if booking_id else None  # the one being changed
            return self._render(draft, min(p.step for p in problems), problems, booking)
        return self.render_template("booking/done.html", reference=reference, booking_id=booking_id,
                                    modified=bool(request.values.get("booking")),
                                    title=gettext("Booking recorded"))

    def _render(self, draft, step, problems, booking):
        rooms = self._bookable_rooms()
        chosen = {room.id: room for room in self._rooms(draft.all_room_ids)}
        review = rules.review(draft, g.user, rooms, booking) if step == 4 else None
        return self.render_template(
            "booking/wizard.html", draft=draft, draft_json=json.dumps(draft.to_dict()), step=step,
            steps=STEPS, problems=problems, rooms=rooms, chosen=chosen, booking=booking, review=review,
            quarter_hours=[t.strftime("%H:%M") for t in rules.quarter_hours()],
            equipment_kinds=[(k.value, EQUIPMENT_KIND_LABELS[k]) for k in EquipmentKind],
            kind_labels={k.value: EQUIPMENT_KIND_LABELS[k] for k in EquipmentKind},
            recurrences=[(r.value, RECURRENCE_LABELS[r]) for r in Recurrence],
            field_labels=rules.FIELD_LABELS, title=gettext("Book a session"),
            problem_fields={p.field for p in problems},
            cell_problems={p.cell: p.message for p in problems if p.cell},
        )


def _parse(parser, value):
    try:
        return parser(value) if value else None
    except ValueError:
        return None


def register(appbuilder):
    appbuilder.add_view(BookingWizard, "BookSession", href="/booking-wizard/", icon="fa-calendar-plus-o",
                        label=_l("Book a session"), category=DESK.category)
    appbuilder.add_view(BookingView, "Bookings", icon="fa-calendar", label=_l("Manage bookings"),
                        category=DESK.category)
    appbuilder.add_link("FreeBusy", href="/rooms/freebusy/", icon="fa-th", label=_l("Free/busy grid"),
                        category=DESK.category)
    appbuilder.add_link("VnocQueue", href="/bookings/queue/", icon="fa-hourglass-half",
                        label=_l("VNOC queue"), category=DESK.category)
    appbuilder.add_link("TodayConnections", href="/bookings/connections/", icon="fa-phone",
                        label=_l("Today's connections"), category=DESK.category)
    appbuilder.add_link("UsageReport", href="/bookings/report/", icon="fa-bar-chart",
                        label=_l("Usage report"), category=DESK.category)
    appbuilder.add_view(EquipmentView, "Equipment", icon="fa-desktop", label=_l("Participant equipment"),
                        category=DESK.category)
    appbuilder.add_view(RoomView, "Rooms", icon="fa-building-o", label=_l("Rooms and bridges"),
                        category=DESK.category)
    appbuilder.add_view_no_menu(RoomFeedView)
    appbuilder.add_api(BookingApi)
    appbuilder.add_api(EquipmentApi)
    appbuilder.add_api(RoomApi)
