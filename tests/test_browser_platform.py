"""A person in a real browser: signs in, finds the French grid, filters it and exports it."""
import re

import pytest

from .helpers import DEMO_PASSWORD, serve_live


def test_an_operator_admin_sees_their_organisation_and_exports_it(browser_login, live_url):
    page = browser_login("opadmin")
    page.goto(f"{live_url}/organisations/list/")
    assert page.locator("text=Fibre Rhône Télécom").count() >= 1
    assert page.locator("text=Lycée Victor Hugo").count() == 0
    with page.expect_download() as download:
        page.click("text=Exporter en CSV")
    content = open(download.value.path(), encoding="utf-8-sig").read()
    assert content.splitlines()[1].startswith("Fibre Rhône Télécom")
    assert len(content.splitlines()) == 2


def test_language_switch_turns_the_interface_english(browser_login, live_url):
    page = browser_login("user")
    page.goto(f"{live_url}/lang/en")
    page.goto(f"{live_url}/helprequests/list/")
    assert page.locator("text=Export CSV").count() + page.locator("text=Export to CSV").count() >= 1
    page.goto(f"{live_url}/lang/fr")
    page.goto(f"{live_url}/helprequests/list/")
    assert page.locator("text=Exporter en CSV").count() == 1


@pytest.fixture()
def large_export_url(app, monkeypatch, tmp_path):
    """A live server of its own on which every export past 1 row is a job (in a thread)."""
    monkeypatch.setitem(app.config, "EXPORT_ASYNC_ROWS", 1)
    monkeypatch.setitem(app.config, "EXPORTS_ROOT", str(tmp_path))
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    yield from serve_live(app)


def test_a_large_export_shows_its_progress_then_its_download_link(chromium, large_export_url):
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(f"{large_export_url}/login/")
    page.fill("#username", "admin")
    page.fill("#password", DEMO_PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.goto(f"{large_export_url}/organisations/list/")
    page.click("text=Exporter en CSV")
    page.wait_for_url("**/exports/*")
    assert page.locator("progress#export-bar").count() == 1
    link = page.get_by_role("link", name="Télécharger organisations-")
    link.wait_for(state="visible")
    assert page.locator("progress#export-bar").evaluate("bar => bar.value === bar.max && bar.max > 1")
    assert re.fullmatch(r"Prêt : \d+ lignes sur \d+", page.locator("#export-text").inner_text())
    assert page.locator("text=Le fichier est en cours d'écriture").is_hidden()
    with page.expect_download() as download:
        link.click()
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0].startswith("Nom") and len(lines) > 2
    context.close()
