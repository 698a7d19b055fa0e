"""Desk D, places paid online: PayPal's IPN and Lydia's requests against local fake
gateways (tests/payment_gateways.py), what a payment does to the place, mismatches
(opposition, mails), blocked places, the accounts (immutable, secret never shown), and
five copies of one IPN at once through a real server."""
import hashlib
import http.client
import uuid
from urllib.parse import urlsplit

import pytest
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Event,
    OutboxMail,
    Payment,
    PaymentAccount,
    PaymentProvider,
    PaymentState,
    Reservation,
    ReservationState,
    TicketType,
    WorkflowEvent,
)
from app.platform import payments
from app.rules import events as rules
from app.security import ADMIN

from .helpers import DEMO_PASSWORD, serve_live, user
from .payment_gateways import LYDIA_PRIVATE, LYDIA_PUBLIC, PAYPAL_RECEIVER, fake, gateways  # noqa: F401
from .test_events import _association, _event

KIND = "event_reservation"


_EVENTS = {}  # {with an extra item: event id}: two events serve every test (each logs a grant)
_PAYERS = []


def _shared_event(item):
    """A BDE event on sale, paid by the BDE's PayPal and Lydia accounts, its one ticket at
    20 € (with an extra item to provide when `item`); made once per test session."""
    known = _EVENTS.get(item)
    if known is not None and db.session.get(Event, known[0]) is not None:
        return known
    event_id, ticket_type_id = _event(price="20", capacity=1000)
    event = db.session.get(Event, event_id)
    bde = {provider: db.session.scalars(select(PaymentAccount).where(
        PaymentAccount.organisation_id == _association().organisation_id, PaymentAccount.provider == provider,
        PaymentAccount.description.in_(["PayPal du BDE", "Lydia du BDE"]))).one() for provider in PaymentProvider}
    event.paypal_account_id, event.lydia_account_id = bde[PaymentProvider.paypal].id, bde[PaymentProvider.lydia].id
    if item:
        rules.save_extra_info(user("eventadmin"), db.session.get(TicketType, ticket_type_id),
                              label="Certificat médical", kind="text")
    db.session.commit()
    _EVENTS[item] = (event_id, ticket_type_id)
    return _EVENTS[item]


def _place(item=False):
    """A pre-reserved place of a new buyer (who signs in with the demo password) on the
    shared event; committed. Its id."""
    from app.security import USER

    event_id, ticket_type_id = _shared_event(item)
    sm = current_app.appbuilder.sm
    login = f"payer-{uuid.uuid4().hex[:8]}"
    buyer = sm.add_user(login, "Lucie", login, f"{login}@guichet.example", [sm.find_role(USER)],
                        password=DEMO_PASSWORD)
    _PAYERS.append(login)
    [place] = rules.book(buyer, db.session.get(Event, event_id), ticket_type_id)
    db.session.commit()
    return place.id


def _buyer(place_id):
    return db.session.get(Reservation, place_id).holder.username


@pytest.fixture(scope="module", autouse=True)
def payers_retired(app):
    """The buyers made here are made inactive afterwards, so that no other test counts them."""
    yield
    with app.app_context():
        for login in _PAYERS:
            user(login).active = False
        db.session.commit()


def _ipn(fake, place_id, txn, status="Completed", amount="20.00", currency="EUR", receiver=PAYPAL_RECEIVER,
         test=False):
    fields = {"mc_gross": amount, "protection_eligibility": "Eligible", "payment_status": status,
              "charset": "UTF-8", "custom": payments.reference(KIND, place_id), "payer_email": "lucie@example.org",
              "txn_id": txn, "receiver_email": receiver, "business": receiver, "txn_type": "web_accept",
              "item_name": "Soirée — Place", "mc_currency": currency, "first_name": "Lucie", "last_name": "Bernàrd"}
    if status == "Pending":
        fields["pending_reason"] = "echeck"
    if test:
        fields["test_ipn"] = "1"
    return fake.ipn(**fields)


def _post_ipn(app, body):
    response = app.test_client().post("/payments/paypal/ipn", data=body,
                                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.data == b""
    return response


def _state(place_id):
    db.session.expire_all()
    place = db.session.get(Reservation, place_id)
    found = db.session.scalars(select(Payment).where(Payment.payable_type == KIND, Payment.payable_id == place_id)
                               .order_by(Payment.id)).all()
    paid = db.session.scalars(select(WorkflowEvent).where(WorkflowEvent.object_type == KIND,
                                                          WorkflowEvent.object_id == place_id,
                                                          WorkflowEvent.transition == "mark_paid")).all()
    return place, found, paid


def _txn():
    return uuid.uuid4().hex[:17].upper()


# ---------------------------------------------------------------------------
# PayPal
# ---------------------------------------------------------------------------


def test_a_verified_completed_ipn_reserves_the_place_once_in_the_payers_name(app, session, fake):
    place_id = _place()
    txn = _txn()
    _post_ipn(app, _ipn(fake, place_id, txn))
    place, found, paid = _state(place_id)
    assert place.state is ReservationState.reserved and place.paid_on is not None
    assert [(p.state, p.reference, p.amount) for p in found] == [(PaymentState.confirmed, txn, 20)]
    assert len(paid) == 1 and paid[0].actor_id == place.holder_id and txn in paid[0].comment
    assert fake.postbacks[0].startswith(b"cmd=_notify-validate&")
    assert "Lucie" in found[0].raw and "receiver_email" in found[0].raw


def test_pending_then_completed_confirms_and_a_repeat_changes_nothing(app, session, fake):
    place_id = _place()
    txn = _txn()
    _post_ipn(app, _ipn(fake, place_id, txn, status="Pending"))
    place, [payment], paid = _state(place_id)
    assert payment.state is PaymentState.pending and place.state is ReservationState.prereserved and not paid
    completed = _ipn(fake, place_id, txn)
    _post_ipn(app, completed)
    _post_ipn(app, completed)
    place, found, paid = _state(place_id)
    assert [p.state for p in found] == [PaymentState.confirmed] and len(paid) == 1
    assert place.state is ReservationState.reserved


def test_an_invalid_ipn_changes_nothing(app, session, fake):
    place_id = _place()
    body = _ipn(fake, place_id, _txn())
    fake.paypal_sent.clear()  # PayPal never sent it: a forgery
    _post_ipn(app, body)
    place, found, paid = _state(place_id)
    assert place.state is ReservationState.prereserved and found == [] and paid == []
    assert len(fake.postbacks) == 1


def test_a_sandbox_ipn_is_ignored_by_a_live_site(app, session, fake):
    place_id = _place()
    _post_ipn(app, _ipn(fake, place_id, _txn(), test=True))
    place, found, _ = _state(place_id)
    assert place.state is ReservationState.prereserved and found == []


@pytest.mark.parametrize("wrong, said", [
    ({"amount": "2.00"}, "2.00"), ({"currency": "USD"}, "USD"),
    ({"receiver": "someone-else@example.org"}, "compte de la vente")])
def test_a_payment_that_does_not_match_opposes_the_place_and_mails_organisers_and_admins(
        app, session, fake, wrong, said):
    place_id = _place()
    before = session.query(OutboxMail).filter_by(template="events/payment_mismatch").count()
    _post_ipn(app, _ipn(fake, place_id, _txn(), **wrong))
    place, [payment], paid = _state(place_id)
    assert place.state is ReservationState.opposed and said in place.opposition_reason and not paid
    assert payment.state is PaymentState.failed and said in payment.reason
    mails = session.query(OutboxMail).filter_by(template="events/payment_mismatch").order_by(OutboxMail.id).all()
    mails = mails[before:]
    admins = {u.email for u in app.appbuilder.sm.get_all_users() if any(r.name == ADMIN for r in u.roles)
              and u.active}
    assert {m.recipient for m in mails} == {user("eventadmin").email} | admins
    assert len(mails) == 2 and all(said in m.body for m in mails)


def test_the_ipn_endpoint_answers_200_empty_to_anything(app, session, fake):
    client = app.test_client()
    for body in (b"", b"\xff\xfe garbage", b"txn_id=" + b"9" * 300, b"custom=event_reservation.1.deadbeef",
                 b"a=%zz&&&=="):
        fake.paypal_sent.add(body)  # even "verified" garbage
        response = client.post("/payments/paypal/ipn", data=body, content_type="application/x-www-form-urlencoded")
        assert (response.status_code, response.data) == (200, b"")
    assert client.get("/payments/paypal/ipn").status_code == 405


def test_a_blocked_place_offers_no_payment_and_a_verified_ipn_leaves_it_unpaid(app, session, fake, login_as):
    place_id = _place(item=True)
    page = login_as(_buyer(place_id)).get("/events/places").get_data(as_text=True)
    row = page.split(f'data-place="{place_id}"')[1].split("</tr>")[0]
    assert "Certificat médical" in row and "pay-paypal" not in row and "pay-lydia" not in row
    assert "payment-blocked" in row
    _post_ipn(app, _ipn(fake, place_id, _txn()))
    place, [payment], paid = _state(place_id)
    assert place.state is ReservationState.prereserved and not paid
    assert payment.state is PaymentState.pending and "Certificat médical" in payment.reason


def test_my_places_offers_paypal_with_the_reference_and_the_ipn_address(app, session, fake, login_as):
    place_id = _place()
    page = login_as(_buyer(place_id)).get("/events/places").get_data(as_text=True)
    row = page.split(f'data-place="{place_id}"')[1].split("</tr>")[0]
    assert f'action="{fake.settings()["PAYPAL_URL"]}"' in row
    for name, value in (("business", PAYPAL_RECEIVER), ("amount", "20.00"), ("currency_code", "EUR"),
                        ("custom", payments.reference(KIND, place_id)),
                        ("notify_url", "http://localhost/payments/paypal/ipn")):
        assert f'name="{name}" value="{value}"' in row
    assert "pay-lydia" in row and 'type="tel"' in row


# ---------------------------------------------------------------------------
# Lydia
# ---------------------------------------------------------------------------


def _lydia_request(login_as, fake, place_id):
    client = login_as(_buyer(place_id))
    response = client.post(f"/payments/lydia/request/{payments.reference(KIND, place_id)}",
                           data={"phone": "06 12 34 56 78"})
    assert response.status_code == 302 and "/payments/lydia/wait/" in response.location
    [asked] = fake.lydia_requests
    return client, asked


def _confirm_fields(asked, amount="20.00", private=LYDIA_PRIVATE):
    fields = {"currency": "EUR", "request_id": asked["request_id"], "amount": amount, "signed": "0",
              "transaction_identifier": "TX42", "vendor_token": LYDIA_PUBLIC, "order_ref": asked["order_ref"]}
    signed = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    fields["sig"] = hashlib.md5(f"{signed}&{private}".encode()).hexdigest()
    return fields


def test_lydia_a_request_is_sent_to_the_phone_and_a_wrongly_signed_confirm_changes_nothing(app, session, fake,
                                                                                           login_as):
    place_id = _place()
    client, asked = _lydia_request(login_as, fake, place_id)
    assert (asked["recipient"], asked["amount"], asked["currency"], asked["type"]) == ("0612345678", "20.00",
                                                                                       "EUR", "phone")
    assert asked["confirm_url"] == "http://localhost/payments/lydia/confirm"
    fake.lydia_states[asked["request_uuid"]] = "1"
    response = app.test_client().post("/payments/lydia/confirm", data=_confirm_fields(asked, private="guess"))
    assert (response.status_code, response.data) == (200, b"")
    place, [payment], paid = _state(place_id)
    assert place.state is ReservationState.prereserved and payment.state is PaymentState.pending and not paid


def test_lydia_a_signed_confirm_is_believed_only_once_lydia_says_paid_then_once(app, session, fake, login_as):
    place_id = _place()
    client, asked = _lydia_request(login_as, fake, place_id)
    fields = _confirm_fields(asked)
    app.test_client().post("/payments/lydia/confirm", data=fields)  # Lydia still says waiting
    place, [payment], paid = _state(place_id)
    assert place.state is ReservationState.prereserved and payment.state is PaymentState.pending
    fake.lydia_states[asked["request_uuid"]] = "1"
    for _ in range(3):
        app.test_client().post("/payments/lydia/confirm", data=fields)
    place, [payment], paid = _state(place_id)
    assert place.state is ReservationState.reserved and payment.state is PaymentState.confirmed and len(paid) == 1
    wait = client.get(f"/payments/lydia/wait/{payment.id}").get_data(as_text=True)
    assert "payment-state" in wait and "alert-success" in wait


def test_lydia_i_have_paid_asks_lydia_and_a_refusal_fails_the_payment(app, session, fake, login_as):
    place_id = _place()
    client, asked = _lydia_request(login_as, fake, place_id)
    _, [payment], _ = _state(place_id)
    client.post(f"/payments/lydia/check/{payment.id}")
    place, [payment], _ = _state(place_id)
    assert payment.state is PaymentState.pending and place.state is ReservationState.prereserved
    fake.lydia_states[asked["request_uuid"]] = "1"
    client.post(f"/payments/lydia/check/{payment.id}")
    place, [payment], paid = _state(place_id)
    assert payment.state is PaymentState.confirmed and place.state is ReservationState.reserved and len(paid) == 1
    other_id = _place()
    client2, asked2 = _lydia_request_as(login_as, fake, other_id, _buyer(other_id))
    fake.lydia_states[asked2["request_uuid"]] = "6"
    _, [refused], _ = _state(other_id)
    client2.post(f"/payments/lydia/check/{refused.id}")
    place, [refused], paid = _state(other_id)
    assert refused.state is PaymentState.failed and place.state is ReservationState.prereserved and not paid
    assert login_as(_buyer(place_id)).get(f"/payments/lydia/wait/{refused.id}").status_code == 404


def _lydia_request_as(login_as, fake, place_id, login):
    client = login_as(login)
    before = len(fake.lydia_requests)
    response = client.post(f"/payments/lydia/request/{payments.reference(KIND, place_id)}",
                           data={"phone": "+33612345679"})
    assert response.status_code == 302
    return client, fake.lydia_requests[before]


def test_lydia_a_bad_phone_is_refused_on_its_field_and_nothing_is_asked(app, session, fake, login_as):
    place_id = _place()
    client = login_as(_buyer(place_id))
    response = client.post(f"/payments/lydia/request/{payments.reference(KIND, place_id)}",
                           data={"phone": "call me"}, follow_redirects=True)
    assert response.status_code == 200 and ("Téléphone" in response.get_data(as_text=True)
                                            or "Phone" in response.get_data(as_text=True))
    assert fake.lydia_requests == [] and _state(place_id)[1] == []
    assert client.post("/payments/lydia/request/event_reservation.1.000000000000000000000000",
                       data={"phone": "0612345678"}).status_code == 404


# ---------------------------------------------------------------------------
# Accounts: added, never changed, the private token never shown again
# ---------------------------------------------------------------------------


def test_accounts_are_added_never_edited_and_the_private_token_never_shown(app, session, login_as):
    secret = "lydia-private-Zq81x"
    client = login_as("eventadmin")
    organisation_id = _association().organisation_id
    form = client.get("/paymentaccounts/add").get_data(as_text=True)
    assert 'type="password"' in form
    response = client.post("/paymentaccounts/add", data={
        "organisation": str(organisation_id), "provider": "lydia", "description": "Lydia du gala",
        "public_token": "pub-gala", "private_token": secret})
    assert response.status_code == 302
    session.expire_all()
    account = session.query(PaymentAccount).filter_by(description="Lydia du gala").one()
    assert secret not in (account.sealed_private_token or "") and payments.unsealed_private_token(account) == secret
    pages = [client.get("/paymentaccounts/list/"), client.get(f"/paymentaccounts/show/{account.id}"),
             client.get("/paymentaccounts/export/csv"), client.get("/paymentaccounts/add"),
             client.get("/paymentlist/list/"), client.get("/api/v1/_openapi")]
    for page in pages:
        assert secret not in page.get_data(as_text=True)
    assert "Lydia du gala" in pages[0].get_data(as_text=True)
    for path in (f"/paymentaccounts/edit/{account.id}", f"/paymentaccounts/delete/{account.id}"):
        assert client.get(path).status_code == 404 and client.post(path, data={"description": "x"}).status_code == 404
    refused = client.post("/paymentaccounts/add", data={"organisation": str(organisation_id), "provider": "lydia",
                                                        "description": "Sans secret", "public_token": "p"})
    assert refused.status_code == 200 and session.query(PaymentAccount).filter_by(description="Sans secret").count() == 0


def test_a_buyer_sees_no_account_nor_payment_grid(login_as):
    client = login_as("etudiant")
    assert client.get("/paymentaccounts/list/").status_code in (302, 403)
    assert client.get("/paymentlist/list/").status_code in (302, 403)


# ---------------------------------------------------------------------------
# One IPN five times at once, through a real server
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ipn_server(app, gateways):
    """The app on a live server of its own, started with the fake gateways' settings."""
    yield from serve_live(app)


def test_five_copies_of_one_ipn_at_once_make_one_payment_and_one_paid_entry(app, fake, ipn_server):
    from .test_races import burst

    with app.app_context():
        place_id = _place()
        body = _ipn(fake, place_id, _txn())
    parts = urlsplit(ipn_server)

    def post():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            connection.request("POST", "/payments/paypal/ipn", body=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    assert burst([post] * 5) == [(200, b"")] * 5
    with app.app_context():
        place, found, paid = _state(place_id)
        assert place.state is ReservationState.reserved
        assert [p.state for p in found] == [PaymentState.confirmed] and len(paid) == 1
