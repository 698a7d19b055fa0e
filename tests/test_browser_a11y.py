"""Accessibility (RGAA 4 / WCAG 2.1 AA): axe-core finds no serious or critical
violation on the pages each role reaches — its home page, every entry of its menu,
the first row of each grid it opens — nor on the pages people see signed out.

axe-core comes from npm (package.json) and is injected by the test; the app never
serves it."""
import os
from collections import Counter
from urllib.parse import urlsplit

import pytest

from config import BASE_DIR

AXE_SOURCE_PATH = os.path.join(BASE_DIR, "node_modules", "axe-core", "axe.min.js")
AXE_RUN = """() => axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
}).then(results => results.violations
    .filter(rule => rule.impact === 'serious' || rule.impact === 'critical')
    .map(rule => ({id: rule.id, impact: rule.impact,
                   targets: rule.nodes.map(node => node.target.join(' '))})))"""

#: One demo account per role (app/security.py ROLE_NAMES; the demo in app/demo/*.py).
ACCOUNTS = ("admin", "creator", "vnoc", "client", "lead", "agent", "referent", "desk", "user",
            "eventadmin", "opadmin", "opuser")
SIGNED_OUT_PAGES = ("/login/", "/password/forgot/")
# The entries of the navbar's drop-down menus (the language menu switches, it opens nothing).
MENU_LINKS = """() => [...document.querySelectorAll(
    '.navbar .dropdown-menu a[href]:not([href^="#"]):not([href*="/lang/"])')].map(a => a.href)"""
# The first row's "show" link of a grid.
FIRST_SHOW_LINK = """() => { const link = document.querySelector(
    'table a[href*="/show/"], .table a[href*="/show/"]'); return link ? link.href : null; }"""


@pytest.fixture(scope="module")
def axe_source():
    assert os.path.exists(AXE_SOURCE_PATH), f"{AXE_SOURCE_PATH} is missing: `make vendor` runs npm ci"
    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        return source.read()


def audit(page, url, axe_source):
    """axe-core's serious and critical violations of the page at `url` (None when the
    link is not an HTML page)."""
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    if "text/html" not in (response.headers.get("content-type") or ""):
        return None
    page.wait_for_load_state("load")
    page.evaluate(axe_source)
    return page.evaluate(AXE_RUN)


def walk(page, live_url, axe_source, who, found):
    """Audit the role's home page, its menu's pages and each grid's first row; return
    how many pages were audited. Violations go to `found` as (who, path, rule)."""
    origin = urlsplit(live_url).netloc
    page.wait_for_load_state("load")
    menu = [link for link in dict.fromkeys([page.url] + page.evaluate(MENU_LINKS))
            if urlsplit(link).netloc == origin and "/logout" not in link]
    shows, count = [], 0
    for url in menu:
        violations = audit(page, url, axe_source)
        if violations is None:
            continue
        count += 1
        found.extend((who, urlsplit(url).path, rule) for rule in violations)
        show = page.evaluate(FIRST_SHOW_LINK)
        if show and urlsplit(show).netloc == origin and show not in shows:
            shows.append(show)
    for url in shows:
        count += 1
        found.extend((who, urlsplit(url).path, rule) for rule in audit(page, url, axe_source))
    return count


def test_every_role_s_pages_have_no_serious_accessibility_violation(chromium, browser_login, live_url, axe_source):
    found, pages = [], 0
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900})
    signed_out = context.new_page()
    for path in SIGNED_OUT_PAGES:
        violations = audit(signed_out, live_url + path, axe_source)
        pages += 1
        found.extend(("(signed out)", path, rule) for rule in violations)
    context.close()
    for username in ACCOUNTS:
        page = browser_login(username)
        pages += walk(page, live_url, axe_source, username, found)
        page.context.close()
    print(f"axe pages: {pages}")
    by_rule = Counter(rule["id"] for _, _, rule in found)
    print("axe violations by rule:", dict(by_rule))
    assert not found, f"{len(found)} serious or critical violations on {pages} pages ({dict(by_rule)}):\n" + "\n".join(
        f"{who} {path}: {rule['id']} ({rule['impact']}) at {', '.join(rule['targets'][:3])}"
        for who, path, rule in found)
