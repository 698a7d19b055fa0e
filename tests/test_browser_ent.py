"""Desk C in a real browser: a teacher files a help request, the referent transmits it
to support, the support desk answers, and the teacher finds the answer in their feed."""
import re
import uuid


def test_help_request_escalation_round_trip(browser_login, live_url):
    subject = f"Le cahier de textes ne s'ouvre plus ({uuid.uuid4().hex[:6]})"

    teacher = browser_login("teacher")
    teacher.goto(f"{live_url}/helprequests/home")
    assert teacher.url.endswith("/helprequests/new")
    teacher.select_option("#application", label="Cahier de textes")
    teacher.select_option("#establishment", label="Lycée Victor Hugo")
    teacher.fill("#subject", subject)
    teacher.fill("#description", "Une page blanche s'affiche quand j'ouvre le cahier de textes de la 2nde B.")
    with teacher.expect_navigation():
        teacher.click("text=Enregistrer")
    assert re.search(r"/helprequests/show/\d+$", teacher.url)
    request_url = teacher.url
    assert subject in teacher.locator("h4.panel-title").first.inner_text()

    referent = browser_login("referent")
    referent.goto(f"{live_url}/helprequests/home")
    assert "/helprequests/list/" in referent.url
    assert referent.locator(f"td strong:has-text(\"{subject}\")").count() == 1
    referent.goto(request_url)
    with referent.expect_navigation():
        referent.click("button:has-text('Transmettre la demande au support')")
    assert referent.locator(".guichet-support").count() == 1
    assert referent.locator("text=Transmise au support").count() >= 1

    desk = browser_login("desk")
    desk.goto(request_url)
    desk.fill("#reply-comment", "Le module a été réinitialisé : réessayez.")
    with desk.expect_navigation():
        desk.click("#request-reply button[type=submit]")
    assert desk.locator("text=Le module a été réinitialisé : réessayez.").count() == 1

    teacher.goto(f"{live_url}/notifications/list/")
    feed = teacher.locator("text=le support a répondu")
    assert feed.count() >= 1
    teacher.goto(request_url)
    assert teacher.locator("text=Le module a été réinitialisé : réessayez.").count() == 1


def test_the_referent_replies_with_a_status_and_a_bulk_change_names_what_it_skipped(app, browser_login, live_url):
    """The referent's reply box offers only the status changes that can happen; a bulk
    change done on a closed request and an open one says which it skipped and why."""
    from app.extensions import db
    from app.models import HelpRequest
    from app.rules import ent as rules

    from .helpers import user

    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        application = rules.active_applications()[0]
        teacher = user("teacher")
        organisation = next(o for o in rules.establishments_of(teacher) if o.name == "Lycée Victor Hugo")
        made = [rules.create_request(teacher, application_id=application.id, subject=f"{subject} ({tag})",
                                     description="La page reste blanche.", organisation_id=organisation.id)
                for subject in ("Réponse avec statut", "Lot ouvert", "Lot fermé")]
        db.session.commit()
        answered, still_open, closed = (item.id for item in made)
        rules.REQUEST_WORKFLOW.fire(db.session.get(HelpRequest, closed), "close", user("referent"))
        db.session.commit()

    referent = browser_login("referent")
    referent.goto(f"{live_url}/helprequests/show/{answered}")
    offered = referent.locator("#reply-then option").all_inner_texts()
    assert offered[0].startswith("Conserver « Nouveau")
    assert "Marquer résolue" in offered and "Rouvrir" not in offered
    assert referent.locator("#request-reply").count() == 1 and referent.locator("textarea").count() == 1
    referent.fill("#reply-comment", "Videz le cache du navigateur puis réessayez.")
    referent.select_option("#reply-then", label="Marquer résolue")
    with referent.expect_navigation():
        referent.click("#request-reply button[type=submit]")
    assert referent.url.endswith(f"/helprequests/show/{answered}")
    assert referent.locator("text=Videz le cache du navigateur puis réessayez.").count() == 1
    assert "Rouvrir" in referent.locator("#reply-then option").all_inner_texts()

    referent.goto(f"{live_url}/helprequests/list/?psize_HelpRequestView=100")
    for key in (still_open, closed):
        referent.locator(f"input.action_check[value='{key}']").check()
    referent.click("button.dropdown-toggle:has-text('Actions')")
    with referent.expect_navigation():
        referent.click(".resolve_menu_item")
    assert "/helprequests/list/" in referent.url
    assert "1 enregistrement" in referent.locator(".alert-success").inner_text()
    refused = referent.locator(".alert-danger").inner_text()
    assert f"Lot fermé ({tag})" in refused and f"Lot ouvert ({tag})" not in refused

    teacher_page = browser_login("teacher")
    teacher_page.goto(f"{live_url}/helprequests/show/{answered}")
    assert teacher_page.locator("text=Videz le cache du navigateur puis réessayez.").count() == 1
    assert teacher_page.get_by_text(re.compile(r"^Résolue?$")).count() >= 1
