"""Desk E's Just Fibre journey in a real browser (issue 15): an OperatorUser entitled to
the e-services checks eligibility at the seed's address, books a technician's
appointment from the building sheet, orders with the GTR option (going back once with
"Précédent", which keeps what was typed), sees the dashboard's count move when the back
office (`ops`) completes the order, runs a diagnostic on the access the order opened and
files an incident on it, forcing the filing since the diagnostic is OK."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Entitlement, EService, Incident, Membership, Order
from app.rules.operator import appointments as appointment_rules

from .helpers import user

SEED_ADDRESS = "6 rue Étienne Ganneron, 77600 Bussy-Saint-Georges"
SEED_IMB = "IMB/77058/X/0218"
AFTER_SALES = ("e-sav-test", "e-sav-signal")


@pytest.fixture()
def opuser_with_after_sales(app):
    """opuser (eligibility, TAO, e-RDV, e-Just Fibre in the demo) ticked for e-SAV too."""
    with app.app_context():
        person = user("opuser")
        operator_id = db.session.scalar(select(Membership.organisation_id).where(Membership.user_id == person.id))
        added = []
        for code in AFTER_SALES:
            service_id = db.session.scalar(select(EService.id).where(EService.code == code))
            ticked = Entitlement(user_id=person.id, organisation_id=operator_id, eservice_id=service_id)
            db.session.add(ticked)
            added.append(ticked)
        db.session.commit()
        ids = [ticked.id for ticked in added]
    yield
    with app.app_context():
        db.session.query(Entitlement).filter(Entitlement.id.in_(ids)).delete(synchronize_session=False)
        db.session.commit()


def _count(page, live_url, order_type, state) -> int:
    page.goto(f"{live_url}/operator/orders/dashboard")
    return int(page.inner_text(f"#orders-{order_type} a.orders-count[data-state='{state}']"))


def test_the_just_fibre_journey_from_eligibility_to_a_forced_incident(
        app, browser_login, live_url, opuser_with_after_sales):
    page = browser_login("opuser")

    # Eligibility at the seed's address, then its building sheet.
    page.goto(f"{live_url}/operator/eligibility/")
    page.fill("#address", SEED_ADDRESS)
    page.click(".eligibility-form button[type=submit]")
    page.click(f"a:has-text('{SEED_IMB}')")
    page.wait_for_url("**/operator/eligibility/building/*")
    assert f"Détails de l'immeuble : {SEED_IMB}" in page.inner_text("h1")
    sheet = page.url

    # e-RDV: the form filled from the building sheet; a slot taken, then confirmed.
    page.click("#book-appointment")
    page.wait_for_url("**/operator/appointments/new**")
    expect(page.locator("#insee_code")).to_have_value("77058")
    page.select_option("#operation_type", "building")
    with app.app_context():
        window_end = appointment_rules.first_working_day(appointment_rules.bounds()[0] + timedelta(days=10))
    page.fill("#window_end", window_end.isoformat())
    page.click("#appointment-form button[type=submit]")
    expect(page.locator("#slots-title")).to_contain_text("créneau")
    page.click("#take-slot")
    page.wait_for_url("**/operator/appointments/RDV-*")
    reference = page.inner_text(".appointment-reference").strip()
    page.click("#action-validate button")
    expect(page.locator("#appointment-state")).to_have_text("Validé")

    # The dashboard before the order.
    in_progress = _count(page, live_url, "creation", "in_progress")
    done = _count(page, live_url, "creation", "done")

    # e-Just Fibre: the wizard from the building sheet, the GTR option, "Précédent" once.
    page.goto(sheet)
    page.click("#order-just-fibre")
    page.wait_for_url("**/operator/orders/new/1")
    expect(page.locator("#imb_id")).to_have_value(SEED_IMB)
    page.fill("#operator_reference", "CMD-2026-0042")
    page.fill("#appointment_reference", reference)
    page.click("button[name=go][value=next]")
    page.wait_for_url("**/operator/orders/new/2")
    page.check("input[name=offer][value=just-fibre]")
    page.check("input[name=gtr_option]")
    page.click("button[name=go][value=next]")
    page.wait_for_url("**/operator/orders/new/3")
    page.check("input[name=delivery][value=other]")
    page.fill("#delivery_name", "Julien Morel")
    page.fill("#delivery_street", "12 avenue de la Gare")
    page.fill("#delivery_postcode", "77600")
    page.fill("#delivery_city", "Bussy-Saint-Georges")
    page.click("button[name=go][value=next]")
    page.wait_for_url("**/operator/orders/new/4")
    summary = page.inner_text(".orders-summary")
    assert "CMD-2026-0042" in summary and reference in summary and "12 avenue de la Gare" in summary
    page.click("button[name=go][value=previous]")
    page.wait_for_url("**/operator/orders/new/3")
    expect(page.locator("input[name=delivery][value=other]")).to_be_checked()
    expect(page.locator("#delivery_street")).to_have_value("12 avenue de la Gare")
    page.click("button[name=go][value=next]")
    page.wait_for_url("**/operator/orders/new/4")
    assert "Oui" in page.inner_text(".orders-summary")  # the GTR option, kept too
    page.click("button[name=go][value=validate]")
    page.wait_for_url(re.compile(r".*/operator/orders/show/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    assert _count(page, live_url, "creation", "in_progress") == in_progress + 1

    # The back office completes it: the dashboard's counts move.
    back_office = browser_login("ops")
    back_office.goto(f"{live_url}/operator/orders/show/{order_id}")
    back_office.click("form.guichet-transition button:has-text('Terminer')")
    back_office.wait_for_load_state()
    assert _count(page, live_url, "creation", "in_progress") == in_progress
    assert _count(page, live_url, "creation", "done") == done + 1
    with app.app_context():
        order = db.session.get(Order, order_id)
        prestation_id = order.access.prestation_id
        assert order.gtr_option and order.access.gtr_option and order.appointment.reference == reference

    # e-SAV Test: a global diagnostic of the new access (the simulation: OK).
    page.goto(f"{live_url}/operator/sav/test/?access={prestation_id}")
    expect(page.locator("body")).to_contain_text("simulation")
    page.check("input[name=test][value=global]")
    page.click("#tests-title ~ form button[type=submit]")
    page.wait_for_url("**/operator/sav/test/**")
    expect(page.locator("#results")).to_contain_text("Diagnostic global")

    # e-SAV Signalisation: the diagnostic is OK, so filing needs the forcing right's reason.
    page.click("a:has-text('Déposer une signalisation')")
    page.wait_for_url("**/operator/sav/incidents/new**")
    for name, value in (("faulty_service", "MB FTTH Internet profil 07"), ("filer_name", "MOREL Julien"),
                        ("filer_phone", "0437447211"), ("customer_phone", "0478000000"),
                        ("customer_mobile", "0612000000"), ("lunch_hours", "12:00/14:00"),
                        ("description", "Coupures répétées le soir.")):
        page.fill(f"#f-{name}", value)
    for name, value in (("appointment_needed", "yes"), ("customer_informed", "yes"),
                        ("prelocalised_at_customer", "no"), ("ever_worked", "yes")):
        page.check(f"input[name={name}][value={value}]")
    for name in ("box_power_led", "box_dsl_led", "ont_power_led", "ont_pon_led"):
        page.select_option(f"#f-{name}", index=1)
    page.select_option("#f-fault_nature", index=1)
    page.check("input[name=faults] >> nth=0")
    page.click(".sav-incident-form button[type=submit]")
    expect(page.locator("#forced-error, #forcing_reason-error").first).to_be_visible()
    page.check("input[name=forced][value=yes]")
    page.fill("#f-forcing_reason", "Le client constate des coupures que le diagnostic ne voit pas.")
    page.click(".sav-incident-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/operator/sav/incidents/show/\d+$"))
    with app.app_context():
        incident = db.session.get(Incident, int(page.url.rsplit("/", 1)[1]))
        assert incident.forced and "coupures" in incident.forcing_reason
        assert incident.access.prestation_id == prestation_id and incident.gtr_deadline is not None
        assert [diagnostic.kind.value for diagnostic in incident.diagnostics] == ["global"]
