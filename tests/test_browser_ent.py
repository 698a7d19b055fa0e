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
