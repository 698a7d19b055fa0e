"""No input, however wrong, gets a 500 (DESIGN §2): a 4xx names the field and nothing
changes (app/platform/inputs.py).

The first tests replay the requests that answered 500; the property-based tests at the
end drive every operation of the app's own OpenAPI document and every form (FAB's
generated ones and the hand-made ones) with generated values, on a database of their
own, and count the 5xx answers: there must be none.
"""
import json
import os
import re
import uuid
from urllib.parse import quote

import prison
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.models import Booking, HelpRequest, Membership, ProjectTicket, Room

from .conftest import app_settings, demo_database, drop_database
from .helpers import BearerClient, login

BIG = 2 ** 63
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|sqlite3|psycopg|IntegrityError|UNIQUE constraint)\b")


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def first(app, model, *criteria):
    with app.app_context():
        return db.session.scalars(select(model).where(*criteria).order_by(model.id)).first()


def no_sql(response):
    body = response.get_data(as_text=True)
    assert not SQL_WORDS.search(body), body[:500]
    return body


# ---------------------------------------------------------------------------
# The requests that answered 500
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/bookings/show/{BIG}", f"/rooms/calendar/{BIG}", f"/rooms/calendar/{BIG}/events",
                                  f"/rooms/edit/{BIG}", f"/equipment/show/{BIG}", f"/helprequests/show/{BIG}",
                                  f"/extranet/project/{BIG}", f"/files/{BIG}", f"/users/show/{BIG}"])
def test_ids_beyond_64_bits_in_pages_name_no_row(app, path):
    assert login(app.test_client(), "admin").get(path).status_code == 404


@pytest.mark.parametrize("method, path", [("GET", f"/api/v1/room/{BIG}"), ("PUT", f"/api/v1/room/{BIG}"),
                                          ("DELETE", f"/api/v1/room/{BIG}"), ("GET", f"/api/v1/booking/{BIG}"),
                                          ("POST", f"/api/v1/booking/{BIG}/transition/validate"),
                                          ("PUT", f"/api/v1/security/users/{BIG}"),
                                          ("DELETE", f"/api/v1/security/roles/{BIG}")])
def test_ids_beyond_64_bits_in_the_api_name_no_row(app, method, path):
    assert BearerClient(app, "admin").open(path, method, json={"name": "x"}).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"capacity": BIG}, "capacity"),
    ({"organisation": BIG}, "organisation"),
    ({"capacity": -1}, "capacity"),  # a room's capacity is never negative
    ({"name": "Salle\x00B"}, "name"),
    ({"name": "x" * 101}, "name"),
])
def test_api_bodies_no_column_holds_are_refused_naming_the_field(app, body, field):
    organisation = first(app, Room).organisation_id
    before = count(app, Room)
    response = BearerClient(app, "admin").post("/api/v1/room/", json={
        "name": "Salle des essais", "kind": "visio", "organisation": organisation, **body})
    assert response.status_code == 422, response.json
    assert list(response.json["message"]) == [field]
    assert count(app, Room) == before


def test_a_duplicate_name_is_already_used_not_a_fatal_error(app):
    room = first(app, Room)
    before = count(app, Room)
    response = BearerClient(app, "admin").post("/api/v1/room/", json={
        "name": room.name, "kind": "visio", "organisation": room.organisation_id})
    assert response.status_code == 422, response.json
    assert list(response.json["message"]) == ["name"]
    assert "already used" in response.json["message"]["name"][0] or "déjà" in response.json["message"]["name"][0]
    no_sql(response)
    assert count(app, Room) == before


def test_a_duplicate_name_in_a_form_is_shown_on_its_field(app):
    room = first(app, Room)
    before = count(app, Room)
    response = login(app.test_client(), "admin").post("/rooms/add", data={
        "name": room.name, "kind": "visio", "organisation": str(room.organisation_id), "active": "y"})
    assert response.status_code == 200
    body = no_sql(response)
    assert "déjà utilisé" in body
    assert count(app, Room) == before


@pytest.mark.parametrize("data, error", [
    ({"capacity": str(BIG)}, "au plus"),
    ({"capacity": str(2 ** 31)}, "au plus 2147483647"),  # an Integer: 32 bits in PostgreSQL
    ({"capacity": "-4"}, "au moins 0"),
])
def test_integers_no_column_holds_are_refused_on_the_form_field(app, data, error):
    room = first(app, Room)
    before = count(app, Room)
    response = login(app.test_client(), "admin").post("/rooms/add", data={
        "name": "Salle neuve", "kind": "visio", "organisation": str(room.organisation_id), "active": "y", **data})
    assert response.status_code == 200
    assert error in no_sql(response)
    assert count(app, Room) == before


@pytest.mark.parametrize("path, field", [
    ("/rooms/list/?_flt_0_name=a%00b", "_flt_0_name"),
    ("/api/v1/room/?q=(filters:!((col:name,opr:ct,value:'a%00b')))", "_flt_0_name"),
])
def test_nul_bytes_are_refused_wherever_they_come(app, path, field):
    if path.startswith("/api/"):
        response = BearerClient(app, "admin").get(path)
        assert response.status_code == 400 and response.json["message"]
    else:
        response = login(app.test_client(), "admin").get(path)
        assert response.status_code == 400 and field in no_sql(response)


def test_an_integer_filter_beyond_the_columns_type_is_refused_naming_it(app, database_refusals):
    """A count of sign-ins, an event's id are Integers (32 bits in PostgreSQL): 2**31
    is no value to compare them with, refused by the grid's check, not by the database."""
    client = login(app.test_client(), "admin")
    response = client.get(f"/users/list/?_flt_0_login_count={2 ** 31}")
    assert response.status_code == 400
    body = no_sql(response)
    assert "_flt_0_login_count" in body and "2147483647" in body
    assert client.get(f"/users/list/?_flt_0_login_count={2 ** 31 - 1}").status_code == 200
    api = BearerClient(app, "admin").get(f"/api/v1/checkin/?q=(filters:!((col:event_id,opr:eq,value:{2 ** 31})))")
    assert api.status_code == 400 and "2147483647" in str(api.json["message"]["filters[0].value"])
    assert database_refusals() == []


@pytest.mark.parametrize("query, field", [("month=0001-01", "month"), ("month=9999-12", "month")])
def test_report_months_out_of_range_name_the_parameter(app, query, field):
    response = login(app.test_client(), "vnoc").get(f"/bookings/report/?{query}")
    assert response.status_code == 400 and field in response.get_data(as_text=True)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_connections_of_a_day_out_of_range_name_the_parameter(app, day):
    response = login(app.test_client(), "vnoc").get(f"/bookings/connections/?day={day}")
    assert response.status_code == 400 and "day" in response.get_data(as_text=True)


@pytest.mark.parametrize("query, parameter", [
    ("_oc_BookingView=x&_od_BookingView=asc", "_oc_BookingView"),
    ("_od_BookingView=sideways", "_od_BookingView"),
    ("page_BookingView=abc", "page_BookingView"),
    (f"page_BookingView={BIG}", "page_BookingView"),
    ("psize_BookingView=abc", "psize_BookingView"),
    ("_flt_0_state=bogus", "_flt_0_state"),
    ("_flt_9_state=pending", "_flt_9_state"),
    ("_flt_0_start_at=0001-01-01", "_flt_0_start_at"),
])
def test_grid_arguments_it_cannot_use_are_refused_naming_them(app, query, parameter):
    client = login(app.test_client(), "vnoc")
    for path in ("/bookings/list/", "/bookings/export/csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert parameter in response.get_data(as_text=True)


def test_a_bogus_status_filter_of_help_requests_is_refused(app):
    client = login(app.test_client(), "referent")
    for index in range(8):
        response = client.get(f"/helprequests/list/?_flt_{index}_status=bogus")
        assert response.status_code in (200, 400), index


@pytest.mark.parametrize("draft, field", [
    ({"participants": [1]}, "draft.participants"),
    ({"participants": [{"name": 5}]}, "draft.participants"),
    ({"room_ids": "abc"}, "draft.room_ids"),
    ({"room_ids": [BIG]}, "draft.room_ids"),
    ({"session_name": 5}, "draft.session_name"),
    ({"day": "0001-01-01"}, "draft.day"),
    ({"day": 20260101}, "draft.day"),
    ([1], "draft"),
    ("not json", "draft"),
])
def test_wizard_drafts_of_the_wrong_kind_name_the_field(app, draft, field):
    before = count(app, Booking)
    carried = draft if isinstance(draft, str) else json.dumps(draft)
    response = login(app.test_client(), "creator").post("/booking-wizard/", data={
        "draft": carried, "step": "4", "action": "confirm"})
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert count(app, Booking) == before


def test_a_business_refusal_of_the_api_is_a_422_naming_the_field(app):
    ticket = first(app, ProjectTicket, ProjectTicket.priority_context.is_(None))
    response = BearerClient(app, "admin").put(f"/api/v1/ticket/{ticket.id}", json={"priority": "high"})
    assert response.status_code == 422, response.json
    assert list(response.json["message"]) == ["priority_context"]
    assert first(app, ProjectTicket, ProjectTicket.id == ticket.id).priority == ticket.priority


def test_long_texts_to_a_rule_are_refused_naming_the_field(app):
    before = count(app, HelpRequest)
    client = BearerClient(app, "student")
    applications = client.get("/api/v1/helprequest/_info").json
    response = client.post("/api/v1/helprequest/", json={
        "application": 1, "subject": "s" * 5000, "description": "Rien ne marche.", "profile": "student"})
    assert applications is not None
    assert response.status_code == 422, response.json
    assert "subject" in response.json["message"]
    assert count(app, HelpRequest) == before


@pytest.mark.parametrize("query", ["9999-12-31T23:59:59", f"(page:{BIG})", "(filters:!((col:name,opr:ct,value:'a%00')))"])
def test_rison_arguments_no_parser_or_column_takes_name_q(app, query):
    response = BearerClient(app, "admin").get(f"/api/v1/room/?q={query}")
    assert response.status_code == 400, response.json
    assert any(name.startswith("q") or name == "page" for name in response.json["message"])


@pytest.mark.parametrize("path", ["/users/action/nothing/1", "/roles/action/nothing/1"])
def test_an_action_a_grid_does_not_have_names_nothing(app, path):
    assert login(app.test_client(), "admin").post(path).status_code == 404


@pytest.mark.parametrize("body", [{}, {"data": "[]", "content_type": "application/json"}])
def test_a_user_changed_without_a_json_object_is_a_400(app, body):
    assert BearerClient(app, "admin").put("/api/v1/security/users/1", **body).status_code == 400


def test_a_sign_in_with_texts_of_the_wrong_kind_names_the_field(app):
    response = app.test_client().post("/api/v1/security/login", json={"username": 5, "password": "x",
                                                                      "provider": "db"})
    assert response.status_code == 400 and list(response.json["message"]) == ["username"]
    for missing in ("username", "password", "provider"):
        body = {name: value for name, value in {"username": "admin", "password": " ", "provider": "db"}.items()
                if name != missing}
        response = app.test_client().post("/api/v1/security/login", json=body)
        assert response.status_code == 400 and list(response.json["message"]) == [missing], (missing, response.json)


# ---------------------------------------------------------------------------
# Property-based: every API operation and every form, generated values, no 5xx
# ---------------------------------------------------------------------------

EXAMPLES = int(os.environ.get("INPUT_EXAMPLES", "6"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
#: Who drives: every right, and a person with few.
DRIVERS = ("admin", "creator")

EDGE_INTS = st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 10 ** 30])
INTS = st.one_of(EDGE_INTS, st.integers(-3, 40), st.integers())
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "a\x00b", "x" * 5000, "0001-01-01", "9999-12-31T23:59:59", "2026-02-30",
                     "abc", "-1", str(2 ** 63), "NaN", "high", "pending", "visio", "<b>", "'; --", "1e400"]),
    # Longer than the columns hold (100+ characters): a short text repeated, as cheap to
    # draw as a short one (Hypothesis draws a long text character by character).
    st.tuples(st.text(min_size=1, max_size=12), st.integers(101, 320)).map(lambda t: (t[0] * 320)[:t[1]]),
)
SCALARS = st.one_of(INTS, TEXTS, st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=6)


@pytest.fixture(scope="module")
def own_app(app):
    """An app on a database of its own (the property tests create, change and delete rows)."""
    from app import create_app

    url = demo_database("inputs")
    application = create_app({**app_settings(url), "SECRET_KEY": app.config["SECRET_KEY"], "REDIS_URL": None,
                              "JOB_QUEUE_PREFIX": f"guichet-inputs-{uuid.uuid4().hex[:8]}-"})
    yield application
    with application.app_context():
        db.engine.dispose()
    drop_database(url)


class Tally:
    """Requests made and 5xx answers (an exception the app let through counts as one)."""

    def __init__(self, app):
        self.app, self.requests, self.failures, self.operations = app, 0, [], set()

    def send(self, client, operation, method, path, **kwargs):
        self.requests += 1
        self.operations.add(operation)
        try:
            response = client.open(path, method=method, **kwargs)
        except Exception as error:  # TESTING propagates what the app did not handle
            with self.app.app_context():
                db.session.rollback()
            self.failures.append((operation, method, path, kwargs, repr(error)[:300]))
            return None
        if response.status_code >= 500:
            self.failures.append((operation, method, path, kwargs, response.get_data(as_text=True)[:300]))
        return response

    def summary(self, what):
        line = (f"{what}: {len(self.operations)} operations, {self.requests} requests, "
                f"{len(self.failures)} 5xx")
        print(f"\n{line}")
        return line


@pytest.fixture()
def database_refusals(caplog):
    """What the safety net answered (a value the checks let through): must be nothing."""
    caplog.set_level("WARNING", logger="app.platform.inputs")
    yield lambda: [r.getMessage() for r in caplog.records if r.name == "app.platform.inputs"]


def _resolve(doc, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema or {}


def _value_for(doc, schema):
    """A strategy for one value of `schema`: mostly of its kind, sometimes anything."""
    schema = _resolve(doc, schema)
    kind = schema.get("type")
    if "enum" in schema:
        right = st.sampled_from(schema["enum"])
    elif kind == "integer":
        right = INTS
    elif kind == "string":
        right = TEXTS
    elif kind == "boolean":
        right = st.booleans()
    elif kind == "array":
        right = st.lists(_value_for(doc, schema.get("items", {})), max_size=3)
    elif kind == "object" or "properties" in schema:
        right = _object_for(doc, schema)
    else:
        right = SCALARS
    return st.one_of(right, right, right, JSON_VALUES)


def _object_for(doc, schema):
    properties = schema.get("properties", {})
    if not properties:
        return st.dictionaries(st.text(max_size=8), SCALARS, max_size=3)
    return st.fixed_dictionaries({}, optional={name: _value_for(doc, prop) for name, prop in properties.items()})


def _body_for(doc, operation):
    content = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
    if content is None:
        return st.one_of(st.none(), JSON_VALUES)
    schema = _resolve(doc, content.get("schema", {}))
    return st.one_of(_object_for(doc, schema), _object_for(doc, schema), JSON_VALUES)


def _rison_for(api):
    columns = st.sampled_from(sorted(set(api.search_columns or []) | set(api.list_columns or []) | {"x"}))
    filters = st.lists(st.fixed_dictionaries({"col": columns, "opr": st.sampled_from(
        ["eq", "neq", "ct", "sw", "gt", "lt", "in", "rel_o_m", "rel_m_m", "x"]), "value": JSON_VALUES}), max_size=2)
    return st.fixed_dictionaries({}, optional={
        "page": INTS, "page_size": INTS, "order_column": columns, "order_direction": TEXTS,
        "filters": filters, "columns": st.lists(columns, max_size=2), "keys": st.lists(TEXTS, max_size=2),
        "add_columns": st.dictionaries(columns, st.fixed_dictionaries({}, optional={"page": INTS, "page_size": INTS}),
                                       max_size=2)})


def _api_of(app, path):
    for view in app.appbuilder.baseviews:
        base = getattr(view, "route_base", None)
        if base and path.startswith(base + "/") and hasattr(view, "datamodel"):
            return view
    return None


def _ids(app, api):
    if api is None or not hasattr(api, "datamodel"):
        return st.just(1)
    with app.app_context():
        model = api.datamodel.obj
        ids = db.session.scalars(select(model.__mapper__.primary_key[0]).limit(20)).all()
    return st.sampled_from(ids) if ids else st.just(1)


def _operations(doc):
    for path, item in sorted(doc["paths"].items()):
        for method, operation in sorted(item.items()):
            if method in ("get", "post", "put", "delete", "patch"):
                yield path, method.upper(), operation


#: Operations that end the driver's session (the tokens it drives with): driven last.
ENDS_SESSIONS = ("/api/v1/security/users/{pk}", "/api/v1/security/roles/{pk}", "/api/v1/security/groups/{pk}",
                 "/api/v1/security/permissions-resources/{pk}", "/api/v1/security/resources/{pk}",
                 "/api/v1/security/roles/{role_id}/permissions", "/api/v1/security/roles/{role_id}/users",
                 "/api/v1/security/roles/{role_id}/groups")


def test_no_api_operation_of_the_openapi_document_answers_5xx(own_app, database_refusals):
    """Every operation of /api/v1/_openapi, as Admin and as a Booker (bearer tokens),
    with generated path ids, rison arguments and bodies (of their schema's kinds, and not)."""
    app = own_app
    doc = BearerClient(app, "admin").get("/api/v1/_openapi").json
    tally = Tally(app)
    operations = sorted(_operations(doc), key=lambda op: (op[0] in ENDS_SESSIONS, op[1] == "DELETE", op[0]))
    for username in DRIVERS:
        bearer = BearerClient(app, username)
        for path, method, operation in operations:
            client = app.test_client() if path == "/api/v1/security/login" or path.endswith("/refresh") else bearer
            api = _api_of(app, path.split("{")[0].rstrip("/"))
            params = re.findall(r"{(\w+)}", path)
            names = st.sampled_from(["validate", "refuse", "cancel", "assign", "close", "escalate", "x", "a\x00"])
            path_values = st.fixed_dictionaries({
                name: (names if name == "name" else st.sampled_from(["v1"]) if name == "version"
                       else st.one_of(_ids(app, api), INTS)) for name in params})
            rison = _rison_for(api) if api is not None and method == "GET" else st.just({})

            @FUZZ
            @given(values=path_values, args=rison, body=_body_for(doc, operation),
                   raw=st.one_of(st.none(), TEXTS))
            def drive(values, args, body, raw):
                url = path.format(**values)
                if method == "GET" and args:
                    url += "?q=" + quote(prison.dumps(args))
                elif method == "GET" and raw is not None:
                    url += "?q=" + quote(raw)
                kwargs = {} if method == "GET" else {"json": body}
                tally.send(client, f"{method} {path}", method, url, **kwargs)

            drive()
    print(tally.summary("API"))
    assert len(tally.operations) == len(set((p, m) for p, m, _ in operations))
    assert not tally.failures, "\n".join(map(str, tally.failures[:30]))
    assert not database_refusals(), database_refusals()[:10]


# -- forms -------------------------------------------------------------------


def _field_values(field):
    """A strategy for what a browser (or someone else) posts for a WTForms field."""
    from flask_appbuilder.fields import EnumField, QuerySelectField, QuerySelectMultipleField
    from wtforms import BooleanField, DateField, DateTimeField, IntegerField, SelectMultipleField

    kind = field.field_class
    as_text = INTS.map(str)
    if issubclass(kind, (QuerySelectMultipleField, SelectMultipleField)):
        return st.lists(st.one_of(st.integers(1, 12).map(str), as_text, TEXTS), max_size=3)
    if issubclass(kind, (QuerySelectField, EnumField)):
        return st.one_of(st.integers(1, 12).map(str), as_text, TEXTS,
                         st.sampled_from(["visio", "audio", "member", "client", "low", "high", "pending"]))
    if issubclass(kind, IntegerField):
        return st.one_of(as_text, TEXTS)
    if issubclass(kind, (DateField, DateTimeField)):
        return st.one_of(st.sampled_from(["2026-06-01", "0001-01-01", "9999-12-31", "2026-06-01 10:00:00",
                                          "0001-01-01 00:00:00", "31/12/2026"]), TEXTS)
    if issubclass(kind, BooleanField):
        return st.sampled_from(["y", "", "n", "x"])
    return TEXTS


def _form_fields(form_class):
    from wtforms.fields.core import UnboundField

    return {name: value for name, value in vars(form_class).items() if isinstance(value, UnboundField)}


def _snapshot(app, model, pk):
    with app.app_context():
        row = db.session.get(model, pk)
        return None if row is None else {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}


def _rows(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


HAND_MADE = {
    # endpoint rule: the fields of its form (the pages that render them)
    "/booking-wizard/": ["draft", "step", "action", "booking", "room", "p-0-name", "p-0-kind", "p-0-email",
                         "p-0-equipment_id", "p-0-vnoc_connects", "p-0-save", "p-0-ip_address", "session_name",
                         "organiser_name", "organiser_email", "organiser_phone", "day", "start_time", "end_time",
                         "recurrence", "recurrence_until", "recurrence_count", "notes"],
    "/extranet/new": ["project", "title", "description", "page_url", "priority", "priority_context", "follower"],
    "/helprequests/new": ["application", "subject", "description", "establishment", "profile"],
    "/accounts/form": ["username", "first_name", "last_name", "email", "organisation", "roles"],
    "/password/forgot/": ["email"],
    "/login/": ["username", "password"],
}
HAND_MADE_FIELDS = ["comment", "action", "connection_id", "connection_url", "validate", "next", "user", "rowid",
                    "project", "title", "description", "priority", "subject", "email", "name"]


def _post_forms(app, tally, client, kind, view, model, values, pks):
    @FUZZ
    @given(data=values, pk=st.sampled_from(pks or [1]))
    def post(data, pk):
        path = f"{view.route_base}/add" if kind == "add" else f"{view.route_base}/edit/{pk}"
        before = _rows(app, model) if kind == "add" else _snapshot(app, model, pk)
        response = tally.send(client, f"{kind} {view.route_base}", "POST", path, data=data)
        if response is not None and response.status_code != 302:
            after = _rows(app, model) if kind == "add" else _snapshot(app, model, pk)
            if after != before:
                tally.failures.append((f"{kind} {view.route_base}", "refused but changed", data))
        if response is not None:
            no_sql(response)

    post()


def _post_hand_made(app, tally, client, rule, arguments, names):
    @FUZZ
    @given(args=st.fixed_dictionaries(arguments),
           data=st.fixed_dictionaries({}, optional={n: st.one_of(TEXTS, INTS.map(str)) for n in names}))
    def post(args, data):
        try:
            with app.test_request_context():
                path = app.url_for(rule.endpoint, **args)
        except Exception:
            return  # a value the URL cannot carry (its converter refuses it): nothing to send
        response = tally.send(client, f"POST {rule.rule}", "POST", path, data=data)
        if response is not None:
            no_sql(response)

    post()


def _post_rules(app):
    """Every POST endpoint outside the API, with the sample values of its URL arguments."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" in rule.methods and not rule.rule.startswith("/api/") and rule.endpoint != "static":
            yield rule


def test_no_form_answers_5xx_and_a_refusal_changes_nothing(own_app, database_refusals):
    """Every add and edit form of every registered grid (Guichet's and FAB's) and every
    hand-made form, posted with values generated from their fields, as Admin and as a
    Booker: never a 5xx, and a refused add writes no row, a refused edit changes none."""
    from flask_appbuilder.baseviews import BaseCRUDView

    app = own_app
    tally = Tally(app)
    for username in DRIVERS:
        client = login(app.test_client(), username)
        for view in app.appbuilder.baseviews:
            if not isinstance(view, BaseCRUDView) or not getattr(view, "route_base", None):
                continue
            model = view.datamodel.obj
            pk_name = model.__mapper__.primary_key[0].key
            with app.app_context():
                pks = db.session.scalars(select(getattr(model, pk_name)).order_by(getattr(model, pk_name))
                                         .limit(5)).all()
            for kind, form in (("add", view.add_form), ("edit", view.edit_form)):
                if form is None or (kind == "edit" and not pks):
                    continue
                fields = _form_fields(form)
                values = st.fixed_dictionaries({}, optional={name: _field_values(f) for name, f in fields.items()})

                _post_forms(app, tally, client, kind, view, model, values, pks)
        vocabulary = sorted({name for names in HAND_MADE.values() for name in names} | set(HAND_MADE_FIELDS))
        for rule in _post_rules(app):
            if rule.rule in ("/logout/",) or rule.rule.endswith("/add") or "/edit/" in rule.rule:
                continue
            names = HAND_MADE.get(rule.rule, vocabulary)
            arguments = {name: (st.one_of(st.integers(1, 12), EDGE_INTS.filter(lambda v: v >= 0))
                                if rule._converters[name].__class__.__name__.startswith("Int")
                                else st.one_of(st.integers(1, 12).map(str), TEXTS.filter(lambda v: v and "/" not in v)))
                         for name in rule.arguments}

            _post_hand_made(app, tally, client, rule, arguments, names)
    print(tally.summary("Forms"))
    assert not tally.failures, "\n".join(map(str, tally.failures[:30]))
    assert not database_refusals(), database_refusals()[:10]


def test_ids_beyond_the_tables_range_and_bodies_naming_no_row_are_refused_before_the_database(app):
    """Ids are 32-bit integers on PostgreSQL: a larger one in a URL names no row (404),
    and an API body's relation holding anything but an id is a 422 naming its field."""
    admin = BearerClient(app, "admin")
    assert admin.get(f"/api/v1/checkin/counts/{2 ** 31}").status_code == 404
    assert admin.get(f"/api/v1/checkin/counts/{2 ** 63 - 1}").status_code == 404
    with app.app_context():
        membership = db.session.scalar(select(Membership.id).order_by(Membership.id))
    for value in ("\x89¦O/", 2 ** 40, {"id": 1}):
        response = admin.put(f"/api/v1/membership/{membership}", json={"user": value})
        assert response.status_code == 422 and "user" in response.json["message"], (value, response.json)
