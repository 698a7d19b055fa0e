"""French by default, English on request, and no English left in the French UI.

The crawl walks every registered ModelView (list, add, show, edit) and every menu
page, so a view added later is checked without touching this file.
"""
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import url_for
from flask_appbuilder import ModelRestApi, ModelView

from config import BASE_DIR

ROOT = Path(BASE_DIR)
TRANSLATIONS = ROOT / "translations"
LOCALES = ("fr", "en")
KEYWORDS = ("_l", "lazy_gettext")  # as in `make extract-messages`

# Words of an English UI (FAB's and ours) that a French screen never shows. Words
# that are also French are left out on purpose: Page, Actions, Active, Admin,
# Description, Permission(s), Relation, Date, Email, Public, Organisation,
# Association, Information, Total, Type, Client, Options, Message.
ENGLISH_WORDS = (
    "Account", "Add", "Attachment", "Back", "Cancel", "Changed", "Choose", "City",
    "Close", "Confirm", "Count", "Created", "Delete", "Detail", "Edit", "Export",
    "Failed", "False", "Filter", "Filters", "First", "Forgot", "Granted", "Group",
    "Groups", "History", "Home", "Kind", "Label", "Language", "Last", "List", "Login",
    "Logout", "Membership", "Memberships", "Name", "No", "None", "Password", "Person",
    "Please", "Profile", "Record", "Records", "Required", "Reset", "Revoked", "Rights",
    "Roles", "Save", "Search", "Security", "Select", "Show", "Sign", "Statistics",
    "Status", "Submit", "True", "User", "Username", "Users", "Vendor", "Welcome", "Yes",
    # Lower case: only words no French sentence contains.
    "the", "your", "you", "please", "with", "and", "of", "this", "not",
)
ENGLISH = re.compile(r"\b(%s)\b" % "|".join(ENGLISH_WORDS))
# Attributes a user reads (tooltips, placeholders, screen-reader labels).
READ_ATTRIBUTES = ("title", "placeholder", "data-placeholder", "aria-label", "alt")


VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
DATA_TAGS = {"td", "option"}  # where rows' values are shown (list and show cells, choices)


class VisibleText(HTMLParser):
    """The text of a page as a user meets it: no scripts or styles; tooltips,
    placeholders and button captions included. Each chunk is (text, in_data_cell)."""

    def __init__(self):
        super().__init__()
        self.open_tags = []
        self.hidden = 0
        self.chunks = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.chunks.extend((attrs[name], False) for name in READ_ATTRIBUTES if attrs.get(name))
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
            self.chunks.append((attrs["value"], False))
        if tag in VOID_TAGS:
            return
        self.open_tags.append(tag)
        if tag in ("script", "style", "template"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag not in self.open_tags:
            return
        while self.open_tags:
            closed = self.open_tags.pop()
            if closed in ("script", "style", "template"):
                self.hidden -= 1
            if closed == tag:
                break

    def handle_data(self, data):
        if not self.hidden and data.strip():
            in_cell = bool(DATA_TAGS.intersection(self.open_tags))
            self.chunks.append((" ".join(data.split()), in_cell))


def visible_chunks(html):
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.chunks


def visible_text(html):
    return [text for text, _ in visible_chunks(html)]


def shown(response):
    """A response's visible text in one string."""
    return " | ".join(visible_text(response.get_data(as_text=True)))


def data_strings(app):
    """Names stored in the database that are English by design, not UI text: role
    names and FAB's permission identifiers (e.g. "menu access on List Users")."""
    from app.extensions import db

    sm = app.appbuilder.sm
    with app.app_context():
        strings = {role.name for role in db.session.query(sm.role_model)}
        strings |= {view.name for view in db.session.query(sm.viewmenu_model)}
        strings |= {str(pv) for pv in db.session.query(sm.permissionview_model)}
    return strings


def english_in(html, data):
    """[(word, text)] for each English word of the page's visible text; a value
    stored in the database (a role name, a permission) is data, not UI text."""
    found = []
    for chunk, in_cell in visible_chunks(html):
        if in_cell:
            items = [item.strip() for item in chunk.strip("[]").split(", ")]
            if all(item in data for item in items if item):
                continue
        found.extend((word, chunk) for word in ENGLISH.findall(chunk))
    return found


# ---------------------------------------------------------------------------
# Default language and the language switch
# ---------------------------------------------------------------------------


def test_login_page_is_french_by_default(app):
    page = shown(app.test_client().get("/login/"))
    assert "Mot de passe" in page
    assert "Password" not in page


def test_language_switch_turns_the_page_english_and_back(app):
    client = app.test_client()
    assert "Mot de passe" in shown(client.get("/login/"))

    response = client.get("/lang/en")
    assert response.status_code == 302
    english = shown(client.get("/login/"))
    assert "Password" in english
    assert "Mot de passe" not in english

    client.get("/lang/fr")
    french = shown(client.get("/login/"))
    assert "Mot de passe" in french
    assert "Password" not in french


def test_unknown_language_is_refused(app):
    assert app.test_client().get("/lang/xx").status_code == 404


def test_signed_in_pages_follow_the_language_switch(login_as):
    client = login_as("creator")
    assert "Rechercher" in shown(client.get("/equipment/list/"))
    client.get("/lang/en")
    english = shown(client.get("/equipment/list/"))
    assert "Search" in english and "Rechercher" not in english
    client.get("/lang/fr")
    assert "Rechercher" in shown(client.get("/equipment/list/"))


# ---------------------------------------------------------------------------
# The catalogues
# ---------------------------------------------------------------------------


def read_catalogue(locale):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


def test_french_catalogue_is_complete():
    catalogue = read_catalogue("fr")
    untranslated, fuzzy = [], []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"untranslated in translations/fr: {untranslated}"
    assert not fuzzy, f"fuzzy in translations/fr (check, then drop the fuzzy flag): {fuzzy}"


def test_no_plural_compiles_to_an_empty_text():
    """pybabel compiles a plural entry with empty msgstr[n] as is, so ngettext would
    answer "" (a singular entry left empty falls back to its msgid)."""
    for locale in LOCALES:
        empty = [m.id[0] for m in read_catalogue(locale)
                 if m.id and isinstance(m.string, tuple) and not all(m.string)]
        assert not empty, f"plural entries to fill in translations/{locale}: {empty}"


def test_every_marked_string_is_in_the_catalogues():
    """A string marked in code but missing from the catalogues shows in English:
    run `make extract-messages`, then translate translations/fr."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, **{keyword: None for keyword in KEYWORDS}}
    marked = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords)
    }
    for locale in LOCALES:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_catalogue(locale)}
        missing = sorted(marked - ids)
        assert not missing, f"missing from translations/{locale}: {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogues_are_current(locale):
    """`make test` and `make run` compile the catalogues first (`make translations`)."""
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.is_file(), f"{mo_path} is missing: run `make translations`"
    with open(mo_path, "rb") as mo:
        compiled = gettext.GNUTranslations(mo)._catalog
    for message in read_catalogue(locale):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.id or message.fuzzy or not all(strings):
            continue
        key = message.id if isinstance(message.id, str) else (message.id[0], 0)
        if message.context:  # pgettext: gettext keys such messages "context\x04id"
            key = f"{message.context}\x04{key}" if isinstance(key, str) else (f"{message.context}\x04{key[0]}", 0)
        expected = message.string if isinstance(message.string, str) else message.string[0]
        assert compiled.get(key) == expected, f"{mo_path} is stale: run `make translations`"


# ---------------------------------------------------------------------------
# No English left in the French UI
# ---------------------------------------------------------------------------


def crawl(app, client):
    """Yield (url, response) for every menu page and every ModelView's list, add,
    show and edit page the client may open."""
    with app.test_request_context():
        pages = ["/", "/users/userinfo/", url_for("UserInfoEditView.this_form_get"),
                 url_for("ResetMyPasswordView.this_form_get")]
        if "SwaggerView.show" in app.view_functions:
            pages.append(url_for("SwaggerView.show", version="v1"))
        for item in app.appbuilder.menu.get_list():
            for entry in [item, *item.childs]:
                if entry.name != "-" and entry.get_url() not in ("#", ""):
                    pages.append(entry.get_url())
        views = [view for view in app.appbuilder.baseviews if isinstance(view, ModelView)]
        grids = [(view, url_for(f"{view.endpoint}.list"), url_for(f"{view.endpoint}.add")) for view in views]
    for url in dict.fromkeys(pages):
        yield url, client.get(url)
    for view, list_url, add_url in grids:
        response = client.get(list_url)
        yield list_url, response
        yield add_url, client.get(add_url)
        pks = re.findall(re.escape(view.route_base) + r'/show/([^"?/#]+)"', response.get_data(as_text=True))
        if pks:
            for kind in ("show", "edit"):
                url = f"{view.route_base}/{kind}/{pks[0]}"
                yield url, client.get(url)


def report(offences):
    """One line per English text: the first page it is on, the word, the text."""
    pages = {}
    for url, word, text in offences:
        urls = pages.setdefault((word, text), [])
        if url not in urls:
            urls.append(url)
    return "\n".join(
        f"{urls[0]}: {word!r} in {text!r}" + (f" (and {len(urls) - 1} more pages)" if len(urls) > 1 else "")
        for (word, text), urls in pages.items()
    )


@pytest.mark.parametrize("username", ["admin", "creator"])
def test_no_english_left_in_the_french_ui(app, login_as, username):
    data = data_strings(app)
    client = login_as(username)
    offences, checked = [], 0
    for url, response in crawl(app, client):
        assert response.status_code < 500, f"{url} answered {response.status_code}"
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        checked += 1
        offences += [(url, word, text) for word, text in english_in(response.get_data(as_text=True), data)]
    assert checked > 3
    assert not offences, f"English in the French UI (signed in as {username}):\n{report(offences)}"


def test_no_english_on_the_anonymous_pages(app):
    """The home and login pages, and every page the login page links to."""
    data = data_strings(app)
    client = app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    links = [url for url in re.findall(r'href="(/[^"#]*)"', login_page)
             if not url.startswith(("/static/", "/lang/"))]
    offences = []
    for url in dict.fromkeys(["/", "/login/", *links]):
        response = client.get(url)
        assert response.status_code < 500, f"{url} answered {response.status_code}"
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        offences += [(url, word, text) for word, text in english_in(response.get_data(as_text=True), data)]
    assert not offences, f"English in the French UI (signed out):\n{report(offences)}"


def test_our_apis_answer_in_french(app, login_as):
    """Titles and labels of our REST APIs (FAB makes up English ones otherwise)."""
    client = login_as("admin")
    apis = [api for api in app.appbuilder.baseviews
            if isinstance(api, ModelRestApi) and type(api).__module__.startswith("app.")]
    assert apis
    offences = []
    for api in apis:
        base = f"{api.route_base}/"
        listing = client.get(base + "?q=(page_size:1)").get_json()
        info = client.get(base + "_info").get_json()
        fields = info.get("add_columns", []) + info.get("edit_columns", [])
        texts = [listing["list_title"], *listing["label_columns"].values(), info.get("add_title", ""),
                 info.get("edit_title", ""), *(field["label"] for field in fields)]
        offences += [f"{base}: {word!r} in {text!r}" for text in texts for word in ENGLISH.findall(str(text))]
        offences += [f"{base}_info: the catalogue header as the description of {field['name']}"
                     for field in fields if "Project-Id-Version" in field["description"]]
    assert not offences, "\n".join(offences)


def test_role_names_are_read_in_the_readers_language(login_as):
    profile = login_as("creator").get("/users/userinfo/").get_data(as_text=True)
    assert "Réservataire (visio)" in profile and "Booker" not in profile
    form = login_as("opadmin").get("/accounts/form").get_data(as_text=True)
    assert "Administrateur opérateur" in form and "OperatorAdmin" not in form


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_translation_keeps_the_placeholders_of_its_message(locale):
    """A translation that loses `%(num)d` breaks the page that shows it (a 500)."""
    placeholder = re.compile(r"%\(\w+\)[sdifr]")
    with open(Path(BASE_DIR) / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalogue = read_po(handle, locale=locale)
    broken = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(placeholder.findall(ids[-1]))
        broken += [(ids[0], text) for text in strings if text and set(placeholder.findall(text)) != wanted
                   and set(placeholder.findall(text)) != set(placeholder.findall(ids[0]))]
    assert broken == []


@pytest.mark.parametrize("username", ["admin", "agent"])
def test_no_form_shows_a_raw_blank_choice(app, login_as, username):
    """FAB names the blank choice of an optional drop-down `__None` (its value): what
    people read there is a word of their language, on every page the crawl reaches."""
    client = login_as(username)
    offences, forms = [], 0
    for url, response in crawl(app, client):
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        html = response.get_data(as_text=True)
        forms += 'value="__None"' in html
        offences += [url for text in visible_text(html) if "__None" in text]
    assert forms, "no optional drop-down reached"
    assert not offences, f"__None shown on {sorted(set(offences))}"


def test_an_unassigned_tickets_edit_form_offers_no_assignee_by_name(app, login_as):
    from app.extensions import db
    from app.models import ProjectTicket

    with app.app_context():
        ticket = db.session.query(ProjectTicket).filter(ProjectTicket.assignee_id.is_(None)).first()
        url = f"/tickets/edit/{ticket.id}"
    client = login_as("agent")
    try:
        for language, blank in (("fr", "— aucun —"), ("en", "— none —")):
            client.get(f"/lang/{language}")  # also the account's saved language
            html = client.get(url).get_data(as_text=True)
            select = re.search(r'<select[^>]*name="assignee".*?</select>', html, re.S).group(0)
            assert re.search(r'<option selected value="__None">([^<]*)</option>', select).group(1) == blank
    finally:
        client.get("/lang/fr")


# Words French uses for one state where another desk, or a careless translation, uses
# a synonym (the seeds name them: a ticket is "clôturé", a help request "fermée").
STATE_SYNONYMS = [("clôtur", "ferm"), ("refus", "rejet"), ("résolu", "réglé"), ("annul", "supprimé")]
# Where a desk's two words name two acts, not one state: desk D cancels an event
# ("annulé") and deletes its pre-reservations ("supprimées"), DESIGN §6; desk E deletes
# an account ("supprimé") from a form one may leave ("Annuler"), and closes an incident
# ("clôturée") apart from a request to close port 25 ("fermeture du port 25").
DISTINCT_ACTS = {"events": {("annul", "supprimé")}, "operator": {("annul", "supprimé"), ("clôtur", "ferm")}}


def test_each_desk_calls_a_state_by_one_word():
    """In every French text of a desk (tables, rules, views, templates, mails), each
    state keeps the word of its label: no "fermé" next to "Clôturé"."""
    from app.desks import DESKS

    words = {desk.name: {} for desk in DESKS}
    for message in read_catalogue("fr"):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        text = " ".join(strings).lower()
        for path, _ in message.locations:
            desk = re.search(r"(?:^|/)(%s)(?:\.py$|/)" % "|".join(words), path)
            if desk is None:
                continue
            for group in STATE_SYNONYMS:
                for word in group:
                    if word in text:
                        words[desk.group(1)].setdefault(group, {}).setdefault(word, []).append(strings[0])
    mixed = {desk: {word: texts[:3] for word, texts in found.items()}
             for desk, groups in words.items() for group, found in groups.items()
             if len(found) > 1 and group not in DISTINCT_ACTS.get(desk, ())}
    assert words["tickets"][STATE_SYNONYMS[0]].keys() == {"clôtur"}
    assert words["ent"][STATE_SYNONYMS[0]].keys() == {"ferm"}
    assert not mixed, mixed
