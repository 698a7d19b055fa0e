"""Desk E — e-RDV: the seed's "Réservation de rendez-vous" form, the free slots to pick
one, the appointment's page (its reference to carry into the order, its history,
confirm / reschedule / cancel, attended / missed for the wholesale side), the grid of
the operator's appointments, and the same as an API in the shape of TMF646."""
from datetime import datetime

from flask import abort, g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l
from marshmallow import Schema, fields
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from ...access.operator import APPOINTMENTS
from ...extensions import db
from ...models import (
    APPOINTMENT_STATE_LABELS,
    DAY_PERIOD_LABELS,
    OPERATION_TYPE_LABELS,
    Appointment,
    AppointmentState,
    Building,
    DayPeriod,
    OperationType,
)
from ...platform import exports
from ...platform.clock import zone as local_zone
from ...platform.refusals import Refused
from ...rules.operator import appointments as rules
from ...security import WHOLESALE_AGENT, apply_scope, role_names, viewer_of
from ..base import Attempt
from .common import DESK, OperatorApi, SCREENS, entitled_menu, requires_eservice

FORM_FIELDS = ("access_reference", "street_number", "rivoli_code", "insee_code", "product", "operation_type",
               "appointment_type", "window_start", "window_end", "preferred_weekday", "preferred_period")
PAGE_SIZE = 50


def is_wholesale(user) -> bool:
    return WHOLESALE_AGENT in role_names(user)


def scoped_appointments():
    return apply_scope(db.session.query(Appointment), Appointment)


def find(reference):
    """The appointment `reference` within the viewer's row scope, or None."""
    return scoped_appointments().filter(Appointment.reference == str(reference or "").strip().upper()).one_or_none()


def choices() -> dict:
    return {
        "product": rules.PRODUCT_LABELS,
        "operation_type": {kind.value: OPERATION_TYPE_LABELS[kind] for kind in OperationType},
        "appointment_type": rules.APPOINTMENT_TYPE_LABELS,
        "preferred_weekday": {str(day): label for day, label in rules.WEEKDAY_LABELS.items()},
        "preferred_period": {period.value: DAY_PERIOD_LABELS[period] for period in DayPeriod},
    }


def prefill(args) -> dict:
    """The form's values: as typed, or from the building sheet's link (?imb=...)."""
    values = {name: args.get(name, "") for name in FORM_FIELDS}
    imb = args.get("imb", "").strip().upper()
    if imb and not values["rivoli_code"]:
        building = db.session.scalars(select(Building).where(Building.imb_id == imb)).first()
        if building is not None:
            values.update(street_number=str(building.street_number or ""), rivoli_code=building.rivoli_code or "",
                          insee_code=building.insee_code)
    values["product"] = values["product"] or "just_fibre"
    values["appointment_type"] = values["appointment_type"] or "standard"
    return values


class AppointmentView(BaseView):
    """e-RDV for whoever is entitled to it, and the wholesale side."""

    route_base = "/operator/appointments"
    default_view = "list"
    base_permissions = ["can_list", "can_book", "can_show", "can_act"]

    def _render_form(self, values, errors, slots=None, request_=None):
        first, last = rules.bounds()
        return self.render_template(
            "operator/appointments_new.html", title=_l("Appointment booking"), values=values, errors=errors,
            labels=rules.FIELD_LABELS, choices=choices(), slots=slots, found=request_, first=first, last=last)

    @expose("/new")
    @has_access
    @permission_name("book")
    @requires_eservice(APPOINTMENTS)
    def new(self):
        """The form; once the window is typed, the free slots within it."""
        values, errors, slots, found = prefill(request.args), {}, None, None
        if request.args.get("window_end"):
            try:
                found = rules.read_request(values, viewer_of(g.user))
                slots = rules.slots_for(found)
            except Refused as refusal:
                errors[refusal.field or "slot"] = refusal.message
        return self._render_form(values, errors, slots, found)

    @expose("/new", methods=["POST"])
    @has_access
    @permission_name("book")
    @requires_eservice(APPOINTMENTS)
    def take(self):
        """Take the slot picked: the appointment's page, with its reference."""
        values = {name: request.form.get(name, "") for name in FORM_FIELDS}
        with Attempt(flash_refusal=False) as attempt:
            found = rules.read_request(values, viewer_of(g.user))
            item = rules.take_slot(found, request.form.get("slot"), g.user, viewer_of(g.user))
            reference = item.reference
        if attempt.refused is None:
            return redirect(url_for("AppointmentView.show", reference=reference))
        errors, slots, found = {attempt.refused.field or "slot": attempt.refused.message}, None, None
        try:
            found = rules.read_request(values, viewer_of(g.user))
            slots = rules.slots_for(found)
        except Refused:
            pass
        return self._render_form(values, errors, slots, found), 409

    @staticmethod
    def _filtered(args):
        """The grid's rows as filtered (state, reference or INSEE code), in the row scope."""
        query = scoped_appointments()
        state = args.get("state", "")
        if state in AppointmentState.__members__:
            query = query.filter(Appointment.state == AppointmentState[state])
        typed = args.get("q", "").strip().upper()[:40]
        if typed:
            query = query.filter(or_(Appointment.reference.contains(typed, autoescape=True),
                                     Appointment.insee_code == typed))
        query = query.options(joinedload(Appointment.organisation), joinedload(Appointment.building))
        return query.order_by(Appointment.slot_date.desc(), Appointment.id.desc()), state, typed

    @expose("/")
    @has_access
    @requires_eservice(APPOINTMENTS)
    def list(self):
        """The operator's appointments (every operator's for the wholesale side)."""
        query, state, typed = self._filtered(request.args)
        total = query.order_by(None).with_entities(func.count(Appointment.id)).scalar()
        page = max(0, request.args.get("page", 0, type=int) or 0)
        items = query.offset(page * PAGE_SIZE).limit(PAGE_SIZE).all()
        return self.render_template(
            "operator/appointments_list.html", title=_l("My appointments"), items=items, total=total, page=page,
            pages=(total + PAGE_SIZE - 1) // PAGE_SIZE, state=state, q=typed, states=APPOINTMENT_STATE_LABELS,
            describe=rules.describe, may_book=not is_wholesale(g.user), formats=("csv", "xlsx"))

    @expose("/export/<fmt>")
    @has_access
    @permission_name("list")
    @requires_eservice(APPOINTMENTS)
    def export(self, fmt):
        """The grid as filtered, every row of it, as CSV or XLSX (the grid's labels)."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        query, _, _ = self._filtered(request.args)
        labels = rules.FIELD_LABELS
        headers = [str(label) for label in (
            _l("Reference"), _l("Operator"), labels["slot"], _l("Building id"), labels["street_number"],
            labels["rivoli_code"], labels["insee_code"], labels["product"], labels["operation_type"],
            labels["appointment_type"], labels["window_start"], labels["window_end"], _l("State"))]
        rows = (self._export_row(item) for item in query.yield_per(1000))
        return exports.rows_response("rendez-vous", headers, rows, fmt)

    @staticmethod
    def _export_row(item):
        info = rules.describe(item)
        return (item.reference, item.organisation.name, info["slot"], item.building.imb_id if item.building else None,
                item.street_number, item.rivoli_code, item.insee_code, str(info["product"]), str(info["operation"]),
                str(info["type"]), item.window_start, item.window_end, str(info["state"]))

    def _item(self, reference):
        item = find(reference)
        if item is None:
            abort(404)
        return item

    def _render_show(self, item, errors=None, slots=None, window=None, status=200):
        workflow = rules.APPOINTMENT_WORKFLOW
        return self.render_template(
            "operator/appointments_show.html", title=gettext("Appointment %(reference)s", reference=item.reference),
            item=item, labels=rules.FIELD_LABELS, info=rules.describe(item), history=workflow.history(item),
            workflow=workflow, actions=workflow.available(item, g.user), errors=errors or {}, slots=slots,
            window=window or {}, may_reschedule=item.state in (AppointmentState.initialised,
                                                               AppointmentState.validated)
            and not is_wholesale(g.user)), status

    @expose("/<reference>")
    @has_access
    @permission_name("show")
    @requires_eservice(APPOINTMENTS)
    def show(self, reference):
        """The appointment; with a window typed (reschedule), its free slots."""
        item = self._item(reference)
        window = {name: request.args.get(name, "") for name in ("window_start", "window_end")}
        errors, slots = {}, None
        if window["window_end"]:
            try:
                start, end = rules.check_window(rules.read_day(window["window_start"], "window_start"),
                                                rules.read_day(window["window_end"], "window_end"))
                slots = [slot for slot in rules.free_slots(item.zone, start, end)
                         if (slot.day, slot.period) != (item.slot_date, item.slot_period)]
            except Refused as refusal:
                errors[refusal.field or "slot"] = refusal.message
        return self._render_show(item, errors, slots, window)

    @expose("/<reference>/reschedule", methods=["POST"])
    @has_access
    @permission_name("act")
    @requires_eservice(APPOINTMENTS)
    def reschedule(self, reference):
        item = self._item(reference)
        with Attempt(done=_l("Appointment rescheduled: same reference.")):
            rules.reschedule(item, request.form.get("slot"),
                             g.user, rules.read_day(request.form.get("window_start"), "window_start"),
                             rules.read_day(request.form.get("window_end"), "window_end"))
        return redirect(url_for("AppointmentView.show", reference=item.reference))

    @expose("/<reference>/<name>", methods=["POST"])
    @has_access
    @permission_name("act")
    @requires_eservice(APPOINTMENTS)
    def fire(self, reference, name):
        """Confirm, cancel, or (the wholesale side) mark attended or missed."""
        item = self._item(reference)
        if name not in ("validate", "cancel", "attend", "miss"):
            abort(404)
        with Attempt(done=rules.APPOINTMENT_WORKFLOW.done_message(name)):
            rules.fire(item, name, g.user, request.form.get("comment", ""))
        return redirect(url_for("AppointmentView.show", reference=item.reference))


# ---------------------------------------------------------------------------
# TMF646 Appointment
# ---------------------------------------------------------------------------

#: {form field: the API's JSON path}, to name the field at fault in a 400.
API_FIELDS = {
    "access_reference": "relatedPlace.accessId", "street_number": "relatedPlace.streetNr",
    "rivoli_code": "relatedPlace.rivoliCode", "insee_code": "relatedPlace.inseeCode", "product": "product",
    "operation_type": "operationType", "appointment_type": "category",
    "window_start": "requestedTimeSlot.validFor.startDateTime",
    "window_end": "requestedTimeSlot.validFor.endDateTime", "preferred_weekday": "preferredDay",
    "preferred_period": "preferredMoment", "slot": "timeSlot.id",
}
WEEKDAY_NAMES = {"monday": "0", "tuesday": "1", "wednesday": "2", "thursday": "3", "friday": "4"}


class ApiRefused(Refused):
    """A body the API cannot read, naming the JSON path."""


def _scalar(container, name, path):
    value = (container or {}).get(name)
    if value is not None and (isinstance(value, (bool, dict, list)) or not isinstance(value, (str, int))):
        raise ApiRefused(path, gettext("%(field)s: a text is expected.", field=path))
    return "" if value is None else str(value)


def _object(container, name, path):
    value = (container or {}).get(name)
    if value is not None and not isinstance(value, dict):
        raise ApiRefused(path, gettext("%(field)s: an object is expected.", field=path))
    return value or {}


def read_body(payload) -> dict:
    """The form's values from a TMF646 body (dates as yyyy-mm-dd, or a date-time whose
    date is read)."""
    place = _object(payload, "relatedPlace", "relatedPlace")
    slot = payload.get("requestedTimeSlot")
    if isinstance(slot, list):
        slot = slot[0] if slot else {}
    if slot is not None and not isinstance(slot, dict):
        raise ApiRefused("requestedTimeSlot", gettext("%(field)s: an object is expected.", field="requestedTimeSlot"))
    valid_for = _object(slot, "validFor", "requestedTimeSlot.validFor")
    weekday = _scalar(payload, "preferredDay", "preferredDay").lower()
    return {
        "access_reference": _scalar(place, "accessId", API_FIELDS["access_reference"]),
        "street_number": _scalar(place, "streetNr", API_FIELDS["street_number"]),
        "rivoli_code": _scalar(place, "rivoliCode", API_FIELDS["rivoli_code"]),
        "insee_code": _scalar(place, "inseeCode", API_FIELDS["insee_code"]),
        "product": _scalar(payload, "product", "product"),
        "operation_type": _scalar(payload, "operationType", "operationType"),
        "appointment_type": _scalar(payload, "category", "category"),
        "window_start": _scalar(valid_for, "startDateTime", API_FIELDS["window_start"])[:10],
        "window_end": _scalar(valid_for, "endDateTime", API_FIELDS["window_end"])[:10],
        "preferred_weekday": WEEKDAY_NAMES.get(weekday, weekday),
        "preferred_period": _scalar(payload, "preferredMoment", "preferredMoment"),
    }


def _moment(day, period, end=False) -> str:
    hours = rules.PERIOD_HOURS[period][1 if end else 0]
    return datetime.combine(day, hours, local_zone()).isoformat(timespec="seconds")


def slot_json(slot) -> dict:
    return {"id": slot.id, "validFor": {"startDateTime": _moment(slot.day, slot.period),
                                        "endDateTime": _moment(slot.day, slot.period, end=True)},
            "freeCapacity": slot.free, "@type": "TimeSlot"}


def appointment_json(item) -> dict:
    building = item.building
    return {
        "id": item.reference, "href": url_for("AppointmentApi.get", reference=item.reference, _external=True),
        "status": item.state.value, "category": item.appointment_type, "product": item.product,
        "operationType": item.operation_type.value, "description": str(OPERATION_TYPE_LABELS[item.operation_type]),
        "validFor": {"startDateTime": _moment(item.slot_date, item.slot_period),
                     "endDateTime": _moment(item.slot_date, item.slot_period, end=True)},
        "timeSlot": {"id": f"{item.slot_date.isoformat()}.{item.slot_period.value}"},
        "requestedTimeSlot": [{"validFor": {"startDateTime": item.window_start.isoformat(),
                                            "endDateTime": item.window_end.isoformat()}}],
        "relatedPlace": {"id": building.imb_id if building else None, "@referredType": "GeographicSite",
                         "streetNr": str(item.street_number or ""), "rivoliCode": item.rivoli_code,
                         "inseeCode": item.insee_code, "accessId": item.access_reference},
        "relatedParty": [{"id": str(item.organisation_id), "name": item.organisation.name, "role": "operator"}],
        "creationDate": item.created_on.isoformat(timespec="seconds") + "Z" if item.created_on else None,
        "@type": "Appointment",
    }


class TMF646Appointment(Schema):
    """An appointment as the API answers it (the OpenAPI document's component)."""

    id = fields.String(metadata={"example": "RDV-20261203-K7P2Q", "description": "the reference for the order"})
    href = fields.String()
    status = fields.String(metadata={"enum": [state.value for state in AppointmentState]})
    category = fields.String(metadata={"example": "standard"})
    product = fields.String(metadata={"example": "just_fibre"})
    operationType = fields.String(metadata={"enum": [kind.value for kind in OperationType]})
    description = fields.String()
    validFor = fields.Dict(metadata={"description": "the slot: startDateTime and endDateTime, with their offset"})
    timeSlot = fields.Dict(metadata={"description": "id: the slot (2026-12-15.morning)"})
    requestedTimeSlot = fields.List(fields.Dict())
    relatedPlace = fields.Dict()
    relatedParty = fields.List(fields.Dict())
    creationDate = fields.String()




class AppointmentApi(OperatorApi):
    """e-RDV as TMF646 Appointment: free slots, then appointments taken, confirmed,
    rescheduled or cancelled (the wholesale side marks them attended or missed)."""

    openapi_spec_tag = "Operator appointments (TMF646)"
    base_permissions = ["can_search", "can_post", "can_get", "can_patch"]
    openapi_spec_component_schemas = (TMF646Appointment,)
    api_fields = API_FIELDS


    def _body(self):
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            raise ApiRefused(None, gettext("The body must be a JSON object."))
        return payload

    @expose("/appointment/searchTimeSlot", methods=["POST"])
    @protect()
    @safe
    @permission_name("search")
    @requires_eservice(APPOINTMENTS)
    def search_time_slot(self):
        """The free slots for an address and a window (TMF646 SearchTimeSlot).
        ---
        post:
          summary: List the technicians' free half-day slots in a window
          description: >
            The window (requestedTimeSlot.validFor) must fall in [D+8, D+26] on working
            days (Monday to Friday, French public holidays excluded). relatedPlace is the
            street number, RIVOLI and INSEE codes (products just_fibre and ftth) or the
            access id (other products).
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [relatedPlace, product, operationType, requestedTimeSlot]
                  properties:
                    relatedPlace:
                      type: object
                      properties:
                        streetNr: {type: string, example: '6'}
                        rivoliCode: {type: string, example: '0361'}
                        inseeCode: {type: string, example: '77058'}
                        accessId: {type: string}
                    product: {type: string, enum: [just_fibre, ftth, copper]}
                    operationType: {type: string, enum: [short, building, house, complex]}
                    category: {type: string, enum: [standard, priority]}
                    preferredDay: {type: string, enum: [monday, tuesday, wednesday, thursday, friday]}
                    preferredMoment: {type: string, enum: [morning, afternoon]}
                    requestedTimeSlot:
                      type: object
                      properties:
                        validFor:
                          type: object
                          properties: {startDateTime: {type: string, format: date},
                                       endDateTime: {type: string, format: date}}
          responses:
            201:
              description: The search, done at once (not stored) - its free slots, soonest first
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      status: {type: string}
                      relatedPlace: {type: object}
                      availableTimeSlot:
                        type: array
                        items:
                          type: object
                          properties:
                            id: {type: string, example: 2026-12-15.morning}
                            freeCapacity: {type: integer}
                            validFor: {type: object}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service e-RDV
        """
        try:
            found = rules.read_request(read_body(self._body()), viewer_of(g.user))
            slots = rules.slots_for(found)
        except Refused as refusal:
            return self._refused(refusal)
        return self.response(201, status="created", relatedPlace={"id": found.building.imb_id, "zone": found.zone},
                             availableTimeSlot=[slot_json(slot) for slot in slots], **{"@type": "SearchTimeSlot"})

    @expose("/appointment", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @requires_eservice(APPOINTMENTS)
    def post(self):
        """Take a slot (TMF646 Appointment create).
        ---
        post:
          summary: Take a free slot; the appointment is initialised, its id the reference
          description: >
            The body of searchTimeSlot plus timeSlot.id, one of its availableTimeSlot.
            Refused (400 naming timeSlot.id) when the slot has just been taken.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [relatedPlace, product, operationType, requestedTimeSlot, timeSlot]
                  properties:
                    relatedPlace: {type: object}
                    product: {type: string}
                    operationType: {type: string}
                    requestedTimeSlot: {type: object}
                    timeSlot: {type: object, properties: {id: {type: string, example: 2026-12-15.morning}}}
          responses:
            201:
              description: The appointment, initialised
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/TMF646Appointment'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service e-RDV
        """
        try:
            payload = self._body()
            values = read_body(payload)
            slot = _scalar(_object(payload, "timeSlot", "timeSlot"), "id", "timeSlot.id")
            viewer = viewer_of(g.user)
            item = rules.take_slot(rules.read_request(values, viewer), slot, g.user, viewer)
            db.session.commit()
        except Refused as refusal:
            return self._refused(refusal)
        return self.response(201, **appointment_json(item))

    @expose("/appointment", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(APPOINTMENTS)
    def get_list(self):
        """The appointments (TMF646 list).
        ---
        get:
          summary: List the operator's appointments, latest slot first
          parameters:
          - {in: query, name: status, schema: {type: string, enum: [initialised, validated, attended, missed,
                                                                     cancelled]}}
          - {in: query, name: offset, schema: {type: integer, default: 0}}
          - {in: query, name: limit, schema: {type: integer, default: 50, maximum: 500}}
          responses:
            200:
              description: The appointments; X-Total-Count tells how many match
              content:
                application/json:
                  schema:
                    type: array
                    items:
                      type: object
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service e-RDV
        """
        query = scoped_appointments()
        status = request.args.get("status")
        if status:
            if status not in AppointmentState.__members__:
                return self.response_400(message={"status": [gettext(
                    "%(field)s: one of %(values)s is expected.", field="status",
                    values=", ".join(AppointmentState.__members__))]})
            query = query.filter(Appointment.state == AppointmentState[status])
        offset = request.args.get("offset", 0, type=int)
        limit = request.args.get("limit", 50, type=int)
        if offset is None or offset < 0 or limit is None or not 0 < limit <= 500:
            return self.response_400(message={"limit": [gettext(
                "%(field)s: a number from 1 to 500 is expected (offset 0 or more).", field="limit")]})
        total = query.order_by(None).with_entities(func.count(Appointment.id)).scalar()
        items = (query.options(joinedload(Appointment.organisation), joinedload(Appointment.building))
                 .order_by(Appointment.slot_date.desc(), Appointment.id.desc()).offset(offset).limit(limit).all())
        response = jsonify([appointment_json(item) for item in items])
        response.headers["X-Total-Count"] = str(total)
        return response

    @expose("/appointment/<reference>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(APPOINTMENTS)
    def get(self, reference):
        """One appointment (TMF646 retrieve).
        ---
        get:
          summary: Read an appointment by its reference
          parameters:
          - {in: path, name: reference, required: true, schema: {type: string}}
          responses:
            200:
              description: The appointment
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/TMF646Appointment'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        item = find(reference)
        if item is None:
            return self.response_404()
        return self.response(200, **appointment_json(item))

    @expose("/appointment/<reference>", methods=["PATCH"])
    @protect()
    @safe
    @permission_name("patch")
    @requires_eservice(APPOINTMENTS)
    def patch(self, reference):
        """Confirm, reschedule or cancel an appointment (TMF646 patch).
        ---
        patch:
          summary: Change the status, or move the appointment to another slot
          description: >
            status validated confirms, cancelled cancels (the slot is freed), attended or
            missed are the wholesale side's once the day has come. timeSlot.id (with an
            optional requestedTimeSlot window) reschedules - same reference and status.
          parameters:
          - {in: path, name: reference, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    status: {type: string, enum: [validated, cancelled, attended, missed]}
                    timeSlot: {type: object, properties: {id: {type: string}}}
                    requestedTimeSlot: {type: object}
          responses:
            200:
              description: The appointment as it now stands
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/TMF646Appointment'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        item = find(reference)
        if item is None:
            return self.response_404()
        try:
            payload = self._body()
            status = _scalar(payload, "status", "status")
            slot = _scalar(_object(payload, "timeSlot", "timeSlot"), "id", "timeSlot.id")
            if not status and not slot:
                raise ApiRefused("status", gettext("%(field)s: status or timeSlot.id is expected.", field="status"))
            if slot:
                values = read_body(payload)
                rules.reschedule(item, slot, g.user, rules.read_day(values["window_start"], "window_start"),
                                 rules.read_day(values["window_end"], "window_end"))
            if status:
                name = rules.TRANSITION_TO.get(AppointmentState.__members__.get(status))
                if name is None:
                    raise ApiRefused("status", gettext("%(field)s: one of %(values)s is expected.", field="status",
                                                       values="validated, cancelled, attended, missed"))
                try:
                    rules.fire(item, name, g.user)
                except Refused as refusal:
                    raise ApiRefused("status", refusal.message) from None
            db.session.commit()
        except Refused as refusal:
            return self._refused(refusal)
        return self.response(200, **appointment_json(item))


def register(appbuilder):
    appbuilder.add_view_no_menu(AppointmentView)
    appbuilder.add_link("Appointments", href="/operator/appointments/", icon="fa-calendar-check-o",
                        label=_l("Appointments (e-RDV)"), category=DESK.category,
                        cond=entitled_menu(APPOINTMENTS))
    appbuilder.add_api(AppointmentApi)
    SCREENS[APPOINTMENTS] = "AppointmentView.new"
