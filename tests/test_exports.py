"""Grid exports hold exactly what the grid shows: filters, sort, columns, row scope."""
import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from app.platform import exports
from app.platform.exports import csv_chunks, file_name

from .helpers import wait_for_export


def _csv(response):
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff"), "a BOM lets Excel read the UTF-8 export"
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_csv_follows_the_grid_filter_sort_and_columns(login_as):
    client = login_as("admin")
    # FAB filter 0 on an enum/string column is "equal to"; sort by city, descending.
    query = "_flt_0_kind=establishment&_oc_OrganisationView=city&_od_OrganisationView=desc"
    listed = client.get(f"/organisations/list/?{query}").get_data(as_text=True)
    response = client.get(f"/organisations/export/csv?{query}")
    assert response.status_code == 200
    rows = _csv(response)
    assert len(rows[0]) == 4 and rows[0][0] == "Nom"
    assert [r[0] for r in rows[1:]] == ["Collège Jean Moulin", "Lycée Victor Hugo"]  # Bron < Besançon desc
    assert [r[2] for r in rows[1:]] == ["Bron", "Besançon"]
    for name in ("Collège Jean Moulin", "Lycée Victor Hugo"):
        assert name in listed


def test_export_link_on_the_grid_carries_its_filters(login_as):
    client = login_as("admin")
    html = client.get("/organisations/list/?_flt_0_kind=operator").get_data(as_text=True)
    assert "/organisations/export/csv?_flt_0_kind=operator" in html
    assert "/organisations/export/xlsx?_flt_0_kind=operator" in html


def test_csv_is_limited_to_the_row_scope(login_as):
    rows = _csv(login_as("opadmin").get("/organisations/export/csv"))
    assert [r[0] for r in rows[1:]] == ["Fibre Rhône Télécom"]


def test_xlsx_matches_the_csv(login_as):
    client = login_as("admin")
    query = "_flt_0_kind=member&_oc_OrganisationView=name&_od_OrganisationView=asc"
    csv_rows = _csv(client.get(f"/organisations/export/csv?{query}"))
    response = client.get(f"/organisations/export/xlsx?{query}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    xlsx_rows = [[("" if v is None else str(v)) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert len(xlsx_rows) == len(csv_rows) == 3
    assert [r[0] for r in xlsx_rows] == [r[0] for r in csv_rows]
    assert xlsx_rows[0] == csv_rows[0]


def test_file_names_carry_the_grid_name_and_date(login_as, clock):
    response = login_as("admin").get("/organisations/export/csv")
    today = date.today().isoformat()  # the clock is stopped: the same day as the export's, even at midnight
    assert response.headers["Content-Disposition"] == f'attachment; filename="organisations-{today}.csv"'
    assert file_name("Réservations à valider", "xlsx", date(2026, 11, 23)) == "reservations-a-valider-2026-11-23.xlsx"


def test_csv_is_streamed_in_chunks():
    rows = ((i, f"ligne {i}") for i in range(2500))
    chunks = list(csv_chunks(["n", "texte"], rows))
    assert len(chunks) == 3
    assert "".join(chunks).count("\r\n") == 2501


def test_export_needs_the_export_permission(app, login_as):
    assert login_as("opadmin").get("/organisations/export/pdf").status_code == 404
    assert login_as("creator").get("/organisations/export/csv").status_code == 403
    assert app.test_client().get("/organisations/export/csv").status_code == 302


# One state convention: every workflow grid filters its state with a select of the
# state's French labels and exports labels (grid, state column, login, a state).
WORKFLOW_GRIDS = [
    ("/bookings", "state", "vnoc", "pending", "En attente"),
    ("/tickets", "state", "agent", "waiting_client", "En attente de compléments client"),
    ("/helprequests", "status", "referent", "resolved", "Résolu"),
]


@pytest.mark.parametrize("grid, column, login_name, code, label", WORKFLOW_GRIDS)
def test_workflow_states_are_filtered_and_exported_by_label(app, login_as, grid, column, login_name, code, label):
    import json
    import re
    from html import unescape

    from app.views.base import WorkflowModelView

    client = login_as(login_name)
    html = client.get(f"{grid}/list/").get_data(as_text=True)
    # FAB hands its search form to a script: AdminFilters('#filter_form', labels, fields, ...).
    decoder = json.JSONDecoder()
    rest = html[html.index("{", html.index("'#filter_form'", html.index("new AdminFilters("))):]
    _labels, end = decoder.raw_decode(rest)
    fields, _ = decoder.raw_decode(rest[end:].lstrip(", \n\t"))
    options = {value: unescape(text) for value, text in
               re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', fields[column])}
    assert options[code] == label, options
    view = next(v for v in app.appbuilder.baseviews
                if isinstance(v, WorkflowModelView) and v.route_base == grid)
    with app.test_request_context():  # the default language, French
        assert options == {state.name: str(state) for state in view.workflow.states}
    position = [type(f).__name__ for f in view._filters.get_search_filters()[column]].index("FilterEqual")
    rows = _csv(client.get(f"{grid}/export/csv?_flt_{position}_{column}={code}"))
    with app.test_request_context():
        state_column = rows[0].index(str(view.label_columns[column]))
    assert rows[1:], f"no {code} row in the demo data of {grid}"
    assert {row[state_column] for row in rows[1:]} == {label}


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(app, login_as):
    """A requester-typed value such as `=HYPERLINK(...)` reaches a manager's spreadsheet
    as text: the CSV cell starts with an apostrophe; the XLSX cell is a string anyway."""
    from app.extensions import db
    from app.models import Organisation

    attacks = ['=HYPERLINK("http://evil.example","Cliquez")', "+33 4 72 00 00 00", "-2+3", "@SUM(A1)",
               "\tTabulée", "\rRetour"]
    with app.app_context():
        rows = [Organisation(name=f"Piège {number}", kind="member", city=value)
                for number, value in enumerate(attacks)]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
    try:
        client = login_as("admin")
        query = "_flt_0_kind=member&_flt_2_name=Piège&_oc_OrganisationView=name&_od_OrganisationView=asc"
        exported = _csv(client.get(f"/organisations/export/csv?{query}"))
        assert [row[2] for row in exported[1:]] == ["'" + value for value in attacks]
        assert [row[0] for row in exported[1:]] == [f"Piège {number}" for number in range(len(attacks))]
        sheet = load_workbook(io.BytesIO(client.get(f"/organisations/export/xlsx?{query}").data)).active
        assert [row[2].data_type for row in sheet.iter_rows(min_row=2)] == ["s"] * len(attacks)
    finally:
        with app.app_context():
            db.session.query(Organisation).filter(Organisation.id.in_(ids)).delete()
            db.session.commit()


def test_csv_neutralises_formulas_in_every_kind_of_column():
    rows = [(1, "=1+1", None), (-2, "texte", "@x"), (3, None, "ok")]
    text = "".join(csv_chunks(["n", "texte", "autre"], rows))
    parsed = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert parsed[1:] == [["1", "'=1+1", ""], ["-2", "texte", "'@x"], ["3", "", "ok"]]


# ---------------------------------------------------------------------------
# Past EXPORT_ASYNC_ROWS: a job writes the file, a page shows its progress
# ---------------------------------------------------------------------------


@pytest.fixture()
def large_exports(app, monkeypatch, tmp_path):
    """Exports past 1 row run as jobs (in-process, in a thread) into a folder of their own."""
    monkeypatch.setitem(app.config, "EXPORT_ASYNC_ROWS", 1)
    monkeypatch.setitem(app.config, "EXPORTS_ROOT", str(tmp_path))
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    return tmp_path


def test_a_large_export_runs_as_a_job_then_is_downloaded_by_its_requester(app, login_as, large_exports):
    from app.extensions import db
    from app.models import ExportFile, Notification

    client = login_as("admin")
    query = "_flt_0_kind=member&_oc_OrganisationView=name&_od_OrganisationView=asc"
    response = client.get(f"/organisations/export/csv?{query}")
    assert response.status_code == 302 and "/exports/" in response.headers["Location"]
    location = response.headers["Location"].replace("http://localhost", "")
    page = client.get(location).get_data(as_text=True)
    assert "<progress" in page and "Export : Organisations" in page
    status = wait_for_export(client, location)
    assert status["state"] == "ready" and status["done"] == status["total"] == 2
    assert status["text"] == f"{status['done']} lignes sur {status['total']}"
    page = client.get(location).get_data(as_text=True)
    assert status["download"] in page
    downloaded = client.get(status["download"])
    with app.app_context():  # named after the local day
        assert downloaded.headers["Content-Disposition"] == "attachment; filename=" + exports.file_name(
            "Organisations", "csv")
    app.config["EXPORT_ASYNC_ROWS"] = 1000
    assert downloaded.data == client.get(f"/organisations/export/csv?{query}").data  # as the streamed one
    with app.app_context():
        export = db.session.get(ExportFile, int(location.rsplit("/", 1)[1]))
        assert db.session.query(Notification).filter_by(
            user_id=export.user_id, template="export_ready", link=location).count() == 1
    # Someone else's export is not theirs to follow or download.
    other = login_as("opadmin")
    for url in (location, f"{location}/status", status["download"]):
        assert other.get(url).status_code == 404


def test_on_redis_a_worker_writes_the_large_export(app, login_as, on_redis, monkeypatch):
    """The production path: the job goes to RQ, a `flask worker` process writes the file
    and reports its progress through Redis."""
    monkeypatch.setitem(app.config, "EXPORT_ASYNC_ROWS", 1)
    client = login_as("referent")
    response = client.get("/helprequests/export/csv")
    assert response.status_code == 302
    location = response.headers["Location"].replace("http://localhost", "")
    status = wait_for_export(client, location, timeout=60)
    assert status["state"] == "ready" and status["done"] == status["total"] > 1
    monkeypatch.setitem(app.config, "EXPORT_ASYNC_ROWS", 100000)
    assert client.get(status["download"]).data == client.get("/helprequests/export/csv").data


def test_a_large_export_keeps_the_requesters_row_scope(app, login_as, large_exports):
    client = login_as("opadmin")
    app.config["EXPORT_ASYNC_ROWS"] = 0
    response = client.get("/organisations/export/xlsx")
    location = response.headers["Location"].replace("http://localhost", "")
    status = wait_for_export(client, location)
    assert (status["done"], status["total"]) == (1, 1)
    sheet = load_workbook(io.BytesIO(client.get(status["download"]).data), read_only=True).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["Fibre Rhône Télécom"]


def test_exports_are_swept_after_their_keeping_time(app, login_as, large_exports):
    import os

    from app.extensions import db
    from app.models import ExportFile, utcnow
    from app.platform.exports import export_path, sweep_exports

    client = login_as("admin")
    location = client.get("/organisations/export/csv").headers["Location"].replace("http://localhost", "")
    wait_for_export(client, location)
    keep = timedelta(hours=app.config["EXPORT_KEEP_HOURS"])
    with app.app_context():
        export = db.session.get(ExportFile, int(location.rsplit("/", 1)[1]))
        path = export_path(export)
        export.created_on = utcnow() - keep + timedelta(minutes=5)
        db.session.commit()
        sweep_exports()
        assert os.path.exists(path) and client.get(location).status_code == 200
        export = db.session.get(ExportFile, int(location.rsplit("/", 1)[1]))
        export.created_on = utcnow() - keep - timedelta(minutes=5)
        db.session.commit()
        assert sweep_exports() >= 1
        assert not os.path.exists(path)
    assert client.get(location).status_code == 404


def test_the_help_request_export_reads_plain_columns_with_the_grids_cells(app, login_as):
    """Subject and description in one column (a hybrid property) and the requester's
    full name come from SQL (the fast path), written as the grid shows them."""
    from app.extensions import db
    from app.models import HelpRequest
    from app.platform.exports import _sql_columns

    with app.app_context():
        view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "HelpRequestView")
        query = db.session.query(HelpRequest)
        assert _sql_columns(view.datamodel, query, view.list_columns)[1] is not None
    rows = _csv(login_as("referent").get("/helprequests/export/csv"))
    headers = rows[0]
    with app.app_context():
        for row in rows[1:]:
            request = db.session.get(HelpRequest, int(row[0]))
            cells = dict(zip(headers, row))
            assert cells["Demande"] == f"{request.subject} — {request.description}"
            assert cells["Demandeur"] == request.requester.get_full_name()


def _grid_csv_both_ways(app, view, username="admin"):
    """A grid's CSV as PostgreSQL writes it (COPY) and as Python writes it, parsed;
    the first is None when the database cannot write it (SQLite, a Python column)."""
    from flask import g
    from flask_appbuilder.security.sqla.models import User
    from flask_login import login_user

    from app.extensions import db

    with app.test_request_context("/"):
        g.user = db.session.query(User).filter_by(username=username).one()
        login_user(g.user)
        columns, filters, order_column, order_direction = view.export_plan()
        names, headers = [name for name, _ in columns], [header for _, header in columns]
        copied = exports.copy_chunks(view.datamodel, names, filters, order_column, order_direction, headers)
        copied = None if copied is None else b"".join(copied).decode()
        written = "".join(csv_chunks(headers, exports.iter_rows(
            view.datamodel, names, filters, order_column, order_direction)))
        db.session.rollback()
    parse = lambda text: list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))  # noqa: E731
    return (None if copied is None else parse(copied)), parse(written)


def test_postgresql_writes_every_grids_csv_as_python_does(app):
    """On PostgreSQL a grid's CSV is written by the database (COPY): every grid, with
    awkward text (formulas, quotes, separators, line breaks, empty), states and dates,
    parses to the very cells the Python writer gives; elsewhere Python writes it."""
    from app.extensions import db
    from app.models import Organisation

    awkward = ['=1+1', 'dit "bonjour"', "a;b", "ligne 1\nligne 2", "", "-3", "\tTab", "  espaces  "]
    with app.app_context():
        rows = [Organisation(name=f"Cas {number}", kind="member", city=value) for number, value in enumerate(awkward)]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
        postgresql = db.engine.dialect.name == "postgresql"
    try:
        compared = 0
        for view in app.appbuilder.baseviews:
            if not hasattr(view, "export_plan") or "csv" not in view.export_formats:
                continue
            with app.app_context():
                copied, written = _grid_csv_both_ways(app, view)
            if not postgresql:
                assert copied is None, view
                continue
            if copied is not None:
                assert copied == written, type(view).__name__
                compared += 1
        if postgresql:
            assert compared >= 15
            with app.app_context():
                view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "OrganisationView")
                copied, _ = _grid_csv_both_ways(app, view)
            cities = {row[0]: row[2] for row in copied[1:] if row[0].startswith("Cas ")}
            assert cities["Cas 0"] == "'=1+1" and cities["Cas 3"] == "ligne 1\nligne 2" and cities["Cas 4"] == ""
    finally:
        with app.app_context():
            db.session.query(Organisation).filter(Organisation.id.in_(ids)).delete()
            db.session.commit()


def test_postgresql_writes_the_help_request_grid_itself(app):
    """Desk C's referents' grid, the largest, is one PostgreSQL writes (bench/ent.py)."""
    from app.extensions import db

    with app.app_context():
        view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "HelpRequestView")
        copied, written = _grid_csv_both_ways(app, view, "referent")
        assert (copied is not None) == (db.engine.dialect.name == "postgresql")
        assert copied in (None, written) and len(written) > 1


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("slow", [False, True], ids=["sql", "objects"])
def test_every_grid_exports_the_labels_of_its_enums(app, speaking, monkeypatch, language, slow):
    """States, kinds, priorities...: the labels the grid shows, in the reader's language,
    in CSV and XLSX, whether the export selects SQL columns or reads whole objects."""
    from flask_babel import force_locale

    from app.views.base import GuichetModelView

    if slow:
        monkeypatch.setattr(exports, "_sql_columns", lambda datamodel, query, names: (None, None))
    client = speaking("admin", language)
    checked, wrong = [], []
    with app.test_request_context(), force_locale(language):
        grids = [(view, {str(view.label_columns.get(name, name)): view.datamodel.list_columns[name].type.enum_class
                         for name in view.list_columns if view.datamodel.is_enum(name)})
                 for view in app.appbuilder.baseviews if isinstance(view, GuichetModelView)]
        labels = {enum: {str(member) for member in enum} for _, enums in grids for enum in enums.values()}
    for view, enums in grids:
        if not enums:
            continue
        for fmt in ("csv", "xlsx"):
            response = client.get(f"{view.route_base}/export/{fmt}")
            assert response.status_code == 200, f"{view.route_base} {fmt}: {response.status_code}"
            if fmt == "csv":
                rows = _csv(response)
            else:
                sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
                rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            for header, enum in enums.items():
                position = rows[0].index(header)
                values = {row[position] for row in rows[1:]} - {""}
                wrong += [f"{view.route_base} {fmt} {header}: {value!r}" for value in values - labels[enum]]
                checked += [header] if values else []
    headers = {"fr": {"État", "Statut", "Priorité", "Type"}, "en": {"State", "Status", "Priority", "Kind"}}
    assert headers[language] <= set(checked), checked
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("slow", [False, True], ids=["sql", "objects"])
def test_a_role_is_exported_by_its_label_as_the_grid_shows_it(app, login_as, monkeypatch, slow):
    if slow:
        monkeypatch.setattr(exports, "_sql_columns", lambda datamodel, query, names: (None, None))
    rows = _csv(login_as("admin").get("/delegations/export/csv"))
    roles = {row[rows[0].index("Rôle")] for row in rows[1:]}
    assert roles and "Administrateur opérateur" in roles and "OperatorAdmin" not in roles, roles


def test_the_delegation_log_names_rights_by_their_labels(app, login_as):
    """A right stored as a role name reads as the role's label in the grid and its exports."""
    client = login_as("admin")
    # Every row on one page: the tests before this one may have logged many grants (an event's creation logs one).
    grid = client.get("/delegation-log/list/?psize_DelegationLogView=1000").get_data(as_text=True)
    rows = _csv(client.get("/delegation-log/export/csv"))
    sheet = load_workbook(io.BytesIO(client.get("/delegation-log/export/xlsx").data), read_only=True).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    rights = {row[rows[0].index("Droit")] for row in rows[1:]}
    assert "Administrateur opérateur" in rights and "OperatorAdmin" not in rights, rights
    assert {row[cells[0].index("Droit")] for row in cells[1:]} == rights
    assert "Administrateur opérateur" in grid and "OperatorAdmin" not in grid


# ---------------------------------------------------------------------------
# The fast paths (COPY on PostgreSQL, SQL columns elsewhere) against the slow one
# ---------------------------------------------------------------------------


def _export_cells(app, view, username, query_string, slow=False):
    """A grid's export (as `export_response` writes it for `username` with the grid's
    `query_string`) read back: (CSV cells, XLSX values), each a list of rows. `slow`:
    written from whole ORM objects, the generic path."""
    from flask import g
    from flask_appbuilder.security.sqla.models import User
    from flask_login import login_user

    from app.extensions import db

    read = {}
    original = exports._sql_columns
    if slow:
        exports._sql_columns = lambda datamodel, query, names: (None, None)
    try:
        with app.test_request_context(f"/?{query_string}"):
            g.user = db.session.query(User).filter_by(username=username).one()
            login_user(g.user)
            columns, filters, order_column, order_direction = view.export_plan()
            for fmt in ("csv", "xlsx"):
                response = exports.export_response(view.datamodel, columns, filters, order_column, order_direction,
                                                   fmt, str(view.list_title), view.value_labels)
                read[fmt] = response.get_data()
            db.session.rollback()
    finally:
        exports._sql_columns = original
    text = read["csv"].decode()
    assert text.startswith("\ufeff")
    sheet = load_workbook(io.BytesIO(read["xlsx"]), read_only=True).active
    return (list(csv.reader(io.StringIO(text[1:]), delimiter=";")),
            [list(row) for row in sheet.iter_rows(values_only=True)])


AWKWARD_TEXTS = ["=1+1", 'dit "bonjour" & <b>', "a;b", "ligne 1\nligne 2", "", "-3", "\tTab", "  espaces  ",
                 "\x01contrôle\x1f", "_x0041_ échappé", "\u3000large\xa0", "😀 émoji", None]


@pytest.fixture()
def awkward_organisations(app):
    """Organisations whose city is text a writer must take care of, and one without a city."""
    from app.extensions import db
    from app.models import Organisation, OrganisationKind

    with app.app_context():
        rows = [Organisation(name=f"Cas {number:02}", kind=OrganisationKind.member, city=value)
                for number, value in enumerate(AWKWARD_TEXTS)]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
    yield
    with app.app_context():
        db.session.query(Organisation).filter(Organisation.id.in_(ids)).delete()
        db.session.commit()


def _same_sheet(rows, others) -> bool:
    """The same cells, a moment to the millisecond: an XLSX date is a float of days, and
    the database's arithmetic and Python's may round its last digit apart (1 µs), which
    reading it back to the millisecond can turn into 1 ms."""
    def same(cell, other):
        if isinstance(cell, datetime) and isinstance(other, datetime):
            return abs(cell - other) <= timedelta(milliseconds=1)
        return cell == other

    return len(rows) == len(others) and all(
        len(row) == len(other) and all(map(same, row, other)) for row, other in zip(rows, others))


def test_every_grid_exports_the_rows_and_cells_of_the_slow_path(app, awkward_organisations):
    """For every grid, sorted on a column, as the administrator and as a member scoped
    to one organisation: the export (on PostgreSQL written by the database) holds the
    rows, in the order, and the cells of the generic path reading whole objects:
    labels of related rows and states, local dates, booleans, empty cells, awkward text."""
    from app.views.base import GuichetModelView

    compared = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, GuichetModelView) or "csv" not in view.export_formats:
            continue
        name = type(view).__name__
        sort = next((column for column in view.list_columns[1:] if column in view.order_columns), None)
        query = f"_oc_{name}={sort}&_od_{name}=desc" if sort else ""
        for username in ("admin", "opadmin"):
            fast, slow = (_export_cells(app, view, username, query, slow) for slow in (False, True))
            assert fast[0] == slow[0], (name, username, "csv")
            assert _same_sheet(fast[1], slow[1]), (name, username, "xlsx", fast[1], slow[1])
            compared += len(fast[0])
    assert compared > 100


def test_a_filtered_sorted_grid_exports_awkward_text_as_the_slow_path(app, awkward_organisations, tmp_path):
    """Formulas, quotes, separators, line breaks, control characters, XLSX escapes,
    spaces at the edges, empty and missing values: the same cells both ways, the CSV's
    neutralised, the XLSX's as XlsxWriter writes them."""
    from xlsxwriter.xmlwriter import XMLwriter

    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "OrganisationView")
    query = "_flt_0_kind=member&_flt_2_name=Cas&_oc_OrganisationView=name&_od_OrganisationView=desc"
    (csv_rows, xlsx_rows), slow = (_export_cells(app, view, "admin", query, slow) for slow in (False, True))
    assert (csv_rows, xlsx_rows) == slow
    with app.test_request_context(f"/?{query}"):  # which PostgreSQL writes itself
        from flask import g
        from flask_appbuilder.security.sqla.models import User

        from app.extensions import db

        g.user = db.session.query(User).filter_by(username="admin").one()
        columns, filters, order_column, order_direction = view.export_plan()
        names, headers = [name for name, _ in columns], [header for _, header in columns]
        copied = exports.copy_xlsx(str(tmp_path / "copied.xlsx"), view.datamodel, names, filters, order_column,
                                   order_direction, "Organisations", headers)
        assert copied == (len(AWKWARD_TEXTS) if db.engine.dialect.name == "postgresql" else None)
        db.session.rollback()
    none = _export_cells(app, view, "admin", "_flt_2_name=Aucune+ville")
    assert none == ([csv_rows[0]], [xlsx_rows[0]])  # no row: the headers alone
    city = csv_rows[0].index("Ville")
    assert [row[0] for row in csv_rows[1:]] == [f"Cas {n:02}" for n in reversed(range(len(AWKWARD_TEXTS)))]
    assert [row[city] for row in reversed(csv_rows[1:])] == [
        exports.neutralise(value) if value else "" for value in AWKWARD_TEXTS]
    # As XlsxWriter writes text: control characters as _xHHHH_, which a reader leaves as they are.
    assert [row[city] for row in reversed(xlsx_rows[1:])] == [
        XMLwriter._escape_control_characters(value) or None for value in AWKWARD_TEXTS]


def test_postgresql_writes_every_kind_of_sheet_cell_as_python_does(app, tmp_path):
    """The cells the database writes in an XLSX sheet read back as the Python writer's:
    texts past Excel's limit (cut at 32,767 UTF-16 units), with spaces at an edge or
    none, integers past a float's 53 bits, dates around Excel's 1900-02-29, moments to the
    microsecond, booleans as labels, empty cells."""
    from flask_appbuilder.models.sqla.interface import SQLAInterface
    from sqlalchemy import BigInteger, Boolean, Date, DateTime, String, column, values

    from app.extensions import db
    from app.models import Organisation

    rows = [("plain", 0, date(2024, 2, 29), datetime(2024, 3, 31, 1, 30, 15, 250000), True),
            ("é" * 20000, 10 ** 16, date(1900, 1, 1), datetime(1900, 1, 1, 12, 0), False),
            ("😀" * 17000, -10 ** 17, date(1900, 2, 28), datetime(1900, 2, 28, 18, 0), None),
            ("", 2 ** 62, date(1900, 3, 1), datetime(1900, 3, 1, 0, 0, 1), True),
            (None, None, None, None, None),
            (" espace", 9999999999999999, date(1899, 12, 31), datetime(1899, 12, 30, 6, 0), False),
            ("fin ", 2 ** 53, date(1900, 3, 1), datetime(1900, 2, 28, 23, 59), True)]
    headers = ["texte", "entier", "jour", "moment", "oui"]
    with app.test_request_context("/"):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("only PostgreSQL writes sheets; elsewhere the Python writer does")
        table = values(column("s", String), column("i", BigInteger), column("d", Date), column("t", DateTime),
                       column("b", Boolean), name="cases").data(rows)
        datamodel = SQLAInterface(Organisation, db.session)

        def copied(spool, date_style):
            statement, renders = exports._sheet_sql(db.session.query(table), list(table.c), date_style)
            copy = exports._copy_statement(datamodel, statement, exports.psycopg_sql.SQL("FORMAT binary"))
            return exports._copy_sheet_rows(exports._copied(datamodel, *copy), renders, spool)

        assert exports._write_workbook(str(tmp_path / "copied.xlsx"), "Cas", headers, copied) == len(rows)
        db.session.rollback()
        exports.write_xlsx(str(tmp_path / "python.xlsx"), "Cas", headers, rows)
    read = [[list(row) for row in load_workbook(tmp_path / name, read_only=True).active.iter_rows(values_only=True)]
            for name in ("copied.xlsx", "python.xlsx")]
    assert read[0] == read[1]
    assert read[0][2][0] == "é" * 20000 and read[0][3][0] == "😀" * 16383 and read[0][3][1] == -1e17
