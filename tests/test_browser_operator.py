"""Desk E in a real browser (issue 14's path): opadmin creates two accounts in one form
("+" adds the second row) and ticks their e-services, Eligibilité among them; the new
user opens the set-password link of the mail they got (a real SMTP server on this
machine), chooses a password, signs in and finds open, on "Mes e-services", exactly the
e-services ticked. The rights screen also fits a phone."""
import uuid

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import OperatorAccount

from .conftest import _browser_pages
from .helpers import SET_PASSWORD_LINK, SmtpServer, serve_live, user, wait_for

TICKED = {"eligibility": "Eligibilité", "tao": "Translation d'Adresses Opérateur (TAO)"}
PASSWORD = "fibre2026"
PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mailing_url(app, smtp_server):
    """A live server of its own whose mails go out at once (jobs in its process) to the
    module's SMTP server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(app.config, "REDIS_URL", None)
        patch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
        patch.setitem(app.config, "MAIL_PORT", smtp_server.port)
        yield from serve_live(app)


@pytest.fixture()
def pages(chromium, mailing_url):
    """pages(login) -> a desktop page on that live server, signed in (None: signed out)."""
    yield from _browser_pages(chromium, mailing_url, viewport={"width": 1280, "height": 900})


def _mail_to(inbox, address):
    """The last message the SMTP server received for `address`."""
    found = wait_for(lambda: [message for recipients, message in inbox.messages if address in recipients],
                     timeout=20, what=f"a mail to {address}")
    return found[-1]


def test_opadmin_creates_two_accounts_and_the_new_user_sees_only_the_ticked_e_services(
        pages, mailing_url, smtp_server):
    inbox = smtp_server.inbox
    admin = pages("opadmin")
    admin.goto(f"{mailing_url}/operator/")
    menu = admin.locator(".navbar .dropdown-menu a[href='/operator/accounts/']")
    expect(menu).to_have_text("Gestion des droits")
    admin.goto(f"{mailing_url}/operator/accounts/")
    admin.click("#create-accounts")
    admin.wait_for_url("**/operator/accounts/new*")
    expect(admin.locator("[data-account-row]:not(template *)")).to_have_count(1)
    for code in TICKED:
        admin.check(f"input[name=eservices][data-code='{code}']")
    expect(admin.locator("input[name=eservices][data-code='e-pricer']")).to_be_disabled()
    suffix = uuid.uuid4().hex[:6]
    people = [(f"lea.roux-{suffix}", "Roux", "Léa", "04 72 00 02 02", ""),
              (f"hugo_petit-{suffix}", "Petit", "Hugo", "", "06 98 76 54 32")]
    for index, (login, last, first, fixed, mobile) in enumerate(people):
        if index:
            admin.click("#add-account-row")  # "+": a row made in the page, no request
            expect(admin.locator(f"#rows-{index}-login")).to_be_focused()
        admin.fill(f"#rows-{index}-login", login)
        admin.fill(f"#rows-{index}-last_name", last)
        admin.fill(f"#rows-{index}-first_name", first)
        admin.fill(f"#rows-{index}-email", f"{login}@fibre-rhone.example")
        admin.fill(f"#rows-{index}-fixed_phone", fixed)
        admin.fill(f"#rows-{index}-mobile_phone", mobile)
    admin.click("#save-accounts")
    admin.wait_for_url("**/operator/accounts/?operator=*")
    expect(admin.locator(".alert-success")).to_contain_text("2 comptes créés")
    for login, *_ in people:
        row = admin.locator(f"#operator-accounts tr[data-login='{login}']")
        expect(row.locator(".account-eservices li")).to_have_text(list(TICKED.values()))
    listing = _mail_to(inbox, "opadmin@guichet.example").get_body(("plain",)).get_content()
    assert all(f"- {login} (" in listing for login, *_ in people)

    login = people[1][0]
    mail = _mail_to(inbox, f"{login}@fibre-rhone.example")
    link = SET_PASSWORD_LINK.search(mail.get_body(("plain",)).get_content()).group(0)
    newcomer = pages(None)
    newcomer.goto(mailing_url + "/password/set/" + link.rsplit("/", 1)[1])
    newcomer.fill("#password", PASSWORD)
    newcomer.fill("#conf_password", PASSWORD)
    newcomer.click("button[type=submit], input[type=submit]")
    newcomer.wait_for_url("**/login/**")
    newcomer.fill("#username", login)
    newcomer.fill("#password", PASSWORD)
    newcomer.click("input[type=submit], button[type=submit]")
    newcomer.wait_for_load_state()
    newcomer.goto(f"{mailing_url}/operator/")
    opened = newcomer.locator("li.list-group-item:has(.fa-check)")
    expect(opened).to_have_count(len(TICKED))
    for name in TICKED.values():
        expect(opened.filter(has_text=name)).to_have_count(1)
    then_the_new_user_works_with_the_ticked_e_services(newcomer, mailing_url)


def then_the_new_user_works_with_the_ticked_e_services(page, live_url):
    """Signed in as the new account on "Mes e-services": Eligibilité is open and
    Mes certificats numériques, not ticked, is not; the eligibility search by the
    seed's address leads to the seed's building sheet."""
    expect(page.locator("li.list-group-item:has(.fa-check)", has_text="Eligibilité")).to_have_count(1)
    expect(page.locator("li.list-group-item:not(:has(.fa-check))",
                        has_text="Mes certificats numériques")).to_have_count(1)
    page.click("li.list-group-item a:has-text('Eligibilité')")
    page.fill("#address", "6 rue Étienne Ganneron, 77600 Bussy-Saint-Georges")
    page.click(".eligibility-form button[type=submit]")
    page.click("a:has-text('IMB/77058/X/0218')")
    page.wait_for_url("**/operator/eligibility/building/*")
    assert "Détails de l'immeuble : IMB/77058/X/0218" in page.inner_text("h1")
    sheet = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    for seen in ("RACCORDABLE", "Mis à disposition", "77058", "0361", "FI-77058-000B", "SOUTERRAIN"):
        assert seen in sheet, seen
    assert page.goto(live_url + "/operator/certificates/list/").status == 403


def test_the_rights_screens_fit_a_phone(app, phone_login, live_url):
    with app.app_context():
        account = db.session.query(OperatorAccount).filter_by(user_id=user("opuser").id).one().id
    page = phone_login("opadmin")
    widths = {}
    for path in ("/operator/accounts/", "/operator/accounts/new", f"/operator/accounts/{account}/edit",
                 f"/operator/accounts/{account}/deactivate", f"/operator/accounts/{account}/delete"):
        assert page.goto(live_url + path).status == 200, path
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(live_url + "/operator/accounts/new")
    page.click("#add-account-row")
    expect(page.locator("#rows-1-login")).to_be_visible()
    widths["/operator/accounts/new (two rows)"] = page.evaluate("document.documentElement.scrollWidth")
    assert all(width <= PHONE_WIDTH for width in widths.values()), widths
