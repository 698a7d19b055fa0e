"""In a real browser, a student's night at the gala from payment to the door: the
student, whose place and cheque scan are ready, pays through the (fake) PayPal, which
delivers its IPN twice; the place is paid once, and the PDF ticket downloads from "My
places". Its QR code, read by a real decoder (zxing-cpp), holds the token that the
checker types into the check-in page: OK, then "already checked in"."""
import re
import uuid

import pypdfium2
import zxingcpp
from playwright.sync_api import expect
from sqlalchemy import select

from app.demo.platform import ensure_account
from app.extensions import db
from app.models import (CheckIn, Event, ExtraInfoKind, Payment, PaymentState, PersonProfile, Reservation, ReservationState,
                        School, WorkflowEvent)
from app.rules import events as rules
from app.security import USER

from .helpers import PNG, user
from .payment_gateways import gateways  # noqa: F401 (the fixture)

GALA = "Gala de Centrale Lyon 2026"


class _Upload:
    """The cheque scan, as a form sends a file."""

    def __init__(self):
        import io

        self.filename, self.stream = "cheque.png", io.BytesIO(PNG)


def _ready_student(app):
    """A student of promotion 2026 with a gala place whose cheque scan is validated: what
    is left is to pay. Their login and place."""
    login = f"gala-{uuid.uuid4().hex[:6]}"
    with app.app_context():
        student = ensure_account(login, USER, "Inès", "Garnier", [])
        school = db.session.query(School).filter_by(name="École Centrale de Lyon").one()
        db.session.add(PersonProfile(user_id=student.id, promotion=2026, school_id=school.id))
        db.session.commit()
        gala = db.session.query(Event).filter_by(name=GALA).one()
        [place] = rules.book(student, gala, gala.ticket_types[0].id)
        for info in gala.ticket_types[0].extra_infos:
            upload = _Upload() if info.kind is ExtraInfoKind.file else None
            answer = rules.answer(student, place, info, "L" if upload is None else None, upload)
            rules.validate_answer(user("eventadmin"), answer)
        db.session.commit()
        return login, place.id


def _codes(pdf):
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [code.text for page in document
                for code in zxingcpp.read_barcodes(page.render(scale=150 / 72).to_pil())]
    finally:
        document.close()


def test_a_student_pays_the_gala_by_paypal_and_downloads_the_ticket(app, browser_login, live_url, gateways):
    gateways.reset()
    gateways.site_url = live_url
    login, place_id = _ready_student(app)
    student = browser_login(login)
    student.goto(f"{live_url}/events/places")
    row = student.locator(f'#places tr[data-place="{place_id}"]')
    row.locator("button:has-text('Payer avec PayPal')").click()
    student.wait_for_load_state()
    assert re.search(r"Pay \d+\.\d\d EUR to ", student.locator("h1").inner_text())
    student.click("button:has-text('Pay')")
    student.wait_for_url("**/events/places")
    assert gateways.ipn_answers == [(200, b"")] * 2  # PayPal repeated its IPN
    with app.app_context():
        place = db.session.get(Reservation, place_id)
        assert place.state is ReservationState.reserved
        found = db.session.scalars(select(Payment).where(Payment.payable_type == rules.PAYABLE_KIND,
                                                         Payment.payable_id == place_id)).all()
        assert [payment.state for payment in found] == [PaymentState.confirmed]
        assert len(db.session.scalars(select(WorkflowEvent).where(
            WorkflowEvent.object_type == rules.PAYABLE_KIND, WorkflowEvent.object_id == place_id,
            WorkflowEvent.transition == "mark_paid")).all()) == 1

    link = student.locator(f'#places tr[data-place="{place_id}"] a[href="/events/ticket/{place_id}"]')
    assert link.count() == 1
    ticket = student.request.get(f"{live_url}/events/ticket/{place_id}")
    assert ticket.status == 200 and ticket.headers["content-type"] == "application/pdf"
    [token] = _codes(ticket.body())
    with app.app_context():
        gala = db.session.query(Event).filter_by(name=GALA).one()
        assert rules.signing.verify(gala.public_key, token)[0] == place_id
        gala_id = gala.id

    checker = browser_login("checker")
    checker.goto(f"{live_url}/events/show/{gala_id}")
    checker.click("#checkin-event")
    checker.wait_for_url(f"**/events/checkin/{gala_id}")
    verdict = checker.locator("#checkin-verdict")
    for code, headline, message in (
            ("ok", "OK", r"^Entrée enregistrée : Inès Garnier"),
            ("already", "Déjà entré", r"^Déjà entré à \d\d:\d\d, par Théo Girard\.$")):
        checker.fill("#checkin-token", token)  # the decoded QR code, typed
        checker.press("#checkin-token", "Enter")
        expect(verdict).to_have_attribute("data-code", code)
        expect(verdict.locator(".checkin-headline")).to_have_text(headline)
        expect(verdict.locator(".checkin-message")).to_have_text(re.compile(message))
    with app.app_context():
        entries = db.session.scalars(select(CheckIn).where(CheckIn.reservation_id == place_id)).all()
        assert len(entries) == 1 and entries[0].by.username == "checker"
