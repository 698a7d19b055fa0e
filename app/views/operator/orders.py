"""Desk E, e-Just Fibre — the 4-step order wizard ("Installation et RDV", "Offre et
options", "Livraison de box", "Récapitulatif" with "Précédent"), the orders' grid and
an order's page (details, history, "Échanger la box", "Résilier", the back office's
steps), the dashboard ("Tableau de bord": type × state counts, each a link to the
filtered grid, and a chart), and the orders as a TMF622 Product Ordering API."""
import json

from flask import abort, g, redirect, request, session, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import safe
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select

from ...access.operator import ORDERS, viewer_of
from ...extensions import db
from ...models import ORDER_STATE_LABELS, ORDER_TYPE_LABELS, Order, OrderState, OrderType
from ...rules.operator import orders as rules
from ...security import ScopedInterface, apply_scope
from ..base import Attempt, JsonRefused, OffsetDateTime, WorkflowModelView
from .common import DESK, OperatorApi, SCREENS, entitled_menu, requires_eservice
from .eligibility import postal_address

LABELS = {
    "reference": _l("Order"), "operator_reference": _l("Operator's order reference"),
    "organisation": _l("Operator"), "organisation.name": _l("Operator"), "order_type": _l("Order type"),
    "state": _l("State"), "building": _l("Building id (IMB)"), "building.imb_id": _l("Building id (IMB)"),
    "line": _l("Customer's line"), "appointment": _l("Appointment reference"), "offer": _l("Offer"),
    "gtr_option": _l("Option GTR 10 heures HO"), "access": _l("Access"), "created_on": _l("Ordered on"),
    "changed_on": _l("Changed on"),
}
STEP_TITLES = {1: _l("1. Installation and appointment"), 2: _l("2. Offer and options"),
               3: _l("3. Box delivery"), 4: _l("4. Summary")}
DRAFT = "order_draft"


class TypeIs(BaseFilter):
    name = _l("Is")

    def apply(self, query, value):
        return query.filter(Order.order_type == OrderType[value]) if value in OrderType.__members__ else query


class StateIs(BaseFilter):
    name = _l("Is")

    def apply(self, query, value):
        return query.filter(Order.state == OrderState[value]) if value in OrderState.__members__ else query


class OrderView(WorkflowModelView):
    """The orders in the reader's scope (their operator's; every order for the back office)."""

    datamodel = ScopedInterface(Order)
    workflow = rules.ORDER_WORKFLOW
    route_base = "/operator/orders"
    list_title = _l("Just Fibre orders")
    show_title = _l("Just Fibre order")
    list_columns = ["reference", "operator_reference", "order_type", "state", "building.imb_id",
                    "organisation.name", "created_on"]
    show_columns = ["reference", "operator_reference", "organisation", "order_type", "state", "building", "line",
                    "appointment", "offer", "gtr_option", "access", "created_on"]
    add_columns = edit_columns = ["operator_reference"]  # orders are made by the wizard
    search_columns = ["reference", "operator_reference", "order_type", "state"]
    order_columns = ["reference", "operator_reference", "order_type", "state", "created_on"]
    label_columns = LABELS
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "can_new", "can_dashboard", "can_exchange",
                        "can_terminate"]
    #: The filters the dashboard's links use, first of their columns: `_flt_0_order_type`, `_flt_0_state`.
    FILTERS = {"order_type": TypeIs, "state": StateIs}

    def _init_properties(self):
        super()._init_properties()
        for column, extra in self.FILTERS.items():
            for registry in (self._filters._all_filters, self._filters.get_search_filters()):
                registry[column] = [extra(column, self.datamodel), *registry[column]]

    @expose("/list/")
    @has_access
    @requires_eservice(ORDERS)
    def list(self):
        return super().list()

    @expose("/export/<fmt>")
    @has_access
    @requires_eservice(ORDERS)
    def export(self, fmt):
        return super().export(fmt)

    def _order(self, pk):
        try:
            number = int(pk)
        except (TypeError, ValueError):
            number = 0
        item = self.datamodel.get(number, self._base_filters) if 0 < number < 2 ** 31 else None
        if item is None:
            abort(404)
        return item

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    @requires_eservice(ORDERS)
    def show(self, pk):
        """"Suivi d'une commande Just Fibre": the order, its history, what may be done."""
        item = self._order(pk)
        user, sm = g.user, self.appbuilder.sm
        transitions = self.offered_transitions(item, user)
        follow_up = rules.follow_up_refusal(user, item) is None
        return self.render_template(
            "operator/orders_show.html", title=gettext("Order %(reference)s", reference=item.reference),
            item=item, pk=item.id, workflow=self.workflow, history=self.workflow.history(item),
            transitions=transitions, labels=LABELS, address=postal_address(item.building),
            may_exchange=follow_up and sm.has_access("can_exchange", self.class_permission_name),
            may_terminate=follow_up and sm.has_access("can_terminate", self.class_permission_name),
            follow_ups=db.session.scalars(apply_scope(select(Order), Order).where(
                Order.access_id == item.access_id, Order.id != item.id).order_by(Order.id)).all()
            if item.access_id else [])

    def _follow_up(self, pk, order_type):
        item = self._order(pk)
        with Attempt(done=gettext("Your order has been filed.")) as attempt:
            new = rules.file_follow_up(g.user, item, order_type)
        if attempt.refused is None:
            return redirect(url_for(".show", pk=new.id))
        return redirect(url_for(".show", pk=pk))

    @expose("/show/<int:pk>/exchange", methods=["POST"])
    @has_access
    @permission_name("exchange")
    @requires_eservice(ORDERS)
    def exchange(self, pk):
        """"Échanger la box": a box exchange order on the order's access."""
        return self._follow_up(pk, OrderType.box_exchange)

    @expose("/show/<int:pk>/terminate", methods=["POST"])
    @has_access
    @permission_name("terminate")
    @requires_eservice(ORDERS)
    def terminate(self, pk):
        """"Résilier": a termination order on the order's access."""
        return self._follow_up(pk, OrderType.termination)

    # -- the wizard --

    @expose("/new", methods=["GET"])
    @has_access
    @permission_name("new")
    @requires_eservice(ORDERS)
    def new(self):
        """A new order: a fresh draft, its building taken from the building sheet's `imb`."""
        session[DRAFT] = {"imb_id": request.args.get("imb", "")[:30]}
        return redirect(url_for(".step", step=1))

    @expose("/new/<int:step>", methods=["GET", "POST"])
    @has_access
    @permission_name("new")
    @requires_eservice(ORDERS)
    def step(self, step):
        """One step of the wizard. "Suivant" checks the step and keeps it in the draft
        (the session); "Précédent" keeps what was typed, unchecked, and goes back."""
        if step not in STEP_TITLES:
            abort(404)
        draft = dict(session.get(DRAFT) or {})
        errors = {}
        try:
            organisation = rules.ordering_operator(g.user)
        except rules.OrderRefused as refusal:
            return self.render_template("operator/orders_wizard.html", title=_l("Order a Just Fibre access"),
                                        step=0, steps=STEP_TITLES, refusal=refusal.message, draft={},
                                        errors={}, labels=rules.FIELD_LABELS)
        if request.method == "POST":
            for name in rules.STEPS.get(step, ()):
                draft[name] = request.form.get(name, "")[:200]
            if step == 2:
                draft["gtr_option"] = "1" if request.form.get("gtr_option") else ""
            session[DRAFT] = draft
            if request.form.get("go") == "previous":
                return redirect(url_for(".step", step=max(1, step - 1)))
            if step == 4:
                with Attempt(done=gettext("Your order has been created.")) as attempt:
                    order = rules.create_order(g.user, draft)
                if attempt.refused is None:
                    session.pop(DRAFT, None)
                    return redirect(url_for(".show", pk=order.id))
                return redirect(url_for(".step", step=self._first_wrong_step(organisation, draft)))
            try:
                rules.check_step(step, organisation, draft)
            except rules.OrderRefused as refusal:
                errors[refusal.field] = refusal.message
            else:
                return redirect(url_for(".step", step=step + 1))
        elif step > 1:
            wrong = self._first_wrong_step(organisation, draft)
            if wrong < step:
                return redirect(url_for(".step", step=wrong))
        return self._render_step(step, organisation, draft, errors)

    @staticmethod
    def _first_wrong_step(organisation, draft) -> int:
        for step in (1, 2, 3):
            try:
                rules.check_step(step, organisation, draft)
            except rules.OrderRefused:
                return step
        return 4

    def _render_step(self, step, organisation, draft, errors):
        building = rules.building_of((draft.get("imb_id") or "").strip().upper())
        context = rules.check_step(3, organisation, draft) if step == 4 else {}
        return self.render_template(
            "operator/orders_wizard.html", title=_l("Order a Just Fibre access"), step=step, steps=STEP_TITLES,
            draft=draft, errors=errors, labels=rules.FIELD_LABELS, building=building,
            lines=rules.active_lines(building), address=postal_address(building) if building else "",
            offers=rules.eligible_offers(building) if building is not None and step == 2 else [],
            deliveries=rules.DELIVERY_CHOICES, read=context, refusal=None)

    # -- the dashboard --

    @expose("/dashboard")
    @has_access
    @permission_name("dashboard")
    @requires_eservice(ORDERS)
    def dashboard(self):
        """"Tableau de bord": each type's row of state counts, each a link to the grid."""
        counts = rules.dashboard_counts(viewer_of(g.user))
        rows = [(kind, ORDER_TYPE_LABELS[kind], [
            (state, ORDER_STATE_LABELS[state], counts.get((kind, state), 0),
             url_for(".list", _flt_0_order_type=kind.value, _flt_0_state=state.value)) for state in states])
            for kind, states in rules.ORDER_TYPE_STATES.items()]
        columns = list(dict.fromkeys(state for states in rules.ORDER_TYPE_STATES.values() for state in states))
        chart = {"cols": [{"label": str(_l("Order type"))}] + [{"label": str(ORDER_STATE_LABELS[s])} for s in columns],
                 "rows": [{"c": [{"v": str(label)}] + [{"v": counts.get((kind, state), 0)} for state in columns]}
                          for kind, label, _ in rows]}
        return self.render_template("operator/orders_dashboard.html", title=_l("Dashboard"), rows=rows,
                                    chart=chart, may_order=self.appbuilder.sm.has_access(
                                        "can_new", self.class_permission_name))


# ---------------------------------------------------------------------------
# TMF622 Product Ordering
# ---------------------------------------------------------------------------

#: Our states as TMF622's ProductOrder states (one each, so a filter reads either way).
TMF_STATES = {
    OrderState.in_progress: "inProgress", OrderState.failed: "failed", OrderState.done: "completed",
    OrderState.appointment_to_reschedule: "held", OrderState.awaiting_box_return: "pending",
    OrderState.cancelled: "cancelled",
}
STATES_OF_TMF = {value: state for state, value in TMF_STATES.items()}
TMF_CATEGORIES = {OrderType.creation: "creation", OrderType.termination: "termination",
                  OrderType.box_exchange: "boxExchange"}
TYPES_OF_TMF = {value: kind for kind, value in TMF_CATEGORIES.items()}
ACTIONS = {OrderType.creation: "add", OrderType.termination: "delete", OrderType.box_exchange: "modify"}
#: The wizard's fields as the API's body names them (a refusal names the JSON path).
API_FIELDS = {
    "operator_reference": "externalId", "appointment_reference": "productOrderItem[0].appointment.id",
    "imb_id": "productOrderItem[0].product.place[0].id", "line_id": "productOrderItem[0].product.line.id",
    "offer": "productOrderItem[0].productOffering.id", "gtr_option": "productOrderItem[0].gtrOption",
    "delivery": "deliveryAddress", "delivery_name": "deliveryAddress.name",
    "delivery_street": "deliveryAddress.street", "delivery_postcode": "deliveryAddress.postcode",
    "delivery_city": "deliveryAddress.city",
}


def _moment(value):
    return OffsetDateTime()._serialize(value, None, None) if value else None


def product_order(item) -> dict:
    """An order as TMF622 writes a ProductOrder."""
    product = {"place": [{"id": item.building.imb_id, "role": "installationAddress",
                          "name": postal_address(item.building), "@referredType": "GeographicSite"}]}
    if item.line is not None:
        product["line"] = {"id": str(item.line_id), "number": item.line.line_number}
    if item.access is not None:
        product["id"] = item.access.prestation_id
    order_item = {"id": "1", "action": ACTIONS[item.order_type], "state": TMF_STATES[item.state],
                  "productOffering": {"id": item.offer.code, "name": item.offer.name},
                  "gtrOption": item.gtr_option, "product": product}
    if item.appointment is not None:
        order_item["appointment"] = {"id": item.appointment.reference}
    answer = {
        "id": item.reference, "href": url_for("ProductOrderApi.get", reference=item.reference, _external=True),
        "externalId": item.operator_reference, "category": TMF_CATEGORIES[item.order_type],
        "state": TMF_STATES[item.state], "stateLabel": str(item.state), "orderDate": _moment(item.created_on),
        "lastUpdate": _moment(item.changed_on), "productOrderItem": [order_item],
        "relatedParty": [{"id": str(item.organisation_id), "name": item.organisation.name, "role": "customer"}],
        "@type": "ProductOrder",
    }
    if item.state == OrderState.done:
        answer["completionDate"] = _moment(item.changed_on)
    if not item.delivery_to_installation:
        answer["deliveryAddress"] = {"name": item.delivery_name, "street": item.delivery_street,
                                     "postcode": item.delivery_postcode, "city": item.delivery_city}
    return answer


def _path(payload, *names):
    """payload[names[0]][names[1]]…, a list taking its first element; None when absent."""
    value = payload
    for name in names:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def draft_of(payload) -> dict:
    """The wizard's draft from a TMF622 ProductOrder body."""
    if not isinstance(payload, dict):
        raise JsonRefused(None, gettext("The body must be a JSON object."))
    category = payload.get("category", "creation")
    if category != "creation":
        raise JsonRefused("category", gettext(
            "%(field)s: only creation is ordered here; terminations and box exchanges are filed on an order.",
            field="category"))
    delivery = payload.get("deliveryAddress")
    if delivery is not None and not isinstance(delivery, dict):
        raise JsonRefused("deliveryAddress", gettext("%(field)s: an object is expected.", field="deliveryAddress"))
    draft = {
        "operator_reference": payload.get("externalId"),
        "appointment_reference": _path(payload, "productOrderItem", "appointment", "id"),
        "imb_id": _path(payload, "productOrderItem", "product", "place", "id"),
        "line_id": _path(payload, "productOrderItem", "product", "line", "id"),
        "offer": _path(payload, "productOrderItem", "productOffering", "id"),
        "gtr_option": _path(payload, "productOrderItem", "gtrOption") or False,
        "delivery": "other" if delivery else "installation",
    }
    for name in ("name", "street", "postcode", "city"):
        draft[f"delivery_{name}"] = (delivery or {}).get(name)
    for name, value in draft.items():
        if value is not None and not isinstance(value, (str, int, bool)) or (
                isinstance(value, bool) and name != "gtr_option"):
            raise JsonRefused(API_FIELDS[name], gettext("%(field)s: a text is expected.", field=API_FIELDS[name]))
        if name != "gtr_option" and value is not None:
            draft[name] = str(value)
    if not isinstance(draft["gtr_option"], bool):
        raise JsonRefused(API_FIELDS["gtr_option"], gettext("%(field)s: true or false is expected.",
                                                            field=API_FIELDS["gtr_option"]))
    return draft


class ProductOrderApi(OperatorApi):
    """Orders as TMF622 ProductOrder: create, read, list, cancel, and the back office's
    state changes. Cancelling is TMF622's task resource `cancelProductOrder`; a PATCH of
    `state` to `cancelled` does the same (both fire the workflow's "cancel")."""

    openapi_spec_tag = "Operator orders (TMF622)"
    base_permissions = ["can_get", "can_post", "can_patch", "can_cancel"]
    api_fields = API_FIELDS


    def _order(self, reference):
        return apply_scope(db.session.query(Order), Order).filter(Order.reference == reference).one_or_none()

    @expose("/productOrder", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @requires_eservice(ORDERS)
    def post(self):
        """Order a Just Fibre access, with the wizard's checks.
        ---
        post:
          summary: Create a creation order (TMF622 ProductOrder)
          description: >
            The same checks as the wizard: externalId is the operator's order reference;
            the appointment (a validated e-RDV appointment of the operator at this
            building); the building's IMB id and, when it has lines in service, the line;
            an offer the building is eligible to; gtrOption for the Option GTR 10 heures HO;
            deliveryAddress (name, street, postcode, city) to ship the box elsewhere than
            the installation address. A refusal is a 400 naming the field by its JSON path.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [externalId, productOrderItem]
                  properties:
                    externalId: {type: string, example: CMD-2026-0042}
                    category: {type: string, enum: [creation]}
                    productOrderItem:
                      type: array
                      items:
                        type: object
                        properties:
                          action: {type: string, enum: [add]}
                          productOffering: {type: object, properties: {id: {type: string, example: just-fibre}}}
                          gtrOption: {type: boolean}
                          appointment: {type: object, properties: {id: {type: string, example: RDV-DEMO-0001}}}
                          product:
                            type: object
                            properties:
                              place:
                                type: array
                                items: {type: object, properties: {id: {type: string, example: IMB/77058/X/0218}}}
                              line: {type: object, properties: {id: {type: string}}}
                    deliveryAddress:
                      type: object
                      properties:
                        name: {type: string}
                        street: {type: string}
                        postcode: {type: string}
                        city: {type: string}
          responses:
            201:
              description: The order, in progress (state inProgress)
              content:
                application/json:
                  schema: {type: object}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service e-Just Fibre
        """
        with Attempt(flash_refusal=False) as attempt:
            item = rules.create_order(g.user, draft_of(request.get_json(silent=True)))
        if attempt.refused is not None:
            return self._refused(attempt.refused)
        return self.response(201, **product_order(item))

    @expose("/productOrder", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(ORDERS)
    def get_list(self):
        """List the orders in one's scope, newest first.
        ---
        get:
          summary: List orders (TMF622 ProductOrder), filtered by state and category
          parameters:
          - {in: query, name: state, schema: {type: string, enum: [inProgress, failed, completed, held, pending,
                                                                    cancelled]}}
          - {in: query, name: category, schema: {type: string, enum: [creation, termination, boxExchange]}}
          - {in: query, name: externalId, schema: {type: string}}
          - {in: query, name: offset, schema: {type: integer, default: 0}}
          - {in: query, name: limit, schema: {type: integer, default: 25, maximum: 100}}
          responses:
            200:
              description: The orders (X-Total-Count gives how many match)
              content:
                application/json:
                  schema: {type: array, items: {type: object}}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        query = apply_scope(db.session.query(Order), Order)
        for name, values in (("state", STATES_OF_TMF), ("category", TYPES_OF_TMF)):
            value = request.args.get(name)
            if value is None:
                continue
            if value not in values:
                return self.response_400(message={name: [gettext("%(field)s: one of %(values)s is expected.",
                                                                 field=name, values=", ".join(values))]})
            column = Order.state if name == "state" else Order.order_type
            query = query.filter(column == values[value])
        if request.args.get("externalId"):
            query = query.filter(Order.operator_reference == request.args["externalId"])
        try:
            offset = max(0, int(request.args.get("offset", 0)))
            limit = min(100, max(1, int(request.args.get("limit", 25))))
        except ValueError:
            return self.response_400(message={"limit": [gettext("offset and limit: integers are expected.")]})
        total = query.count()
        items = query.order_by(Order.id.desc()).offset(offset).limit(limit).all()
        response = self.response(200)
        response.set_data(json.dumps([product_order(item) for item in items]))
        response.headers["X-Total-Count"] = str(total)
        response.headers["X-Result-Count"] = str(len(items))
        return response

    @expose("/productOrder/<reference>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @requires_eservice(ORDERS)
    def get(self, reference):
        """Read one order.
        ---
        get:
          summary: Read an order (TMF622 ProductOrder) by its reference
          parameters:
          - {in: path, name: reference, schema: {type: string, example: JF00000001}}
          responses:
            200:
              description: The order
              content:
                application/json:
                  schema: {type: object}
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        item = self._order(reference)
        if item is None:
            return self.response_404()
        return self.response(200, **product_order(item))

    def _move(self, reference, target, comment):
        item = self._order(reference)
        if item is None:
            return self.response_404()
        transition = rules.transition_to(item, target)
        if transition is None:
            return self.response(422, message={"state": [gettext(
                "state: no step leads from %(from)s to %(to)s for this order.",
                **{"from": TMF_STATES[item.state], "to": TMF_STATES[target]})]})
        with Attempt(flash_refusal=False) as attempt:
            rules.ORDER_WORKFLOW.fire(item, transition.name, g.user, comment or "")
        if attempt.refused is not None:
            return self.response(422, message={"state": [attempt.refused.message]})
        return None, item

    @expose("/productOrder/<reference>", methods=["PATCH"])
    @protect()
    @safe
    @permission_name("patch")
    @requires_eservice(ORDERS)
    def patch(self, reference):
        """Move an order to another state (the back office; an operator may cancel).
        ---
        patch:
          summary: Change an order's state (TMF622 PATCH of state)
          description: >
            The wholesale back office moves orders - a creation from inProgress to
            completed, failed or held (appointment to reschedule) and back to inProgress;
            a termination or box exchange from inProgress to pending (awaiting the box's
            return) then completed. An operator's account may set cancelled while the
            order is inProgress or held. Any other change is a 422.
          parameters:
          - {in: path, name: reference, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [state]
                  properties:
                    state: {type: string, enum: [inProgress, failed, completed, held, pending, cancelled]}
                    note: {type: string, description: a comment kept in the history}
          responses:
            200:
              description: The order in its new state
              content:
                application/json:
                  schema: {type: object}
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        payload = request.get_json(silent=True)
        state = payload.get("state") if isinstance(payload, dict) else None
        if not isinstance(state, str) or state not in STATES_OF_TMF:
            return self.response_400(message={"state": [gettext("state: one of %(values)s is expected.",
                                                                values=", ".join(STATES_OF_TMF))]})
        note = payload.get("note")
        if note is not None and not isinstance(note, str):
            return self.response_400(message={"note": [gettext("%(field)s: a text is expected.", field="note")]})
        answer = self._move(reference, STATES_OF_TMF[payload["state"]], note)
        if not isinstance(answer, tuple):
            return answer
        return self.response(200, **product_order(answer[1]))

    @expose("/cancelProductOrder", methods=["POST"])
    @protect()
    @safe
    @permission_name("cancel")
    @requires_eservice(ORDERS)
    def cancel(self):
        """Cancel an order (TMF622 cancelProductOrder task).
        ---
        post:
          summary: Cancel an order still in progress (TMF622 CancelProductOrder)
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [productOrder]
                  properties:
                    productOrder: {type: object, properties: {id: {type: string, example: JF00000001}}}
                    cancellationReason: {type: string}
          responses:
            201:
              description: Done; the order is cancelled
              content:
                application/json:
                  schema: {type: object}
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        payload = request.get_json(silent=True)
        reference = _path(payload, "productOrder", "id") if isinstance(payload, dict) else None
        reason = payload.get("cancellationReason") if isinstance(payload, dict) else None
        if not isinstance(reference, str) or (reason is not None and not isinstance(reason, str)):
            field = "cancellationReason" if isinstance(reference, str) else "productOrder.id"
            return self.response_400(message={field: [gettext("%(field)s: a text is expected.", field=field)]})
        answer = self._move(reference, OrderState.cancelled, reason)
        if not isinstance(answer, tuple):
            return answer
        return self.response(201, **{"id": answer[1].reference, "state": "done", "cancellationReason": reason,
                                     "productOrder": {"id": answer[1].reference, "state": "cancelled"},
                                     "@type": "CancelProductOrder"})


def register(appbuilder):
    appbuilder.add_view_no_menu(OrderView)
    appbuilder.add_link("OrderDashboard", href="/operator/orders/dashboard", icon="fa-tachometer",
                        label=_l("e-Just Fibre dashboard"), category=DESK.category, cond=entitled_menu(ORDERS))
    appbuilder.add_link("Orders", href="/operator/orders/list/", icon="fa-list", label=_l("Just Fibre orders"),
                        category=DESK.category, cond=entitled_menu(ORDERS))
    appbuilder.add_link("NewOrder", href="/operator/orders/new", icon="fa-cart-plus", label=_l("Order Just Fibre"),
                        category=DESK.category, cond=entitled_menu(ORDERS))
    appbuilder.add_api(ProductOrderApi)
    SCREENS[ORDERS] = "OrderView.dashboard"
