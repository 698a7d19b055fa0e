"""Desk E, eligibility — the search (by address, building id, coordinates or line
number) with each offer's verdict and a map, the building sheet ("Détails de
l'immeuble") with its export, and the same search as an API in the shape of
TMF645 Service Qualification, rate-limited per account."""
import json
import time
import uuid
from datetime import datetime, timezone

from flask import abort, current_app, g, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ...access import operator as access
from ...access.operator import APPOINTMENTS, ELIGIBILITY, ORDERS, is_entitled
from ...extensions import db
from ...models import Building
from ...platform import exports
from ...rules.operator import eligibility as rules
from ...security import apply_scope
from .common import DESK, SCREENS, entitled_menu, requires_eservice

FIELD_LABELS = {
    "address": _l("Address"), "building_id": _l("Building id (IMB)"), "x": _l("X or longitude"),
    "y": _l("Y or latitude"), "projection": _l("Projection"), "radius": _l("Radius (m)"),
    "line_number": _l("Line number"),
}
MODE_LABELS = {"address": _l("By address"), "building": _l("By building id"), "point": _l("By coordinates"),
               "line": _l("By line number")}
MODE_FIELDS = {"address": ("address",), "building": ("building_id",), "point": ("x", "y", "projection", "radius"),
               "line": ("line_number",)}


def max_buildings() -> int:
    return current_app.config["ELIGIBILITY_MAX_BUILDINGS"]


def street_line(building) -> str:
    """The seed's "Voie": number, suffix and street (`6 RUE ETIENNE GANNERON`)."""
    number = " ".join(str(part) for part in (building.street_number, building.number_suffix) if part)
    return f"{number} {building.street_name}".strip()


def postal_address(building) -> str:
    return f"{street_line(building)}, {building.postcode or ''} {building.commune}".replace("  ", " ")


def search(viewer, mode, values, fields=None) -> list:
    """Run one of the four searches on the values typed (a dict of the mode's
    fields); `fields` names them as the caller's request does (the API's paths)."""
    fields = fields or {name: name for name in FIELD_LABELS}
    limit = max_buildings()
    if mode == "address":
        return rules.by_address(viewer, values.get("address"), limit, fields["address"])
    if mode == "building":
        return rules.by_building_id(viewer, values.get("building_id"), fields["building_id"])
    if mode == "line":
        return rules.by_line(viewer, values.get("line_number"), fields["line_number"])
    x, y = rules.point_in_lambert93(values.get("x"), values.get("y"), values.get("projection"),
                                    (fields["x"], fields["y"], fields["projection"]))
    return rules.by_point(viewer, x, y, rules.read_radius(values.get("radius"), fields["radius"]), limit)


def map_markers(found) -> str:
    """The buildings as the map script reads them (JSON in a data attribute)."""
    return json.dumps([{
        "lat": round(item.building.latitude, 7), "lng": round(item.building.longitude, 7),
        "imb": item.building.imb_id, "label": postal_address(item.building),
        "url": url_for("EligibilityView.building", pk=item.building.id),
        "connectable": rules.is_connectable(item.building)} for item in found])


def map_settings() -> dict:
    """The map's tile server (none by default: markers on a plain background) and the
    captions its script writes."""
    return {"tiles": current_app.config.get("MAP_TILE_URL") or "",
            "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION") or "",
            "zoom_in": gettext("Zoom in"), "zoom_out": gettext("Zoom out"),
            "connectable": gettext("CONNECTABLE"), "not_connectable": gettext("NOT CONNECTABLE"),
            "sheet": gettext("Building sheet")}


class EligibilityView(BaseView):
    """The eligibility search and the building sheet, for whoever is entitled to
    "Eligibilité" (the role's permission, then the e-service's entitlement)."""

    route_base = "/operator/eligibility"
    default_view = "search"
    base_permissions = ["can_search", "can_building"]

    @expose("/")
    @has_access
    @requires_eservice(ELIGIBILITY)
    def search(self):
        mode = request.args.get("mode", "address")
        mode = mode if mode in rules.MODES else "address"
        values = {name: request.args.get(name, "") for name in FIELD_LABELS}
        values["projection"] = values["projection"] or "lambert93"
        asked = any(request.args.get(name, "").strip() for name in MODE_FIELDS[mode] if name != "projection")
        errors, results = {}, None
        if asked:
            try:
                results = rules.qualify(search(None, mode, values))
            except rules.EligibilityRefused as refusal:
                errors[refusal.field] = refusal.message
        return self.render_template(
            "operator/eligibility_search.html", title=_l("Eligibility"), mode=mode, values=values, errors=errors,
            results=results, modes=MODE_LABELS, labels=FIELD_LABELS, projections=rules.PROJECTION_LABELS,
            radius_max=rules.MAX_RADIUS, default_radius=rules.DEFAULT_RADIUS,
            markers=map_markers([found for found, _ in results]) if results else "[]", map=map_settings(),
            street_line=street_line, postal_address=postal_address, is_connectable=rules.is_connectable)

    def _building(self, pk):
        building = apply_scope(db.session.query(Building), Building).filter(Building.id == pk).one_or_none()
        if building is None:
            abort(404)
        return building

    @expose("/building/<int:pk>")
    @has_access
    @permission_name("building")
    @requires_eservice(ELIGIBILITY)
    def building(self, pk):
        """The seed's "Détails de l'immeuble", with each offer's verdict and the map."""
        building = self._building(pk)
        found = rules.Found(building)
        return self.render_template(
            "operator/building_sheet.html", title=gettext("Building details: %(imb)s", imb=building.imb_id),
            building=building, verdicts=rules.verdicts(building, rules.offers()),
            connectable=rules.is_connectable(building), street_line=street_line(building),
            markers=map_markers([found]), map=map_settings(), formats=("csv", "xlsx"),
            appointment_url=url_for("AppointmentView.new", imb=building.imb_id)
            if is_entitled(g.user, APPOINTMENTS) else None,
            order_url=url_for("OrderView.new", imb=building.imb_id) if connectable_for_orders(building) else None)

    @expose("/building/<int:pk>/export/<fmt>")
    @has_access
    @permission_name("building")
    @requires_eservice(ELIGIBILITY)
    def export(self, pk, fmt):
        """The sheet as a table: one row per row of its structure, the building's
        details repeated on each (one row when it has no structure)."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        building = self._building(pk)
        headers, rows = building_table(building)
        return exports.rows_response(building.imb_id.replace("/", "-"), headers, rows, fmt)


def connectable_for_orders(building) -> bool:
    """Whether the sheet offers to order at this building: it is connectable and the
    person may order (the e-Just Fibre wizard, which takes the building from here)."""
    return (rules.is_connectable(building) and access.is_entitled(g.user, ORDERS)
            and current_app.appbuilder.sm.has_access("can_new", "OrderView"))


def building_table(building):
    """(headers, rows) of a building's export, the sheet's labels as headers."""
    details = [
        (gettext("Building id"), building.imb_id),
        (gettext("Connectable"), gettext("Yes") if rules.is_connectable(building) else gettext("No")),
        (gettext("Building state"), str(building.state)), (gettext("Building operator code"), building.oi_code),
        (gettext("Building"), building.building_name), (gettext("Additional information"), building.extra_info),
        (gettext("X coordinate"), building.x_l93), (gettext("Y coordinate"), building.y_l93),
        (gettext("Projection"), "RGF93"), (gettext("Longitude (WGS84)"), building.longitude),
        (gettext("Latitude (WGS84)"), building.latitude), (gettext("Building INSEE code"), building.insee_code),
        (gettext("Building RIVOLI code"), building.rivoli_code),
        (gettext("Dwellings in the building"), building.dwellings),
        (gettext("Access acceptance starts on"), building.access_acceptance_from),
        (gettext("Access supply starts on"), building.access_supply_from),
        (gettext("Postcode"), building.postcode), (gettext("Commune"), building.commune),
        (gettext("Street"), street_line(building)),
        (gettext("Existing lines"), ", ".join(line.line_number for line in building.lines)),
    ]
    structure = [
        (gettext("Floor"), "floor"), (gettext("PM ref"), "pm_ref"), (gettext("PMT ref"), "pmt_ref"),
        (gettext("PBO ref"), "pbo_ref"), (gettext("PBO type"), "pbo_type"),
        (gettext("Location type"), "location_type"), (gettext("Patching type"), "patching_type"),
        (gettext("Nature of the works"), "works_nature"), (gettext("PM-PRDM link id"), "pm_prdm_link"),
        (gettext("FTTH premises"), "ftth_premises"),
    ]
    headers = [label for label, _ in details] + [label for label, _ in structure]
    head = [value for _, value in details]
    rows = [head + [getattr(row, name) for _, name in structure] for row in building.structures]
    return headers, rows or [head + [None] * len(structure)]


# ---------------------------------------------------------------------------
# TMF645 Service Qualification
# ---------------------------------------------------------------------------

PLACE_TYPES = ("GeographicAddress", "GeographicSite", "GeographicLocation", "LineRef")
SPATIAL_REFS = {"EPSG:2154": "lambert93", "RGF93": "lambert93", "LAMBERT93": "lambert93",
                "EPSG:4326": "wgs84", "WGS84": "wgs84"}


class BadRequest(rules.EligibilityRefused):
    """A request body the API cannot read, naming the field (a JSON path)."""


def _kind(payload, name, kind, path, label):
    value = payload.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise BadRequest(path, gettext("%(field)s: %(kind)s is expected.", field=path, kind=label))
    return value


def _text(payload, name, path):
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest(path, gettext("%(field)s: a text is expected.", field=path))
    return str(value)


def read_place(payload) -> tuple:
    """(mode, values, fields) of the request's `place`: an object, or a list of one."""
    place = payload.get("place")
    path = "place"
    if isinstance(place, list):
        if len(place) != 1:
            raise BadRequest(path, gettext("%(field)s: one place is expected.", field=path))
        place, path = place[0], "place[0]"
    if place is None:
        raise BadRequest(path, gettext("%(field)s: this field is required.", field=path))
    if not isinstance(place, dict):
        raise BadRequest(path, gettext("%(field)s: an object is expected.", field=path))
    kind = place.get("@type")
    if kind not in PLACE_TYPES:
        raise BadRequest(f"{path}.@type", gettext("%(field)s: one of %(values)s is expected.",
                                                  field=f"{path}.@type", values=", ".join(PLACE_TYPES)))
    if kind == "GeographicSite":
        return "building", {"building_id": _text(place, "id", f"{path}.id")}, {"building_id": f"{path}.id"}
    if kind == "LineRef":
        return "line", {"line_number": _text(place, "id", f"{path}.id")}, {"line_number": f"{path}.id"}
    if kind == "GeographicAddress":
        parts = [_text(place, name, f"{path}.{name}") for name in (
            "streetNr", "streetNrSuffix", "streetType", "streetName", "postcode", "city")]
        full = _text(place, "fullAddress", f"{path}.fullAddress")
        if not full and not parts[3]:
            raise BadRequest(f"{path}.streetName", gettext(
                "%(field)s: this field is required (or fullAddress).", field=f"{path}.streetName"))
        address = full or " ".join(part for part in parts if part)
        return "address", {"address": address}, {"address": f"{path}.fullAddress" if full else f"{path}.streetName"}
    spatial = _text(place, "spatialRef", f"{path}.spatialRef") or "EPSG:2154"
    if spatial.upper() not in SPATIAL_REFS:
        raise BadRequest(f"{path}.spatialRef", gettext("%(field)s: one of %(values)s is expected.",
                                                       field=f"{path}.spatialRef", values="EPSG:2154, EPSG:4326"))
    geometry = _kind(place, "geometry", list, f"{path}.geometry", gettext("a list"))
    if not geometry:
        raise BadRequest(f"{path}.geometry", gettext("%(field)s: one point {x, y} is expected.",
                                                     field=f"{path}.geometry"))
    point = geometry[0]
    if not isinstance(point, dict):
        raise BadRequest(f"{path}.geometry[0]", gettext("%(field)s: an object is expected.",
                                                        field=f"{path}.geometry[0]"))
    if place.get("radius") is not None and (isinstance(place["radius"], bool)
                                            or not isinstance(place["radius"], (int, float, str))):
        raise BadRequest(f"{path}.radius", gettext("%(field)s: a number is expected.", field=f"{path}.radius"))
    for name in ("x", "y"):
        if point.get(name) is not None and (isinstance(point[name], bool)
                                            or not isinstance(point[name], (int, float, str))):
            raise BadRequest(f"{path}.geometry[0].{name}", gettext("%(field)s: a number is expected.",
                                                                    field=f"{path}.geometry[0].{name}"))
    return "point", {"x": point.get("x"), "y": point.get("y"), "projection": SPATIAL_REFS[spatial.upper()],
                     "radius": place.get("radius")}, {
        "x": f"{path}.geometry[0].x", "y": f"{path}.geometry[0].y", "projection": f"{path}.spatialRef",
        "radius": f"{path}.radius"}


def read_wanted_offers(payload, offer_list) -> list:
    """The offers the request asks about ([] for every offer), each as
    `serviceQualificationItem[i].service.serviceSpecification` {id or name}."""
    items = _kind(payload, "serviceQualificationItem", list, "serviceQualificationItem", gettext("a list"))
    by_code = {offer.code: offer for offer in offer_list}
    by_name = {offer.name.lower(): offer for offer in offer_list}
    wanted = []
    for index, item in enumerate(items or []):
        path = f"serviceQualificationItem[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(path, gettext("%(field)s: an object is expected.", field=path))
        service = _kind(item, "service", dict, f"{path}.service", gettext("an object")) or {}
        specification = _kind(service, "serviceSpecification", dict, f"{path}.service.serviceSpecification",
                              gettext("an object"))
        spec_path = f"{path}.service.serviceSpecification"
        if not specification:
            raise BadRequest(spec_path, gettext("%(field)s: this field is required.", field=spec_path))
        code = _text(specification, "id", f"{spec_path}.id")
        name = _text(specification, "name", f"{spec_path}.name")
        offer = by_code.get(code) if code else by_name.get((name or "").lower())
        if offer is None:
            raise BadRequest(f"{spec_path}.id", gettext("%(field)s: no such offer (one of %(values)s).",
                                                        field=f"{spec_path}.id", values=", ".join(by_code)))
        wanted.append((_text(item, "id", f"{path}.id") or str(index + 1), offer))
    return wanted


def _specification(offer) -> dict:
    return {"id": offer.code, "name": offer.name, "@type": "ServiceSpecificationRef"}


def _place_ref(found) -> dict:
    building = found.building
    ref = {"id": building.imb_id, "name": postal_address(building), "role": "installationAddress",
           "href": url_for("EligibilityView.building", pk=building.id, _external=True),
           "@referredType": "GeographicSite", "connectable": rules.is_connectable(building)}
    if found.distance is not None:
        ref["distance"] = found.distance
    return ref


def qualification_items(qualified, wanted, offer_list, alternatives, reasons_wanted) -> list:
    """The answer's items: per building found, one per offer asked (every offer when
    none is): qualified, unqualified with its reasons, or — an offer asked for that
    the building is not eligible to while others are — alternate, with those others."""
    items, number = [], 0
    asked = wanted or [(None, offer) for offer in offer_list]
    specifications = {offer.id: _specification(offer) for offer in offer_list}
    for found, verdicts in qualified:
        by_offer = {verdict.offer.id: verdict for verdict in verdicts}
        eligible = [verdict.offer for verdict in verdicts if verdict.eligible]
        place = [_place_ref(found)]
        for item_id, offer in asked:
            number += 1
            verdict = by_offer[offer.id]
            item = {"id": item_id if item_id and len(qualified) == 1 else str(number), "state": "done",
                    "service": {"serviceSpecification": specifications[offer.id], "place": place}}
            others = [other for other in eligible if other.id != offer.id]
            if verdict.eligible:
                item["qualificationResult"] = "qualified"
            elif wanted and alternatives and others:
                item["qualificationResult"] = "alternate"
                item["alternateServiceProposal"] = [
                    {"id": f"{item['id']}-{index + 1}", "alternateService": {
                        "serviceSpecification": specifications[other.id], "place": place}}
                    for index, other in enumerate(others)]
            else:
                item["qualificationResult"] = "unqualified"
            if not verdict.eligible and reasons_wanted:
                item["eligibilityUnavailabilityReason"] = [
                    {"code": reason.code, "label": reason.message} for reason in verdict.reasons]
            items.append(item)
    if not qualified:
        for index, (item_id, offer) in enumerate(asked):
            item = {"id": item_id or str(index + 1), "state": "done", "qualificationResult": "unqualified",
                    "service": {"serviceSpecification": specifications[offer.id]}}
            if reasons_wanted:
                item["eligibilityUnavailabilityReason"] = [
                    {"code": "place_not_found", "label": gettext("no building found at this place")}]
            items.append(item)
    return items


def overall_result(items) -> str:
    """The qualification's result: qualified when an item is, else alternate when one is."""
    results = {item["qualificationResult"] for item in items}
    return next((result for result in ("qualified", "alternate") if result in results), "unqualified")


def _rfc3339(moment) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def rate_limited(user_id):
    """None while the account is within ELIGIBILITY_API_RATE_LIMIT, else the seconds
    until it may call again. Counted in RATELIMIT_STORAGE_URI (Redis when REDIS_URL
    is set, so that every worker shares the count)."""
    config = current_app.config
    limiter = current_app.extensions.get("operator_qualification_limiter")
    if limiter is None:
        limiter = current_app.extensions["operator_qualification_limiter"] = MovingWindowRateLimiter(
            storage_from_string(config["RATELIMIT_STORAGE_URI"]))
    limit = parse_limit(config["ELIGIBILITY_API_RATE_LIMIT"])
    namespace = f"{config.get('RATELIMIT_KEY_PREFIX', '')}service-qualification"
    if limiter.hit(limit, namespace, str(user_id)):
        return None
    reset, _ = limiter.get_window_stats(limit, namespace, str(user_id))
    return max(1, int(reset - time.time() + 0.999))


class ServiceQualificationApi(BaseApi):
    """Eligibility as TMF645 Service Qualification: which offers a place qualifies for."""

    resource_name = "operator"
    openapi_spec_tag = "Operator eligibility (TMF645)"
    allow_browser_login = True
    base_permissions = ["can_qualify"]

    @expose("/serviceQualification", methods=["POST"])
    @protect()
    @safe
    @permission_name("qualify")
    @requires_eservice(ELIGIBILITY)
    def qualify(self):
        """Check which offers a place qualifies for (TMF645 Service Qualification).
        ---
        post:
          summary: Qualify a place (address, building id, point or line number) for the offers
          description: >
            Answered at once (`state` done, not stored). Each building found at the place
            gets one `serviceQualificationItem` per offer (per offer asked when
            `serviceQualificationItem` lists some): `qualified`, `unqualified` with its
            `eligibilityUnavailabilityReason`, or `alternate` (an offer asked that the
            building is not eligible to, while it is eligible to the
            `alternateServiceProposal` ones). Calls per account are limited
            (ELIGIBILITY_API_RATE_LIMIT, 429 beyond it).
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [place]
                  properties:
                    description: {type: string}
                    externalId: {type: string}
                    provideAlternative: {type: boolean, default: true}
                    provideUnavailabilityReasonIndicator: {type: boolean, default: true}
                    place:
                      type: object
                      description: >
                        One place (or a list of one). GeographicAddress - streetNr,
                        streetNrSuffix, streetType, streetName, postcode, city, or
                        fullAddress (one line, Guichet's extension); GeographicSite - id, the
                        building's IMB id; GeographicLocation - spatialRef EPSG:2154
                        (Lambert-93, default) or EPSG:4326 (WGS84, x longitude and y
                        latitude), geometry [{x, y}], radius in metres (default 100, at most
                        2000); LineRef - id, an existing line's number.
                      required: ['@type']
                      properties:
                        '@type': {type: string, enum: [GeographicAddress, GeographicSite, GeographicLocation,
                                                       LineRef]}
                        id: {type: string, example: IMB/77058/X/0218}
                        streetNr: {type: string, example: '6'}
                        streetNrSuffix: {type: string}
                        streetType: {type: string}
                        streetName: {type: string, example: rue Etienne Ganneron}
                        postcode: {type: string, example: '77600'}
                        city: {type: string, example: Bussy-Saint-Georges}
                        fullAddress: {type: string}
                        spatialRef: {type: string, enum: ['EPSG:2154', 'EPSG:4326']}
                        geometry:
                          type: array
                          items: {type: object, properties: {x: {type: number}, y: {type: number}}}
                        radius: {type: number}
                    serviceQualificationItem:
                      type: array
                      items:
                        type: object
                        properties:
                          id: {type: string}
                          service:
                            type: object
                            properties:
                              serviceSpecification:
                                type: object
                                properties:
                                  id: {type: string, description: "the offer's code", example: just-fibre}
                                  name: {type: string}
          responses:
            201:
              description: The qualification, done
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id: {type: string}
                      state: {type: string, enum: [done]}
                      qualificationResult: {type: string, enum: [qualified, alternate, unqualified]}
                      checkServiceQualificationDate: {type: string, format: date-time}
                      effectiveQualificationDate: {type: string, format: date-time}
                      place: {type: array, items: {type: object}}
                      serviceQualificationItem:
                        type: array
                        items:
                          type: object
                          properties:
                            id: {type: string}
                            state: {type: string}
                            qualificationResult: {type: string, enum: [qualified, alternate, unqualified]}
                            service:
                              type: object
                              properties:
                                serviceSpecification:
                                  type: object
                                  properties:
                                    id: {type: string}
                                    name: {type: string}
                                place:
                                  type: array
                                  items:
                                    type: object
                                    properties:
                                      id: {type: string}
                                      name: {type: string}
                                      href: {type: string}
                                      role: {type: string}
                                      connectable: {type: boolean}
                                      distance: {type: number}
                            eligibilityUnavailabilityReason:
                              type: array
                              items:
                                type: object
                                properties: {code: {type: string}, label: {type: string}}
                            alternateServiceProposal: {type: array, items: {type: object}}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              description: Not entitled to the e-service Eligibilité
            429:
              description: Too many calls for this account; Retry-After tells when to call again
        """
        wait = rate_limited(g.user.id)
        if wait is not None:
            response = self.response(429, message=gettext(
                "Too many eligibility requests for your account: try again in %(seconds)d s.", seconds=wait))
            response.headers["Retry-After"] = str(wait)
            return response
        asked_on = datetime.now(timezone.utc)
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message={"_schema": [gettext("The body must be a JSON object.")]})
        try:
            for name in ("provideAlternative", "provideUnavailabilityReasonIndicator"):
                _kind(payload, name, bool, name, gettext("true or false"))
            for name in ("description", "externalId"):
                _text(payload, name, name)
            mode, values, fields = read_place(payload)
            offer_list = rules.offers()
            wanted = read_wanted_offers(payload, offer_list)
            qualified = rules.qualify(search(None, mode, values, {**{n: n for n in FIELD_LABELS}, **fields}),
                                      offer_list)
        except rules.EligibilityRefused as refusal:
            return self.response_400(message={refusal.field or "_schema": [refusal.message]})
        items = qualification_items(qualified, wanted, offer_list, payload.get("provideAlternative", True),
                                    payload.get("provideUnavailabilityReasonIndicator", True))
        answer = {
            "id": str(uuid.uuid4()), "state": "done", "qualificationResult": overall_result(items),
            "checkServiceQualificationDate": _rfc3339(asked_on),
            "effectiveQualificationDate": _rfc3339(datetime.now(timezone.utc)),
            "provideAlternative": payload.get("provideAlternative", True),
            "provideUnavailabilityReasonIndicator": payload.get("provideUnavailabilityReasonIndicator", True),
            "place": [payload["place"][0] if isinstance(payload["place"], list) else payload["place"]],
            "serviceQualificationItem": items, "@type": "CheckServiceQualification",
        }
        for name in ("description", "externalId"):
            if payload.get(name) is not None:
                answer[name] = payload[name]
        return self.response(201, **answer)


def register(appbuilder):
    appbuilder.add_view_no_menu(EligibilityView)
    appbuilder.add_link("Eligibility", href="/operator/eligibility/", icon="fa-map-marker",
                        label=_l("Eligibility"), category=DESK.category, cond=entitled_menu(ELIGIBILITY))
    appbuilder.add_api(ServiceQualificationApi)
    SCREENS[ELIGIBILITY] = "EligibilityView.search"
