"""The base grid and base REST API every Guichet view derives from.

Row scope lives in `ScopedInterface` (app/security.py); this module closes the
FAB paths that bypass a view's filters (actions, file download) and adds the
CSV/XLSX export of exactly what a grid shows.
"""
import sys
from datetime import timezone

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.api import safe
from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.fields import EnumField, QuerySelectField
from flask_appbuilder.widgets import ListWidget, RenderTemplateWidget, SearchWidget
from flask_babel import get_locale, gettext, lazy_gettext as _l, ngettext
from markupsafe import Markup, escape
from marshmallow import ValidationError, fields
from sqlalchemy import DateTime
from sqlalchemy.exc import DBAPIError, IntegrityError
from wtforms import DateField, DateTimeField, DecimalField, FloatField, IntegerField, StringField
from wtforms.validators import StopValidation

from ..desks import DESKS
from ..i18n import localise, one_page
from ..extensions import db
from ..platform import clock, exports, files, inputs
from ..platform.refusals import Refused
from ..platform.recent import RecentAnswers
from ..security import ApproximateCount, ScopedInterface


class Attempt:
    """Run a rule that may refuse, as a view does::

        with Attempt(done=_("Ticket created.")) as attempt:
            ticket = rules.create_ticket(...)
        if attempt.refused is None:
            return redirect(...)

    Without a refusal, what the rule wrote is committed and `done` (if any) flashed.
    On any `Refused` everything is rolled back and the person is told: on the form
    field the refusal names when a form has it, else in a flash (unless the page
    shows the refusal itself: `flash_refusal=False`). `refused` is the refusal
    (None: it went through); `done` may be set inside the block.
    """

    def __init__(self, done=None, form=None, flash_refusal=True):
        self.done, self.form, self.flash_refusal, self.refused = done, form, flash_refusal, None

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            db.session.commit()
            if self.done:
                flash(str(self.done), "success")
            return False
        if not issubclass(kind, Refused):
            return False
        db.session.rollback()
        self.refused = error
        field = getattr(self.form, error.field, None) if self.form is not None and error.field else None
        if field is not None:
            field.errors = [*field.errors, error.message]
        elif self.flash_refusal:
            flash(error.message, "danger")
        return True


class GuichetListWidget(ListWidget):
    """FAB's list widget, drawing the same rows with fewer calls per row."""

    template = "guichet/widgets/list.html"

    def __call__(self, **kwargs):
        kwargs["row_links"] = self.row_links
        kwargs["row_cells"] = self.row_cells
        kwargs["grid_rows"] = self.grid_rows
        kwargs["order_links"] = self.order_links
        return super().__call__(**kwargs)

    #: The chevron of a sortable column's header: not the order, ascending, descending.
    ORDER_ICONS = ("fa-arrows-v", "fa-chevron-down", "fa-chevron-up")

    @classmethod
    def order_links(cls, columns, order_columns, modelview_name) -> dict:
        """{column: (its header's sort link, its chevron)} as FAB's `link_order` and
        `get_link_order` filters give them (the same links, the same toggle), with one
        url_for per grid instead of one per column."""
        order_key, direction_key = f"_oc_{modelview_name}", f"_od_{modelview_name}"
        args = request.args.to_dict()
        current, direction = args.get(order_key), args.get(direction_key)
        toggled = ("desc" if direction == "asc" else "asc") if order_key in args else "asc"
        marker = "__guichet_order__"
        template = url_for(request.endpoint, **{**(request.view_args or {}), **args, order_key: marker,
                                                 direction_key: toggled})
        head, _, tail = template.partition(marker)
        to_url = current_app.url_map.converters["default"](current_app.url_map).to_url
        links = {}
        for name in columns:
            if name in order_columns:
                state = (2 if direction == "asc" else 1) if current == name else 0
                links[name] = (head + to_url(name) + tail, cls.ORDER_ICONS[state])
        return links

    @classmethod
    def grid_rows(cls, items, pks, columns, formatters, modelview_name, filters, actions, can_show, can_edit,
                  can_delete, nonce) -> Markup:
        """Every row of the page as FAB's template draws it (its check box, its show,
        edit and delete buttons, its cells), in one call per page instead of some
        twenty template steps per row. The labels are the template's: translated,
        not escaped; links and keys are escaped."""
        links = [(kind, cls.row_links(modelview_name, kind, pks, None if kind == "delete" else filters))
                 for kind, shown in (("show", can_show), ("edit", can_edit), ("delete", can_delete)) if shown]
        select = gettext("Select row %(num)d")
        # Each button as the pieces its (escaped) link joins.
        buttons = {kind: ('<a href="', f'" class="btn btn-sm btn-default" data-toggle="tooltip" rel="tooltip" '
                                       f'title="{gettext(title)}"><span class="sr-only">{gettext(short)}</span>'
                                       f'<i class="fa fa-{icon}"></i></a>')
                   for kind, title, short, icon in (("show", "Show record", "Show", "search"),
                                                    ("edit", "Edit record", "Edit", "edit"))}
        buttons["delete"] = (
            '<a id="btn-delete-',
            f'" href="#" class="btn btn-sm btn-default confirm" rel="tooltip" title="{gettext("Delete record")}">'
            f'<span class="sr-only">{gettext("Delete")}</span><i class="fa fa-trash"></i></a>'
            f'<script nonce="{nonce}">document.getElementById("btn-delete-',
            '").addEventListener("click", function () { const adminAction = new AdminActions(); '
            "return adminAction.execute_single_delete('",
            f"','{gettext('Are you sure you want to delete this item?')}'); }})</script>")
        rows = []
        with one_page():
            cells = [cls.row_cells(item, columns, formatters) for item in items]  # (items: read once)
        for index, pk in enumerate(pks[:len(cells)]):
            row = ["<tr>"]
            if actions:
                key = escape(pk)
                row.append(f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" '
                           f'type="checkbox" aria-label="{select % {"num": index + 1}}"></td>')
            if links:
                row.append('<td><center><div class="btn-group btn-group-xs" style="display: flex;">')
                row.extend(str(escape(urls[index])).join(buttons[kind]) for kind, urls in links if urls[index])
                row.append("</div></center></td>")
            row.append(cells[index])
            row.append("</tr>")
            rows.append("".join(row))
        return Markup("\n".join(rows))

    @staticmethod
    def row_cells(item, columns, formatters):
        """A row's cells, escaped as the template's loop did, built in one call per row."""
        cells = []
        for name in columns:
            formatter = formatters.get(name)
            cells.append(escape(formatter(item[name]) if formatter else item[name]))
        return Markup("<td>" + "</td><td>".join(cells) + "</td>") if cells else Markup()

    @staticmethod
    def row_links(modelview_name, action, pks, filters=None):
        """The link of `action` (show, edit, delete) for each pk, as FAB's
        `safe_url_for` + `set_link_filters` build it, with one url_for per page."""
        marker = "__guichet_pk__"
        try:
            path = url_for(f"{modelview_name}.{action}", pk=marker)
        except Exception:  # as FAB's safe_url_for: no such endpoint, no link
            return [None] * len(pks)
        if filters is not None:
            path = current_app.jinja_env.filters["set_link_filters"](path, filters)
        head, _, tail = path.partition(marker)
        to_url = current_app.url_map.converters["default"](current_app.url_map).to_url
        return [head + to_url(pk) + tail for pk in pks]


class GuichetSearchWidget(SearchWidget):
    """FAB's search widget: the same form, its column labels, filter names and
    the HTML of its fixed fields (text, number, date, enum) built once per
    language instead of on every page. A drop-down of related rows (data) is
    kept a few seconds per process and viewer's scope (`relation_options`), and
    offered only up to `relation_choices_limit` rows: beyond, its filter takes the
    row's number in a text box (a drop-down of thousands reads and weighs the page
    for nothing). A field with a value or a default is built each time."""

    STATIC_FIELDS = (StringField, IntegerField, DecimalField, FloatField, DateTimeField, DateField, EnumField)
    relation_choices_limit = 200

    def __call__(self, **kwargs):
        form = self.template_args["form"]
        columns = tuple(self.template_args["include_cols"])
        cache = self.filters.__dict__.setdefault("_guichet_search", {})
        locale = str(get_locale())
        labels = cache.get((locale, columns))
        if labels is None:
            dict_filters = self.filters.get_search_filters()
            labels = cache[(locale, columns)] = (
                {col: as_unicode(form[col].label.text) for col in columns},
                {col: [as_unicode(flt.name) for flt in dict_filters[col]] for col in columns},
            )
        form_fields = {}
        for col in columns:
            field = form[col]
            static = (type(form), locale, col)
            blank = field.default is None and not field.errors
            if isinstance(field, self.STATIC_FIELDS) and blank and field.data in (None, ""):
                html = cache.get(static)
                if html is None:
                    html = cache[static] = field()
            elif isinstance(field, QuerySelectField) and blank and field._formdata is None and field._data is None:
                # (its `data` would read every related row to find the one given)
                html = self.relation_field(field, col, (*static, self.relation_choices_limit))
            else:
                html = field()
            form_fields[col] = html
        kwargs["label_columns"] = labels[0]
        kwargs["form_fields"] = form_fields
        kwargs["search_filters"] = labels[1]
        kwargs["active_filters"] = self.filters.get_filters_values_tojson()
        return RenderTemplateWidget.__call__(self, **kwargs)

    def relation_field(self, field, col, key) -> Markup:
        """The HTML of a relation's filter field for this viewer: its drop-down of the
        related rows they see (the field's own scoped query), or a text box for the
        row's number past `relation_choices_limit` rows."""
        related = self.filters.datamodel.get_related_interface(col)
        scope = related.scope_key()
        if scope is None:
            return self._relation_html(field, related)
        answers = relation_options(related.obj, scope[1])
        return Markup(answers.get((*key, scope[0]), lambda: str(self._relation_html(field, related))))

    def _relation_html(self, field, related) -> Markup:
        if related.has_more_rows_than(self.relation_choices_limit):
            return Markup('<input class="form-control" type="text" inputmode="numeric" id="{}" name="{}" '
                          'placeholder="{}">').format(field.id, field.name, gettext("ID"))
        return field()


_RELATION_OPTIONS: dict[frozenset, RecentAnswers] = {}


def relation_options(model, scope_tables) -> RecentAnswers:
    """Where the search drop-downs of `model`'s rows are kept: forgotten on a write to
    its table, to those of the rows its labels may name (its many-to-one relations)
    or to those its scope reads (`scope_tables`)."""
    tables = frozenset({model.__table__.name, *scope_tables,
                        *(relation.mapper.local_table.name for relation in model.__mapper__.relationships
                          if relation.direction.name == "MANYTOONE")})
    answers = _RELATION_OPTIONS.get(tables)
    if answers is None:
        answers = _RELATION_OPTIONS.setdefault(tables, RecentAnswers(tables, seconds=5.0, size=1024))
    return answers


class GuichetModelView(ModelView):
    """A grid whose every path (list, show, edit, delete, actions, export) is scoped."""

    list_template = "guichet/list.html"
    list_widget = GuichetListWidget
    search_widget = GuichetSearchWidget
    page_size = 25
    export_formats = ("csv", "xlsx")
    #: {column: function}: how the codes a text column stores (a role name...) read,
    #: in the grid, its detail page and its exports.
    value_labels = {}

    def __init__(self, **kwargs):
        if not isinstance(self.datamodel, ScopedInterface):
            raise TypeError(f"{type(self).__name__}.datamodel must be a ScopedInterface")
        self.formatters_columns = {**self.value_labels, **(self.formatters_columns or {})}
        self.datamodel.filter_converter_class = clock.LocalTimeFilters  # people type local time
        super().__init__(**kwargs)
        self.datamodel.eager_relations = self.datamodel.eager_paths(self.list_columns)
        localise(self)  # Oui/Non, dates, enum labels in the reader's language

    def _init_forms(self):
        """FAB's forms, each field checked against its column (inputs.column_problem)."""
        self.validators_columns = {
            name: [*self.validators_columns.get(name, []), *column_validators(self.datamodel, name)]
            for name in {*self.validators_columns, *(self.add_columns or []), *(self.edit_columns or [])}}
        super()._init_forms()

    def _utc_moments(self, names) -> list:
        """The form's datetime columns that keep UTC moments: people type and read them
        in local time, as every page shows them."""
        model = self.datamodel.obj
        return [name for name in names or () if isinstance(getattr(clock.column_of(model, name), "type", None),
                                                            DateTime)
                and not clock.is_local_time(clock.column_of(model, name))]

    def _store_moments_in_utc(self, item, form):
        for name in self._utc_moments([field.name for field in form]):
            if getattr(item, name, None) is not None:
                setattr(item, name, clock.to_utc(getattr(item, name)))

    def prefill_form(self, form, pk):
        """An edit form shows the UTC moments it holds in local time."""
        super().prefill_form(form, pk)
        for name in self._utc_moments(self.edit_columns):
            if name in form and form[name].data is not None:
                form[name].data = clock.LocalMoments().one(form[name].data)

    def _add(self):
        """FAB's add, with a refusal (the row's checks, a rule in pre_add) on its form field."""
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                item = self.datamodel.obj()
                if self._write(form, lambda: (form.populate_obj(item),
                                              self._store_moments_in_utc(item, form),
                                              self.pre_add(item)),
                               lambda: self.datamodel.add(item), lambda: self.post_add(item),
                               self.add_row_message, item):
                    return None
        else:
            self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        """FAB's edit, with a refusal (the row's checks, a rule in pre_update) on its form field."""
        if request.method != "POST":
            return super()._edit(pk)
        pages, page_sizes, orders = get_page_args(), get_page_size_args(), get_order_args()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = pk
        if form.validate():
            self.process_form(form, False)
            if self._write(form, lambda: (form.populate_obj(item),
                                          self._store_moments_in_utc(item, form),
                                          self.pre_update(item)),
                           lambda: self.datamodel.edit(item), lambda: self.post_update(item),
                           self.edit_row_message, item):
                return None
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        widgets = self._get_related_views_widgets(item, filters={}, orders=orders, pages=pages,
                                                  page_sizes=page_sizes, widgets=widgets)
        return widgets

    def _write(self, form, fill, store, after, done, item) -> bool:
        """Fill the row from the form, check it, store it: True when stored. A refusal is
        shown on its field (or flashed) and nothing is written."""
        labels = {name: str(label) for name, label in self.label_columns.items()}
        with Attempt(form=form) as attempt:
            fill()
            inputs.check_row(item, labels)
            try:
                store()
            except (IntegrityError, DatabaseException) as error:
                raise database_refusal(error, self.datamodel.obj, request.form, labels) from None
            after()
        if attempt.refused is not None:
            return False
        flash(str(done), "success")
        return True

    def _delete(self, pk):
        """FAB's delete, saying why the database kept a row still in use (not its SQL)."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        with Attempt(done=self.delete_row_message):
            self.pre_delete(item)
            try:
                self.datamodel.delete(item)
            except (IntegrityError, DatabaseException) as error:
                raise database_refusal(error, self.datamodel.obj, deleting=True) from None
            self.post_delete(item)
        self.update_redirect()

    @expose("/list/")
    @has_access
    def list(self):
        self.update_redirect()
        widgets = self._list()
        query = request.query_string.decode()
        export_urls = [
            (fmt.upper(), url_for(f"{self.endpoint}.export", fmt=fmt) + (f"?{query}" if query else ""))
            for fmt in self.export_formats
        ]
        can_export = self.appbuilder.sm.has_access("can_export", self.class_permission_name)
        return self.render_template(
            self.list_template, title=self.list_title, widgets=widgets,
            export_urls=export_urls if can_export else [],
        )

    def grid_actions(self, items) -> dict:
        """The bulk actions the grid offers over these rows (by default all of the view's)."""
        return self.actions

    def show_actions(self, item) -> dict:
        """The action buttons of a row's detail page (by default all of the view's)."""
        return self.actions

    #: The first pages get numbered links (at their offset, cheap there); every page
    #: links to the next and previous ones by keyset, which costs as the first page.
    numbered_pages = 10

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="", page=None,
                         page_size=None, widgets=None, **kwargs):
        """FAB's, offering `grid_actions(rows of the page)` (FAB would offer every action),
        paged by keyset links (`after_<view>`, `before_<view>`) where the order allows."""
        widgets = widgets or {}
        page_size = page_size or self.page_size
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        joined = self._joined_filters(filters)
        if isinstance(self.datamodel, ScopedInterface) and page_size > 0:
            seek = self._seek_argument()
            try:
                result = self.datamodel.grid_page(joined, order_column, order_direction, page, page_size, seek)
            except ValueError:
                name = f"{seek[0]}_{type(self).__name__}"
                raise inputs.InputRefused(name, gettext("%(field)s: %(message)s", field=name,
                                                        message=gettext("not a link of this list."))) from None
            count, rows, page = result.count, result.rows, result.page
            kwargs["pager"] = self._pager(result, page_size)
        else:
            count, rows = self.datamodel.query(joined, order_column, order_direction, page=page,
                                               page_size=page_size)
        widgets["list"] = self.list_widget(
            label_columns=self.label_columns, include_columns=self.list_columns,
            value_columns=self.datamodel.get_values(rows, self.list_columns),
            order_columns=self.order_columns, formatters_columns=self.formatters_columns,
            page=page, page_size=page_size, count=count,
            pks=[self._serialize_pk_if_composite(pk) for pk in self.datamodel.get_keys(rows)],
            actions=self.grid_actions(rows) if actions is None else actions,
            filters=filters, modelview_name=self.__class__.__name__, **kwargs,
        )
        return widgets

    def _joined_filters(self, filters):
        """The request's filters and the view's base filters, as one Filters."""
        if isinstance(self.datamodel, ScopedInterface):
            return self.datamodel.joined_filters(filters, self._base_filters)
        return filters.get_joined_filters(self._base_filters)

    def _seek_argument(self):
        """("after" | "before", token) of this request's keyset link to this grid, or None."""
        for toward in ("after", "before"):
            token = request.args.get(f"{toward}_{type(self).__name__}")
            if token:
                return toward, token
        return None

    def _pager(self, result, page_size) -> dict:
        """The grid's links: first, previous, the numbered first pages, next, last (when
        the count is exact); previous and next are keyset links when the order has them."""
        name = type(self).__name__
        args = request.args.copy()
        for prefix in ("page_", "after_", "before_"):
            args.pop(prefix + name, None)
        kept = {**(request.view_args or {}), **args.to_dict(flat=False)}

        def link(number, **seek):
            page = {f"page_{name}": number} if number else {}
            return url_for(request.endpoint, **kept, **page, **{f"{k}_{name}": v for k, v in seek.items()})

        page, rows, key = result.page, result.rows, result.key
        exact = not isinstance(result.count, ApproximateCount)
        pages = -(-int(result.count) // page_size)
        if result.more:
            pages = max(pages, page + 2)
        if page < self.numbered_pages:
            top = min(pages, self.numbered_pages)
            start = max(0, min(page - 3, top - 7))
            numbers = [(n + 1, None if n == page else link(n)) for n in range(start, min(top, start + 7))]
        else:
            numbers = [(page + 1, None)]
        previous = None
        if page > 0:
            previous = link(page - 1, before=key(rows[0])) if key and rows and page > 1 else link(page - 1)
        following = None
        if result.more and rows:
            following = link(page + 1, after=key(rows[-1])) if key else link(page + 1)
        return {
            "shown": page > 0 or result.more,
            "first": link(0) if page > 0 else None,
            "previous": previous,
            "numbers": numbers,
            "next": following,
            "last": link(pages - 1) if exact and page < pages - 1 else None,
        }

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        """FAB's, with `show_actions(item)` (FAB would show every action, even none asked)."""
        widgets = widgets or {}
        widgets["show"] = self.show_widget(
            pk=pk, label_columns=self.label_columns, include_columns=self.show_columns,
            value_columns=self.datamodel.get_values_item(item, self.show_columns),
            formatters_columns=self.formatters_columns,
            actions=self.show_actions(item) if actions is None else actions,
            fieldsets=show_fieldsets or self.show_fieldsets, modelview_name=self.__class__.__name__,
        )
        return widgets

    def export_plan(self):
        """What an export of the grid holds for this request's arguments:
        ([(column, header)], filters, order column, order direction)."""
        get_filter_args(self._filters)
        filters = self._joined_filters(self._filters)
        order_column, order_direction = get_order_args().get(type(self).__name__, ("", ""))
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        columns = [(name, str(self.label_columns.get(name, name))) for name in self.list_columns]
        return columns, filters, order_column, order_direction

    @expose("/export/<fmt>")
    @has_access
    def export(self, fmt):
        """Every row the grid shows (its filters, sort, columns and scope), not just one
        page: streamed, or past EXPORT_ASYNC_ROWS written by a job that a page waits for."""
        if fmt not in self.export_formats:
            abort(404)
        columns, filters, order_column, order_direction = self.export_plan()
        if self.datamodel.has_more_rows_than(current_app.config["EXPORT_ASYNC_ROWS"], filters):
            export = exports.start_export(self, fmt, request.query_string.decode())
            return redirect(url_for("ExportView.progress", export_id=export.id))
        return exports.export_response(
            self.datamodel, columns, filters, order_column, order_direction,
            fmt, grid_name=str(self.list_title), labels=self.value_labels,
        )

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        """FAB loads the row without the view's filters: load it through the scope."""
        if name not in self.actions:
            abort(404)
        if not self.is_get_mutation_allowed():
            flash(str(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(self.get_redirect())
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            flash(str(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(self.get_redirect())
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return self.actions[name].func(item)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        """Bulk actions: every selected row must be in scope, or nothing happens."""
        name = request.form.get("action", "")
        if name not in self.actions:
            abort(404)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            flash(str(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(self.get_redirect())
        items = []
        for pk in request.form.getlist("rowid"):  # ids beyond 64 bits: 404 (app.platform.inputs)
            item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
            if item is None:
                abort(404)
            items.append(item)
        return self.actions[name].func(items)

    @expose("/download/<string:filename>")
    def download(self, filename):
        """FAB serves any uploaded file to anyone: files go through app.platform.files."""
        abort(404)


def column_validators(datamodel, name) -> list:
    """The WTForms validator of a form field over a table column: what the column
    cannot hold (inputs.column_problem) is refused on the field."""
    column = datamodel.list_columns.get(name)
    if column is None or not hasattr(column, "type") or datamodel.is_relation(name):
        return []

    def check(form, field):
        problem = inputs.column_problem(column, field.data)
        if problem:
            raise StopValidation(problem)

    return [check]


def database_refusal(error, model, values=None, labels=None, deleting=False) -> Refused:
    """What the database refused, as a refusal without its SQL: a row still in use
    (`deleting`) or a value another row already has (naming the field when `values`,
    {attribute: value}, show it)."""
    if isinstance(error, DatabaseException) and not isinstance(error.__cause__, DBAPIError):
        return inputs.InputRefused(None, str(error) or gettext("This record cannot be saved."))
    cause = error if isinstance(error, DBAPIError) else error.__cause__
    if deleting:
        return inputs.InputRefused(None, gettext("This record is still used by other records."))
    name = inputs.clashing_field(model, values or {}) if isinstance(cause, IntegrityError) else None
    if name is not None:
        label = (labels or {}).get(name, name)
        return inputs.InputRefused(name, gettext("%(field)s: %(message)s", field=label,
                                                 message=inputs.already_used()))
    return inputs.InputRefused(None, gettext("This record conflicts with another one "
                                             "(a value already used, or a linked record missing)."))


class AnswersInputs:
    """A REST API answering every refusal with a 4xx naming the field, never FAB's
    500 "Fatal error" nor the database's text: the rows it writes are checked
    first (inputs.check_row), a rule's refusal is a 422, and what FAB's catch-all
    blocks would answer (its `@safe` 500, its 422 quoting the database) is mapped
    here, from the exception being handled. Mixed into our APIs and FAB's security APIs."""

    WRITES = ("POST", "PUT", "PATCH", "DELETE")

    def response_refused(self, refusal: Refused):
        """A rule's refusal as the API answers it: 422, naming the field at fault."""
        db.session.rollback()
        status = 422 if request.method in self.WRITES else 400
        return self.response(status, message={refusal.field or "_schema": [refusal.message]})

    def _answer_error(self, error):
        if isinstance(error, Refused):
            return self.response_refused(error)
        if isinstance(error, (IntegrityError, DatabaseException)):
            db.session.rollback()
            values = request.get_json(silent=True)
            return self.response_refused(database_refusal(
                error, self.datamodel.obj, values if isinstance(values, dict) else {},
                deleting=request.method == "DELETE"))
        if isinstance(error, (DBAPIError, OverflowError)):
            response, status = inputs.answer_database_error(error)
            response.status_code = status
            return response
        return None

    def response_500(self, message=None):
        return self._answer_error(sys.exc_info()[1]) or super().response_500(message=message)

    def response_422(self, message=None):
        error = sys.exc_info()[1]
        if isinstance(error, (IntegrityError, DatabaseException)):
            return self._answer_error(error)
        return super().response_422(message=message)

    def post_headless(self):
        """FAB's POST, checking the row (lengths, ranges, unique values) before the database."""
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message=gettext("The body must be a JSON object."))
        problems = inputs.relation_problems(self.datamodel, payload)
        if problems:
            return self.response_422(message=problems)
        try:
            item = self.add_model_schema.load(payload)
        except ValidationError as err:
            return self.response_422(message=err.messages)
        self.pre_add(item)
        inputs.check_row(item)
        self.datamodel.add(item)
        self.post_add(item)
        return self.response(201, result=self.add_model_schema.dump(item, many=False),
                             id=self.datamodel.get_pk_value(item))

    def put_headless(self, pk):
        """FAB's PUT, checking the row (lengths, ranges, unique values) before the database."""
        item = self.datamodel.get(pk, self._base_filters)
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message=gettext("The body must be a JSON object."))
        if not item:
            return self.response_404()
        problems = inputs.relation_problems(self.datamodel, payload)
        if problems:
            return self.response_422(message=problems)
        try:
            item = self.edit_model_schema.load(self._merge_update_item(item, payload), instance=item)
        except ValidationError as err:
            db.session.rollback()
            return self.response_422(message=err.messages)
        self.pre_update(item)
        inputs.check_row(item)
        self.datamodel.edit(item)
        self.post_update(item)
        return self.response(200, result=self.edit_model_schema.dump(item, many=False))

    def get_list_headless(self, **kwargs):
        return self._with_rison(super().get_list_headless, **kwargs)

    def get_headless(self, pk, **kwargs):
        return self._with_rison(super().get_headless, pk, **kwargs)

    def info_headless(self, **kwargs):
        return self._with_rison(super().info_headless, **kwargs)

    def _with_rison(self, answer, *args, **kwargs):
        """FAB reads the rison argument `q` as an object: anything else is a 400 naming it."""
        if not isinstance(kwargs.get("rison", {}), dict):
            return self.response_400(message={"q": [gettext("%(field)s: an object is expected.", field="q")]})
        return answer(*args, **kwargs)

    def _sanitize_page_args(self, page, page_size):
        for name, value, low, high in (("page", page, 0, inputs.MAX_PAGE),
                                       ("page_size", page_size, -1, inputs.MAX_PAGE_SIZE)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not low <= value <= high):
                raise inputs.InputRefused(name, gettext(
                    "%(field)s: an integer between %(min)d and %(max)d is expected.", field=name, min=low, max=high))
        return super()._sanitize_page_args(page, page_size)

    def _handle_filters_args(self, rison_args):
        filters = rison_args.get("filters", [])
        if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
            raise inputs.InputRefused("filters", gettext("%(field)s: a list of filters is expected.",
                                                         field="filters"))
        for index, flt in enumerate(filters):
            column = flt.get("col")
            if not isinstance(column, str) or column not in self.search_columns:
                continue  # FAB answers 400 for a column it does not search
            problem = inputs.filter_problem(self.datamodel, column, flt.get("value"))
            if problem:
                name = f"filters[{index}].value"
                raise inputs.InputRefused(name, gettext("%(field)s: %(message)s", field=name, message=problem))
        return super()._handle_filters_args(rison_args)

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        """FAB answers a column without description with gettext(""), which is the
        whole catalogue header: answer an empty description instead. The pages of
        the related values offered (`_info`'s rison arguments) are bounded."""
        self._sanitize_page_args(page, page_size)
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""
        return info


class OffsetDateTime(fields.DateTime):
    """A datetime as RFC 3339 with its offset. The schema's naive datetimes are UTC, or
    local time (config TIMEZONE) for columns marked LOCAL_TIME; what a client sends
    with an offset is stored in the column's zone, without one it is read in it."""

    def __init__(self, local_time=False, **kwargs):
        super().__init__(format="iso", **kwargs)
        self.local_time = local_time

    def _zone(self):
        return clock.zone() if self.local_time else timezone.utc

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=self._zone())
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        return moment.astimezone(self._zone()).replace(tzinfo=None) if moment.tzinfo else moment


class GuichetSchemaConverter(Model2SchemaConverter):
    """FAB's model-to-schema converter, writing datetimes with their offset."""

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested, parent_schema_name)
        if type(field) is fields.DateTime:
            local_time = clock.is_local_time(datamodel.list_columns[column.name])
            return OffsetDateTime(local_time=local_time, required=field.required,
                                  allow_none=field.allow_none, validate=field.validate,
                                  dump_only=field.dump_only, load_only=field.load_only)
        return field


class GuichetModelRestApi(AnswersInputs, ModelRestApi):
    """A REST API with the same row scope as the grids (through ScopedInterface).

    A resource is declared once: an API naming its `grid` takes the grid's model,
    titles, labels and columns (a many-to-one relation as `relation.<its label
    column>`, to-many relations and computed columns left out), and the grid's
    searches; it declares only what differs (read-only permissions, fewer writable
    columns...).
    """

    allow_browser_login = True
    page_size = 25
    model2schemaconverter = GuichetSchemaConverter
    grid = None  # the GuichetModelView whose rows this API serves
    TITLES = ("list_title", "show_title", "add_title", "edit_title")

    def __init__(self, **kwargs):
        if self.grid is not None:
            self._declare_from(self.grid)
        if self.base_order is None:  # pages of a list in no order may repeat or skip rows
            self.base_order = ("id", "asc")
        if not isinstance(self.datamodel, ScopedInterface):
            raise TypeError(f"{type(self).__name__}.datamodel must be a ScopedInterface")
        if self.workflow is None:
            self.exclude_route_methods = set(self.exclude_route_methods) | {"transition"}
        else:
            if self.base_permissions is not None:
                self.base_permissions = [*self.base_permissions, "can_transition"]
            if self.include_route_methods is not None:
                self.include_route_methods = set(self.include_route_methods) | {"transition"}
        super().__init__(**kwargs)

    @property
    def workflow(self):
        """The grid's workflow, whose transitions this API fires too."""
        return getattr(self.grid, "workflow", None)

    @expose("/<int:pk>/transition/<name>", methods=["POST"])
    @protect()
    @safe
    @permission_name("transition")
    def transition(self, pk, name):
        """Fire a workflow transition on one row, with the same rules as its grid.
        ---
        post:
          summary: Fire a workflow transition (validate, refuse, assign, escalate...)
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          - in: path
            schema:
              type: string
            name: name
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    comment:
                      type: string
          responses:
            200:
              description: Fired; the row's new state and the history event
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id:
                        type: integer
                      state:
                        type: string
                      state_label:
                        type: string
                      event:
                        type: object
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or name not in {t.name for t in self.workflow.transitions}:
            return self.response_404()

        def fire():
            return self.workflow.fire(item, name, g.user, read_json({"comment": str}).get("comment", ""))

        def answer(event):
            state = self.workflow.state_of(item)
            return {"id": item.id, "state": state.value, "state_label": str(state), "event": {
                "transition": event.transition, "from_state": event.from_state, "to_state": event.to_state,
                "comment": event.comment, "actor": g.user.username,
                "happened_on": OffsetDateTime()._serialize(event.happened_on, None, None)}}

        return self.run_rule(fire, answer=answer)

    def run_rule(self, rule, status=200, answer=lambda result: {}):
        """Run a rule that may refuse: commit what it wrote and answer `status` with
        `answer(result)`, or roll back and answer the refusal (422, naming its field)."""
        with Attempt(flash_refusal=False) as attempt:
            result = rule()
        if attempt.refused is not None:
            return self.response_refused(attempt.refused)
        return self.response(status, **answer(result))

    def run_on_row(self, pk, rule, status=200, answer=lambda result: {}):
        """`run_rule` on one row in the reader's scope, `rule(row)`; 404 for a row they do not see."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        return self.run_rule(lambda: rule(item), status, answer)

    def _own(self, name) -> bool:
        """Whether the API class itself (not FAB's bases) declares `name`."""
        return any(name in klass.__dict__ for klass in type(self).__mro__
                   if issubclass(klass, GuichetModelRestApi) and klass is not GuichetModelRestApi)

    def _declare_from(self, grid):
        model = grid.datamodel.obj
        if not self._own("datamodel"):
            self.datamodel = ScopedInterface(model)
        for name in (*self.TITLES, "base_order"):
            if not self._own(name) and getattr(grid, name, None):
                setattr(self, name, getattr(grid, name))
        labels = {"id": _l("ID"), **grid.label_columns}
        for name, columns in (("list_columns", grid.list_columns), ("show_columns", grid.show_columns)):
            if not self._own(name):
                setattr(self, name, ["id"] + [c for c in (self._api_column(model, c) for c in columns)
                                              if c and c != "id"])
        for name in ("add_columns", "edit_columns", "search_columns"):
            if not self._own(name) and getattr(grid, name, None):
                setattr(self, name, list(getattr(grid, name)))
        for column in set(self.list_columns) | set(self.show_columns):
            relation = column.partition(".")[0]
            if column not in labels and relation in labels:
                labels[column] = labels[relation]
        if not self._own("label_columns"):
            self.label_columns = labels

    @staticmethod
    def _api_column(model, name):
        """The API's name of a grid column: itself for a table column, `relation.label`
        for a many-to-one relation, None for what an API schema cannot carry."""
        mapper = model.__mapper__
        if name in model.__table__.columns:
            return name
        relation = mapper.relationships.get(name)
        if relation is not None and relation.direction.name == "MANYTOONE":
            label = exports.label_attribute(relation.mapper.class_)
            return f"{name}.{label}" if label else None
        return None


class JsonRefused(Refused):
    """A JSON body the API cannot read: the field and the kind of value expected."""


JSON_KINDS = {int: _l("an integer"), str: _l("a text"), bool: _l("true or false"), list: _l("a list"),
              dict: _l("an object")}


def read_json(kinds: dict) -> dict:
    """The request's JSON object, keeping the fields of `kinds` ({name: int, str, bool,
    list or dict}) that it holds (null: left out); raise JsonRefused naming a field of
    the wrong kind."""
    payload = request.get_json(silent=True)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise JsonRefused(None, gettext("The body must be a JSON object."))
    return json_fields(payload, kinds)


def json_fields(payload: dict, kinds: dict, prefix: str = "") -> dict:
    """The fields of `kinds` a JSON object holds (see read_json), for an object nested in
    the body too: its refusals name the field after `prefix` ("guests[0].name"). An
    integer is one of 64 bits (what a database column holds)."""
    values = {}
    for name, kind in kinds.items():
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool) \
                or (kind is int and not inputs.is_int64(value)):
            raise JsonRefused(prefix + name, gettext("%(field)s: %(kind)s is expected.", field=prefix + name,
                                                     kind=JSON_KINDS[kind]))
        values[name] = value
    return values


class WorkflowModelView(GuichetModelView):
    """A grid over a workflow object: each transition is a grid action (bulk, each
    row checked and recorded on its own) and a button on the detail page (with a
    comment and an attachment); the detail page shows the history as a timeline.

    Subclasses set `workflow`; a transition's FAB permission is its name.
    """

    workflow = None
    show_template = "guichet/workflow_show.html"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.workflow is None:
            return
        for transition in cls.workflow.transitions:
            setattr(cls, f"transition_{transition.name}", _transition_action(transition))

    def grid_actions(self, items) -> dict:
        """Transitions only where they can fire from a state of the rows shown (FAB then
        hides those the person has no right to); each row is checked when fired."""
        states = {self.workflow.state_of(item) for item in items}
        names = {t.name for t in self.workflow.transitions}
        possible = {t.name for t in self.workflow.transitions if states.intersection(t.sources)}
        return {name: action for name, action in self.actions.items() if name not in names or name in possible}

    def show_actions(self, item) -> dict:
        """The detail page offers transitions in its own panel (with comment and file)."""
        names = {t.name for t in self.workflow.transitions}
        return {name: action for name, action in self.actions.items() if name not in names}

    def offered_transitions(self, item, user) -> list:
        """What this person may fire on this row now: rule and right both."""
        return [t for t in self.workflow.available(item, user)
                if self.appbuilder.sm.has_access(t.name, self.class_permission_name)]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        item = self.datamodel.get(pk, self._base_filters)
        user = g.user
        transitions = self.offered_transitions(item, user)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=self._related_views, item=item, workflow=self.workflow,
            history=self.workflow.history(item), transitions=transitions,
            nothing_offered=None if transitions else self.workflow.nothing_offered(item),
            **self.show_context(item),
        )

    def show_context(self, item) -> dict:
        """What a desk's detail page shows besides the row, its transitions and history."""
        return {}

    @expose("/transition/<pk>/<name>", methods=["POST"])
    def transition(self, pk, name):
        """Fire one transition from the detail page, with its comment and attachment."""
        if name not in self.actions or not self.appbuilder.sm.has_access(name, self.class_permission_name):
            abort(404)
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        comment = request.form.get("comment", "")
        upload = request.files.get("attachment")
        with Attempt(done=self.workflow.done_message(name)):
            self.workflow.check(item, name, g.user, comment)  # the loser of a race writes no file
            attachment = files.save_upload(upload, item, g.user) if upload and upload.filename else None
            self.workflow.fire(item, name, g.user, comment, attachment)
        return redirect(back_to(request.form.get("next"), url_for(f"{self.endpoint}.show", pk=pk)))

    def fire_from_grid(self, name, items):
        """Fire on each selected row; a transition that needs a comment (a reason) asks
        for it first, on a page listing the rows, which posts back here with it."""
        items = items if isinstance(items, list) else [items]
        transition = self.workflow.transition(name)
        comment = request.form.get("comment", "") if request.method == "POST" else ""
        if transition.comment_required and not comment.strip():
            if "comment" in request.form:
                flash(gettext("Comment: a comment is required to “%(action)s”.", action=transition.label), "danger")
            return self.render_template(
                "guichet/bulk_comment.html", title=str(transition.label), transition=transition, items=items,
                pks=[self._serialize_pk_if_composite(self.datamodel.get_pk_value(item)) for item in items],
                back=url_for(f"{self.endpoint}.list"))
        fired, refused = self.workflow.fire_many(items, name, g.user, comment)
        label = transition.label
        if fired:
            flash(ngettext("%(action)s: %(num)d record done.", "%(action)s: %(num)d records done.",
                           len(fired), action=label), "success")
        for item, message in refused:
            flash(f"{item}: {message}", "danger")
        return redirect(self.get_redirect())


def _transition_action(transition):
    @action(transition.name, transition.label, transition.confirmation, transition.icon)
    def fire(self, items):
        return self.fire_from_grid(transition.name, items)

    fire.__name__ = f"transition_{transition.name}"
    return fire


def back_to(target, default):
    """Where a form's `next` says the person came from (a path of this site only), else `default`."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def desks_for_current_user(appbuilder):
    """The desks of app/desks.py the signed-in person may open, with their menu entries."""
    if g.user is None or g.user.is_anonymous:
        return []
    names = appbuilder.menu.get_flat_name_list()
    pairs = appbuilder.sm.session_user_pairs()  # read once per request (FAB's own asks the database)
    if pairs is None:
        allowed = appbuilder.sm.get_user_menu_access(names)
    else:
        allowed = {name for name in names if ("menu_access", name) in pairs}
    desks = []
    for desk in DESKS:
        category = appbuilder.menu.find(desk.category)
        if category is None or category.name not in allowed:
            continue
        entries = [item for item in category.childs
                   if item.name != "-" and item.name in allowed and item.should_render()]
        if entries:
            desks.append({"name": desk.name, "label": desk.label, "icon": desk.icon,
                          "entries": entries, "href": url_for(desk.home)})
    return desks
