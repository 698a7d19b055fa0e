"""The mechanism of who may do what (roles) and who may see which rows (row scope).

Two layers, declared by `app/access/platform.py` and each desk's `app/access/<desk>.py`,
and applied here:

* **Roles** are FAB permission sets, one per job (DESIGN §1), built by code from the
  grants each access module registers with `grant(role, pairs)`
  (`GuichetSecurityManager.sync_roles`).
* **Row scope** is one rule per model (`scope(Model, rule)`). `ScopedInterface`
  applies it to every query FAB makes through a datamodel: lists, show, edit,
  delete, actions, related views, drop-downs, the REST API and exports. A model
  without a declared rule fails closed.
"""
from __future__ import annotations

import base64
import copy
import enum
import json
import logging
import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable, NamedTuple, Optional

from flask import current_app, g, has_request_context, request, session as flask_session
from flask_appbuilder.exceptions import DatabaseException, PasswordComplexityValidationError
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.models.sqla.filters import FilterContains, FilterEndsWith
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import Role, User
from flask_appbuilder.utils.base import get_column_root_relation, is_column_dotted
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, user_logged_in
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Integer, bindparam, event, false, func, inspect, select, text, true
from sqlalchemy import Boolean, Column, Table, and_, asc, desc, not_, or_, tuple_, union, union_all
from sqlalchemy.dialects.postgresql import ARRAY, insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import CompileError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList
from sqlalchemy.sql.util import find_tables

from .extensions import db
from .models import Membership, PasswordToken, SecurityStamp, utcnow
from .platform.inputs import int64
from .platform.recent import RecentAnswers

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Roles: one per job (DESIGN §1); what each holds is granted by app/access/*.py
# ---------------------------------------------------------------------------

ADMIN = "Admin"  # platform administrators: everything
BOOKER = "Booker"  # desk A: a member organisation's booking manager
VNOC = "VNOC"  # desk A: the operations centre
CLIENT = "Client"  # desk B: a client company's declarant or project lead
PROJECT_LEAD = "ProjectLead"  # desk B: a vendor project lead
VENDOR_AGENT = "VendorAgent"  # desk B: vendor support staff
ENT_REFERENT = "EntReferent"  # desk C: an establishment's local workspace administrator
ENT_SUPPORT = "EntSupport"  # desk C: the support desk behind escalations
EVENT_ADMIN = "EventAdmin"  # desk D: association board members
OPERATOR_ADMIN = "OperatorAdmin"  # desk E: a client operator's designated admin
OPERATOR_USER = "OperatorUser"  # desk E: a client operator's staff
WHOLESALE_AGENT = "WholesaleAgent"  # desk E: the wholesale operator's back-office staff
USER = "User"  # anyone with an account
ROLE_NAMES = (ADMIN, BOOKER, VNOC, CLIENT, PROJECT_LEAD, VENDOR_AGENT, ENT_REFERENT, ENT_SUPPORT,
              EVENT_ADMIN, OPERATOR_ADMIN, OPERATOR_USER, WHOLESALE_AGENT, USER)
#: How people read each role (drop-downs, profiles, grids): `str(role)` is its label.
ROLE_LABELS = {
    ADMIN: lazy_gettext("Administrator"),
    BOOKER: lazy_gettext("Booker (visio)"),
    VNOC: lazy_gettext("VNOC (visio operations centre)"),
    CLIENT: lazy_gettext("Client (projects)"),
    PROJECT_LEAD: lazy_gettext("Vendor project lead"),
    VENDOR_AGENT: lazy_gettext("Vendor support agent"),
    ENT_REFERENT: lazy_gettext("Workspace referent (ENT)"),
    ENT_SUPPORT: lazy_gettext("Workspace support desk (ENT)"),
    EVENT_ADMIN: lazy_gettext("Event organiser"),
    OPERATOR_ADMIN: lazy_gettext("Operator administrator"),
    OPERATOR_USER: lazy_gettext("Operator staff"),
    WHOLESALE_AGENT: lazy_gettext("Wholesale back-office agent"),
    USER: lazy_gettext("User"),
}


def role_label(name: str) -> str:
    return str(ROLE_LABELS.get(name, name))


Role.__str__ = lambda role: role_label(role.name)
# A person's full name: their name parts that are not empty (an erased account is
# "Anonyme" alone, app.platform.accounts.leave), as exports write it in SQL too.
User.get_full_name = lambda user: " ".join(part for part in (user.first_name, user.last_name) if part)

#: Who may hand on their rights inside their own organisation (app.platform.delegation),
#: besides Admin; and the roles they may give without holding them.
DELEGATING_ROLES = (OPERATOR_ADMIN,)
BASELINE_ROLES = (USER,)
#: {delegating role: roles it hands out without holding them} (a company's admin gives
#: its staff's role), filled by the access modules with `hands_out`.
HANDED_OUT: dict[str, set] = {}


def hands_out(delegating_role: str, roles) -> None:
    """Let the holders of `delegating_role` give `roles` too, in their organisations."""
    assert delegating_role in DELEGATING_ROLES, f"{delegating_role} does not delegate"
    HANDED_OUT.setdefault(delegating_role, set()).update(roles)


def grantable_role_names(held) -> set:
    """The roles someone holding the roles named `held` may give (if they delegate at all):
    those they hold, the baseline ones, and those their delegating roles hand out."""
    names = set(held) | set(BASELINE_ROLES)
    for name in set(held) & set(DELEGATING_ROLES):
        names |= HANDED_OUT.get(name, set())
    return names

READ = ("can_list", "can_show")
API_READ = ("can_get", "can_info")
EXPORT = ("can_export",)

#: {role name: [(permission, view or menu)]}, filled by `grant()`; Admin holds everything.
ROLE_GRANTS: dict[str, list[tuple[str, str]]] = {name: [] for name in ROLE_NAMES if name != ADMIN}


def grants(view: str, permissions) -> list[tuple[str, str]]:
    return [(permission, view) for permission in permissions]


def grant(roles, pairs) -> None:
    """Give each of `roles` (a name or several) the (permission, view) `pairs`."""
    for role in (roles,) if isinstance(roles, str) else roles:
        ROLE_GRANTS[role].extend(pairs)


def role_names(user) -> set:
    """The names of a person's roles (none for nobody)."""
    return {role.name for role in getattr(user, "roles", None) or ()}


def is_admin(user) -> bool:
    return ADMIN in role_names(user)


# ---------------------------------------------------------------------------
# Row scope
# ---------------------------------------------------------------------------


class Viewer:
    """The person a query runs for, as the scope rules need them. Their organisations are
    read when a rule first asks for them, once per viewer; `organisation_ids` given:
    those (the signed-in person's come with their user, in the request's one query)."""

    __slots__ = ("user_id", "roles", "_organisation_ids")

    def __init__(self, user_id: Optional[int], roles: frozenset, organisation_ids: Optional[frozenset] = None):
        self.user_id, self.roles = user_id, frozenset(roles)
        self._organisation_ids = frozenset() if user_id is None and organisation_ids is None else organisation_ids

    @property
    def organisation_ids(self) -> frozenset:
        if self._organisation_ids is None:
            self._organisation_ids = _organisations_of(self.user_id)
        return self._organisation_ids

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


ScopeRule = Callable[[Viewer], object]
_SCOPES: dict[type, ScopeRule] = {}


def scope(model: type, rule: ScopeRule) -> None:
    """Declare which rows of `model` a viewer may see.

    `rule(viewer)` returns a SQL criterion, or None when the viewer sees every
    row. Admin always sees every row.
    """
    _SCOPES[model] = rule


def scoped_models() -> list[type]:
    return list(_SCOPES)


def by_organisation(column, sees_all: tuple[str, ...] = ()) -> ScopeRule:
    """Rows whose organisation is one of the viewer's; `sees_all` roles see all."""

    def rule(viewer: Viewer):
        if viewer.roles.intersection(sees_all):
            return None
        if not viewer.organisation_ids:
            return false()
        return column.in_(viewer.organisation_ids)

    return rule


def _organisations_of(user_id) -> frozenset:
    # No autoflush: a membership being written in this request must not widen the
    # scope that decides whether the write is allowed (a rule reads the viewer's
    # organisations as it builds its criterion, before the write is flushed).
    with db.session.no_autoflush:
        return frozenset(db.session.scalars(
            select(Membership.organisation_id).where(Membership.user_id == user_id)
        ).all())


def viewer_for(user, memberships=None) -> Viewer:
    """`memberships`: (user id, their organisation ids) already read, used for that user."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Viewer(None, frozenset(), frozenset())
    known = memberships[1] if memberships is not None and memberships[0] == user.id else None
    return Viewer(user.id, frozenset(r.name for r in user.roles), known)


#: g's (user id, organisation ids) of the person the request's user load read.
MEMBERSHIPS_KEY = "_guichet_memberships"


def signed_in_person():
    """The person making the request: FAB's `g.user`, which is the bearer token's user
    under the REST API (where Flask-Login's `current_user` stays anonymous), else the
    session's. None when nobody is signed in."""
    if not has_request_context():
        return None
    person = g.get("user")
    if person is None or not getattr(person, "is_authenticated", False):
        person = current_user
    return person if getattr(person, "is_authenticated", False) else None


def current_viewer() -> Optional[Viewer]:
    """The signed-in viewer (session or bearer token), or None outside a request
    (commands, jobs: no scope)."""
    if not has_request_context():
        return None
    viewer = g.get("viewer")
    person = signed_in_person()
    if viewer is None or viewer.user_id != getattr(person, "id", None):
        viewer = g.viewer = viewer_for(person, g.get(MEMBERSHIPS_KEY))
    return viewer


def scope_criterion(model: type, viewer: Optional[Viewer] = None):
    """The criterion restricting `model` for the viewer, or None for every row."""
    viewer = viewer if viewer is not None else current_viewer()
    if viewer is None or viewer.is_admin:
        return None
    rule = _SCOPES.get(model)
    if rule is None:
        raise LookupError(f"No row scope declared for {model.__name__} in app/access/")
    return rule(viewer)


def apply_scope(query, model: type, viewer: Optional[Viewer] = None):
    criterion = scope_criterion(model, viewer)
    return query if criterion is None else query.filter(criterion)


def viewer_of(user) -> Viewer:
    """The Viewer of a person: the signed-in one's is read once per request."""
    viewer = current_viewer()
    if viewer is not None and viewer.user_id is not None and viewer.user_id == getattr(user, "id", None):
        return viewer
    return viewer_for(user)


def row_predicate(model: type, criterion: ScopeRule):
    """The Python face of a SQL criterion: `check(user, item)` tells whether `criterion`
    (a scope rule: viewer → SQL, None for every row) holds for that person on that row.

    The database evaluates it on the row's key, so the rule is written once for the
    lists (a WHERE clause) and for the decisions on one row (app/rules/*.py).
    """
    pk = model.__mapper__.primary_key[0]

    def check(user, item) -> bool:
        if user is None or item is None or getattr(item, pk.key, None) is None:
            return False
        condition = criterion(viewer_of(user))
        if condition is None:
            return True
        return db.session.query(pk).filter(pk == getattr(item, pk.key), condition).first() is not None

    return check


def sees_every_row(user, model: type) -> bool:
    """Whether a person's scope on `model` is every row (Admin, or a role the rule lets see all)."""
    return scope_criterion(model, viewer_of(user)) is None


class OutOfScopeError(DatabaseException):
    """A write would put a row outside what its author may see."""


class ApproximateCount(int):
    """A grid count that was capped or estimated; prints as such, computes as an int."""

    def __new__(cls, value, estimated: bool):
        obj = super().__new__(cls, value)
        obj.estimated = estimated
        return obj

    def __str__(self):
        number = f"{int(self):,}".replace(",", "\u202f")
        if self.estimated:
            return gettext("about %(number)s", number=number)
        return gettext("more than %(number)s", number=number)


def _text_search(filters) -> bool:
    """Whether a grid's filters search a text ("contains", "ends with": a trigram index's)."""
    return bool(filters and any(isinstance(flt, (FilterContains, FilterEndsWith)) for flt in filters.filters))


class EachValue(NamedTuple):
    """A scope branch of rows whose `column` is one of `values` (and none of the terms
    before it, `outside`), read value by value in the grid's order."""

    column: Column
    values: tuple
    outside: tuple

    @property
    def criterion(self):
        return and_(self.column.in_(self.values), *self.outside)

    def ordered(self, filtered, order, limit):
        """The first `limit` rows of `filtered` in `order` for each value (PostgreSQL:
        `unnest` of the values as one array, a LATERAL page per value by its index)."""
        values = func.unnest(bindparam(None, list(self.values), type_=ARRAY(self.column.type))
                             ).table_valued("value").render_derived(name="each_value")
        page = filtered.where(self.column == values.c.value, *self.outside).order_by(*order).limit(limit).lateral()
        return select(*page.c).select_from(values).join(page, true())


#: PostgreSQL's estimate of each table's rows (pg_class.reltuples), read once per
#: minute per process: only VACUUM and ANALYZE move it, and the grid shows it as "about".
_TABLE_ESTIMATES = RecentAnswers((), seconds=60.0, size=512)


class ScopedInterface(SQLAInterface):
    """FAB's SQLAlchemy interface with the row scope applied to every query.

    It also keeps grids fast on large tables: counts are exact only up to
    `GRID_EXACT_COUNT_LIMIT`, deep pages select keys first (an index-only
    scan) and the many-to-one relations a grid shows are loaded in one query.
    """

    #: The many-to-one paths (("building",), ("ticket_type", "event")...) loaded with
    #: each page: see `eager_paths`.
    eager_relations: tuple[tuple[str, ...], ...] = ()

    def eager_paths(self, columns) -> tuple[tuple[str, ...], ...]:
        """The many-to-one relations that `columns` read (`organisation`, or dotted as
        `building.imb_id`, `ticket_type.event.name`), as paths of relation names: loaded
        with the page's rows, one query a page instead of one per row and relation."""
        paths = []
        for name in columns:
            mapper, path = self.obj.__mapper__, ()
            for part in name.split("."):
                relation = mapper.relationships.get(part)
                if relation is None or relation.direction.name != "MANYTOONE":
                    break
                path, mapper = (*path, part), relation.mapper
            if path and path not in paths:
                paths.append(path)
        return tuple(paths)

    def new_filters(self, filters=(), values=()) -> Filters:
        """A Filters of this model holding `filters` and their `values`, copied from one
        built once: FAB's constructor builds every column's filters again, twice a grid
        page (the joined and the inner filters)."""
        template = self.__dict__.get("_filters_template")
        if template is None:
            template = self._filters_template = Filters(self.filter_converter_class, self)
        made = copy.copy(template)
        made.filters, made.values = list(filters), list(values)
        return made

    def joined_filters(self, filters: Filters, base: Filters) -> Filters:
        """FAB's `filters.get_joined_filters(base)`, through `new_filters`."""
        return self.new_filters(filters.filters + base.filters, filters.values + base.values)

    def get_inner_filters(self, filters: Optional[Filters]) -> Filters:
        """FAB's (the filters on the model's own columns and its to-one relations),
        through `new_filters`."""
        inner = self.new_filters()
        if filters:
            for flt, value in zip(filters.filters, filters.values):
                root = get_column_root_relation(flt.column_name)
                if not is_column_dotted(flt.column_name) or self.is_relation_many_to_one(root) \
                        or self.is_relation_one_to_one(root):
                    inner.add_filter_list([(flt.column_name, flt.__class__, value)])
        return inner

    def _scoped(self, query):
        return apply_scope(query, self.obj)

    def _get_base_query(self, query, filters=None, order_column="", order_direction=""):
        return super()._get_base_query(self._scoped(query), filters, order_column, order_direction)

    def _apply_inner_all(self, query, filters=None, order_column="", order_direction="",
                         page=None, page_size=None, select_columns=None, aliases_mapping=None):
        return super()._apply_inner_all(
            self._scoped(query), filters, order_column, order_direction,
            page, page_size, select_columns, aliases_mapping,
        )

    def scope_key(self) -> Optional[tuple[str, frozenset]]:
        """This viewer's scope on the model written out (a key for answers that depend
        on it alone) and the names of the tables it reads; None when it cannot be."""
        criterion = scope_criterion(self.obj)
        if criterion is None:
            return "every row", frozenset()
        try:
            written = str(criterion.compile(dialect=self.session.get_bind().dialect,
                                            compile_kwargs={"literal_binds": True}))
        except (CompileError, NotImplementedError):
            return None
        return written, frozenset(table.name for table in find_tables(criterion, include_aliases=True)
                                  if isinstance(table, Table))

    def get_related_obj(self, col_name, value):
        """The related row a grid's relation filter names (its id as the URL gives it, a
        text), in scope; None for an id that is not one (PostgreSQL compares no integer
        with a text)."""
        model = self.get_related_model(col_name)
        query = apply_scope(self.session.query(model), model)
        pk = getattr(model, self._get_pk_name(model))
        if isinstance(pk.type, Integer):
            try:
                value = int64(value)
            except (TypeError, ValueError):
                return None
        return query.filter(pk == value).one_or_none()

    # -- counting and paging ------------------------------------------------

    def bounded_count(self, filters=None, limit=None) -> int:
        """Exact up to `limit` (GRID_EXACT_COUNT_LIMIT), else "more than limit"; an
        unfiltered grid that sees every row of a PostgreSQL table the statistics put
        far beyond the limit shows their estimate and counts nothing."""
        from flask import current_app

        limit = limit or current_app.config["GRID_EXACT_COUNT_LIMIT"]
        unfiltered = not (filters and filters.filters) and scope_criterion(self.obj) is None
        estimate = None
        if unfiltered and self.session.get_bind().dialect.name == "postgresql":
            name = self.obj.__tablename__
            estimate = _TABLE_ESTIMATES.get(name, lambda: int(self.session.execute(
                text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"),
                {"name": name}).scalar() or 0))
            if estimate > 2 * limit:
                return ApproximateCount(estimate, estimated=True)
        count = self._capped_count(filters, limit + 1)
        if count <= limit:
            return count
        if estimate is not None:
            return ApproximateCount(max(estimate, count), estimated=True)
        return ApproximateCount(limit, estimated=False)

    def _capped_count(self, filters, cap) -> int:
        branches = self.scope_branches()
        if branches is not None:
            pk = self.obj.__mapper__.primary_key[0]
            if _text_search(filters):
                if self._text_probe(filters, (pk,), desc, cap, branches) is not None:
                    return cap
                keys = self._text_matches(filters, (pk,))
            else:  # one branch after the other, until the cap
                filtered = self._filtered(filters).with_entities(pk).order_by(None).statement
                keys = union_all(*(select(*part.c) for part in (
                    filtered.where(branch.criterion if isinstance(branch, EachValue) else branch).limit(cap).subquery()
                    for branch in branches))).subquery()
            capped = select(keys.c[pk.name]).limit(cap).subquery()
            return self.session.execute(select(func.count()).select_from(capped)).scalar()
        query = self._apply_inner_all(self.session.query(self.obj), filters, aliases_mapping={})
        capped = query.with_entities(self.obj.__mapper__.primary_key[0]).order_by(None).limit(cap)
        return self.session.query(func.count()).select_from(capped.subquery()).scalar()

    def has_more_rows_than(self, limit: int, filters=None) -> bool:
        """Whether the filters and the scope let more than `limit` rows through (reads limit + 1 keys)."""
        return self._capped_count(filters, limit + 1) > limit

    def exact_count(self, filters=None) -> int:
        """Every row the filters and the scope let through, counted (an export's total)."""
        query = self._apply_inner_all(self.session.query(self.obj), filters, aliases_mapping={})
        keys = query.with_entities(self.obj.__mapper__.primary_key[0]).order_by(None).subquery()
        return self.session.query(func.count()).select_from(keys).scalar()

    def query_count(self, query, filters=None, select_columns=None) -> int:
        """FAB's count for `query()` with select_columns (the REST API): bounded too."""
        return self.bounded_count(filters)

    def query(self, filters=None, order_column="", order_direction="", page=None,
              page_size=None, select_columns=None, outer_default_load=False):
        if select_columns:
            return super().query(filters, order_column, order_direction, page,
                                 page_size, select_columns, outer_default_load)
        if not page_size:
            # Unpaged (drop-downs, validators, charts): every row is read, so
            # the count is the number of rows, without a second query.
            rows = self._with_eager(
                self.apply_all(self.session.query(self.obj), filters, order_column, order_direction)
            ).all()
            return len(rows), rows
        count = self.bounded_count(filters, self._grid_count_limit(filters, page, page_size))
        return count, self._offset_rows(filters, order_column, order_direction, page, page_size)

    def _offset_rows(self, filters, order_column, order_direction, page, page_size, extra=0):
        """The page at its offset, and `extra` rows after it. Deep pages read their keys
        first (an index-only scan), then their rows."""
        base = self.apply_all(self.session.query(self.obj), filters, order_column, order_direction)
        offset = (page or 0) * page_size
        if offset > 1000:
            pk = self.obj.__mapper__.primary_key[0]
            keys = [key for (key,) in base.with_entities(pk).offset(offset).limit(page_size + extra)]
            return self._rows_of_keys(keys)
        return self._with_eager(base.offset(offset).limit(page_size + extra)).all()

    # -- keyset ("seek") pages: a link carries the sort key and id of the row it
    # follows (or precedes); that page costs as the first one however deep it is.

    class Page(NamedTuple):
        count: int
        rows: list
        page: int  # its number, as the links count them
        more: bool  # rows follow it
        key: Optional[Callable]  # row -> its keyset token; None: this order has none

    def grid_page(self, filters, order_column, order_direction, page, page_size, seek=None) -> "ScopedInterface.Page":
        """One page of a grid, in the order (column, id): after or before the row whose
        token `seek` = ("after" | "before", token) carries, else at its offset (also when
        the token is of another order: the sort changed). A token that is none raises ValueError."""
        pk = self.obj.__mapper__.primary_key[0]
        if not order_column:
            order_column, order_direction = pk.key, "asc"
        column = self.seek_column(order_column)
        page = page or 0
        count = self.bounded_count(filters, self._grid_count_limit(filters, 0 if seek else page, page_size))
        order = (order_column, order_direction)
        token = None if column is None else (lambda row: self.seek_token(order, column, row))
        toward, found = (seek[0], self.read_seek_token(order, column, seek[1])) if seek else (None, None)
        if found is not None:
            value, key = found
            ascending = (order_direction == "asc") == (toward == "after")
            scan = asc if ascending else desc
            beyond = self._beyond(column, pk, value, key, ascending)
            rows = self._branch_rows(filters, column, ascending, 0, page_size + 1, beyond)
            if rows is None:
                query = self._apply_inner_all(self.session.query(self.obj), filters, aliases_mapping={})
                query = query.filter(beyond)
                rows = self._with_eager(query.order_by(scan(column), scan(pk)).limit(page_size + 1)).all()
            further = len(rows) > page_size
            rows = rows[:page_size]
            if toward == "after":
                return self.Page(count, rows, max(page, 1), further, token)
            if further:
                return self.Page(count, rows[::-1], max(page, 1), True, token)
            page = 0  # nothing before these rows: this is the first page
        rows = None
        if column is not None:
            rows = self._branch_rows(filters, column, order_direction == "asc", page * page_size, page_size + 1)
        if rows is None:
            rows = self._offset_rows(filters, order_column, order_direction, page, page_size, extra=1)
        return self.Page(count, rows[:page_size], page, len(rows) > page_size, token)

    # -- a scope that is an OR of branches (one's own rows, or those of what one
    # administers): no one index orders the rows it lets through, so the database
    # would read back through every row of the table, or sort all that match. Each
    # branch (an IN list of few values: each value) is read in the page's order by
    # its own index, as far as the page reaches, and the pages are merged; counts
    # read the branches one after the other until the cap.

    #: At most this many branches (else the one query), and pages ending at most this
    #: far (deeper offsets page as usual; a keyset page always ends within one page).
    GRID_BRANCHES, GRID_BRANCH_REACH = 40, 500
    #: On PostgreSQL an `IN` list longer than this is one branch that reads each value
    #: in order through a LATERAL join (an organiser of hundreds of events), instead
    #: of one UNION member per value.
    GRID_LIST_BRANCHES = 8

    def scope_branches(self, disjoint=True) -> Optional[list]:
        """This viewer's scope as branches when it is an OR (None otherwise), an `IN`
        list of values split into one `=` per value. `disjoint`: each term without the
        rows of the terms before it (NULL-safe), as a count needs; a page merged by
        UNION needs none, and the exclusion can cost a branch a walk through rows it
        then drops (a referent's own requests, all of them in their school)."""
        criterion = scope_criterion(self.obj)
        if not (isinstance(criterion, BooleanClauseList) and criterion.operator is operators.or_):
            return None

        def values_of(term):
            values = getattr(getattr(term, "right", None), "value", None)
            if (isinstance(term, BinaryExpression) and term.operator is operators.in_op
                    and isinstance(term.left, Column) and getattr(term.right, "expanding", False)
                    and isinstance(values, (list, tuple))):
                return [value for value in dict.fromkeys(values) if value is not None]
            return None

        # The lists first: their values' branches need no other condition (a count
        # reads them from the index alone); the other terms exclude the lists' rows.
        terms = sorted(criterion.clauses, key=lambda term: values_of(term) is None)
        lateral = self.session.get_bind().dialect.name == "postgresql"
        branches, earlier = [], []
        for term in terms:
            outside = [not_(func.coalesce(other, false(), type_=Boolean)) for other in earlier] if disjoint else []
            values = values_of(term)
            if values is not None and lateral and len(values) > self.GRID_LIST_BRANCHES:
                branches.append(EachValue(term.left, tuple(values), tuple(outside)))
            elif values is not None:
                branches.extend(and_(term.left == value, *outside) for value in values)
            else:
                branches.append(and_(term, *outside))
            earlier.append(term)
        return branches if 1 < len(branches) <= self.GRID_BRANCHES else None

    def _filtered(self, filters):
        """The filters' query without the scope (the branches bring it)."""
        return SQLAInterface._apply_inner_all(self, self.session.query(self.obj), filters, aliases_mapping={})

    def _text_matches(self, filters, keys, beyond=None):
        """The `keys` of the rows a text search finds in scope, planned as all of them
        (a materialized CTE: the trigram index yields its matches in no order, so an
        outer order or cap must not tempt the database into walking another index)."""
        query = self._apply_inner_all(self.session.query(self.obj), filters, aliases_mapping={})
        if beyond is not None:
            query = query.filter(beyond)
        return query.with_entities(*keys).order_by(None).cte().prefix_with("MATERIALIZED")

    #: A text search first looks for its matches among this many rows of the scope in
    #: the grid's order, each branch read by its own index: when a page's worth is
    #: there, they are the first matches; otherwise every match in scope is read and
    #: sorted (`_text_matches`). Frequent words take the first way, rare ones the second.
    #: Only a scope of at most TEXT_PROBE_PARTS branches (each value of an EachValue one
    #: counting) is probed: each part reads up to TEXT_PROBE_ROWS rows.
    TEXT_PROBE_ROWS, TEXT_PROBE_PARTS = 2000, 4

    def _branch_union(self, filters, keys, order, limit, branches, beyond=None):
        """The first `limit` keys of each branch in `order` (ORDER BY terms on the
        model's columns), the filters and `beyond` applied: one subquery."""
        filtered = self._filtered(filters).with_entities(*keys).order_by(None).statement
        if beyond is not None:
            filtered = filtered.where(beyond)
        # UNION, not UNION ALL: a row two branches hold is kept once (the branches of a
        # page need not be disjoint). Merging all the branches' pages once they are read
        # lets each choose its own plan; merging them in order (a Merge Append) would
        # have each read in that order, whatever it costs.
        return union(*(
            branch.ordered(filtered, order, limit) if isinstance(branch, EachValue)
            else select(*filtered.where(branch).order_by(*order).limit(limit).subquery().c)
            for branch in branches)).subquery()

    def _text_probe(self, filters, keys, scan, need, branches, beyond=None) -> Optional[list]:
        """The first `need` keys (in the order `scan` of keys[-1], then the id) that the
        text search finds among the first TEXT_PROBE_ROWS rows of the scope in that
        order; None when fewer are there (the others may lie beyond)."""
        parts = sum(len(branch.values) if isinstance(branch, EachValue) else 1 for branch in branches)
        if need > self.TEXT_PROBE_ROWS or parts > self.TEXT_PROBE_PARTS:
            return None
        pk = keys[0]
        order = [scan(key) for key in keys[::-1]]
        text, others = filters.copy(), filters.copy()
        text.filters, text.values, others.filters, others.values = [], [], [], []
        for flt, value in zip(filters.filters, filters.values):
            part = text if isinstance(flt, (FilterContains, FilterEndsWith)) else others
            part.filters.append(flt)
            part.values.append(value)
        window = self._branch_union(others, keys, order, self.TEXT_PROBE_ROWS, branches, beyond)
        first = select(window.c[pk.name]).order_by(*(scan(window.c[key.name]) for key in keys[::-1])).limit(
            self.TEXT_PROBE_ROWS)
        found = self._filtered(text).with_entities(*keys).filter(pk.in_(first)).order_by(*order).limit(need).all()
        return found if len(found) == need else None

    def _branch_rows(self, filters, column, ascending, offset, limit, beyond=None) -> Optional[list]:
        """Rows `offset` to `offset + limit` in the order (column, id), ascending or not,
        of those the filters, `beyond` and the scope let through, read branch by branch
        (`scope_branches`); None when the scope has no branches or the page reaches too
        far: page it as usual. The same rows as the one query, in the same order.

        A text search ("contains", "ends with") is looked for in the first rows of the
        scope (`_text_probe`), else found through a trigram index, which yields its
        matches in no order: they are read once, in scope, and sorted."""
        if offset + limit > self.GRID_BRANCH_REACH:
            return None
        branches = self.scope_branches(disjoint=False)
        if branches is None:
            return None
        pk = self.obj.__mapper__.primary_key[0]
        scan = asc if ascending else desc
        keys = (pk,) if column is pk else (pk, column)
        found = self._text_probe(filters, keys, scan, offset + limit, branches, beyond) \
            if _text_search(filters) else None
        if found is not None:
            page = [key for key, *_ in found[offset:]]
        else:
            merged = self._text_matches(filters, keys, beyond) if _text_search(filters) else self._branch_union(
                filters, keys, [scan(key) for key in keys[::-1]], offset + limit, branches, beyond)
            page = [key for key, *_ in self.session.execute(
                select(*merged.c).order_by(*(scan(merged.c[key.name]) for key in keys[::-1]))
                .offset(offset).limit(limit))]
        return self._rows_of_keys(page)

    def _rows_of_keys(self, keys) -> list:
        """The rows of these primary keys, in their order, with the relations the grid
        shows. Prepared (app.platform.transactions): a plan by primary key is the same
        for any keys, and planning the relations' joins costs more than reading them."""
        if not keys:
            return []
        pk = self.obj.__mapper__.primary_key[0]
        query = self._with_eager(self.session.query(self.obj)).filter(pk.in_(keys)).execution_options(prepare=True)
        rows = {getattr(row, pk.key): row for row in query}
        return [rows[key] for key in keys if key in rows]

    def seek_column(self, order_column):
        """The column a keyset link seeks on: one of the model's own (not a relation's),
        with a type a token can carry; None otherwise (those orders page by offset)."""
        prop = self.obj.__mapper__.column_attrs.get(order_column)
        if prop is None or len(self.obj.__mapper__.primary_key) != 1 or not isinstance(prop.columns[0], Column):
            return None
        column = prop.columns[0]
        try:
            kind = column.type.python_type
        except NotImplementedError:
            return None
        return column if issubclass(kind, (int, str, float, Decimal, date, enum.Enum)) else None

    def seek_token(self, order, column, row) -> str:
        """The keyset token of `row` in `order` (column name, direction): the order,
        the row's value in that column and its id."""
        value = getattr(row, self.obj.__mapper__.get_property_by_column(column).key)
        if isinstance(value, enum.Enum):
            value = value.name
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        pk = self.obj.__mapper__.primary_key[0]
        text_ = json.dumps([*order, value, getattr(row, pk.key)], separators=(",", ":"))
        return base64.urlsafe_b64encode(text_.encode()).decode().rstrip("=")

    def read_seek_token(self, order, column, token: str):
        """(value, id) from a token of `seek_token`; None when it is of another order;
        ValueError when it is no token (or of an order without keyset)."""
        try:
            order_column, direction, value, key = json.loads(
                base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (TypeError, ValueError, UnicodeDecodeError):
            raise ValueError("not a keyset token") from None
        if [order_column, direction] != list(order):
            return None
        if column is None:
            raise ValueError("this order has no keyset")
        pk = self.obj.__mapper__.primary_key[0]
        return self._typed(column, value), self._typed(pk, key)

    @staticmethod
    def _typed(column, value):
        if value is None and column.nullable:
            return None
        kind = column.type.python_type
        try:
            if issubclass(kind, enum.Enum):
                return kind[value]
            if kind is datetime:
                return datetime.fromisoformat(value)
            if kind is date:
                return date.fromisoformat(value)
            if kind is Decimal:
                return Decimal(value)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
        except (KeyError, TypeError, ArithmeticError) as error:
            raise ValueError("not a keyset token") from error
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise ValueError("not a keyset token")
        return int64(value) if kind is int else value

    def _beyond(self, column, pk, value, key, ascending):
        """The rows after (value, key) in the order (column, pk), ascending or descending,
        NULLs where the database sorts them (PostgreSQL: above every value; SQLite: below),
        as the offset pages see them."""
        nulls_high = self.session.get_bind().dialect.name != "sqlite"
        pk_beyond = pk > key if ascending else pk < key
        if value is None:
            tie = and_(column.is_(None), pk_beyond)
            return or_(tie, column.is_not(None)) if nulls_high != ascending else tie
        pair, bound = tuple_(column, pk), tuple_(bindparam(None, value, type_=column.type),
                                                 bindparam(None, key, type_=pk.type))
        strict = pair > bound if ascending else pair < bound
        if column.nullable and nulls_high == ascending:
            return or_(strict, column.is_(None))
        return strict

    @staticmethod
    def _grid_count_limit(filters, page, page_size):
        """The grid's exact-count limit: GRID_EXACT_COUNT_LIMIT, but only
        GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT (and always the next page) when a
        "contains"/"ends with" text filter is set. Such a pattern ('%word%')
        is found through a trigram index, which yields every match before the
        rows are rechecked: counting 10,001 of a common word's matches costs
        ~40 ms on a million rows, 251 about 5 ms. Beyond the limit the
        grid shows "more than N" as always. None: the grid's usual limit."""
        if not _text_search(filters):
            return None
        limit = current_app.config.get("GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT")
        if not limit:
            return None
        limit = max(limit, ((page or 0) + 2) * page_size)
        return min(limit, current_app.config["GRID_EXACT_COUNT_LIMIT"])

    def _with_eager(self, query):
        for path in self.eager_relations:
            model, option = self.obj, None
            for name in path:
                attribute = getattr(model, name)
                option = joinedload(attribute) if option is None else option.joinedload(attribute)
                model = attribute.property.mapper.class_
            query = query.options(option)
        return query

    # -- writes stay inside the author's scope ------------------------------

    def _check_in_scope(self, item, criterion):
        if criterion is None:
            return
        self.session.flush()
        pk = self.obj.__mapper__.primary_key[0]
        visible = self.session.query(pk).filter(pk == getattr(item, pk.key), criterion).first()
        if visible is None:
            self.session.rollback()
            message = gettext("This record would be outside your organisations.")
            raise OutOfScopeError(message) from PermissionError(message)

    def add(self, item, commit=True):
        criterion = scope_criterion(self.obj)
        self.session.add(item)
        self._check_in_scope(item, criterion)
        super().add(item, commit)

    def edit(self, item, commit=True):
        self._check_in_scope(item, scope_criterion(self.obj))
        super().edit(item, commit)


# ---------------------------------------------------------------------------
# Security stamps: signing out and any password change end every session and token
# ---------------------------------------------------------------------------

STAMP_KEY = "guichet_stamp"  # in the session cookie, and a claim of every API token
# "Remember me": Flask-Login's remember cookie names the person; this one, set and
# cleared beside it, carries the stamp of that sign-in (signed), so a session it
# restores ends with the stamp like any other.
REMEMBER_STAMP_COOKIE = "guichet_remember_stamp"


def current_stamp(user_id) -> Optional[str]:
    return db.session.scalar(select(SecurityStamp.stamp).where(SecurityStamp.user_id == user_id))


def stamp_for_sign_in(user_id) -> str:
    """The stamp a new session or token carries, made on a person's first sign-in; two
    first sign-ins at once (a team's door phones) make one, which both carry."""
    stamp = current_stamp(user_id)
    if stamp is None:
        dialect = db.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(insert(SecurityStamp.__table__).values(
            user_id=user_id, stamp=secrets.token_hex(16), changed_on=utcnow()).on_conflict_do_nothing())
        db.session.commit()
        stamp = current_stamp(user_id)
    return stamp


def _new_stamps(connection, user_ids) -> dict:
    """Give these people new stamps: the sessions and tokens they had stop working."""
    stamps = {}
    table = SecurityStamp.__table__
    for user_id in set(user_ids):
        stamps[user_id] = secrets.token_hex(16)
        values = {"stamp": stamps[user_id], "changed_on": utcnow()}
        if not connection.execute(table.update().where(table.c.user_id == user_id).values(**values)).rowcount:
            connection.execute(table.insert().values(user_id=user_id, **values))
    return stamps


def end_sessions(user_ids) -> None:
    """Sign these people out everywhere (the caller commits)."""
    _new_stamps(db.session.connection(), user_ids)


def _note_password_changes(session, flush_context, instances):
    changed = {user.id for user in session.dirty
               if isinstance(user, User) and user.id and inspect(user).attrs.password.history.has_changes()}
    if changed:
        session.info.setdefault("guichet_password_changed", set()).update(changed)


def _after_password_changes(session, flush_context):
    """A new password ends the person's sessions, tokens and open set/reset links.
    Whoever changes their own password keeps the session they did it in."""
    changed = session.info.pop("guichet_password_changed", None)
    if not changed:
        return
    connection = session.connection()
    stamps = _new_stamps(connection, changed)
    tokens = PasswordToken.__table__
    connection.execute(tokens.update().where(tokens.c.user_id.in_(changed), tokens.c.used_at.is_(None))
                       .values(used_at=utcnow()))
    person = signed_in_person()
    if person is not None and person.id in stamps and has_request_context() and STAMP_KEY in flask_session:
        flask_session[STAMP_KEY] = stamps[person.id]


def _remember_serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="guichet.remember-stamp")


def remembered_stamp(user_id) -> Optional[str]:
    """The stamp the request's remember cookie was given for `user_id`, if it holds one."""
    cookie = request.cookies.get(REMEMBER_STAMP_COOKIE) if has_request_context() else None
    if not cookie:
        return None
    try:
        remembered_id, stamp = _remember_serializer().loads(cookie)
    except (BadSignature, ValueError, TypeError):
        return None
    return stamp if remembered_id == user_id else None


def _on_sign_in(app, user, **extra):
    flask_session[STAMP_KEY] = stamp_for_sign_in(user.id)
    if flask_session.get("_remember") == "set":  # login_user(remember=True)
        g.guichet_remember = (user.id, flask_session[STAMP_KEY])


def _remember_cookie(response):
    """Set the stamp cookie beside Flask-Login's remember cookie, or clear it with it."""
    remember = g.get("guichet_remember")
    config = current_app.config
    if remember:
        duration = config.get("REMEMBER_COOKIE_DURATION", timedelta(days=365))
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else int(duration)
        response.set_cookie(REMEMBER_STAMP_COOKIE, _remember_serializer().dumps(list(remember)),
                            max_age=int(seconds), httponly=True, secure=config.get("REMEMBER_COOKIE_SECURE", False),
                            samesite=config.get("REMEMBER_COOKIE_SAMESITE", "Lax"))
    elif g.get("guichet_forget"):
        response.delete_cookie(REMEMBER_STAMP_COOKIE)
    return response


def install_session_guards(app) -> None:
    if not event.contains(Session, "before_flush", _note_password_changes):
        event.listen(Session, "before_flush", _note_password_changes)
        event.listen(Session, "after_flush", _after_password_changes)
    user_logged_in.connect(_on_sign_in, app)
    app.after_request(_remember_cookie)


#: The tables a role's permissions are read from (FAB's).
PERMISSION_TABLES = ("ab_role", "ab_permission_view_role", "ab_permission_view", "ab_permission", "ab_view_menu")


class GuichetSecurityManager(SecurityManager):
    """FAB's security manager, plus Guichet's roles built from the registered grants."""

    def __init__(self, appbuilder):
        """FAB's security screens, replaced before FAB wires them: French labels
        (app/views/security_views.py) and Guichet's account rules
        (app/views/accounts.py: no typed password at creation, logins that never
        change, the "forgot password" link). Same class names, same permissions.
        Imported here because those views build on this module."""
        from .views import accounts, security_views

        for name, view in {**security_views.SECURITY_VIEWS, **accounts.SECURITY_VIEWS}.items():
            setattr(self, name, view)
        # {frozenset of role ids: frozenset of (permission, view)}, and the Public role's.
        self.role_pairs = RecentAnswers(PERMISSION_TABLES, self.ROLE_PAIRS_SECONDS, self.NAVBAR_CACHE_SIZE)
        self.public_pairs = RecentAnswers(PERMISSION_TABLES, self.PUBLIC_PAIRS_SECONDS, 1)
        super().__init__(appbuilder)
        install_session_guards(current_app._get_current_object())

    # -- sessions and tokens end with their stamp ------------------------------

    def _active_user_and_stamp(self, pk):
        """(the active person `pk`, their current stamp), or (None, None): in one query,
        with their roles and their groups' roles, which every permission check reads
        (FAB's own load costs four round trips: the person, the stamp, roles, groups),
        and their organisations, which most scopes read (kept in g for `current_viewer`:
        one round trip fewer per request). No autoflush: a membership being written
        must not widen the scope that decides whether the write is allowed."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None, None
        with self.session.no_autoflush:
            rows = self.session.execute(self._statements()["user"], {"user_id": pk}).unique().all()
        if not rows or not rows[0][0].is_active:
            return None, None
        if has_request_context():
            setattr(g, MEMBERSHIPS_KEY, (pk, frozenset(row[2] for row in rows if row[2] is not None)))
        return rows[0][0], rows[0][1]

    _guichet_statements = None

    def _statements(self) -> dict:
        """The statements every request runs, built once (with bind parameters): building
        one costs more than the database's answer to it; prepared once per connection
        (`prepare=True`, app.platform.transactions): planning the person's load too."""
        statements = self._guichet_statements
        if statements is None:
            from flask_appbuilder.security.sqla.models import assoc_permissionview_role as link

            user_model, permission, view, pv = (self.user_model, self.permission_model, self.viewmenu_model,
                                                self.permissionview_model)
            statements = self._guichet_statements = {
                "user": select(user_model, SecurityStamp.stamp, Membership.organisation_id)
                .outerjoin(SecurityStamp, SecurityStamp.user_id == user_model.id)
                .outerjoin(Membership, Membership.user_id == user_model.id)
                .where(user_model.id == bindparam("user_id"))
                .options(joinedload(user_model.roles),
                         joinedload(user_model.groups).joinedload(self.group_model.roles))
                .execution_options(prepare=True),
                "pairs": select(permission.name, view.name)
                .select_from(pv)
                .join(link, pv.id == link.c.permission_view_id)
                .join(permission, permission.id == pv.permission_id)
                .join(view, view.id == pv.view_menu_id)
                .where(link.c.role_id.in_(bindparam("role_ids", expanding=True)))
                .execution_options(prepare=True),
            }
        return statements

    def load_user(self, pk):
        """The session's person, while the session carries their current stamp. A session
        restored from the remember cookie takes the stamp of its stamp cookie."""
        user, current = self._active_user_and_stamp(pk)
        if user is None:
            return None
        stamp = flask_session.get(STAMP_KEY) or remembered_stamp(user.id)
        if stamp is None or stamp != current:
            return None
        if flask_session.get(STAMP_KEY) != stamp:
            flask_session[STAMP_KEY] = stamp
        return user

    def create_jwt_manager(self, app):
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(lambda identity: {STAMP_KEY: stamp_for_sign_in(int(identity))})
        return jwt_manager

    def load_user_jwt(self, _jwt_header, jwt_data):
        """The token's person, while the token carries their current stamp (FAB's, checked)."""
        user, current = self._active_user_and_stamp(jwt_data["sub"])
        if user is None or jwt_data.get(STAMP_KEY) != current:
            return None
        g.user = user
        return user

    def on_user_logout(self, user) -> None:
        """Signing out ends every session and token of the person, not just this one."""
        super().on_user_logout(user)
        end_sessions([user.id])
        db.session.commit()
        g.guichet_forget = True

    # -- permission checks: the roles' pairs read once per few seconds ---------
    #
    # FAB asks the database once per `has_access` (a list page makes 15-20 of
    # them: the view, its buttons, every menu entry). The answers are the
    # same, read from the roles' (permission, view) pairs, which each process
    # keeps for ROLE_PAIRS_SECONDS: an API call (a check-in scan, an eligibility
    # check) then pays no query for its permission. A change of a role's
    # permissions made in a process clears its copy at once (app/platform/recent);
    # the other processes see it at their next request (through Redis; without it,
    # within ROLE_PAIRS_SECONDS). Outside a request FAB's own query is used.

    ROLE_PAIRS_SECONDS = 5

    def _role_permission_pairs(self, role_ids):
        if not has_request_context():
            return None
        key = frozenset(role_ids)
        return self.role_pairs.get(key, lambda: frozenset(
            tuple(row) for row in self.session.execute(self._statements()["pairs"], {"role_ids": list(key)})))

    # A page asks `has_access` ~40 times (the view, its buttons, every menu
    # entry, each a different pair), and each ask walks FAB's proxies, the
    # user's roles and the built-in roles again. For the signed-in (session)
    # user, attached, whose roles are all database roles, the answer is FAB's:
    # the pair is in the roles' pairs (loaded once per request above). That
    # state is recomputed when the request, the user or their roles change;
    # API keys, JWT, anonymous users and built-in roles go through FAB.

    def session_user_pairs(self) -> Optional[frozenset]:
        """The (permission, view) pairs of the signed-in session user's roles, read
        once per request; None for the others (API keys, JWT, built-in roles), whom
        FAB's own checks answer."""
        if not has_request_context() or getattr(g, "_api_key_user", False):
            return None

        user = current_user._get_current_object()
        if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
            return None
        shown = g.get("user")  # what FAB reads
        if shown is not current_user and shown is not user:
            return None
        roles = list(user.roles) + [role for group in getattr(user, "groups", ()) for role in group.roles]
        state = (request._get_current_object(), user, tuple(role.id for role in roles), self.role_pairs.generation)
        memo = g.get("_guichet_access")
        if memo is None or memo[0] != state:
            pairs = None
            if not self._is_user_detached(user) and not any(role.name in self.builtin_roles for role in roles):
                pairs = self._role_permission_pairs([role.id for role in roles]) if roles else frozenset()
            memo = g._guichet_access = (state, pairs)
        return memo[1]

    # FAB's `@protect` first asks whether an API endpoint is public, on every call: two
    # queries (the Public role, then its permissions), ~2.5 ms of a check-in scan. The
    # Public role's pairs are read once per PUBLIC_PAIRS_SECONDS in each process (Guichet
    # grants the Public role nothing; a change made to it applies within that time).

    PUBLIC_PAIRS_SECONDS = 10

    def is_item_public(self, permission_name, view_name) -> bool:
        pairs = self.public_pairs.get("public", lambda: frozenset(
            (pv.permission.name, pv.view_menu.name) for pv in self.get_public_permissions() or ()))
        return (permission_name, view_name) in pairs

    def has_access(self, permission_name, view_name) -> bool:
        pairs = self.session_user_pairs()
        if pairs is None:
            return super().has_access(permission_name, view_name)
        return (permission_name, view_name) in pairs

    # The navbar: FAB renders every menu entry (~40: a permission check, a
    # url_for and a translation each) on every page. Its HTML depends only on
    # the menu, the language, the URL root and which entries the user's roles
    # show (menu_access) and their conditions (`menu_cond`) let through: it is
    # rendered once per such key and reused. Other
    # users (API key, built-in roles...) get FAB's rendering each time.

    NAVBAR_TEMPLATE = "guichet/navbar_menu_fab.html"
    NAVBAR_CACHE_SIZE = 128

    def navbar_menu(self, menu):

        from flask_babel import get_locale
        from markupsafe import Markup

        def render():
            return Markup(current_app.jinja_env.get_template(self.NAVBAR_TEMPLATE).render(menu=menu))

        pairs = self.session_user_pairs()
        if pairs is None:
            return render()
        shown = []  # an entry with a condition (menu_cond: an entitlement...) is asked it each time
        for item in menu.get_list():
            shown.append((id(item), ("menu_access", item.name) in pairs and item.should_render()))
            for child in item.childs or ():
                shown.append((id(child), child is not None and ("menu_access", child.name) in pairs
                               and child.should_render()))
        key = (str(get_locale()), request.host_url, request.script_root, tuple(shown))
        cache = menu.__dict__.setdefault("_guichet_navbar", {})
        html = cache.get(key)
        if html is None:
            if len(cache) >= self.NAVBAR_CACHE_SIZE:
                cache.clear()
            html = cache[key] = render()
        return html

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        pairs = self._role_permission_pairs(role_ids)
        if pairs is None:
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        return (permission_name, view_name) in pairs

    # -- accounts ------------------------------------------------------------

    def on_user_login(self, user) -> None:
        """FAB calls this once a password was right (form and API sign-in alike)."""
        super().on_user_login(user)
        g.guichet_signed_in = True

    def _password_refusal(self, password):
        """The policy's message for `password`, or None (FAB's complexity hook)."""
        validator = current_app.config.get("FAB_PASSWORD_COMPLEXITY_VALIDATOR")
        if not current_app.config.get("FAB_PASSWORD_COMPLEXITY_ENABLED") or validator is None:
            return None
        try:
            validator(password)
        except PasswordComplexityValidationError as error:
            return str(error)
        return None

    def add_user(self, username, first_name, last_name, email, role=None, password="",
                 hashed_password="", *args, **kwargs):
        """FAB's add_user (`flask fab create-admin`, `create-user`), refusing a
        password the policy refuses (False, as FAB answers on error)."""
        if password and not hashed_password:
            refusal = self._password_refusal(password)
            if refusal:
                log.error("No user %s created: %s", username, refusal)
                return False
        return super().add_user(username, first_name, last_name, email, role, password,
                                hashed_password, *args, **kwargs)

    def reset_password(self, userid, password):
        """FAB's reset_password, refusing a password the policy refuses (its
        forms check first and show the message on the field)."""
        refusal = self._password_refusal(password)
        if refusal:
            raise PasswordComplexityValidationError(refusal)
        super().reset_password(userid, password)

    def sync_roles(self) -> None:
        """Create every role and the permissions of every view and menu entry, drop those
        a view no longer has (from every role), and give each role exactly the
        permissions granted by app/access/*.py; Admin holds every one. FAB's
        add_permissions does this a row and a commit at a time (7,500 queries, 10 s on
        PostgreSQL, for each new database); here the rows are read once and one commit
        writes the difference."""
        for name in (*ROLE_NAMES, self.auth_role_public):
            self.find_role(name) or self.add_role(name)
        wanted = {}  # view or menu name -> its permission names, as FAB derives them
        for baseview in self.appbuilder.baseviews:
            wanted.setdefault(baseview.class_permission_name, set()).update(baseview.base_permissions or ())
        for category in self.appbuilder.menu.get_list():
            for item in (category, *category.childs):
                if item.name != "-":
                    wanted.setdefault(item.name, set()).add("menu_access")
        session = self.session
        permissions = {row.name: row for row in session.query(self.permission_model)}
        views = {row.name: row for row in session.query(self.viewmenu_model)}
        pairs = {(pv.permission.name, pv.view_menu.name): pv
                 for pv in session.query(self.permissionview_model).options(
                     joinedload(self.permissionview_model.permission),
                     joinedload(self.permissionview_model.view_menu))
                 if pv.permission is not None and pv.view_menu is not None}
        roles = session.query(self.role_model).options(joinedload(self.role_model.permissions)).all()
        stale = {pv for (permission, view), pv in pairs.items() if view in wanted and permission not in wanted[view]}
        for role in roles:
            role.permissions = [pv for pv in role.permissions if pv not in stale]
        for pv in stale:
            session.delete(pv)
        for view, names in wanted.items():
            for name in names:
                if (name, view) in pairs:
                    continue
                permission = permissions.get(name) or permissions.setdefault(name, self.permission_model(name=name))
                view_menu = views.get(view) or views.setdefault(view, self.viewmenu_model(name=view))
                pairs[(name, view)] = self.permissionview_model(permission=permission, view_menu=view_menu)
                session.add(pairs[(name, view)])
        session.flush()
        used = {pv.permission_id for pv in session.query(self.permissionview_model)}
        for permission in permissions.values():
            if permission.id not in used:
                session.delete(permission)
        granted = {pair: pv for pair, pv in pairs.items() if pv not in stale}
        for role in roles:
            if role.name == ADMIN:
                role.permissions = list({*role.permissions, *(granted[(name, view)] for view, names in wanted.items()
                                                               for name in names)})
                continue
            if role.name not in ROLE_NAMES:
                continue
            role_pvs = set()
            for permission, view in ROLE_GRANTS.get(role.name, []):
                pv = granted.get((permission, view))
                if pv is None:
                    raise LookupError(f"Unknown permission {permission} on {view} for role {role.name}")
                role_pvs.add(pv)
            role.permissions = list(role_pvs)
        self.session.commit()
