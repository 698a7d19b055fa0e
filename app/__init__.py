"""The application factory."""
import os

from flask import Flask, g, redirect
from flask_appbuilder import AppBuilder, IndexView, expose
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, Config

from . import i18n
from .desks import DESKS, modules
from .extensions import csrf, db, init_migrations
from .platform import health, inputs, metrics, settings, transactions, web  # noqa: F401 (transactions: its listener)
from .security import ADMIN


class GuichetIndexView(IndexView):
    """The home page: one tile per desk the person may use; someone with a single
    desk lands on it directly (a pupil on "new request", a referent on the list)."""

    index_template = "guichet/index.html"

    @expose("/")
    def index(self):
        from .views.base import desks_for_current_user

        desks = desks_for_current_user(self.appbuilder)
        if len(desks) == 1 and not g.user.is_anonymous:
            return redirect(desks[0]["href"])
        return self.render_template(self.index_template, appbuilder=self.appbuilder, desks=desks)


def create_app(overrides=None, register_more=None):
    """Build one app: settings, database, FAB (security, views, APIs), the platform's
    screens, then each desk of `app/desks.py` (its access rules, menu and views),
    and the commands.

    `register_more(appbuilder)` adds views after Guichet's (tests use it).
    """
    app = Flask(__name__, instance_path=os.path.join(BASE_DIR, "instance"))
    app.config.from_object(Config)
    app.config.update(overrides or {})
    inputs.register_converters(app)  # before any view: ids in URLs hold 64 bits
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "guichet.db")
    settings.settle(app)  # keys, PUBLIC_URL, cookies: refuses to start when unsafe
    web.install(app)  # CSP, framing, nosniff, referrer, HSTS on every response
    metrics.init_app(app)  # /metrics and the request figures, with METRICS_TOKEN
    health.init_app(app)  # /healthz, /readyz
    i18n.install(app)  # templates know the page's language
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:  # the client address the attempt limits count, behind our reverse proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    # Schema and permissions are owned by `flask db upgrade` and `flask sync-roles`,
    # not by whichever web worker starts first.
    app.config["FAB_CREATE_DB"] = False
    app.config["AUTH_ROLE_ADMIN"] = ADMIN
    app.config.setdefault("FAB_UPDATE_PERMS", False)

    db.init_app(app)
    csrf.init_app(app)
    init_migrations(app, os.path.join(BASE_DIR, "migrations"))

    from .platform import audit, files, inbound, jobs, notifications as notification_service

    audit.install()
    files.install()  # files written by a transaction that rolls back are deleted
    jobs.init_app(app)  # jobs after commit: RQ on REDIS_URL, else in-process
    notification_service.init_app(app)  # Flask-Mail, `flask send-outbox`
    inbound.init_app(app)  # `flask inbound-mail`: replies by mail

    from .access import platform as platform_access  # noqa: F401  (registers scopes and grants)

    modules("access")
    with app.app_context():
        appbuilder = AppBuilder(indexview=GuichetIndexView, update_perms=False)
        appbuilder.init_app(app, db.session)
        from .views import accounts, delegation, exports, files, notifications, payments, platform

        for module in (platform, delegation, files, exports, accounts, notifications, payments):
            module.register(appbuilder)
        for desk in DESKS:
            appbuilder.menu.add_category(desk.category, icon=desk.icon, label=desk.label)
            desk.module("views").register(appbuilder)
        if register_more is not None:
            register_more(appbuilder)
    # After FAB's own request set-up (g.user): what no column can hold is refused
    # before the database sees it.
    inputs.init_app(app)

    from . import cli
    from .views import errors

    errors.install(app)
    cli.register(app)
    return app
