"""In a real browser, desk D's gala as its people see it: a student of promotion 2026
books the gala with the return shuttle, a meal and a sponsored guest, sees the total
as the form follows the choices and is told it again once booked, then gives the deposit cheque scan in "My places"; `eventadmin` validates it
on the place's page; the student sees it validated; `etudiant2` (promotion 2028) is
told why the students' ticket is not for them. The pages with the items' forms and
the Validate button pass axe-core (the role walk of test_browser_a11y opens no place
with an item)."""
import re
import uuid

from app.demo.platform import ensure_account
from app.extensions import db
from app.models import Event, PersonProfile, School
from app.security import USER

from .helpers import PNG
from .test_browser_a11y import AXE_SOURCE_PATH, Audit

GALA = "Gala de Centrale Lyon 2026"
CHEQUE = "Chèque de caution (scan)"


def _new_student(app):
    """A fresh student of promotion 2026 (the demo `etudiant` already holds a gala place)."""
    login = f"gala-{uuid.uuid4().hex[:6]}"
    with app.app_context():
        student = ensure_account(login, USER, "Camille", "Moreau", [])
        school = db.session.query(School).filter_by(name="École Centrale de Lyon").one()
        db.session.add(PersonProfile(user_id=student.id, promotion=2026, school_id=school.id))
        db.session.commit()
    return login


def test_a_student_books_the_gala_gives_the_cheque_the_admin_validates_it(app, browser_login, live_url):
    login = _new_student(app)
    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        audit = Audit(live_url, source.read())
    with app.app_context():
        gala_id = db.session.query(Event.id).filter_by(name=GALA).scalar()

    student = browser_login(login)
    student.goto(f"{live_url}/events/show/{gala_id}")
    student.check("#booking-form label:has-text('Élève promotions 2026–2027') input[type=radio]")
    student.check("#booking-form label:has-text('Navette retour') input[type=checkbox]")
    meal = student.locator("#booking-form label:text-is('Repas')").get_attribute("for")
    student.select_option(f"#{meal}", label="Menu terroir (+12,00 €)")
    student.fill("#guest-0-name", "Léa Moreau")
    student.fill("#guest-0-email", "lea.moreau@example.org")
    student.select_option("#guest-0-ticket", label="Élève promotions 2026–2027 — 45,00 €")
    # The form's total follows the choices before anything is sent.
    assert re.fullmatch(r"107,00\s€", student.locator("#booking-form [data-total-output]").inner_text())
    audit.check(student, login, "/events/show (the booking form)")
    student.click("#booking-form button[type=submit]")
    student.wait_for_url("**/events/places")
    # 45 + 5 + 12 for the student, 45 for the guest.
    assert re.search(r"Votre place est prise, 107,00\s€ au total", student.locator(".alert").first.inner_text())
    mine = student.locator("#places tr:has-text('Camille Moreau')")
    guest = student.locator("#places tr:has-text('Léa Moreau')")
    assert re.search(r"62,00\s€", mine.inner_text()) and re.search(r"45,00\s€", guest.inner_text())
    cheque = mine.locator(f".extra-item:has-text('{CHEQUE}')")
    assert cheque.locator(".item-state").inner_text() == "À fournir"
    audit.check(student, login, "/events/places (items to give)")

    cheque.locator("input[type=file]").set_input_files(
        {"name": "cheque-caution.png", "mimeType": "image/png", "buffer": PNG})
    cheque.locator("button[type=submit]").click()
    student.wait_for_load_state()
    cheque = student.locator(f"#places tr:has-text('Camille Moreau') .extra-item:has-text('{CHEQUE}')")
    assert cheque.locator(".item-state").inner_text() == "Fournie, en attente de validation"
    assert cheque.locator("a:has-text('cheque-caution.png')").count() == 1
    place_id = student.locator("#places tr:has-text('Camille Moreau')").get_attribute("data-place")

    admin = browser_login("eventadmin")
    admin.goto(f"{live_url}/reservations/show/{place_id}")
    item = admin.locator(f"#extra-items tr:has-text('{CHEQUE}')")
    assert item.locator("a:has-text('cheque-caution.png')").count() == 1
    audit.check(admin, "eventadmin", "/reservations/show (an item to validate)")
    item.locator("button:has-text('Valider')").click()
    admin.wait_for_load_state()
    item = admin.locator(f"#extra-items tr:has-text('{CHEQUE}')")
    assert item.locator(".item-state").inner_text().startswith("Validée")
    assert item.locator("button:has-text('Valider')").count() == 0

    student.goto(f"{live_url}/events/places")
    cheque = student.locator(f"#places tr:has-text('Camille Moreau') .extra-item:has-text('{CHEQUE}')")
    assert cheque.locator(".item-state").inner_text() == "Validée"
    assert cheque.locator("input[type=file]").count() == 0  # validated for good: nothing to send any more

    other = browser_login("etudiant2")
    other.goto(f"{live_url}/events/show/{gala_id}")
    # Only the guests' open ticket is offered: the total starts at its price, each guest adds theirs.
    assert re.fullmatch(r"60,00\s€", other.locator("#booking-form [data-total-output]").inner_text())
    other.fill("#guest-1-name", "Jean Robert")
    assert re.fullmatch(r"120,00\s€", other.locator("#booking-form [data-total-output]").inner_text())
    students = other.locator("#ticket-types tr:has-text('Élève promotions 2026–2027')")
    assert students.locator(".why-not").inner_text() == "réservé aux promotions 2026–2027"
    assert other.locator("#booking-form label:has-text('Élève promotions 2026–2027')").count() == 0
    assert not audit.found, audit.found
