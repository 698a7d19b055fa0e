"""The base grid and base REST API every Guichet view derives from.

Row scope lives in `ScopedInterface` (app/security.py); this module closes the
FAB paths that bypass a view's filters (actions, file download) and adds the
CSV/XLSX export of exactly what a grid shows.
"""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args

from ..platform import exports
from ..security import ScopedInterface


class GuichetModelView(ModelView):
    """A grid whose every path (list, show, edit, delete, actions, export) is scoped."""

    list_template = "guichet/list.html"
    page_size = 25
    export_formats = ("csv", "xlsx")

    def __init__(self, **kwargs):
        if not isinstance(self.datamodel, ScopedInterface):
            raise TypeError(f"{type(self).__name__}.datamodel must be a ScopedInterface")
        super().__init__(**kwargs)
        self.datamodel.eager_relations = tuple(
            name for name in self.list_columns
            if self.datamodel.is_relation_many_to_one(name)
        )

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

    @expose("/export/<fmt>")
    @has_access
    def export(self, fmt):
        """Every row the grid shows (its filters, sort, columns and scope), not just one page."""
        if fmt not in self.export_formats:
            abort(404)
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        order_column, order_direction = get_order_args().get(type(self).__name__, ("", ""))
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        columns = [(name, str(self.label_columns.get(name, name))) for name in self.list_columns]
        return exports.export_response(
            self.datamodel, columns, filters, order_column, order_direction,
            fmt, grid_name=str(self.list_title),
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
        for pk in request.form.getlist("rowid"):
            item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
            if item is None:
                abort(404)
            items.append(item)
        return self.actions[name].func(items)

    @expose("/download/<string:filename>")
    def download(self, filename):
        """FAB serves any uploaded file to anyone: files go through app.platform.files."""
        abort(404)


class GuichetModelRestApi(ModelRestApi):
    """A REST API with the same row scope as the grids (through ScopedInterface)."""

    allow_browser_login = True
    page_size = 25

    def __init__(self, **kwargs):
        if not isinstance(self.datamodel, ScopedInterface):
            raise TypeError(f"{type(self).__name__}.datamodel must be a ScopedInterface")
        super().__init__(**kwargs)

