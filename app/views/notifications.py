"""The notification feed (everyone's own), the mail outbox (Admin) and the language
a signed-in person chooses (remembered for their mails)."""
import functools
from types import SimpleNamespace
from urllib.parse import quote

from flask import Response, abort, current_app, flash, g, redirect, session, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext, lazy_gettext as _l, ngettext, refresh
from flask_login import current_user, user_logged_in
from sqlalchemy import bindparam, func, select

from ..extensions import db
from ..models import Notification, OutboxMail
from ..platform import notifications
from ..security import ScopedInterface
from .base import GuichetModelView

FEED_PERMISSION_VIEW = "NotificationView"
FEED_LATEST = 5


class _NoForms:
    """Rows written by the platform only: no add, edit or delete page (404)."""

    @expose("/add", methods=["GET", "POST"])
    @permission_name("add")
    def add(self):
        abort(404)

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @permission_name("edit")
    def edit(self, pk):
        abort(404)

    @expose("/delete/<pk>", methods=["GET", "POST"])
    @permission_name("delete")
    def delete(self, pk):
        abort(404)


class NotificationView(_NoForms, GuichetModelView):
    """A person's own notifications (row scope: theirs only)."""

    datamodel = ScopedInterface(Notification)
    route_base = "/notifications"
    list_template = "guichet/notifications/list.html"
    show_template = "guichet/notifications/show.html"
    list_title = _l("My notifications")
    show_title = _l("Notification")
    list_columns = ["created_on", "title", "created_by", "read_on"]
    show_columns = ["created_on", "title", "created_by", "read_on"]
    search_columns = ["title", "created_on", "read_on"]
    label_columns = {
        "created_on": _l("Date"),
        "title": _l("Notification"),
        "created_by": _l("From"),
        "read_on": _l("Read on"),
    }
    base_order = ("id", "desc")
    # One's own, Admin included (the row scope lets Admin see every row).
    base_filters = [["user_id", FilterEqualFunction, lambda: current_user.id]]
    base_permissions = ["can_list", "can_show", "can_export", "mark_read"]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The notification, with a button that opens it (a GET changes nothing: a
        link followed by a browser's prefetch or another site marks nothing read)."""
        item = self._own(pk)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=self._show(pk),
            related_views=self._related_views, item=item,
        )

    @expose("/open/<pk>", methods=["POST"])
    @has_access
    @permission_name("show")
    def open(self, pk):
        """Mark a notification read and follow its link (the navbar's and the show
        page's buttons); without a link, back to the notification."""
        item = self._own(pk)
        if notifications.mark_read([item]):
            db.session.commit()
        return redirect(item.link or url_for(f"{self.endpoint}.show", pk=item.id))

    @expose("/read_all", methods=["POST"])
    def read_all(self):
        if not self.appbuilder.sm.has_access("mark_read", self.class_permission_name):
            flash(str(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(self.appbuilder.get_url_for_index)
        changed = notifications.mark_all_read(current_user.id)
        db.session.commit()
        flash(ngettext("%(num)d notification marked as read.",
                       "%(num)d notifications marked as read.", changed), "success")
        return redirect(url_for(f"{self.endpoint}.list"))

    @action("mark_read", _l("Mark as read"), None, "fa-check", single=False)
    def mark_read(self, items):
        items = items if isinstance(items, list) else [items]
        changed = notifications.mark_read(items)
        db.session.commit()
        flash(ngettext("%(num)d notification marked as read.",
                       "%(num)d notifications marked as read.", changed), "success")
        return redirect(self.get_redirect())

    def _own(self, pk):
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return item


def _shorten(text, size=80):
    if text and len(text) > size:
        return text[: size - 1] + "…"
    return text


class OutboxView(_NoForms, GuichetModelView):
    """Every mail sent or to send (Admin only: the row scope shows others nothing)."""

    datamodel = ScopedInterface(OutboxMail)
    route_base = "/outbox"
    list_template = "guichet/notifications/outbox.html"
    list_title = _l("Mail outbox")
    show_title = _l("Outbox mail")
    list_columns = ["created_on", "recipient", "subject", "state", "attempts", "last_error"]
    show_columns = ["created_on", "recipient", "locale", "template", "subject", "state", "attempts",
                    "last_error", "sent_on", "changed_on", "created_by", "body"]
    search_columns = ["recipient", "subject", "state", "template", "attempts", "created_on"]
    label_columns = {
        "created_on": _l("Created on"),
        "changed_on": _l("Changed on"),
        "created_by": _l("Caused by"),
        "recipient": _l("Recipient"),
        "locale": _l("Language"),
        "template": _l("Template"),
        "subject": _l("Subject"),
        "body": _l("Text"),
        "state": _l("State"),
        "attempts": _l("Attempts"),
        "last_error": _l("Last error"),
        "sent_on": _l("Sent on"),
    }
    formatters_columns = {"last_error": _shorten}
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "resend", "can_send_test", "can_attachment"]
    show_template = "guichet/notifications/outbox_show.html"

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The mail, with its attachments (name, type, size, a download link)."""
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=self._related_views, attachments=self._mail(pk).attachments,
        )

    @expose("/attachment/<int:pk>/<int:attachment_id>")
    @has_access
    def attachment(self, pk, attachment_id):
        """One attachment of a mail the person may see, as it was sent."""
        item = next((a for a in self._mail(pk).attachments if a.id == attachment_id), None)
        if item is None:
            abort(404)
        return Response(item.data, mimetype=item.content_type.split(";")[0].strip(), headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.filename)}",
            "X-Content-Type-Options": "nosniff"})

    def _mail(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    @action("resend", _l("Resend"), _l("Send the selected mails again?"), "fa-repeat")
    def resend(self, items):
        count = notifications.resend(items if isinstance(items, list) else [items])
        db.session.commit()
        flash(ngettext("%(num)d mail queued again.", "%(num)d mails queued again.", count), "success")
        return redirect(self.get_redirect())

    @expose("/send_test", methods=["POST"])
    @has_access
    def send_test(self):
        """Send a test mail to oneself, to check the mail settings."""
        notifications.notify(current_user, "test", feed=False)
        db.session.commit()
        if notifications.mail_configured():
            flash(gettext("A test mail to %(address)s is queued.", address=current_user.email), "success")
        else:
            flash(gettext("The mail server is not configured (MAIL_SERVER): the test mail "
                          "stays in the outbox."), "warning")
        return redirect(url_for(f"{self.endpoint}.list"))


# ---------------------------------------------------------------------------
# The navbar's feed and the remembered language
# ---------------------------------------------------------------------------


@functools.cache
def _feed_statement():
    """Built once (with a bind parameter): building it cost more than its answer; and
    prepared once per connection (app.platform.transactions)."""
    return (select(Notification.id, Notification.title, func.count().over())
            .where(Notification.user_id == bindparam("user_id"), Notification.read_on.is_(None))
            .order_by(Notification.id.desc()).limit(FEED_LATEST)
            .execution_options(prepare=True))


def feed_summary():
    """The signed-in person's unread count and latest unread notifications (their id
    and title: the navbar's links), in one query on every page (the count is a window
    over all the unread, before the limit)."""
    if "guichet_feed" in g:
        return g.guichet_feed
    summary = None
    if current_user.is_authenticated and current_app.appbuilder.sm.has_access(
            "can_list", FEED_PERMISSION_VIEW):
        rows = db.session.execute(_feed_statement(), {"user_id": current_user.id}).all()
        summary = SimpleNamespace(unread=rows[0][2] if rows else 0, latest=rows)
    g.guichet_feed = summary
    return summary


_LANGUAGE_CHOSEN = "guichet_language_chosen"


def _remember_language(view):
    """FAB's /lang/<code> sets the session's language; also remember it for the
    signed-in person's mails (or, signed out, for when they sign in)."""

    @functools.wraps(view)
    def switch(*args, **kwargs):
        response = view(*args, **kwargs)  # 404 for an unknown language
        locale = session.get("locale")
        if current_user.is_authenticated:
            notifications.set_user_locale(current_user.id, locale)
            db.session.commit()
        else:
            session[_LANGUAGE_CHOSEN] = True
        return response

    return switch


def _on_login(app, user, **extra):
    """At sign-in: a language chosen just before is remembered; otherwise the
    remembered one is used."""
    if session.pop(_LANGUAGE_CHOSEN, False) and session.get("locale") in app.config["LANGUAGES"]:
        notifications.set_user_locale(user.id, session["locale"])
        db.session.commit()
        return
    saved = notifications.saved_locale(user.id)
    if saved in app.config["LANGUAGES"] and saved != session.get("locale"):
        session["locale"] = saved
        refresh()


def register(appbuilder):
    app = current_app._get_current_object()
    appbuilder.add_view_no_menu(NotificationView)
    appbuilder.add_view(OutboxView, "Outbox", icon="fa-envelope", label=_l("Mail outbox"),
                        category="Administration")
    app.context_processor(lambda: {"guichet_feed": feed_summary})
    endpoint = f"{appbuilder.bm.locale_view.endpoint}.index"
    app.view_functions[endpoint] = _remember_language(app.view_functions[endpoint])
    user_logged_in.connect(_on_login, app)
