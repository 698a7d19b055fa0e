"""The payment mechanism (app/platform/payments.py) on its own terms: sealed secrets,
signed references, account checks, a gateway that cannot be reached, refunds; the
gateways are local fakes (tests/payment_gateways.py)."""
import pytest

from app.extensions import db
from app.models import Payment, PaymentAccount, PaymentState, Reservation, ReservationState
from app.platform import payments

from .helpers import free_port, user
from .payment_gateways import fake, gateways  # noqa: F401
from .test_events_payments import KIND, _buyer, _ipn, _place, _post_ipn, _state, _txn, payers_retired  # noqa: F401


def test_a_sealed_token_reads_back_only_with_the_same_secret_key(app, session, monkeypatch):
    account = PaymentAccount(provider="lydia", organisation_id=1, description="Essai", public_token="pub")
    payments.check_account(account, "private-123")
    assert "private-123" not in account.sealed_private_token
    assert payments.unsealed_private_token(account) == "private-123"
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret-key-of-enough-length")
    assert payments.unsealed_private_token(account) is None


def test_a_reference_altered_in_any_way_is_not_ours(app, session):
    good = payments.reference(KIND, 41)
    assert payments.read_reference(good)[1] == 41
    kind, _, mac = good.split(".")
    for forged in (f"{kind}.42.{mac}", f"ticket.41.{mac}", good[:-1] + ("0" if good[-1] != "0" else "1"), "", None,
                   "x" * 300):
        assert payments.read_reference(forged) is None


@pytest.mark.parametrize("values, private, field", [
    ({"provider": "paypal", "description": "PP"}, None, "receiver_email"),
    ({"provider": "paypal", "description": "PP", "receiver_email": "not a mail"}, None, "receiver_email"),
    ({"provider": "paypal", "description": "", "receiver_email": "a@b.fr"}, None, "description"),
    ({"provider": "lydia", "description": "L", "public_token": "pub"}, None, "private_token"),
    ({"provider": "lydia", "description": "L"}, "secret", "public_token"),
    ({"provider": "bitcoin", "description": "L"}, None, "provider"),
])
def test_an_account_missing_what_its_provider_needs_is_refused_on_that_field(app, session, values, private, field):
    with pytest.raises(payments.PaymentRefused) as refusal:
        payments.check_account(PaymentAccount(organisation_id=1, **values), private)
    assert refusal.value.field == field


def test_an_ipn_paypal_cannot_verify_now_is_answered_200_and_nothing_is_kept(
        app, session, fake, monkeypatch):
    place_id = _place()
    monkeypatch.setitem(app.config, "PAYPAL_IPN_VERIFY_URL", f"http://127.0.0.1:{free_port()}/verify")
    monkeypatch.setitem(app.config, "PAYMENT_GATEWAY_TIMEOUT", 2)
    response = app.test_client().post("/payments/paypal/ipn", data=_ipn(fake, place_id, _txn()),
                                      content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.data) == (200, b"")
    place, found, _ = _state(place_id)
    assert place.state is ReservationState.prereserved and found == []


def test_a_refund_ipn_marks_its_payment_refunded(app, session, fake):
    place_id = _place()
    txn = _txn()
    _post_ipn(app, _ipn(fake, place_id, txn))
    refund = fake.ipn(mc_gross="-20.00", payment_status="Refunded", txn_id=_txn(), parent_txn_id=txn,
                      custom=payments.reference(KIND, place_id), receiver_email="tresorerie-bde@guichet.example",
                      mc_currency="EUR")
    _post_ipn(app, refund)
    place, [payment], _ = _state(place_id)
    assert payment.state is PaymentState.refunded and "Refunded" in payment.raw
    assert place.state is ReservationState.reserved


def test_lydia_out_of_reach_refuses_the_request_on_the_phone_and_keeps_no_payment(app, session, fake, monkeypatch):
    place_id = _place()
    monkeypatch.setitem(app.config, "LYDIA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.config, "PAYMENT_GATEWAY_TIMEOUT", 2)
    with app.test_request_context():
        with pytest.raises(payments.PaymentRefused) as refusal:
            payments.lydia_request(KIND, db.session.get(Reservation, place_id), "0612345678", user(_buyer(place_id)))
        db.session.rollback()
    assert refusal.value.field == "phone"
    assert db.session.query(Payment).filter_by(payable_type=KIND, payable_id=place_id).count() == 0
