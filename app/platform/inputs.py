"""What a request may carry, checked before the database sees it.

No input, however wrong, gets a 500 (DESIGN §2): a value no column can hold is
refused with a 4xx naming the field, and nothing changes. The limits are read from
the schema, so that they are declared once, next to the column:

* a `String(n)` holds at most n characters; no text holds a NUL byte (PostgreSQL
  refuses them);
* an integer column holds what PostgreSQL's type holds (`Integer` 32 bits,
  `BigInteger` 64, `SmallInteger` 16; SQLite would take more), and a column may narrow
  its range in its info: `Column(Integer, info={"min": 0})`;
* a date or a moment lies between FIRST_DATE and LAST_DATE (year 1 or 9999 are
  typing errors, and date arithmetic overflows at the edges).

The checks run at four places, from the outside in:

1. every request (`check_request`): NUL bytes in query arguments, form values, file
   names and JSON bodies; JSON and rison numbers beyond 64 bits or not finite; ids in
   URLs beyond the ids' range (the `int` URL converter, and `<pk>` arguments) answer 404, as
   do grid actions a view does not have; the grid arguments of FAB's list pages (page,
   page size, sort column, filters);
2. the forms and rows of the generic grids and APIs (app/views/base.py: a validator
   per column from `column_problem`, `check_row` before a write, unique values
   included) and the rison filters of the APIs (`filter_problem`);
3. every flush (`check_flush`): what a rule writes is checked too, as the last step
   before the database;
4. a safety net (`answer_database_error`): a database error that slipped through is
   a 400 without SQL text, logged as a warning so that tests notice it.

A refusal is `InputRefused(field, message)`, a `Refused` like any rule's: inside
`app.views.base.Attempt` it lands on its form field; elsewhere it answers 400 (JSON
under /api/, a page otherwise).
"""
from __future__ import annotations

import json
import logging
import math
import re
from datetime import date, datetime

import prison
from dateutil import parser as date_parser
from flask import current_app, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy import (BigInteger, Date, DateTime, Float, Integer, Numeric, SmallInteger, String, UniqueConstraint,
                        event, inspect, select)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ..extensions import db
from .refusals import Refused

log = logging.getLogger(__name__)

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
#: A row's id: the tables' keys are Integer, 32 bits on PostgreSQL (a larger id names
#: no row, and PostgreSQL would refuse to compare it).
ID_MIN, ID_MAX = -(2 ** 31), 2 ** 31 - 1
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)
#: Grid pages and page sizes a list page accepts (FAB's `page_<View>`, `psize_<View>`).
MAX_PAGE, MAX_PAGE_SIZE = 1_000_000, 1000
#: View arguments that carry a row's id as text (FAB's `/show/<pk>`, `/<pk>`...).
ID_ARGUMENTS = ("pk",)


class InputRefused(Refused):
    """A value no column could hold, naming its field (form field, parameter or JSON key)."""


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def int64(value) -> int:
    """`value` (a text of digits or an int) as a 64-bit integer; ValueError otherwise.
    Usable as `request.args.get(name, type=int64)`."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = value if isinstance(value, int) else int(str(value).strip(), 10)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(value)
    return number


def is_int64(value) -> bool:
    try:
        int64(value)
    except (TypeError, ValueError):
        return False
    return True


def is_id(value) -> bool:
    """Whether `value` (a text of digits or an int) can be a row's id."""
    return is_int64(value) and ID_MIN <= int64(value) <= ID_MAX


def date_problem(value):
    """Why a date or datetime is refused (outside FIRST_DATE..LAST_DATE), or None."""
    day = value.date() if isinstance(value, datetime) else value
    if isinstance(day, date) and not FIRST_DATE <= day <= LAST_DATE:
        return gettext("a date between %(first)s and %(last)s is expected.",
                       first=FIRST_DATE.isoformat(), last=LAST_DATE.isoformat())
    return None


def parse_date(value, field, parser=date.fromisoformat):
    """A date (or what `parser` reads) from a request argument, None when empty;
    InputRefused naming `field` when unreadable or outside the sane range."""
    if value in (None, ""):
        return None
    try:
        moment = parser(value)
    except (TypeError, ValueError):
        raise InputRefused(field, gettext("%(field)s: this is not a valid date.", field=field)) from None
    problem = date_problem(moment)
    if problem:
        raise InputRefused(field, gettext("%(field)s: %(message)s", field=field, message=problem))
    return moment


def parse_month(value, field):
    """A month (`YYYY-MM`) as its first day, None when empty; InputRefused otherwise."""
    return parse_date(value, field, lambda text: datetime.strptime(text, "%Y-%m").date())


#: The bits of each integer type in PostgreSQL, subclasses before Integer.
INTEGER_BITS = ((SmallInteger, 16), (BigInteger, 64), (Integer, 32))


def type_bounds(kind) -> tuple:
    """(minimum, maximum) an integer type holds in PostgreSQL (64 bits for one it does not know)."""
    bits = next((bits for integer, bits in INTEGER_BITS if isinstance(kind, integer)), 64)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def bounds(column) -> tuple:
    """(minimum, maximum) of an integer column: its type's range, narrowed by its info."""
    low, high = type_bounds(column.type)
    info = column.info or {}
    return max(info.get("min", low), low), min(info.get("max", high), high)


def column_problem(column, value):
    """Why `value` cannot be stored in `column` (a message without the field's name), or None."""
    if value is None:
        return None
    kind = column.type
    if isinstance(value, str):
        if "\x00" in value:
            return gettext("this text holds a NUL character.")
        length = getattr(kind, "length", None)
        if isinstance(kind, String) and length and len(value) > length and not getattr(kind, "enums", None):
            return gettext("at most %(max)d characters.", max=length)
        return None
    if isinstance(kind, Integer) and isinstance(value, int) and not isinstance(value, bool):
        low, high = bounds(column)
        if value < low:
            return gettext("at least %(min)d.", min=low)
        if value > high:
            return gettext("at most %(max)d.", max=high)
        return None
    if isinstance(kind, (Float, Numeric)) and isinstance(value, float) and not math.isfinite(value):
        return gettext("a finite number is expected.")
    if isinstance(kind, (Date, DateTime)):
        return date_problem(value)
    return None


_COLUMNS: dict = {}


def _columns_of(mapper) -> dict:
    """{attribute: its columns} of a mapped class (read once per class)."""
    columns = _COLUMNS.get(mapper)
    if columns is None:
        columns = _COLUMNS[mapper] = {attr.key: attr.columns for attr in mapper.column_attrs}
    return columns


def row_problems(item) -> list:
    """[(attribute, message)] of the values of `item` (those set or changed) its table
    cannot hold. Only what changed is read: this runs at every flush."""
    state = inspect(item)
    columns = _columns_of(state.mapper)
    changed = state.dict if state.key is None else state.committed_state
    found = []
    for key in changed:
        for column in columns.get(key, ()):
            problem = column_problem(column, state.dict.get(key))
            if problem:
                found.append((key, problem))
                break
    return found


def _unique_groups(table) -> list:
    groups = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [[column] for column in table.columns if column.unique]
    groups += [list(index.columns) for index in table.indexes if index.unique]
    return groups


def clashing_field(model, values: dict, own_pk=None, changed=None):
    """The attribute whose value (in `values`, {attribute: value}) another row of
    `model` already has: a unique column, or the last column of a unique group; None.
    `changed` (attributes) limits the groups checked to those it touches."""
    mapper = inspect(model)
    keys = {column: mapper.get_property_by_column(column).key for column in mapper.local_table.columns}
    relations = {column: relation.key for relation in mapper.relationships if relation.direction.name == "MANYTOONE"
                 for column in relation.local_columns}
    pk = mapper.primary_key[0]
    with db.session.no_autoflush:
        for columns in _unique_groups(mapper.local_table):
            found = []
            for column in columns:
                value = values.get(keys[column])
                if value is None and relations.get(column) in values:
                    related = values[relations[column]]
                    value = getattr(related, "id", related)
                found.append(value)
            if any(v is None or isinstance(v, (dict, list)) or column_problem(c, v) for c, v in zip(columns, found)):
                continue
            if changed is not None and not any(keys[c] in changed or relations.get(c) in changed for c in columns):
                continue
            query = select(pk).where(*[column == value for column, value in zip(columns, found)])
            if own_pk is not None:
                query = query.where(pk != own_pk)
            try:
                clash = db.session.execute(query.limit(1)).first()
            except (DBAPIError, TypeError, ValueError):
                db.session.rollback()
                continue
            if clash is not None:
                return keys[columns[-1]]
    return None


def unique_clash(item):
    """The attribute of `item` (a new or changed row) whose unique value another row has, or None."""
    state = inspect(item)
    changed = None if state.pending or state.transient else {
        attr.key for attr in state.attrs if attr.history.has_changes()}
    return clashing_field(type(item), dict(state.dict), state.identity[0] if state.identity else None, changed)


def check_row(item, labels=None) -> None:
    """Refuse (InputRefused, naming the attribute) a row its table cannot hold or
    whose unique values another row has. `labels` ({attribute: label}) words the message."""
    labels = labels or {}
    for name, problem in row_problems(item):
        raise InputRefused(name, gettext("%(field)s: %(message)s", field=labels.get(name, name), message=problem))
    name = unique_clash(item)
    if name is not None:
        raise InputRefused(name, gettext("%(field)s: %(message)s", field=labels.get(name, name),
                                         message=already_used()))


def already_used() -> str:
    return gettext("already used.")


# ---------------------------------------------------------------------------
# Search filters (FAB grids' `_flt_<n>_<column>` and the APIs' rison filters)
# ---------------------------------------------------------------------------


def filter_problem(datamodel, column_name, value):
    """Why a filter value on `column_name` cannot be compared with the column, or None."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, (dict, list)):
            return gettext("a single value is expected.")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str) and "\x00" in item:
            return gettext("this text holds a NUL character.")
        if isinstance(item, float) and not math.isfinite(item):
            return gettext("a finite number is expected.")
        if datamodel.is_relation(column_name):
            related = datamodel.get_related_model(column_name)
            pk = related.__mapper__.primary_key[0]
            if isinstance(pk.type, Integer) and not is_id(item):
                return gettext("an identifier is expected.")
            continue
        column = datamodel.list_columns.get(column_name)
        if column is None or not hasattr(column, "type"):
            continue
        if datamodel.is_enum(column_name):
            kind = column.type
            names = set(kind.enums) | {m.value for m in kind.enum_class or ()}
            if str(item) not in names:
                return gettext("not a valid choice.")
        elif isinstance(column.type, Integer):
            if not is_int64(item):
                return gettext("an integer is expected.")
            low, high = type_bounds(column.type)  # what the column can be compared with
            if not low <= int64(item) <= high:
                return gettext("an integer between %(min)d and %(max)d is expected.", min=low, max=high)
        elif isinstance(column.type, (Date, DateTime)):
            if isinstance(item, (int, float)):
                return gettext("a date is expected.")
            try:
                moment = date_parser.parse(str(item))
            except (ValueError, OverflowError):
                return gettext("a date is expected.")
            problem = date_problem(moment)
            if problem:
                return problem
        elif isinstance(column.type, (Float, Numeric)):
            try:
                number = float(item)
            except (TypeError, ValueError):
                return gettext("a number is expected.")
            if not math.isfinite(number):
                return gettext("a finite number is expected.")
    return None


GRID_ARGUMENT = re.compile(r"^(page|psize|_oc|_od)_(\w+)$")
FILTER_ARGUMENT = re.compile(r"^_flt_(\d+)_(.+)$")


def _views_by_blueprint():
    views = current_app.extensions.get("guichet_views_by_blueprint")
    if views is None:
        views = current_app.extensions["guichet_views_by_blueprint"] = {
            view.blueprint.name: view for view in current_app.appbuilder.baseviews
            if getattr(view, "blueprint", None) is not None}
    return views


def grid_argument_problems(args) -> list:
    """[(parameter, message)] for the FAB grid arguments of this request that its
    view cannot use: pages and page sizes, sort columns and directions, filters."""
    view = _views_by_blueprint().get(request.blueprint)
    found = []
    for name, value in args.items(multi=True):
        grid = GRID_ARGUMENT.match(name)
        if grid and _view_named(grid.group(2)) is not None:
            kind = grid.group(1)
            if kind in ("page", "psize"):
                top = MAX_PAGE if kind == "page" else MAX_PAGE_SIZE
                low = 0 if kind == "page" else 1
                if not (is_int64(value) and low <= int(value) <= top) and not (kind == "psize" and value == "-1"):
                    found.append((name, gettext("an integer between %(min)d and %(max)d is expected.",
                                                min=low, max=top)))
            elif kind == "_od":
                if value not in ("asc", "desc"):
                    found.append((name, gettext("asc or desc is expected.")))
            elif kind == "_oc":
                orders = getattr(_view_named(grid.group(2)), "order_columns", None)
                if orders is not None and value not in orders:
                    found.append((name, gettext("not a column this list is sorted by.")))
            continue
        flt = FILTER_ARGUMENT.match(name)
        if flt and view is not None and getattr(view, "_filters", None) is not None:
            index, column = int(flt.group(1)), flt.group(2)
            filters = view._filters.get_search_filters().get(column)
            if filters is None:
                continue  # FAB ignores a filter on a column it does not search
            if index >= len(filters):
                found.append((name, gettext("not a filter of this list.")))
                continue
            problem = filter_problem(view.datamodel, column, value)
            if problem:
                found.append((name, problem))
    return found


def _view_named(class_name):
    """The registered view of that class name (FAB suffixes grid arguments with it), or None."""
    views = current_app.extensions.get("guichet_views_by_class")
    if views is None:
        views = current_app.extensions["guichet_views_by_class"] = {
            type(view).__name__: view for view in current_app.appbuilder.baseviews}
    return views.get(class_name)


# ---------------------------------------------------------------------------
# Every request
# ---------------------------------------------------------------------------


class IdConverter(IntegerConverter):
    """Flask's `int` URL converter, bounded to the ids' range: a larger id answers 404."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=ID_MIN if min is None else min,
                         max=ID_MAX if max is None else max, signed=signed)


def check_view_args(endpoint, values):
    """An id given as text in the URL (`/show/<pk>`) beyond the ids' range, or any URL
    part holding a NUL byte, names no row: 404."""
    for name, value in (values or {}).items():
        if not isinstance(value, str):
            continue
        if "\x00" in value or (name in ID_ARGUMENTS and not is_id(value)):
            raise NotFound()


def _json_problems(value, path="") -> list:
    if isinstance(value, dict):
        return [problem for key, item in value.items()
                for problem in _json_problems(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value)
                for problem in _json_problems(item, f"{path}[{index}]")]
    if isinstance(value, str) and "\x00" in value:
        return [(path or "_schema", gettext("this text holds a NUL character."))]
    if isinstance(value, bool):
        return []
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return [(path or "_schema", gettext("an integer of at most 64 bits is expected."))]
    if isinstance(value, float) and not math.isfinite(value):
        return [(path or "_schema", gettext("a finite number is expected."))]
    return []


def _parse_constant(name):
    return float(name)  # NaN, Infinity: refused by _json_problems


def check_request():
    """Refuse (InputRefused) a request carrying what no column can hold. A form's body
    is kept as sent, for the views that check it as it came (a payment gateway's)."""
    if request.mimetype == "application/x-www-form-urlencoded":
        request.get_data(cache=True)
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise InputRefused(name.replace("\x00", ""), gettext(
                    "%(field)s: this text holds a NUL character.", field=name.replace("\x00", "")))
    for name, upload in request.files.items(multi=True):
        if upload.filename and "\x00" in upload.filename:
            raise InputRefused(name, gettext("%(field)s: this text holds a NUL character.", field=name))
    if request.is_json and request.content_length != 0:
        try:
            payload = json.loads(request.get_data(cache=True), parse_constant=_parse_constant)
        except ValueError:
            payload = None  # unreadable: the view answers as it does for a body it cannot read
        for name, problem in _json_problems(payload):
            raise InputRefused(name, gettext("%(field)s: %(message)s", field=name, message=problem))
    if request.path.startswith("/api/") and request.args.get("q"):
        _check_rison(request.args["q"])
    for name, problem in grid_argument_problems(request.args):
        raise InputRefused(name, gettext("%(field)s: %(message)s", field=name, message=problem))
    _check_action()


def _check_rison(value):
    """The APIs' rison argument `q`: readable (FAB answers what its parser refuses, but
    not every error of that parser) and holding nothing a column cannot hold."""
    try:
        decoded = prison.loads(value)
    except prison.decoder.ParserException:
        return  # FAB tries it as JSON, then answers 400
    except Exception:
        raise InputRefused("q", gettext("%(field)s: not a valid rison argument.", field="q")) from None
    for name, problem in _json_problems(decoded, "q"):
        raise InputRefused(name, gettext("%(field)s: %(message)s", field=name, message=problem))


def _check_action():
    """A grid action (`/action/<name>/<pk>`, `/action_post`) the view does not have
    names nothing: 404, as do selected rows whose ids hold more than 64 bits."""
    endpoint = request.endpoint or ""
    if not endpoint.endswith((".action", ".action_post")):
        return
    view = _views_by_blueprint().get(request.blueprint)
    actions = getattr(view, "actions", None)
    if actions is None:
        return
    if endpoint.endswith(".action"):
        name = (request.view_args or {}).get("name")
    else:
        name = request.form.get("action")
        if not all(is_id(pk) for pk in request.form.getlist("rowid")):
            raise NotFound()
    if name not in actions:
        raise NotFound()


def answer_refusal(refusal: InputRefused):
    """A refused input outside any rule: 400, naming the field; nothing written."""
    db.session.rollback()
    field = refusal.field or "_schema"
    if request.path.startswith("/api/"):
        status = 422 if request.is_json and request.method in ("POST", "PUT", "PATCH") else 400
        return jsonify(message={field: [refusal.message]}), status
    appbuilder = current_app.appbuilder
    referrer = request.referrer or ""
    page = render_template("guichet/error.html", code=400, title=gettext("This request cannot be read"),
                           message=refusal.message, appbuilder=appbuilder, base_template=appbuilder.base_template,
                           back=referrer if referrer.startswith(request.host_url) else None)
    return page, 400


def answer_database_error(error):
    """The safety net: a value the checks above let through and the database refused.
    400 without the database's text; logged so that a test notices the gap."""
    db.session.rollback()
    log.warning("input refused by the database, not by app.platform.inputs: %s %s: %r",
                request.method, request.path, error)
    message = gettext("A value of this request cannot be stored.")
    return answer_refusal(InputRefused(None, message))


def check_flush(session, flush_context, instances):
    """The last step before the database: what a rule writes is checked as a form is."""
    for item in list(session.new) + list(session.dirty):
        if not hasattr(item, "__mapper__"):
            continue
        for name, problem in row_problems(item):
            raise InputRefused(name, gettext("%(field)s: %(message)s", field=name, message=problem))


def register_converters(app) -> None:
    """Before any view is registered: the `int` URL converter holds the ids' range."""
    app.url_map.converters["int"] = IdConverter


def init_app(app) -> None:
    app.url_value_preprocessor(check_view_args)
    app.before_request(check_request)
    app.register_error_handler(InputRefused, answer_refusal)
    app.register_error_handler(DBAPIError, answer_database_error)
    app.register_error_handler(OverflowError, answer_database_error)
    if not event.contains(Session, "before_flush", check_flush):
        event.listen(Session, "before_flush", check_flush)


def relation_problems(datamodel, payload) -> dict:
    """{field: [message]} of an API body's relations whose value names no row (FAB's
    schemas would hand any text to the database as an id)."""
    return {name: [problem] for name, value in payload.items()
            if datamodel.is_relation(name) and value is not None
            for problem in [filter_problem(datamodel, name, value)] if problem}
