"""Online payments: PayPal (IPN) and Lydia (payment requests), for whatever a desk
sells.

A desk registers a *payable* kind (`register_payable`): which rows are paid, how much,
to which account, why one cannot be paid yet, what confirming or a mismatch does to it,
and whom a mismatch is mailed to (besides the platform's administrators). This module
does the rest, the same for every desk:

* **Accounts** (`PaymentAccount`) are never changed once created; a Lydia account's
  private token is kept sealed (`signing.seal`) and only
  read here, to check a callback's signature.
* **PayPal.** The payment button posts to PAYPAL_URL with the payable's signed reference
  in `custom` and the IPN endpoint in `notify_url`. Each IPN is posted back, byte for
  byte after `cmd=_notify-validate`, to PAYPAL_IPN_VERIFY_URL; only a VERIFIED message
  whose `test_ipn` agrees with PAYPAL_SANDBOX is read. PayPal repeats an IPN (up to five
  times, possibly at once) and sends Pending then Completed for one `txn_id`: a payment
  is one row per (provider, reference), which a unique constraint keeps single, locked
  while it is settled, so a repeat finds it settled and does nothing.
* **Lydia.** A payment request (`request/do`) is sent to the buyer's phone; its confirm
  callback is believed only with a right signature and once `request/state` says paid;
  the buyer's "I have paid" asks `request/state` too.
* **Settling.** A payment whose amount, currency or receiver is not what was due fails,
  the desk's `mismatch` runs (an opposition, say) and the people concerned are mailed.
  Otherwise the desk's `confirmed` runs; if it refuses (the row is blocked, already
  paid), the payment stays pending with the refusal as its reason.

Every notification received is kept on its payment (`raw`). Gateway addresses are
settings, so tests run against a local fake gateway.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Optional
from urllib.parse import parse_qsl, urlencode

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Payment, PaymentAccount, PaymentProvider, PaymentState
from ..security import ADMIN
from . import notifications, signing, transactions
from .refusals import Refused

log = logging.getLogger(__name__)

PAYPAL, LYDIA = PaymentProvider.paypal, PaymentProvider.lydia
CREATED, PENDING, CONFIRMED, FAILED, REFUNDED = (PaymentState.created, PaymentState.pending,
                                                 PaymentState.confirmed, PaymentState.failed,
                                                 PaymentState.refunded)
SETTLED = (CONFIRMED, FAILED, REFUNDED)
RAW_MAX_CHARS = 100_000  # what a payment keeps of its notifications
LYDIA_SIGNED = ("amount", "currency", "order_ref", "request_id", "signed", "transaction_identifier",
                "vendor_token")
LYDIA_PAID, LYDIA_WAITING = "1", "0"
_REFERENCE = re.compile(r"^(?P<kind>[a-z_]{1,50})\.(?P<id>\d{1,18})\.(?P<mac>[0-9a-f]{24})$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


class PaymentRefused(Refused):
    """A payment that cannot be asked for, or an account that cannot be created."""


@dataclass(frozen=True)
class Payable:
    """What a desk sells online (`kind`, e.g. a table name), as this module needs it."""

    kind: str
    model: type
    amount: Callable  # (row) -> Decimal due
    account: Callable  # (row, PaymentProvider) -> PaymentAccount or None
    blockers: Callable  # (row) -> [why it cannot be paid now], empty when it can
    label: Callable  # (row) -> what the payer reads at the gateway
    may_pay: Callable  # (user, row) -> whether this person pays for it
    confirmed: Callable  # (row, payment) -> settle it, or raise Refused (the payment stays pending)
    mismatch: Callable  # (row, payment, reason) -> what a payment that does not match does to it
    alerted: Callable  # (row) -> who is mailed on a mismatch, besides the administrators
    mismatch_template: str  # the mail those people get (context: payable, payment, reason)
    link: Callable  # (row) -> the path of the row's page, for the mail and the return
    currency: Callable = lambda row: current_app.config["CURRENCY"]


PAYABLES: dict[str, Payable] = {}


def register_payable(payable: Payable) -> None:
    PAYABLES[payable.kind] = payable


def payable_of(payment):
    """(Payable, its row) a payment pays for; the row None when it is gone."""
    payable = PAYABLES.get(payment.payable_type)
    row = db.session.get(payable.model, payment.payable_id) if payable is not None else None
    return payable, row


def payments_of(kind, row_id) -> list:
    return db.session.scalars(select(Payment).where(Payment.payable_type == kind, Payment.payable_id == row_id)
                              .order_by(Payment.id)).all()


# ---------------------------------------------------------------------------
# Accounts: the private token sealed
# ---------------------------------------------------------------------------


def unsealed_private_token(account) -> Optional[str]:
    """The Lydia private token of an account, for a signature check only (None: unreadable,
    e.g. SECRET_KEY changed since the account was created)."""
    if not account or not account.sealed_private_token:
        return None
    try:
        return signing.unseal(account.sealed_private_token).decode()
    except ValueError:
        log.error("payment account %s: its private token cannot be unsealed (SECRET_KEY changed?)", account.id)
        return None


def _text(value, field, label, length, required=True) -> Optional[str]:
    text = (value or "").strip()
    if not text:
        if required:
            raise PaymentRefused(field, gettext("%(field)s: this field is required.", field=label))
        return None
    if len(text) > length:
        raise PaymentRefused(field, gettext("%(field)s: at most %(num)d characters.", field=label, num=length))
    return text


def check_account(account, private_token=None) -> PaymentAccount:
    """Check a new account (what its provider needs, nothing else) and seal its private
    token; raise PaymentRefused naming the field. Accounts are never changed afterwards."""
    if account.id is not None:
        raise PaymentRefused(None, gettext("A payment account cannot be changed: create a new one."))
    if account.organisation_id is None and account.organisation is None:
        raise PaymentRefused("organisation", gettext("Organisation: choose whom the account pays."))
    try:
        provider = PaymentProvider(account.provider)
    except ValueError:
        raise PaymentRefused("provider", gettext("Provider: choose PayPal or Lydia.")) from None
    account.provider = provider
    account.description = _text(account.description, "description", gettext("Description"), 150)
    if provider is PAYPAL:
        mail = _text(account.receiver_email, "receiver_email", gettext("Receiver's mail"), 254)
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", mail):
            raise PaymentRefused("receiver_email", gettext("Receiver's mail: a mail address is expected."))
        if account.public_token or private_token:
            raise PaymentRefused("public_token", gettext("Tokens: a PayPal account has none, only a mail."))
        account.receiver_email, account.public_token, account.sealed_private_token = mail, None, None
    else:
        account.public_token = _text(account.public_token, "public_token", gettext("Public token"), 100)
        secret = _text(private_token, "private_token", gettext("Private token"), 100)
        if account.receiver_email:
            raise PaymentRefused("receiver_email", gettext("Receiver's mail: a Lydia account has tokens, no mail."))
        account.receiver_email, account.sealed_private_token = None, signing.seal(secret.encode())
    return account


# ---------------------------------------------------------------------------
# References: which row a payment is for, signed
# ---------------------------------------------------------------------------


def _mac(kind, row_id) -> str:
    key = hashlib.sha256(b"guichet.payment-reference\x00" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, f"{kind}:{row_id}".encode(), hashlib.sha256).hexdigest()[:24]


def reference(kind, row_id) -> str:
    """What a gateway carries back to name the row paid for (PayPal's `custom`)."""
    return f"{kind}.{row_id}.{_mac(kind, row_id)}"


def read_reference(text):
    """(Payable, row id) of a reference, if it is one of ours and its signature holds."""
    match = _REFERENCE.match((text or "").strip())
    if match is None or match["kind"] not in PAYABLES:
        return None
    if not hmac.compare_digest(match["mac"], _mac(match["kind"], int(match["id"]))):
        return None
    return PAYABLES[match["kind"]], int(match["id"])


# ---------------------------------------------------------------------------
# Talking to the gateways
# ---------------------------------------------------------------------------


def _post(url, data: bytes) -> Optional[bytes]:
    """POST a form to a gateway: its answer, or None when it could not be had."""
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Guichet-payments"})
    try:
        with urllib.request.urlopen(request, timeout=current_app.config["PAYMENT_GATEWAY_TIMEOUT"]) as answer:
            return answer.read(1_000_000)
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.warning("payment gateway %s: %s", url, error)
        return None


def _post_json(url, fields: dict) -> Optional[dict]:
    answer = _post(url, urlencode(fields).encode())
    if answer is None:
        return None
    try:
        decoded = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        log.warning("payment gateway %s: an answer that is not JSON", url)
        return None
    return decoded if isinstance(decoded, dict) else None


def _keep(payment, text) -> None:
    kept = (payment.raw + "\n" if payment.raw else "") + text
    payment.raw = kept[-RAW_MAX_CHARS:]


def _amount(value) -> Optional[Decimal]:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount.quantize(Decimal("0.01")) if amount.is_finite() and abs(amount) < 10 ** 8 else None


def _payment_for(provider, reference_, **values) -> Payment:
    """The one payment of (provider, reference), created if it is new, locked until the
    commit. Of concurrent notifications of one payment, one creates the row; the others
    meet the unique constraint, read the row it committed and wait for its lock."""
    transactions.serialise()
    query = select(Payment).where(Payment.provider == provider, Payment.reference == reference_)
    payment = db.session.scalar(query)
    if payment is None:
        try:
            with db.session.begin_nested():
                payment = Payment(provider=provider, reference=reference_, **values)
                db.session.add(payment)
        except IntegrityError:
            payment = db.session.scalar(query)
    return transactions.lock(payment)


def _administrators() -> list:
    return db.session.scalars(select(User).where(User.active.is_(True), User.roles.any(Role.name == ADMIN))
                              .order_by(User.id)).all()


def _settle(payment, payable, row, *, amount, currency, receiver_ok) -> None:
    """Confirm a payment the gateway says is paid, or fail it when it does not match
    what was due (the desk's `mismatch`, and a mail); `payment` is locked."""
    if payment.state in SETTLED:
        return
    if row is None:
        payment.state, payment.reason = FAILED, gettext("What it paid for no longer exists.")
        return
    problems = []
    account = payable.account(row, payment.provider)
    if not receiver_ok or account is None or (payment.account_id and account.id != payment.account_id):
        problems.append(gettext("the payment was not made to the account of the sale"))
    due, expected = payable.amount(row), payable.currency(row)
    if amount is None or amount != due:
        problems.append(gettext("%(paid)s paid instead of %(due)s", paid=amount if amount is not None else "?",
                                due=due))
    if (currency or "").upper() != expected:
        problems.append(gettext("currency %(paid)s instead of %(due)s", paid=currency or "?", due=expected))
    if problems:
        reason = gettext("Payment %(provider)s %(reference)s does not match: %(problems)s.",
                         provider=payment.provider, reference=payment.reference, problems="; ".join(problems))
        payment.state, payment.reason = FAILED, reason
        db.session.flush()
        payable.mismatch(row, payment, reason)
        notifications.notify([*payable.alerted(row), *_administrators()], payable.mismatch_template,
                             {"payable": row, "payment": payment, "reason": reason}, link=payable.link(row))
        return
    try:
        with db.session.begin_nested():
            payable.confirmed(row, payment)
    except Refused as refusal:
        payment.state, payment.reason = PENDING, refusal.message
        return
    payment.state, payment.reason = CONFIRMED, None


# ---------------------------------------------------------------------------
# PayPal
# ---------------------------------------------------------------------------


def absolute(endpoint, **values) -> str:
    from flask import url_for

    return notifications.absolute_url(url_for(endpoint, **values))


def paypal_button(kind, row) -> Optional[dict]:
    """The form fields of a row's PayPal button ({"url", "fields"}), or None when it has
    no PayPal account or cannot be paid now."""
    payable = PAYABLES[kind]
    account = payable.account(row, PAYPAL)
    if account is None or payable.blockers(row):
        return None
    page = notifications.absolute_url(payable.link(row))
    fields = [("cmd", "_xclick"), ("business", account.receiver_email), ("item_name", payable.label(row)[:127]),
              ("amount", f"{payable.amount(row):.2f}"), ("currency_code", payable.currency(row)),
              ("custom", reference(kind, row.id)), ("notify_url", absolute("PaymentGatewayView.paypal_ipn")),
              ("return", page), ("cancel_return", page), ("no_shipping", "1"), ("charset", "utf-8")]
    return {"url": current_app.config["PAYPAL_URL"], "fields": fields}


def _ipn_fields(body: bytes) -> dict:
    """An IPN's fields, decoded in the charset it names (windows-1252 by default)."""
    text = body.decode("ascii", "replace")
    first = dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1"))
    charset = first.get("charset") or "windows-1252"
    try:
        return dict(parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace"))
    except LookupError:
        return first


def receive_ipn(body: bytes) -> int:
    """Take one PayPal IPN: verify it with PayPal, then record and settle its payment.
    Returns the HTTP status to answer: 200 (an IPN that cannot be verified now is logged
    as an error and kept nowhere: PayPal's own history of IPNs can resend it). The caller
    commits."""
    if not body or len(body) > 50_000:
        return 200
    verdict = _post(current_app.config["PAYPAL_IPN_VERIFY_URL"], b"cmd=_notify-validate&" + body)
    if verdict is None:
        log.error("IPN not verified, PayPal could not be reached: resend it from PayPal's IPN history")
        return 200
    if verdict.strip() != b"VERIFIED":
        log.warning("IPN not verified by PayPal (%r): ignored", verdict[:20])
        return 200
    fields = _ipn_fields(body)
    if (fields.get("test_ipn") == "1") != bool(current_app.config["PAYPAL_SANDBOX"]):
        log.warning("IPN of the %s ignored", "sandbox" if fields.get("test_ipn") == "1" else "live PayPal")
        return 200
    txn_id, status = (fields.get("txn_id") or "").strip(), fields.get("payment_status") or ""
    if not txn_id or len(txn_id) > 100:
        return 200
    raw = body.decode("ascii", "replace")
    if status in ("Refunded", "Reversed") and fields.get("parent_txn_id"):
        parent = db.session.scalar(select(Payment).where(Payment.provider == PAYPAL,
                                                         Payment.reference == fields["parent_txn_id"][:100]))
        if parent is not None:
            transactions.lock(parent)
            _keep(parent, raw)
            parent.state = REFUNDED
        return 200
    target = read_reference(fields.get("custom"))
    if target is None:
        log.warning("IPN %s for no reference of ours: ignored", txn_id)
        return 200
    payable, row_id = target
    row = db.session.get(payable.model, row_id)
    account = payable.account(row, PAYPAL) if row is not None else None
    payment = _payment_for(PAYPAL, txn_id, payable_type=payable.kind, payable_id=row_id, state=CREATED,
                           account_id=getattr(account, "id", None))
    _keep(payment, raw)
    payment.amount, payment.currency = _amount(fields.get("mc_gross")), (fields.get("mc_currency") or "")[:3]
    payment.payer_email = (fields.get("payer_email") or "")[:254] or None
    if status == "Completed":
        receiver = (fields.get("receiver_email") or "").strip().lower()
        _settle(payment, payable, row, amount=payment.amount, currency=payment.currency,
                receiver_ok=account is not None and receiver == (account.receiver_email or "").lower())
    elif status in ("Pending", "Processed") and payment.state is CREATED:
        payment.state = PENDING
        payment.reason = gettext("PayPal holds the payment (%(reason)s).", reason=fields.get("pending_reason") or "—")
    elif status in ("Denied", "Expired", "Failed", "Voided") and payment.state not in SETTLED:
        payment.state, payment.reason = FAILED, gettext("PayPal: %(status)s.", status=status)
    db.session.flush()
    return 200


# ---------------------------------------------------------------------------
# Lydia
# ---------------------------------------------------------------------------


def _lydia(path) -> str:
    return current_app.config["LYDIA_URL"].rstrip("/") + path


def lydia_offered(kind, row) -> bool:
    payable = PAYABLES[kind]
    return payable.account(row, LYDIA) is not None and not payable.blockers(row)


def lydia_request(kind, row, phone, payer) -> Payment:
    """Send a Lydia payment request for a row to the payer's phone; the caller commits.
    Raises PaymentRefused (naming `phone` when Lydia refuses or cannot be reached)."""
    payable = PAYABLES[kind]
    if not payable.may_pay(payer, row):
        raise PaymentRefused(None, gettext("You may not pay for this."))
    blockers = payable.blockers(row)
    if blockers:
        raise PaymentRefused(None, " ".join(blockers))
    account = payable.account(row, LYDIA)
    if account is None:
        raise PaymentRefused(None, gettext("No Lydia payment is offered for this."))
    number = re.sub(r"[\s.\-]", "", phone or "")
    if not _PHONE.match(number):
        raise PaymentRefused("phone", gettext("Phone: the number of the phone where Lydia runs, e.g. 06 12 34 56 78."))
    payment = Payment(provider=LYDIA, payable_type=kind, payable_id=row.id, account_id=account.id, state=CREATED,
                      amount=payable.amount(row), currency=payable.currency(row))
    db.session.add(payment)
    db.session.flush()
    answer = _post_json(_lydia("/api/request/do.json"), {
        "vendor_token": account.public_token, "recipient": number, "type": "phone",
        "amount": f"{payment.amount:.2f}", "currency": payment.currency, "message": payable.label(row)[:100],
        "order_ref": str(payment.id), "confirm_url": absolute("PaymentGatewayView.lydia_confirm"),
        "cancel_url": absolute("PaymentGatewayView.lydia_cancel"),
        "expire_url": absolute("PaymentGatewayView.lydia_cancel")})
    if answer is None:
        raise PaymentRefused("phone", gettext("Phone: Lydia cannot be reached now, nothing was asked; try again."))
    if str(answer.get("error")) != "0" or not answer.get("request_uuid"):
        raise PaymentRefused("phone", gettext("Phone: Lydia refused the request (%(message)s).",
                                              message=str(answer.get("message") or answer.get("error"))[:200]))
    payment.reference, payment.request_id = str(answer["request_uuid"])[:100], str(answer.get("request_id"))[:100]
    payment.state = PENDING
    _keep(payment, "request/do: " + json.dumps(answer, ensure_ascii=False)[:2000])
    db.session.flush()
    return payment


def _lydia_state(payment) -> Optional[str]:
    account = payment.account
    answer = _post_json(_lydia("/api/request/state.json"), {
        "request_uuid": payment.reference, "vendor_token": account.public_token if account else ""})
    if answer is None:
        return None
    _keep(payment, "request/state: " + json.dumps(answer, ensure_ascii=False)[:2000])
    return str(answer.get("state"))


def _follow_state(payment, *, amount, currency, receiver_ok) -> Optional[str]:
    """Ask Lydia the state of a locked payment and settle it: the state, None if unknown."""
    state = _lydia_state(payment)
    if state == LYDIA_PAID:
        payable, row = payable_of(payment)
        if payable is not None:
            _settle(payment, payable, row, amount=amount, currency=currency, receiver_ok=receiver_ok)
    elif state not in (None, LYDIA_WAITING) and payment.state not in SETTLED:
        payment.state, payment.reason = FAILED, gettext("Lydia: refused or cancelled (state %(state)s).", state=state)
    db.session.flush()
    return state


def lydia_signature(fields: dict, private_token: str) -> str:
    """Lydia's `sig`: the md5 of the signed parameters, sorted by name as key=value
    joined by "&", followed by "&" and the private token."""
    signed = "&".join(f"{name}={fields.get(name, '')}" for name in sorted(LYDIA_SIGNED))
    return hashlib.md5(f"{signed}&{private_token}".encode()).hexdigest()


def _signed_payment(fields: dict):
    """The payment a Lydia callback is about, locked, if its signature holds; else None."""
    order_ref = str(fields.get("order_ref") or "")
    if not order_ref.isdigit() or len(order_ref) > 18:
        return None
    payment = db.session.get(Payment, int(order_ref))
    if payment is None or payment.provider is not LYDIA:
        return None
    private = unsealed_private_token(payment.account)
    sent = str(fields.get("sig") or "").lower()
    if private is None or not hmac.compare_digest(sent, lydia_signature(fields, private)):
        log.warning("Lydia callback for payment %s with a wrong signature: ignored", order_ref)
        return None
    if str(fields.get("request_id") or "") != (payment.request_id or ""):
        return None
    return transactions.lock(payment)


def lydia_callback(fields: dict, confirm: bool) -> None:
    """Lydia's confirm (or cancel) callback; the caller commits. Believed only with a
    right signature, and settled only on what `request/state` says."""
    payment = _signed_payment(fields)
    if payment is None:
        return
    _keep(payment, ("confirm: " if confirm else "cancel: ") + urlencode(sorted(fields.items()))[:4000])
    if payment.state in SETTLED:
        return
    account = payment.account
    _follow_state(payment, amount=_amount(fields.get("amount")), currency=str(fields.get("currency") or "")[:3],
                  receiver_ok=account is not None and fields.get("vendor_token") == account.public_token)


def lydia_check(payment, payer) -> Optional[str]:
    """The payer says they paid: ask Lydia (the payment locked first). Returns Lydia's
    state, None when Lydia could not be asked. The caller commits."""
    payable, row = payable_of(payment)
    if payable is None or row is None or not payable.may_pay(payer, row):
        raise PaymentRefused(None, gettext("You may not pay for this."))
    transactions.lock(payment)
    if payment.state in SETTLED:
        return LYDIA_PAID if payment.state is CONFIRMED else None
    return _follow_state(payment, amount=payment.amount, currency=payment.currency, receiver_ok=True)
