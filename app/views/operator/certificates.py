"""Desk E — "Mes certificats numériques": the grid (search, sort, filter by e-service and
environment, the expiring ones highlighted, "Télécharger" on each row), a
certificate's page with its downloads, the staff's publication form, and the API."""
from flask import abort, g, redirect, request, send_file, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import safe
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import asc, desc, func, or_, select
from sqlalchemy.orm import aliased

from ...access.operator import CERTIFICATES, operator_ids, viewer_of
from ...extensions import db
from ...models import CERTIFICATE_ENVIRONMENT_LABELS, Certificate, CertificateEnvironment, EService
from ...platform import files
from ...platform.clock import local_today
from ...rules.operator import certificates as rules
from ...security import ScopedInterface, apply_scope
from ..base import Attempt, GuichetListWidget, GuichetModelRestApi, GuichetModelView
from .common import DESK, SCREENS, entitled_menu, requires_eservice

LABELS = {
    "label": _l("Label"),
    "organisation": _l("Operator"),
    "organisation.name": _l("Operator"),
    "eservice": _l("E-service"),
    "eservice.name": _l("E-service"),
    "environment": _l("Environment"),
    "published_on": _l("Published on"),
    "expires_on": _l("Expires on"),
    "fingerprint": _l("SHA-256 fingerprint"),
}


def _escaped(word) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Keyword(BaseFilter):
    """The search box: every word in the label or the e-service's name."""

    name = _l("Keyword")

    def apply(self, query, value):
        for word in str(value or "").split()[:10]:
            pattern = _escaped(word)
            query = query.filter(or_(Certificate.label.ilike(pattern, escape="\\"),
                                     Certificate.eservice_id.in_(select(EService.id).where(
                                         EService.name.ilike(pattern, escape="\\")))))
        return query


class EServiceIs(BaseFilter):
    name = _l("Is")

    def apply(self, query, value):
        try:
            return query.filter(Certificate.eservice_id == int(value))
        except (TypeError, ValueError):
            return query


class EnvironmentIs(BaseFilter):
    name = _l("Is")

    def apply(self, query, value):
        if value not in CertificateEnvironment.__members__:
            return query
        return query.filter(Certificate.environment == CertificateEnvironment[value])


class CertificateInterface(ScopedInterface):
    """The certificates' rows, sorted by e-service name through a join of their own: the
    row scope names the e-service table in a subquery, which FAB takes for a join."""

    def apply_order_by(self, query, order_column, order_direction, aliases_mapping=None,
                       bypass_many_to_many=False, add_pk=False):
        if order_column != "eservice.name":
            return super().apply_order_by(query, order_column, order_direction, aliases_mapping,
                                          bypass_many_to_many, add_pk)
        service = aliased(EService)
        direction = desc if order_direction == "desc" else asc
        return query.join(service, service.id == Certificate.eservice_id).order_by(
            direction(func.lower(service.name)), direction(Certificate.id))


class CertificateListWidget(GuichetListWidget):
    template = "operator/certificates_rows.html"


class CertificateView(GuichetModelView):
    """The operator's certificates; platform staff publish ("add") and delete them."""

    datamodel = CertificateInterface(Certificate)
    route_base = "/operator/certificates"
    list_title = _l("My digital certificates")
    show_title = _l("Digital certificate")
    add_title = _l("Publish a certificate")
    list_template = "operator/certificates_list.html"
    list_widget = CertificateListWidget
    list_columns = ["label", "organisation.name", "eservice.name", "environment", "expires_on", "published_on"]
    show_columns = ["label", "organisation", "eservice", "environment", "published_on", "expires_on",
                    "fingerprint"]
    add_columns = edit_columns = ["label"]  # FAB builds forms; "add" is the publication page
    search_columns = ["label", "eservice", "environment"]
    order_columns = ["label", "eservice.name", "environment", "expires_on", "published_on"]
    label_columns = LABELS
    base_order = ("expires_on", "asc")
    base_permissions = ["can_list", "can_show", "can_add", "can_delete", "can_get_file", "can_downloads",
                        "can_export"]
    include_route_methods = {"list", "show", "add", "delete", "get_file", "export"}
    #: The sort menu (a phone hides the column headers): (column, direction, label).
    SORTS = [("expires_on", "asc", _l("Expiry, soonest first")), ("expires_on", "desc", _l("Expiry, latest first")),
             ("label", "asc", _l("Label, A to Z")), ("label", "desc", _l("Label, Z to A")),
             ("eservice.name", "asc", _l("E-service, A to Z")), ("environment", "asc", _l("Environment")),
             ("published_on", "desc", _l("Publication, latest first"))]

    #: The toolbar's fields: {form field: (column, filter)}.
    TOOLBAR = {"q": ("label", Keyword), "eservice": ("eservice", EServiceIs),
               "environment": ("environment", EnvironmentIs)}

    def _init_properties(self):
        """The toolbar's filters, first of their columns (FAB reads a filter's index in a
        grid argument as one digit)."""
        super()._init_properties()
        for column, extra in self.TOOLBAR.values():
            for registry in (self._filters._all_filters, self._filters.get_search_filters()):
                registry[column] = [extra(column, self.datamodel), *registry[column]]

    def filter_arg(self, column, filter_class) -> str:
        position = [type(f) for f in self._filters.get_search_filters()[column]].index(filter_class)
        return f"_flt_{position}_{column}"

    def _get_list_widget(self, filters, **kwargs):
        viewer = viewer_of(g.user)
        return super()._get_list_widget(
            filters, today=local_today(), soon_days=rules.soon_days(), expiry_state=rules.expiry_state,
            renewed_ids=rules.renewed_ids, download_stats=rules.download_stats,
            may_see_downloads=self.appbuilder.sm.has_access("can_downloads", self.class_permission_name),
            show_operator=viewer.is_admin or len(operator_ids(viewer)) > 1, **kwargs)

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            args = {name: self.filter_arg(column, kind) for name, (column, kind) in self.TOOLBAR.items()}
            order_arg, direction_arg = f"_oc_{type(self).__name__}", f"_od_{type(self).__name__}"
            shown = apply_scope(db.session.query(EService.id, EService.name).join(
                Certificate, Certificate.eservice_id == EService.id), Certificate).distinct().order_by(EService.name)
            kwargs.update(
                values={name: request.args.get(arg, "") for name, arg in args.items()},
                eservices=shown.all(),
                environments=[(e.name, label) for e, label in CERTIFICATE_ENVIRONMENT_LABELS.items()],
                sorts=[(f"{column}:{direction}", label) for column, direction, label in self.SORTS],
                sort=f"{request.args.get(order_arg, self.base_order[0])}:"
                     f"{request.args.get(direction_arg, self.base_order[1])}",
                filtered=any(request.args.get(arg) for arg in args.values()),
                may_publish=self.appbuilder.sm.has_access("can_add", self.class_permission_name),
                soon_days=rules.soon_days())
        return super().render_template(template, **kwargs)

    @expose("/list/")
    @has_access
    @requires_eservice(CERTIFICATES)
    def list(self):
        """The toolbar's form (`q`, `eservice`, `environment`, `sort`) becomes FAB's grid
        arguments, its empty fields left out (a redirect to the grid's own address)."""
        if any(name in request.args for name in (*self.TOOLBAR, "sort")):
            args = {name: values for name, values in request.args.to_dict(flat=False).items()
                    if name not in self.TOOLBAR and name != "sort"}
            for name, (column, kind) in self.TOOLBAR.items():
                value = request.args.get(name, "").strip()
                if value:
                    args[self.filter_arg(column, kind)] = value
            column, _, direction = request.args.get("sort", "").partition(":")
            if column:
                args.update({f"_oc_{type(self).__name__}": column, f"_od_{type(self).__name__}": direction})
            return redirect(url_for(".list", **args))
        return super().list()

    @expose("/export/<fmt>")
    @has_access
    @requires_eservice(CERTIFICATES)
    def export(self, fmt):
        """The grid as CSV or XLSX, behind the same gate as the grid."""
        return super().export(fmt)

    def _certificate(self, pk):
        try:
            item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        except (TypeError, ValueError):
            item = None
        if item is None:
            abort(404)
        return item

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    @requires_eservice(CERTIFICATES)
    def show(self, pk):
        item = self._certificate(pk)
        may_see_downloads = self.appbuilder.sm.has_access("can_downloads", self.class_permission_name)
        return self.render_template(
            "operator/certificates_show.html", title=item.label, item=item,
            state=rules.expiry_state(item.expires_on, renewed=bool(rules.renewed_ids([item.id]))),
            soon_days=rules.soon_days(), environment=CERTIFICATE_ENVIRONMENT_LABELS[item.environment],
            downloads=rules.downloads_of(item) if may_see_downloads else None,
            may_delete=self.appbuilder.sm.has_access("can_delete", self.class_permission_name),
            back=url_for(".list"))

    @expose("/add", methods=["GET", "POST"])
    @has_access
    @requires_eservice(CERTIFICATES)
    def add(self):
        """Publish a certificate for an operator (platform staff)."""
        form, refused = request.form, None
        if request.method == "POST":
            with Attempt(done=gettext("The certificate is published: its operator's readers are notified."),
                         flash_refusal=False) as attempt:
                item = rules.publish(
                    g.user, organisation_id=form.get("organisation"), eservice_id=form.get("eservice"),
                    environment=form.get("environment"), label=form.get("label"),
                    published_on=form.get("published_on"), expires_on=form.get("expires_on"),
                    upload=request.files.get("file"))
            if attempt.refused is None:
                return redirect(url_for(".show", pk=item.id))
            refused = attempt.refused
        return self.render_template(
            "operator/certificates_publish.html", title=self.add_title, form=form, refused=refused,
            operators=rules.operator_choices(), eservices=rules.eservice_choices(),
            environments=[(e.name, label) for e, label in CERTIFICATE_ENVIRONMENT_LABELS.items()],
            today=local_today().isoformat(), back=url_for(".list"))

    @expose("/delete/<pk>", methods=["GET", "POST"])
    @has_access
    @requires_eservice(CERTIFICATES)
    def delete(self, pk):
        return super().delete(pk)

    def pre_delete(self, item):
        rules.delete(item)

    @expose("/file/<pk>")
    @has_access
    @requires_eservice(CERTIFICATES)
    def get_file(self, pk):
        """"Télécharger": the certificate's file, as often as wanted, each download recorded."""
        return serve_certificate(self._certificate(pk))


def serve_certificate(item):
    """The certificate's file as an attachment, its download recorded (404 without a file)."""
    stored = files.readable_file(item.file_id) if item.file_id else None
    if stored is None:
        abort(404)
    files.downloaded(stored, g.user)
    db.session.commit()
    response = send_file(files.absolute_path(stored), mimetype="application/octet-stream",
                         as_attachment=True, download_name=stored.original_name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class CertificateApi(GuichetModelRestApi):
    """The operator's certificates, read in scope, and their files (each download recorded)."""

    grid = CertificateView
    resource_name = "certificate"
    base_permissions = ["can_get", "can_info", "can_get_file"]
    include_route_methods = {"get", "get_list", "info", "get_file"}
    list_columns = ["id", "label", "organisation.name", "eservice.name", "environment", "published_on",
                    "expires_on", "fingerprint"]
    show_columns = list_columns
    search_columns = ["label", "eservice", "environment", "expires_on"]
    edit_title = CertificateView.show_title

    @requires_eservice(CERTIFICATES)
    def get_list_headless(self, **kwargs):
        return super().get_list_headless(**kwargs)

    @requires_eservice(CERTIFICATES)
    def get_headless(self, pk, **kwargs):
        return super().get_headless(pk, **kwargs)

    @requires_eservice(CERTIFICATES)
    def info_headless(self, **kwargs):
        return super().info_headless(**kwargs)

    @expose("/<int:pk>/file", methods=["GET"])
    @protect()
    @safe
    @permission_name("get_file")
    @requires_eservice(CERTIFICATES)
    def get_file(self, pk):
        """Download a certificate's file (each download is recorded).
        ---
        get:
          summary: Download a certificate's file
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: The file, as it was published
              content:
                application/octet-stream:
                  schema: {type: string, format: binary}
            401:
              $ref: '#/components/responses/401'
            403:
              description: The operator's administrator has not opened Mes certificats numériques to you
            404:
              $ref: '#/components/responses/404'
        """
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or not item.file_id:
            return self.response_404()
        return serve_certificate(item)


def register(appbuilder):
    appbuilder.add_view(CertificateView, "Certificates", icon="fa-certificate", label=_l("My digital certificates"),
                        category=DESK.category, menu_cond=entitled_menu(CERTIFICATES))
    appbuilder.add_api(CertificateApi)
    SCREENS[CERTIFICATES] = "CertificateView.list"
