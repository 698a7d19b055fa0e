"""A person in a real browser: signs in, finds the French grid, filters it and exports it."""


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
