"""A user of organisation X tries every endpoint of every registered grid and API
on a row of organisation Y: nothing is listed, shown, exported or changed.

The test walks `appbuilder.baseviews`, so views added later are covered without
editing it. The probe holds every permission of every scoped view, so only the
row scope stands between it and organisation Y's rows.
"""
import csv
import io

import pytest
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.baseviews import BaseCRUDView
from sqlalchemy import inspect as sa_inspect

from app.extensions import db
from app.models import Entitlement, EService, Membership, OperatorSubscription, Organisation, OrganisationKind
from app.security import ScopedInterface, Viewer, scope_criterion

from .helpers import BearerClient, login, member, user

PROBE_ORGANISATION = "Rectorat de l'académie de Lyon"
PROBE_OPERATOR = "Opérateur de la sonde d'isolation"
SELF_SERVICE_PERMISSIONS = {"can_userinfo", "resetmypassword", "userinfoedit",
                            "can_this_form_get", "can_this_form_post"}


def _views(app):
    for view in app.appbuilder.baseviews:
        if isinstance(view, (BaseCRUDView, ModelRestApi)) and getattr(view, "datamodel", None) is not None:
            yield view


def _scoped_views(app):
    return [v for v in _views(app) if isinstance(v.datamodel, ScopedInterface)]


@pytest.fixture(scope="module")
def probe(app):
    """A member of X holding every permission of every scoped view (and nothing else)."""
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("IsolationProbe") or sm.add_role("IsolationProbe")
        names = {v.class_permission_name for v in _scoped_views(app)}
        role.permissions = [pv for pv in sm.session.query(sm.permissionview_model)
                            if pv.view_menu.name in names]
        probe_user = member("probe", PROBE_ORGANISATION, role="IsolationProbe")
        organisation = db.session.query(Organisation).filter_by(name=PROBE_ORGANISATION).one()
        operator = _probe_operator(probe_user)
        viewer = Viewer(probe_user.id, frozenset({"IsolationProbe"}), frozenset({organisation.id, operator.id}))
        return {"viewer": viewer, "organisation_id": organisation.id,
                "organisation_ids": sorted(viewer.organisation_ids)}


def _probe_operator(probe_user):
    """An operator of the probe's own, subscribing to every e-service, each ticked for
    the probe: desk E's entitlement gate lets it in, so only the row scope stands
    between it and the other operators' rows. It owns no row of its own."""
    operator = db.session.query(Organisation).filter_by(name=PROBE_OPERATOR).first()
    if operator is None:
        operator = Organisation(name=PROBE_OPERATOR, kind=OrganisationKind.operator)
        db.session.add(operator)
        db.session.flush()
        db.session.add(Membership(user_id=probe_user.id, organisation_id=operator.id))
        for service in db.session.query(EService):
            db.session.add(OperatorSubscription(organisation_id=operator.id, eservice_id=service.id))
            db.session.add(Entitlement(user_id=probe_user.id, organisation_id=operator.id, eservice_id=service.id))
        db.session.commit()
    return operator


def _rows_of_another_organisation(model, probe):
    """Primary keys of rows that belong to an organisation other than X."""
    pk = sa_inspect(model).primary_key[0]
    query = db.session.query(pk)
    if model is Organisation:
        query = query.filter(Organisation.id.notin_(probe["organisation_ids"]))
    elif "organisation_id" in model.__table__.columns:
        query = query.filter(model.__table__.c.organisation_id.notin_(probe["organisation_ids"]))
    else:
        criterion = scope_criterion(model, probe["viewer"])
        assert criterion is not None, f"{model.__name__}: the probe would see every row"
        query = query.filter(~criterion)
    return [row[0] for row in query.order_by(pk)]


def _snapshot(model, key):
    db.session.expire_all()
    row = db.session.get(model, key)
    return None if row is None else {c.key: getattr(row, c.key) for c in sa_inspect(model).column_attrs}


def test_every_view_is_scoped_or_admin_only(app):
    """A view outside the row-scope mechanism may be used by Admin alone
    (FAB's security screens), apart from everyone's own profile."""
    with app.app_context():
        sm = app.appbuilder.sm
        for view in _views(app):
            if isinstance(view.datamodel, ScopedInterface):
                continue
            for role in sm.session.query(sm.role_model):
                if role.name == "Admin":
                    continue
                held = {pv.permission.name for pv in role.permissions
                        if pv.view_menu.name == view.class_permission_name}
                assert held <= SELF_SERVICE_PERMISSIONS, (type(view).__name__, role.name, held)


def test_every_scoped_model_has_rows_of_another_organisation(app, probe):
    with app.app_context():
        for view in _scoped_views(app):
            assert _rows_of_another_organisation(view.datamodel.obj, probe), (
                f"no row of {view.datamodel.obj.__name__} outside {PROBE_ORGANISATION}: "
                "add some to app/demo/ so isolation is tested")


def _list_pks(client, view):
    response = client.get(f"{view.route_base}/list/?psize_{type(view).__name__}=1000")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_grids_hide_other_organisations(app, probe):
    client = login(app.test_client(), "probe")
    for view in [v for v in _scoped_views(app) if isinstance(v, BaseCRUDView)]:
        model = view.datamodel.obj
        with app.app_context():
            targets = _rows_of_another_organisation(model, probe)
        name = type(view).__name__
        html = _list_pks(client, view)
        for key in targets:
            assert f"{view.route_base}/show/{key}\"" not in html, f"{name} lists row {key}"
        key = targets[0]
        with app.app_context():
            before, count_before = _snapshot(model, key), db.session.query(model).count()
        base = view.route_base
        offered = set(view.base_permissions)
        attempts = [(method, path, kwargs) for permission, method, path, kwargs in [
            ("can_show", "GET", f"{base}/show/{key}", {}), ("can_edit", "GET", f"{base}/edit/{key}", {}),
            ("can_edit", "POST", f"{base}/edit/{key}", {"data": {}}),
            ("can_delete", "POST", f"{base}/delete/{key}", {})] if permission in offered]
        for action in view.actions:
            attempts.append(("POST", f"{base}/action/{action}/{key}", {}))
            attempts.append(("POST", f"{base}/action_post", {"data": {"action": action, "rowid": [key]}}))
        for method, path, kwargs in attempts:
            status = client.open(path, method=method, **kwargs).status_code
            assert status == 404, f"{name}: {method} {path} answered {status}"
        with app.app_context():
            assert _snapshot(model, key) == before, f"{name} changed row {key}"
            assert db.session.query(model).count() == count_before


def test_exports_hide_other_organisations(app, probe):
    """Each export holds exactly the rows the probe's scope lets it see, none of Y's."""
    client = login(app.test_client(), "probe")
    exporting = [v for v in _scoped_views(app) if isinstance(v, BaseCRUDView) and "can_export" in v.base_permissions]
    for view in exporting:  # a grid without an export (desk E's certificates) has none to leak
        model = view.datamodel.obj
        with app.app_context():
            outsiders = set(_rows_of_another_organisation(model, probe))
            pk = sa_inspect(model).primary_key[0]
            total = db.session.query(pk).count()
            criterion = scope_criterion(model, probe["viewer"])  # None: the probe sees every row
            visible = total if criterion is None else db.session.query(pk).filter(criterion).count()
            first_column = view.list_columns[0]
            outsider_labels = set()
            for key in outsiders:
                value = db.session.get(model, key)
                for part in first_column.split("."):
                    value = getattr(value, part)
                outsider_labels.add(str(value))
        response = client.get(f"{view.route_base}/export/csv")
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))[1:]
        assert len(rows) == visible, f"{type(view).__name__} exports {len(rows)} rows, the probe sees {visible}"
        assert len(rows) <= total - len(outsiders), f"{type(view).__name__} exports rows of another organisation"
        if first_column in ("name", "reference", "username"):
            assert not outsider_labels & {row[0] for row in rows}


@pytest.mark.parametrize("signed_in", ["session", "bearer token"])
def test_apis_hide_other_organisations(app, probe, signed_in):
    """Under a browser session and under a bearer token alike (FAB's JWT leaves
    Flask-Login's current_user anonymous: the scope must read the token's user)."""
    client = login(app.test_client(), "probe") if signed_in == "session" else BearerClient(app, "probe")
    for view in [v for v in _scoped_views(app) if isinstance(v, ModelRestApi)]:
        model = view.datamodel.obj
        with app.app_context():
            targets = _rows_of_another_organisation(model, probe)
        name = type(view).__name__
        listed, page = set(), 0
        while True:
            response = client.get(f"{view.route_base}/?q=(page:{page},page_size:100)")
            assert response.status_code == 200, name
            ids = response.json["ids"]
            listed.update(ids)
            if len(ids) < 100:
                break
            page += 1
        assert not listed & set(targets), f"{name} lists rows of another organisation"
        with app.app_context():  # and exactly the rows the probe may see: an empty list hides nothing
            pk = sa_inspect(model).primary_key[0]
            criterion = scope_criterion(model, probe["viewer"])
            query = db.session.query(pk) if criterion is None else db.session.query(pk).filter(criterion)
            visible = {row[0] for row in query}
        assert listed == visible, f"{name} lists {len(listed)} rows, the probe sees {len(visible)}"
        key = targets[0]
        with app.app_context():
            before, count_before = _snapshot(model, key), db.session.query(model).count()
        offered = set(view.base_permissions)
        for permission, method, kwargs in [("can_get", "GET", {}), ("can_put", "PUT", {"json": {}}),
                                           ("can_delete", "DELETE", {})]:
            if permission not in offered:  # a read-only API: no write route to try
                continue
            status = client.open(f"{view.route_base}/{key}", method=method, **kwargs).status_code
            assert status == 404, f"{name}: {method} {view.route_base}/{key} answered {status}"
        with app.app_context():
            assert _snapshot(model, key) == before
            assert db.session.query(model).count() == count_before


def test_cannot_write_a_row_into_another_organisation(app, probe):
    """Creating or moving a row into organisation Y is refused and changes nothing."""
    client = login(app.test_client(), "probe")
    with app.app_context():
        other = db.session.query(Organisation).filter(Organisation.id.notin_(probe["organisation_ids"])).first()
        user_id = user("probe").id
        mine = db.session.query(Membership).filter_by(user_id=user_id,
                                                      organisation_id=probe["organisation_id"]).one()
        count = db.session.query(Membership).count()
    response = client.post("/api/v1/membership/", json={"user": user_id, "organisation": other.id})
    assert response.status_code == 422, response.get_data(as_text=True)
    response = client.put(f"/api/v1/membership/{mine.id}", json={"organisation": other.id})
    assert response.status_code == 422
    client.post("/memberships/add", data={"user": user_id, "organisation": other.id})
    with app.app_context():
        assert db.session.query(Membership).count() == count
        assert db.session.get(Membership, mine.id).organisation_id == probe["organisation_id"]


def search_fields(html) -> dict:
    """{column: HTML of its field} of a grid page's search form."""
    import json

    script = html[html.index("new AdminFilters("):]
    return json.loads(script.splitlines()[3].strip().rstrip(","))


def _offered_options(html) -> dict:
    """{column: [option values]} of the drop-downs a grid's search form offers."""
    import re

    return {column: re.findall(r'<option[^>]*value="([^"]*)"', field) for column, field in search_fields(html).items()}


def test_search_drop_downs_offer_no_row_of_another_organisation(app, probe):
    """A grid's filter on a relation offers only the related rows the viewer sees, on
    the page that read them and on the next ones (kept a few seconds)."""
    client = login(app.test_client(), "probe")
    for view in [v for v in _scoped_views(app) if isinstance(v, BaseCRUDView) and v.search_columns]:
        relations = [c for c in view.search_columns if view.datamodel.is_relation_many_to_one(c)]
        if not relations:
            continue
        for _ in range(2):
            html = _list_pks(client, view)
            if "new AdminFilters(" not in html:
                break  # a grid with a search form of its own, without FAB's drop-downs
            offered = _offered_options(html)
            for column in relations:
                model = view.datamodel.get_related_model(column)
                with app.app_context():
                    criterion = scope_criterion(model, probe["viewer"])
                    pk = sa_inspect(model).primary_key[0]
                    hidden = set() if criterion is None else {
                        str(key) for (key,) in db.session.query(pk).filter(~criterion)}
                assert not hidden & set(offered[column]), f"{type(view).__name__}.{column} offers hidden rows"
