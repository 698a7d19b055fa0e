"""Desk E, after-sales — e-SAV Test (an access's state, its diagnostics and remote
actions, their results and detail as the seed's tables) and e-SAV Signalisation (the
tabbed incident form, the incidents' grid and page with their history and
transitions), and the incidents as a TMF621 Trouble Ticket API.

The wholesale back office (WholesaleAgent) has no operator entitlement: it works every
operator's incidents, so these screens open to it past the entitlement gate."""
from datetime import timezone

from flask import abort, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l

from ...access.operator import DIAGNOSTICS, INCIDENTS, entitled_to_any, viewer_of
from ...extensions import db
from ...models import (
    DIAGNOSTIC_KIND_LABELS,
    FAULT_NATURE_LABELS,
    INCIDENT_KIND_LABELS,
    LED_STATE_LABELS,
    RESOURCE_STATE_LABELS,
    Access,
    Diagnostic,
    DiagnosticKind,
    Incident,
    IncidentKind,
    IncidentState,
)
from ...platform import files
from ...platform.refusals import Refused
from ...platform.workflow import TransitionRefused
from ...rules.operator import diagnostics as tests
from ...rules.operator import incidents as rules
from ...security import ScopedInterface, apply_scope
from ..base import Attempt, WorkflowModelView
from .common import DESK, OperatorApi, SCREENS, entitled_menu, requires_eservice


def find_access(prestation_id, code):
    """The access of that prestation id, if the signed-in person may work on it for
    e-service `code`."""
    access = tests.access_named(prestation_id)
    if access is None:
        return None
    criterion = entitled_to_any((code,), Access.organisation_id)(viewer_of(g.user))
    if criterion is not None and not db.session.query(Access.id).filter(Access.id == access.id, criterion).first():
        return None
    return access


def access_panel(access) -> dict:
    """What both e-services show of an access: offer, resources, open incident."""
    return {"access": access, "resource_label": RESOURCE_STATE_LABELS[access.resource_state],
            "open_incident": rules.has_open_incident(access)}


class DiagnosticsView(BaseView):
    """e-SAV Test: "Dépôt(s) de diagnostic(s) > Prestation ID1"."""

    route_base = "/operator/sav/test"
    default_view = "search"
    base_permissions = ["can_search", "can_run", "can_result"]

    @expose("/")
    @has_access
    @requires_eservice(DIAGNOSTICS)
    def search(self):
        asked = request.args.get("access", "").strip()
        access = find_access(asked, DIAGNOSTICS) if asked else None
        error = gettext("Prestation id: no access %(id)s among yours.", id=asked[:20]) if asked and not access \
            else None
        context = access_panel(access) if access else {}
        return self.render_template(
            "operator/aftersales_test.html", title=_l("e-SAV Test"), asked=asked[:20], error=error,
            results=tests.recent(access) if access else [], tests=[(k.value, DIAGNOSTIC_KIND_LABELS[k])
                                                                    for k in tests.TESTS],
            actions=tests.REMOTE_ACTIONS, provider=tests.provider().name, keep_hours=tests.keep_hours(),
            kind_labels=DIAGNOSTIC_KIND_LABELS, **context)

    @expose("/run", methods=["POST"])
    @has_access
    @permission_name("run")
    @requires_eservice(DIAGNOSTICS)
    def run(self):
        """Send the tests ticked, or one remote action."""
        access = find_access(request.form.get("access"), DIAGNOSTICS)
        if access is None:
            abort(404)
        action = request.form.get("action")
        kinds = [DiagnosticKind.remote_action.value] if action else request.form.getlist("test")
        with Attempt() as attempt:
            if not kinds:
                raise tests.DiagnosticRefused("test", gettext("Tests: tick at least one test to send."))
            sent = [tests.run(g.user, access, kind, action) for kind in kinds[:len(tests.TESTS)]]
            attempt.done = gettext("Sent: %(numbers)s.", numbers=", ".join(d.number for d in sent))
        return redirect(url_for(".search", access=access.prestation_id) + "#results")

    @expose("/result/<int:pk>")
    @has_access
    @permission_name("result")
    @requires_eservice(DIAGNOSTICS)
    def result(self, pk):
        diagnostic = apply_scope(db.session.query(Diagnostic), Diagnostic).filter(Diagnostic.id == pk).one_or_none()
        if diagnostic is None or find_access(diagnostic.access.prestation_id, DIAGNOSTICS) is None:
            abort(404)
        return self.render_template(
            "operator/aftersales_result.html", title=gettext("Diagnostic %(number)s", number=diagnostic.number),
            diagnostic=diagnostic, tables=tests.table_rows(diagnostic), kind_labels=DIAGNOSTIC_KIND_LABELS,
            actions=tests.REMOTE_ACTIONS)


class IncidentView(WorkflowModelView):
    """e-SAV Signalisation: the incidents of the operator (every operator's for the
    back office), the filing form and an incident's page."""

    datamodel = ScopedInterface(Incident)
    workflow = rules.WORKFLOW
    route_base = "/operator/sav/incidents"
    list_title = _l("Incidents")
    show_title = _l("Incident")
    show_template = "operator/incident_show.html"
    list_columns = ["reference", "access.prestation_id", "kind", "state", "organisation.name", "created_on",
                    "gtr_deadline"]
    show_columns = ["reference", "kind", "state", "faulty_service", "filer_name", "created_on", "gtr_deadline"]
    add_columns = edit_columns = ["description"]
    search_columns = ["reference", "state", "kind"]
    order_columns = ["reference", "state", "created_on", "gtr_deadline"]
    label_columns = {"reference": _l("Reference"), "access.prestation_id": _l("Prestation id"),
                     "kind": _l("Request type"), "state": _l("State"), "organisation.name": _l("Operator"),
                     "created_on": _l("Filed on"), "gtr_deadline": _l("Restoration deadline"),
                     **rules.LABELS}
    base_order = ("created_on", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "can_new", "can_get_file"]
    include_route_methods = {"list", "show", "export", "action", "action_post", "transition", "add", "new",
                             "get_file"}

    @expose("/list/")
    @has_access
    @requires_eservice(INCIDENTS)
    def list(self):
        return super().list()

    @expose("/export/<fmt>")
    @has_access
    @requires_eservice(INCIDENTS)
    def export(self, fmt):
        return super().export(fmt)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    @requires_eservice(INCIDENTS)
    def show(self, pk):
        if self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters) is None:
            abort(404)
        return super().show(pk)

    def show_context(self, item) -> dict:
        return {"incident": item, "tabs": rules.TABS, "labels": rules.LABELS, "faults": rules.FAULTS,
                "attachments": files.files_of(item), "kind_labels": DIAGNOSTIC_KIND_LABELS,
                "tests": tests, **access_panel(item.access)}

    @expose("/transition/<pk>/<name>", methods=["POST"])
    @requires_eservice(INCIDENTS)
    def transition(self, pk, name):
        return super().transition(pk, name)

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    @requires_eservice(INCIDENTS)
    def action(self, name, pk):
        return super().action(name, pk)

    @expose("/action_post", methods=["POST"])
    @requires_eservice(INCIDENTS)
    def action_post(self):
        return super().action_post()

    @expose("/<int:pk>/file/<int:file_id>")
    @has_access
    @permission_name("get_file")
    @requires_eservice(INCIDENTS)
    def get_file(self, pk, file_id):
        item = self.datamodel.get(pk, self._base_filters)
        stored = next((f for f in files.files_of(item) if f.id == file_id), None) if item else None
        if stored is None:
            abort(404)
        return send_file(files.absolute_path(stored), mimetype=stored.content_type, as_attachment=True,
                         download_name=stored.original_name)

    @expose("/add")
    @has_access
    @permission_name("new")
    def add(self):
        """FAB's "add" is the seed's filing form."""
        return redirect(url_for(".new"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    @permission_name("new")
    @requires_eservice(INCIDENTS)
    def new(self):
        """The seed's "Dépôt de signalisation > Saisie des informations"."""
        asked = (request.values.get("access") or "").strip()
        access = find_access(asked, INCIDENTS) if asked else None
        values, errors, tab = {}, {}, "general"
        if access is not None and request.method == "POST":
            values = {name: request.form.get(name, "") for name in rules.LABELS if name != "faults"}
            values["faults"] = request.form.getlist("faults")
            with Attempt(done=None, flash_refusal=False) as attempt:
                incident = rules.file(g.user, access, values, request.files.get("attachment"))
                attempt.done = gettext("Incident %(reference)s filed.", reference=incident.reference)
            if attempt.refused is None:
                return redirect(url_for(".show", pk=incident.id))
            errors[attempt.refused.field or "_form"] = attempt.refused.message
            tab = rules.tab_of(attempt.refused.field)
        elif access is not None:
            values = self.prefill(access)
        latest = tests.latest_tests(access) if access else []
        return self.render_template(
            "operator/incident_new.html", title=_l("e-SAV Signalisation"), asked=asked[:20],
            not_found=bool(asked) and access is None, values=values, errors=errors, tab=tab, tabs=rules.TABS,
            labels=rules.LABELS, faults=rules.FAULTS, leds=LED_STATE_LABELS, natures=FAULT_NATURE_LABELS,
            kinds=INCIDENT_KIND_LABELS, latest=latest, kind_labels=DIAGNOSTIC_KIND_LABELS,
            deadline=rules.deadline_for(access, rules.utcnow()) if access else None,
            **(access_panel(access) if access else {}))

    @staticmethod
    def prefill(access) -> dict:
        user = g.user
        return {"kind": "incident", "faulty_service": access.offer_label, "filer_name": user.get_full_name(),
                "filer_email": user.email, "forced": "no"}


# ---------------------------------------------------------------------------
# TMF621 Trouble Ticket
# ---------------------------------------------------------------------------

TICKET_TYPES = {"incident": IncidentKind.incident, "port25Open": IncidentKind.port25_open,
                "port25Close": IncidentKind.port25_close}
TYPE_OF = {kind: name for name, kind in TICKET_TYPES.items()}


def _moment(value):
    return value.replace(tzinfo=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def ticket(incident) -> dict:
    """An incident as a TMF621 TroubleTicket."""
    history = rules.WORKFLOW.history(incident)
    return {
        "id": incident.reference, "href": url_for("TroubleTicketApi.get", reference=incident.reference,
                                                  _external=True),
        "@type": "TroubleTicket", "ticketType": TYPE_OF[incident.kind], "status": incident.state.value,
        "name": str(INCIDENT_KIND_LABELS[incident.kind]), "description": incident.description,
        "externalId": incident.filer_reference, "creationDate": _moment(incident.created_on),
        "lastUpdate": _moment(incident.changed_on), "expectedResolutionDate": _moment(incident.gtr_deadline),
        "relatedEntity": [{"id": incident.access.prestation_id, "role": "faultyAccess", "@referredType": "Access"}]
        + [{"id": d.number, "role": "diagnostic", "@referredType": "Diagnostic"} for d in incident.diagnostics],
        "relatedParty": [{"role": "filer", "name": incident.filer_name, "phone": incident.filer_phone,
                          "email": incident.filer_email}],
        "characteristic": [{"name": name, "value": _plain(getattr(incident, name))}
                           for name in rules.LABELS if name not in ("kind", "attachment", "description")
                           and getattr(incident, name, None) not in (None, [], "")],
        "statusChange": [{"status": e.to_state, "changeDate": _moment(e.happened_on), "changeReason": e.comment}
                         for e in history if e.from_state != e.to_state],
    }


def _plain(value):
    return value.name if hasattr(value, "name") and not isinstance(value, (str, bool)) else value


def read_ticket(payload) -> tuple:
    """(prestation id, form values) from a TroubleTicket body, or Refused naming the field."""
    if not isinstance(payload, dict):
        raise Refused(None, gettext("The body must be a JSON object."))
    kind = payload.get("ticketType", "incident")
    if not isinstance(kind, str) or kind not in TICKET_TYPES:
        raise Refused("ticketType", gettext("%(field)s: one of %(values)s is expected.", field="ticketType",
                                            values=", ".join(TICKET_TYPES)))
    entities = payload.get("relatedEntity")
    if not isinstance(entities, list) or not entities or not isinstance(entities[0], dict) \
            or not isinstance(entities[0].get("id"), str):
        raise Refused("relatedEntity", gettext("%(field)s: the access, as [{\"id\": \"F00000015\"}], is required.",
                                               field="relatedEntity"))
    values = {"kind": TICKET_TYPES[kind].value, "description": payload.get("description"),
              "filer_reference": payload.get("externalId")}
    characteristics = payload.get("characteristic") or []
    if not isinstance(characteristics, list):
        raise Refused("characteristic", gettext("%(field)s: a list is expected.", field="characteristic"))
    for index, item in enumerate(characteristics):
        if not isinstance(item, dict) or item.get("name") not in rules.LABELS or item["name"] in ("kind", "attachment"):
            raise Refused(f"characteristic[{index}]", gettext(
                "%(field)s: an object {name, value} naming a field of the form is expected.",
                field=f"characteristic[{index}]"))
        values[item["name"]] = item.get("value")
    for name, value in list(values.items()):
        if isinstance(value, bool) and name not in ("faults",):
            values[name] = "yes" if value else "no"
    return entities[0]["id"], values


class TroubleTicketApi(OperatorApi):
    """e-SAV Signalisation as TMF621 Trouble Ticket."""

    openapi_spec_tag = "Operator incidents (TMF621)"
    base_permissions = ["can_get", "can_post", "can_patch"]

    def _scoped(self):
        return apply_scope(db.session.query(Incident), Incident)

    @expose("/troubleTicket", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @requires_eservice(INCIDENTS)
    def post(self):
        """File an incident or a port 25 request (TMF621 createTroubleTicket).
        ---
        post:
          summary: File an incident or a port 25 request on an access
          description: >
            The fields of the seed's form go in characteristic, as name and value pairs
            (customer_phone, lunch_hours as hh:mm/hh:mm, box_power_led, fault_nature, faults
            as a list of codes, forced and forcing_reason...). When the latest diagnostic of
            the access is OK, an incident needs forced true and a forcing_reason.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [relatedEntity]
                  properties:
                    ticketType: {type: string, enum: [incident, port25Open, port25Close]}
                    description: {type: string}
                    externalId: {type: string, description: the filer's own incident number}
                    relatedEntity:
                      type: array
                      items: {type: object, properties: {id: {type: string, example: F00000015}}}
                    characteristic:
                      type: array
                      items: {type: object, properties: {name: {type: string}, value: {}}}
          responses:
            201:
              description: The trouble ticket, acknowledged
              content:
                application/json:
                  schema: {type: object}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service e-SAV Signalisation
        """
        try:
            prestation_id, values = read_ticket(request.get_json(silent=True))
            access = find_access(prestation_id, INCIDENTS)
            if access is None:
                raise Refused("relatedEntity", gettext("relatedEntity: no access %(id)s among yours.",
                                                       id=prestation_id[:20]))
            incident = rules.file(g.user, access, values)
            db.session.commit()
        except Refused as refusal:
            db.session.rollback()
            field = refusal.field
            if field in rules.LABELS and field not in ("kind", "description"):
                field = f"characteristic.{field}"
            return self.response_400(message={field or "_schema": [refusal.message]})
        return self.response(201, **ticket(incident))

    @expose("/troubleTicket", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(INCIDENTS)
    def get_list(self):
        """List the trouble tickets one may see (TMF621 listTroubleTicket).
        ---
        get:
          summary: List trouble tickets, newest first
          parameters:
          - {in: query, name: status, schema: {type: string}, description: a TMF621 status}
          - {in: query, name: limit, schema: {type: integer, default: 100}}
          - {in: query, name: offset, schema: {type: integer, default: 0}}
          responses:
            200:
              description: The trouble tickets
              content:
                application/json:
                  schema: {type: array, items: {type: object}}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        query = self._scoped()
        status = request.args.get("status")
        if status:
            try:
                query = query.filter(Incident.state == IncidentState(status))
            except ValueError:
                return self.response_400(message={"status": [gettext("status: one of %(values)s is expected.",
                                                  values=", ".join(s.value for s in IncidentState))]})
        try:
            limit = min(max(int(request.args.get("limit", 100)), 1), 1000)
            offset = max(int(request.args.get("offset", 0)), 0)
        except ValueError:
            return self.response_400(message={"limit": [gettext("limit and offset: integers are expected.")]})
        found = query.order_by(Incident.created_on.desc(), Incident.id.desc()).offset(offset).limit(limit).all()
        return jsonify([ticket(item) for item in found])

    def _one(self, reference):
        return self._scoped().filter(Incident.reference == str(reference)[:30]).one_or_none()

    @expose("/troubleTicket/<reference>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(INCIDENTS)
    def get(self, reference):
        """Read one trouble ticket (TMF621 retrieveTroubleTicket).
        ---
        get:
          summary: Read a trouble ticket by its reference
          parameters:
          - {in: path, name: reference, required: true, schema: {type: string}}
          responses:
            200:
              description: The trouble ticket
              content:
                application/json:
                  schema: {type: object}
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        incident = self._one(reference)
        if incident is None:
            return self.response_404()
        return self.response(200, **ticket(incident))

    @expose("/troubleTicket/<reference>", methods=["PATCH"])
    @protect()
    @safe
    @permission_name("patch")
    @requires_eservice(INCIDENTS)
    def patch(self, reference):
        """Change a trouble ticket's status (TMF621 patchTroubleTicket).
        ---
        patch:
          summary: Move a trouble ticket to another status
          description: >
            The back office takes in charge (inProgress), asks the filer (pending), holds,
            resolves or rejects; the filer answers (inProgress from pending), closes or
            reopens (inProgress from resolved) and cancels. statusChangeReason is the
            comment, required to ask, answer, hold, resolve, reject and reopen.
          parameters:
          - {in: path, name: reference, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [status]
                  properties:
                    status: {type: string}
                    statusChangeReason: {type: string}
          responses:
            200:
              description: The trouble ticket
              content:
                application/json:
                  schema: {type: object}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            409:
              description: The move is not possible from the ticket's status, or not for you
        """
        incident = self._one(reference)
        if incident is None:
            return self.response_404()
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message={"_schema": [gettext("The body must be a JSON object.")]})
        reason = payload.get("statusChangeReason") or ""
        if not isinstance(reason, str):
            return self.response_400(message={"statusChangeReason": [gettext(
                "%(field)s: %(kind)s is expected.", field="statusChangeReason", kind=gettext("a text"))]})
        try:
            target = IncidentState(payload.get("status"))
        except ValueError:
            return self.response_400(message={"status": [gettext("status: one of %(values)s is expected.",
                                              values=", ".join(s.value for s in IncidentState))]})
        transition = rules.transition_to(incident, target, g.user)
        if transition is None:
            return self.response(409, message=gettext(
                "status: %(state)s cannot become %(target)s, or not by you.", state=incident.state.value,
                target=target.value))
        try:
            rules.WORKFLOW.fire(incident, transition.name, g.user, reason)
            db.session.commit()
        except TransitionRefused as refusal:
            db.session.rollback()
            return self.response(409, message=refusal.message)
        return self.response(200, **ticket(incident))


def register(appbuilder):
    appbuilder.add_view_no_menu(DiagnosticsView)
    appbuilder.add_link("Diagnostics", href="/operator/sav/test/", icon="fa-stethoscope", label=_l("e-SAV Test"),
                        category=DESK.category, cond=entitled_menu(DIAGNOSTICS))
    appbuilder.add_view(IncidentView, "Incidents", label=_l("e-SAV Signalisation"), icon="fa-exclamation-triangle",
                        category=DESK.category, menu_cond=entitled_menu(INCIDENTS))
    appbuilder.add_api(TroubleTicketApi)
    SCREENS[DIAGNOSTICS] = "DiagnosticsView.search"
    SCREENS[INCIDENTS] = "IncidentView.list"
