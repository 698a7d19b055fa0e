"""Online payments: the gateways' endpoints (PayPal's IPN, Lydia's callbacks: public,
without CSRF, since PayPal and Lydia post them), a buyer's Lydia request and its waiting
page, and the organisers' grids of payment accounts (added, never changed: the private
token is never shown again) and of payments (read only). Who sees which account and
payment is the row scope (app/access/)."""
import logging

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from wtforms import PasswordField

from ..extensions import csrf, db
from ..i18n import money
from ..models import Payment, PaymentAccount, PaymentProvider
from ..platform import payments
from ..security import ScopedInterface, apply_scope
from .base import Attempt, GuichetModelView

log = logging.getLogger(__name__)

ACCOUNT_LABELS = {
    "organisation": _l("Paid to"), "provider": _l("Provider"), "description": _l("Description"),
    "receiver_email": _l("Receiver's mail"), "public_token": _l("Public token"),
    "private_token": _l("Private token"), "created_on": _l("Created on"), "created_by": _l("Created by"),
}
PAYMENT_LABELS = {
    "id": _l("No."), "provider": _l("Provider"), "payable_type": _l("Paid for"), "payable_id": _l("Row"),
    "account": _l("Account"), "state": _l("State"), "amount": _l("Amount"), "currency": _l("Currency"),
    "reference": _l("Reference"), "payer_email": _l("Payer's mail"), "reason": _l("Reason"),
    "raw": _l("Notifications received"), "created_on": _l("Created on"), "changed_on": _l("Changed on"),
}


def _empty(status=200):
    return "", status, {"Content-Type": "text/plain; charset=utf-8"}


class PaymentGatewayView(BaseView):
    """What the gateways post (public) and what a buyer does to pay by Lydia (`can_pay`)."""

    route_base = "/payments"
    default_view = "lydia_wait"
    base_permissions = ["can_pay"]
    method_permission_name = {"lydia_request": "pay", "lydia_wait": "pay", "lydia_check": "pay"}

    @expose("/paypal/ipn", methods=["POST"])
    @csrf.exempt
    def paypal_ipn(self):
        """PayPal's IPN: always an empty answer, 200 once handled (verified or ignored),
        503 only when the database failed, so that PayPal sends it again."""
        try:
            status = payments.receive_ipn(request.get_data())
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("IPN not recorded; PayPal will send it again")
            status = 503
        return _empty(status)

    def _lydia(self, confirm):
        try:
            payments.lydia_callback(request.form.to_dict(), confirm)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("Lydia callback not recorded")
            return _empty(503)
        return _empty()

    @expose("/lydia/confirm", methods=["POST"])
    @csrf.exempt
    def lydia_confirm(self):
        return self._lydia(True)

    @expose("/lydia/cancel", methods=["POST"])
    @csrf.exempt
    def lydia_cancel(self):
        return self._lydia(False)

    @expose("/lydia/request/<reference>", methods=["POST"])
    @has_access
    def lydia_request(self, reference):
        """Send a payment request to the buyer's phone, then wait for it."""
        target = payments.read_reference(reference)
        row = None
        if target is not None:
            payable, row_id = target
            row = apply_scope(db.session.query(payable.model), payable.model).filter(
                payable.model.id == row_id).one_or_none()
        if row is None:
            abort(404)
        with Attempt(done=gettext("A payment request was sent to your phone: accept it in Lydia.")) as attempt:
            payment = payments.lydia_request(payable.kind, row, request.form.get("phone"), g.user)
        if attempt.refused is not None:
            return redirect(payable.link(row))
        return redirect(url_for(".lydia_wait", payment_id=payment.id))

    def _own_payment(self, payment_id):
        payment = apply_scope(db.session.query(Payment), Payment).filter(Payment.id == payment_id).one_or_none()
        payable, row = payments.payable_of(payment) if payment is not None else (None, None)
        if payment is None or payment.provider is not PaymentProvider.lydia or row is None \
                or not payable.may_pay(g.user, row):
            abort(404)
        return payment, payable, row

    @expose("/lydia/wait/<int:payment_id>")
    @has_access
    def lydia_wait(self, payment_id):
        payment, payable, row = self._own_payment(payment_id)
        return self.render_template("guichet/payments/lydia_wait.html", title=gettext("Payment by Lydia"),
                                    payment=payment, label=payable.label(row), back=payable.link(row),
                                    CONFIRMED=payments.CONFIRMED, FAILED=payments.FAILED)

    @expose("/lydia/check/<int:payment_id>", methods=["POST"])
    @has_access
    def lydia_check(self, payment_id):
        """"I have paid": Lydia is asked whether it is so."""
        payment, _, _ = self._own_payment(payment_id)
        with Attempt() as attempt:
            state = payments.lydia_check(payment, g.user)
            if payment.state is payments.CONFIRMED:
                attempt.done = gettext("Your payment is confirmed.")
            elif payment.state is payments.FAILED:
                attempt.done = gettext("The payment did not go through: %(reason)s", reason=payment.reason or "")
            elif state is None:
                attempt.done = gettext("Lydia cannot be reached now: try again in a moment.")
            else:
                attempt.done = payment.reason or gettext("Lydia has not received your payment yet: accept the "
                                                         "request on your phone, then try again.")
        return redirect(url_for(".lydia_wait", payment_id=payment_id))


class PaymentAccountView(GuichetModelView):
    """Where an organisation is paid; added, never changed nor deleted; the Lydia private
    token is typed once, kept sealed and never shown."""

    datamodel = ScopedInterface(PaymentAccount)
    route_base = "/paymentaccounts"
    list_title = _l("Payment accounts")
    show_title = _l("Payment account")
    add_title = _l("New payment account")
    list_columns = ["description", "provider", "organisation", "created_on"]
    show_columns = ["description", "provider", "organisation", "receiver_email", "public_token", "created_on",
                    "created_by"]
    add_columns = ["organisation", "provider", "description", "receiver_email", "public_token", "private_token"]
    add_form_extra_fields = {"private_token": PasswordField(
        _l("Private token"), widget=BS3PasswordFieldWidget(),
        description=_l("Lydia only: kept sealed, never shown again."))}
    description_columns = {"receiver_email": _l("PayPal only: the mail of the PayPal account paid."),
                           "public_token": _l("Lydia only: the vendor's public token.")}
    search_columns = ["description", "provider", "organisation"]
    order_columns = ["description", "created_on"]
    label_columns = ACCOUNT_LABELS
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_add", "can_export"]
    include_route_methods = {"list", "show", "add", "export"}  # no edit, no delete: not even a route

    def pre_add(self, item):
        """What the form typed as the private token is sealed, never stored as typed."""
        secret = item.__dict__.pop("private_token", None)
        payments.check_account(item, secret)


class PaymentView(GuichetModelView):
    """Payments, as the gateways told them: read only."""

    datamodel = ScopedInterface(Payment)
    route_base = "/paymentlist"
    list_title = _l("Payments")
    show_title = _l("Payment")
    list_columns = ["id", "provider", "payable_type", "payable_id", "state", "amount", "currency", "reference",
                    "created_on"]
    show_columns = ["id", "provider", "account", "payable_type", "payable_id", "state", "amount", "currency",
                    "reference", "payer_email", "reason", "raw", "created_on", "changed_on"]
    formatters_columns = {"amount": lambda value: money(value) if value is not None else "",
                          "raw": lambda value: Markup('<pre class="raw-text">%s</pre>') % (value or "")}
    search_columns = ["provider", "state", "reference", "payable_type", "payable_id"]
    order_columns = ["id", "state", "amount", "created_on"]
    label_columns = PAYMENT_LABELS
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_export"]  # FAB's add, edit, delete: nobody's


def register(appbuilder):
    appbuilder.add_view_no_menu(PaymentGatewayView)
    appbuilder.add_view(PaymentAccountView, "PaymentAccounts", icon="fa-university", label=_l("Payment accounts"),
                        category="Payments", category_label=_l("Payments"), category_icon="fa-credit-card")
    appbuilder.add_view(PaymentView, "PaymentList", icon="fa-eur", label=_l("Payments"), category="Payments")
