"""What every desk E screen shares: the entitlement gate and the desk's home."""
from functools import wraps

from flask import abort, g, jsonify, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l

from ...access import operator as access
from ...desks import desk_of
from ...extensions import db
from ...models import ESERVICE_GROUP_LABELS, EService

DESK = desk_of("app.views.operator")

#: {e-service code: endpoint of its screen}, filled by the modules that build one;
#: the home links each open e-service that has a screen.
SCREENS = {}


def requires_eservice(code):
    """Open the decorated screen or API operation only to a person entitled to the
    e-service `code` (after FAB's role check): others get 403, in JSON under /api/."""

    def decorate(function):
        @wraps(function)
        def gated(*args, **kwargs):
            if not access.is_entitled(g.user, code):
                if request.path.startswith("/api/"):
                    name = db.session.query(EService.name).filter_by(code=code).scalar() or code
                    return jsonify(message=gettext(
                        "E-service %(name)s: your operator's administrator has not opened it to you.",
                        name=name)), 403
                abort(403)
            return function(*args, **kwargs)

        return gated

    return decorate


def entitled_menu(code):
    """A menu entry's condition: shown only to people entitled to e-service `code`."""
    return lambda: access.is_entitled(g.user, code)


class OperatorView(BaseView):
    """The desk's home: the catalogue by group, each e-service open to the person or not."""

    route_base = "/operator"
    default_view = "home"

    @expose("/")
    @has_access
    def home(self):
        entitled = access.entitled_codes(access.viewer_of(g.user))
        groups = {}
        for service in db.session.query(EService).order_by(EService.position):
            screen = SCREENS.get(service.code) if service.code in entitled else None
            groups.setdefault(service.category, []).append((service, service.code in entitled, screen))
        return self.render_template(
            "operator/home.html", title=_l("My e-services"),
            groups=[(ESERVICE_GROUP_LABELS[group], services) for group, services in groups.items()])


class OperatorApi(BaseApi):
    """Desk E's TM Forum APIs (TMF646, TMF622, TMF621): under /api/v1/operator/, and a
    rule's refusal answered 400 naming the field by its JSON path in the body."""

    resource_name = "operator"
    allow_browser_login = True
    #: {a rule's field name: its JSON path in the API's bodies}
    api_fields = {}

    def _refused(self, refusal):
        db.session.rollback()
        path = self.api_fields.get(refusal.field, refusal.field)
        return self.response_400(message={path or "_schema": [refusal.message]})
