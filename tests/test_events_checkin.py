"""Desk D's check-in: the door scans QR tickets through the API (bearer token) or the
scanner page, and is told one of OK, already checked in (when, by whom), not paid,
items missing, opposed, cancelled, another event, unknown, bad signature — in French.
A scan sent again with its nonce gets its first answer; twenty scans of one ticket at
once, through the live server, record one entry, on SQLite and on PostgreSQL; the last
entry is undone with a reason, kept and written in the place's history; offline scans
synced later carry their time and are flagged duplicates when the place had entered;
the offline pack lists what a valid signature does not let in. In a browser, the
scanner page answers a typed code, then says it already entered; offline, it checks
signatures itself, queues, and syncs when the network is back, flagging a duplicate;
Chromium's fake camera films a ticket's QR code and the page checks it in."""
import base64
import http.client
import io
import json
import html
import re
import uuid
from datetime import timedelta, timezone

import pytest
import segno
from flask_appbuilder.security.sqla.models import Group, User
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AdminLevel,
    Association,
    CheckIn,
    Event,
    EventAdminGrant,
    EventVisibility,
    Reservation,
    WorkflowEvent,
    utcnow,
)
from app.platform import signing
from app.rules import events as rules

from .conftest import CHROMIUM, CHROMIUM_ARGS, collect_csp_violations
from .helpers import DEMO_PASSWORD, BearerClient, user
from .test_browser_a11y import Audit, axe_source  # noqa: F401  (a fixture)
from .test_races import Visitor, burst

BDE = "Bureau des élèves de Centrale Lyon"
SCAN = "/api/v1/checkin/"


def _event(price="0", item=False, checker=True):
    """An event on sale now with one open ticket type (and a size to give), managed by
    `eventadmin`, with `checker` at the check-in level; committed."""
    now = utcnow()
    association = db.session.query(Association).join(Association.organisation).filter_by(name=BDE).one()
    event = rules.create_event(user("eventadmin"), association, name=f"Soirée {uuid.uuid4().hex[:6]}",
                               starts_on=now + timedelta(days=3), ends_on=now + timedelta(days=3, hours=4),
                               sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=2),
                               visibility=EventVisibility.public)
    ticket_type = rules.save_ticket_type(user("eventadmin"), event, name="Entrée", kind="open", price=price,
                                         capacity=50)
    if item:
        rules.save_extra_info(user("eventadmin"), ticket_type, label="Taille du t-shirt", kind="size")
    if checker:
        rules.grant_level(user("eventadmin"), event, AdminLevel.checkin, user=user("checker"))
    db.session.commit()
    return event, ticket_type


def _place(event, ticket_type):
    """A new person's place on the event and its ticket's token; committed."""
    tag = uuid.uuid4().hex[:6]
    person = User(first_name="Nina", last_name=f"Faure{tag}", username=f"door-{tag}",
                  email=f"door-{tag}@guichet.example", active=True, password="x")
    db.session.add(person)
    db.session.flush()
    place = rules.book(person, event, ticket_type.id)[0]
    token = rules.ticket_token(place)
    db.session.commit()
    return place, token


def _door(app, price="0", item=False):
    """(event id, place id, token) of a fresh event and place."""
    with app.app_context():
        event, ticket_type = _event(price, item)
        place, token = _place(event, ticket_type)
        return event.id, place.id, token


@pytest.fixture(scope="module")
def checker(app):
    return BearerClient(app, "checker")


def _scan(client, event_id, token, nonce=None, **more):
    nonce = str(uuid.uuid4()) if nonce is None else nonce
    response = client.post(SCAN, json={"event": event_id, "token": token, "nonce": nonce, **more})
    return response.status_code, response.get_json()


def _entries(app, place_id, live=None):
    with app.app_context():
        query = select(CheckIn).where(CheckIn.reservation_id == place_id).order_by(CheckIn.id)
        if live is not None:
            query = query.where(CheckIn.undone_on.is_(None) if live else CheckIn.undone_on.isnot(None))
        return [(entry.id, entry.by_id, entry.undone_on, entry.undo_reason, entry.offline, entry.checked_in_on)
                for entry in db.session.scalars(query)]


def test_ok_then_already_checked_in_at_its_time_by_whom(app, checker):
    event_id, place_id, token = _door(app)
    status, first = _scan(checker, event_id, token)
    assert status == 200 and first["verdict"] == "ok" and first["ok"] is True
    assert first["message"].startswith("Entrée enregistrée : Nina Faure") and first["ticket"] == "Entrée"
    assert first["reservation"] == place_id and first["by"] == "Théo Girard"
    assert first["checked_in_on"].endswith("+00:00")
    assert checker.get(f"/api/v1/checkin/counts/{event_id}").get_json() == {"entered": 1, "expected": 1}

    status, second = _scan(checker, event_id, token)
    assert status == 200 and second["verdict"] == "already" and second["ok"] is False
    assert re.fullmatch(r"Déjà entré à \d\d:\d\d, par Théo Girard\.", second["message"]), second["message"]
    assert second["checked_in_on"] == first["checked_in_on"] and second["duplicate"] is False
    assert len(_entries(app, place_id)) == 1
    with app.app_context():  # the place's history says it entered
        assert db.session.scalar(select(func.count(WorkflowEvent.id)).where(
            WorkflowEvent.object_type == "event_reservation", WorkflowEvent.object_id == place_id,
            WorkflowEvent.transition == "check_in")) == 1


def test_a_place_not_paid_or_with_items_missing_or_opposed_does_not_enter(app, checker):
    event_id, _, token = _door(app, price="15")
    status, answer = _scan(checker, event_id, token)
    assert (status, answer["verdict"]) == (200, "not_paid")
    assert answer["message"] == "Non payée : la place n'est que préréservée." and answer["holder"].startswith("Nina")

    event_id, _, token = _door(app, item=True)
    assert _scan(checker, event_id, token)[1]["message"] == \
        "Informations supplémentaires manquantes ou non validées : Taille du t-shirt."

    event_id, place_id, token = _door(app)
    with app.app_context():
        rules.RESERVATION_WORKFLOW.fire(db.session.get(Reservation, place_id), "oppose", user("eventadmin"),
                                        "Chèque sans provision")
        db.session.commit()
    answer = _scan(checker, event_id, token)[1]
    assert (answer["verdict"], answer["message"]) == ("opposed", "Billet révoqué : la place est en opposition.")
    assert _entries(app, place_id) == []


def test_another_events_ticket_an_unknown_code_a_bad_signature_a_cancelled_event(app, checker):
    event_id, _, token = _door(app)
    other_id, _, other_token = _door(app)
    answer = _scan(checker, event_id, other_token)[1]
    assert (answer["verdict"], answer["message"]) == ("other_event", "Ce billet est pour un autre évènement.")
    assert answer["reservation"] is None and answer["holder"] is None  # nothing of another event's place

    for garbage in ("", "bonjour", "a.b", token + "x"):
        answer = _scan(checker, event_id, garbage)[1]
        assert (answer["verdict"], answer["message"]) == ("unknown", "Code inconnu : ce n'est pas un de nos billets.")
    with app.app_context():  # well signed, but no such place (a pre-reservation deleted)
        missing = signing.sign(db.session.get(Event, event_id).signing_key, 10 ** 12, "00" * 10)
    assert _scan(checker, event_id, missing)[1]["verdict"] == "unknown"

    payload, signature = token.split(".")
    altered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with app.app_context():
        forged = signing.sign(signing.new_key_pair()[0], 10 ** 12 + 1, "11" * 10)
    for bad in (altered, forged):
        answer = _scan(checker, event_id, bad)[1]
        assert (answer["verdict"], answer["message"]) == (
            "bad_signature", "Signature invalide : ce billet n'a pas été émis pour cet évènement.")

    with app.app_context():
        rules.cancel_event(user("eventadmin"), db.session.get(Event, other_id))
        db.session.commit()
    assert _scan(checker, other_id, other_token)[1]["verdict"] == "cancelled"


def test_a_scan_sent_again_gets_its_first_answer(app, checker):
    event_id, place_id, token = _door(app)
    nonce = str(uuid.uuid4())
    first = _scan(checker, event_id, token, nonce)[1]
    again = _scan(checker, event_id, token, nonce)[1]
    assert first["verdict"] == again["verdict"] == "ok" and again["replayed"] is True
    assert again["message"] == first["message"] and again["checked_in_on"] == first["checked_in_on"]
    assert len(_entries(app, place_id)) == 1
    # Another ticket under a nonce already answered is refused, naming the nonce.
    other_token = _door_on(app, event_id)
    status, refused = _scan(checker, event_id, other_token, nonce)
    assert status == 422 and "nonce" in refused["message"]
    for bad in ("", "court", "x" * 65, "pas un nonce !"):
        status, refused = _scan(checker, event_id, token, bad)
        assert status == 422 and list(refused["message"]) == ["nonce"]


def _door_on(app, event_id):
    """The token of a new place on an existing event."""
    with app.app_context():
        event = db.session.get(Event, event_id)
        return _place(event, event.ticket_types[0])[1]


def test_an_offline_scan_keeps_its_time_and_a_synced_duplicate_is_flagged(app, checker):
    event_id, place_id, token = _door(app)
    scanned = (utcnow() - timedelta(minutes=20)).replace(microsecond=0, tzinfo=timezone.utc)
    answer = _scan(checker, event_id, token, scanned_on=scanned.isoformat())[1]
    assert answer["verdict"] == "ok" and answer["message"].startswith("Entrée enregistrée (scannée hors ligne à ")
    (_, _, _, _, offline, checked_in_on), = _entries(app, place_id)
    assert offline is True and checked_in_on == scanned.replace(tzinfo=None)

    # Another scanner, offline too, let the same ticket in: its sync is a duplicate.
    later = (scanned + timedelta(minutes=5)).isoformat()
    duplicate = _scan(checker, event_id, token, scanned_on=later)[1]
    assert duplicate["verdict"] == "already" and duplicate["duplicate"] is True
    assert duplicate["message"].startswith("Doublon synchronisé : déjà entré à ")
    assert len(_entries(app, place_id)) == 1

    for wrong, what in (("hier", "offset"), ("2026-12-01T20:00:00", "offset"),
                        ((utcnow() + timedelta(hours=2)).replace(tzinfo=timezone.utc).isoformat(), "futur"),
                        ((utcnow() - timedelta(days=30)).replace(tzinfo=timezone.utc).isoformat(), "7 jours")):
        status, refused = _scan(checker, event_id, _door_on(app, event_id), scanned_on=wrong)
        assert status == 422 and what in refused["message"]["scanned_on"][0], refused


def test_the_last_entry_is_undone_with_a_reason_kept_and_the_place_may_enter_again(app, checker):
    event_id, place_id, token = _door(app)
    assert _scan(checker, event_id, token)[1]["verdict"] == "ok"
    response = checker.post(f"/api/v1/checkin/undo/{event_id}", json={"reason": "  "})
    assert response.status_code == 422
    assert response.get_json()["message"] == {"reason": ["Motif : un motif est obligatoire pour annuler une entrée."]}
    assert len(_entries(app, place_id, live=True)) == 1

    response = checker.post(f"/api/v1/checkin/undo/{event_id}", json={"reason": "Scanné par erreur"})
    assert response.status_code == 200, response.get_json()
    undone = response.get_json()
    assert undone["reservation"] == place_id and undone["counts"] == {"entered": 0, "expected": 1}
    assert undone["message"].startswith("Entrée annulée : Nina Faure")
    (_, _, undone_on, reason, _, _), = _entries(app, place_id)
    assert undone_on is not None and reason == "Scanné par erreur"
    with app.app_context():
        history = db.session.scalars(select(WorkflowEvent).where(
            WorkflowEvent.object_type == "event_reservation", WorkflowEvent.object_id == place_id,
            WorkflowEvent.transition == "check_in_undone")).all()
        assert [(e.comment, e.actor_id) for e in history] == [("Scanné par erreur", user("checker").id)]
    # Nothing of one's own is left to undo; the place enters again.
    response = checker.post(f"/api/v1/checkin/undo/{event_id}", json={"reason": "Encore"})
    assert response.status_code == 422 and "aucune entrée" in json.dumps(response.get_json(), ensure_ascii=False)
    assert _scan(checker, event_id, token)[1]["verdict"] == "ok"
    assert len(_entries(app, place_id, live=True)) == 1 and len(_entries(app, place_id)) == 2


def test_counts_and_the_offline_pack(app, checker):
    with app.app_context():
        event, ticket_type = _event()
        entered, token = _place(event, ticket_type)
        opposed, _ = _place(event, ticket_type)
        rules.RESERVATION_WORKFLOW.fire(opposed, "oppose", user("eventadmin"), "Fraude")
        paid_type = rules.save_ticket_type(user("eventadmin"), event, name="Soirée", kind="open", price="8",
                                           capacity=10)
        item_type = rules.save_ticket_type(user("eventadmin"), event, name="Tournoi", kind="open", price="0",
                                           capacity=10)
        rules.save_extra_info(user("eventadmin"), item_type, label="Licence", kind="text")
        unpaid, _ = _place(event, paid_type)
        missing, _ = _place(event, item_type)
        db.session.commit()
        event_id, public_key = event.id, event.public_key
        ids = {"entered": entered.id, "opposed": opposed.id, "unpaid": unpaid.id, "missing": missing.id}
    assert _scan(checker, event_id, token)[1]["verdict"] == "ok"
    assert checker.get(f"/api/v1/checkin/counts/{event_id}").get_json() == {"entered": 1, "expected": 2}
    pack = checker.get(f"/api/v1/checkin/pack/{event_id}").get_json()
    assert base64.b64decode(pack["public_key"]) == public_key and pack["cancelled"] is False
    assert pack["revoked"] == [ids["opposed"]] and pack["not_paid"] == [ids["unpaid"]]
    assert pack["items_missing"] == [ids["missing"]] and pack["entered"] == [ids["entered"]]
    assert pack["generated_on"].endswith("+00:00")


def test_only_the_events_check_in_staff_and_up_scan_with_a_session_or_a_token(app, login_as, checker):
    event_id, place_id, token = _door(app)
    with app.app_context():  # a viewer of the event: below the check-in level
        viewer = user("clubadmin")
        rules.grant_level(user("eventadmin"), db.session.get(Event, event_id), AdminLevel.view, user=viewer)
        db.session.commit()
    # clubadmin holds view on this event, and manages the club's events (not this one).
    for client in (BearerClient(app, "clubadmin"), BearerClient(app, "etudiant2")):
        status, _ = _scan(client, event_id, token)
        assert status in (403, 422), status
        for path in (f"/api/v1/checkin/counts/{event_id}", f"/api/v1/checkin/pack/{event_id}"):
            assert client.get(path).status_code in (400, 403)
        assert client.post(f"/api/v1/checkin/undo/{event_id}", json={"reason": "x"}).status_code in (403, 422)
    assert _entries(app, place_id) == []
    page = login_as("clubadmin").get(f"/events/checkin/{event_id}")
    assert page.status_code == 403
    assert login_as("etudiant2").get(f"/events/checkin/{event_id}").status_code == 403  # not an event admin
    # An event one does not see at all does not exist.
    hidden_id, _, _ = _door(app)
    with app.app_context():  # its ticket named apart: other tests compare the names of what is hidden
        hidden = db.session.get(Event, hidden_id)
        hidden.visibility = EventVisibility.private
        hidden.ticket_types[0].name = f"Entrée privée {hidden_id}"
        db.session.commit()
    assert login_as("clubadmin").get(f"/events/checkin/{hidden_id}").status_code == 404
    assert BearerClient(app, "clubadmin").get(f"/api/v1/checkin/pack/{hidden_id}").status_code == 404
    assert _scan(BearerClient(app, "clubadmin"), hidden_id, token)[1]["message"] == {
        "event": ["Évènement : cet évènement n'existe pas."]}
    # The check-in level scans, with a token or with the page's session; the manager too.
    assert _scan(checker, event_id, token)[1]["verdict"] == "ok"
    session = login_as("eventadmin")
    assert session.get(f"/events/checkin/{event_id}").status_code == 200
    assert session.post(SCAN, json={"event": event_id, "token": token, "nonce": str(uuid.uuid4())}) \
        .get_json()["verdict"] == "already"
    # The entries are listed to the event's admins, whatever their level, and to no one else.
    query = f"?q=(filters:!((col:event_id,opr:eq,value:{event_id})))"
    for who in ("checker", "clubadmin"):
        entries = BearerClient(app, who).get(f"/api/v1/checkin/{query}").get_json()["result"]
        assert [entry["reservation_id"] for entry in entries] == [place_id], who
    assert BearerClient(app, "etudiant2").get(f"/api/v1/checkin/{query}").status_code in (401, 403)
    # The event page links the scanner for its check-in staff only.
    assert f"/events/checkin/{event_id}" in login_as("checker").get(f"/events/show/{event_id}").get_data(as_text=True)
    assert f"/events/checkin/{event_id}" not in login_as("clubadmin").get(f"/events/show/{event_id}") \
        .get_data(as_text=True)


def test_a_door_team_s_rights_apply_at_its_next_scan_with_a_session_or_a_token(app, login_as):
    """A volunteer scans through a FAB group: its role (organiser) and its check-in level.
    The level revoked, or the volunteer taken out of the group, the very next scan is refused."""
    event_id, _, token = _door(app)
    second_token = _door_on(app, event_id)
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        sm = app.appbuilder.sm
        volunteer = sm.add_user(f"benevole-{tag}", "Léa", "Martin", f"benevole-{tag}@guichet.example",
                                [sm.find_role("User")], password=DEMO_PASSWORD)
        team = Group(name=f"Porte {tag}", roles=[sm.find_role("EventAdmin")], users=[volunteer])
        db.session.add(team)
        event = db.session.get(Event, event_id)
        rules.grant_level(user("eventadmin"), event, AdminLevel.checkin, group=team)
        db.session.commit()
        team_id = team.id
    session, bearer = login_as(f"benevole-{tag}"), BearerClient(app, f"benevole-{tag}")
    assert _scan(session, event_id, token)[1]["verdict"] == "ok"
    assert _scan(bearer, event_id, token)[1]["verdict"] == "already"
    with app.app_context():
        grant_row = db.session.scalars(select(EventAdminGrant).where(
            EventAdminGrant.event_id == event_id, EventAdminGrant.group_id.isnot(None))).one()
        rules.revoke_level(user("eventadmin"), grant_row)
        db.session.commit()
    for client in (session, bearer):
        status, answer = _scan(client, event_id, second_token)
        assert status == 422 and answer["message"] == {"_schema": [
            "Seule l'équipe du contrôle des entrées de l'évènement peut contrôler ses billets."]}, answer
    with app.app_context():
        rules.grant_level(user("eventadmin"), db.session.get(Event, event_id), AdminLevel.checkin,
                          user=user(f"benevole-{tag}"))
        db.session.get(Group, team_id).users = []
        db.session.commit()
    for client in (session, bearer):  # the person's own level, but no longer the organiser role
        assert _scan(client, event_id, second_token)[0] == 403
    assert _entries(app, signing.read(second_token)[0]) == []


def test_the_typed_code_form_works_without_javascript(app, login_as):
    event_id, place_id, token = _door(app)
    client = login_as("checker")
    page = client.get(f"/events/checkin/{event_id}").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', page).group(1)
    assert re.search(r'data-count="entered">0<.*data-count="expected">1<', page, re.S)
    for _ in range(2):  # the same form sent twice (reloaded): the same answer, one entry
        answered = client.post(f"/events/checkin/{event_id}", data={"token": token, "nonce": nonce})
        text = answered.get_data(as_text=True)
        assert answered.status_code == 200 and 'data-code="ok"' in text and "Entrée enregistrée" in text
    assert len(_entries(app, place_id)) == 1
    again = client.post(f"/events/checkin/{event_id}", data={"token": token, "nonce": uuid.uuid4().hex})
    assert 'data-code="already"' in again.get_data(as_text=True)
    refused = client.post(f"/events/checkin/{event_id}/undo", data={"reason": ""}, follow_redirects=True)
    assert "un motif est obligatoire" in refused.get_data(as_text=True)
    undone = client.post(f"/events/checkin/{event_id}/undo", data={"reason": "Erreur de file"}, follow_redirects=True)
    assert "Entrée annulée : Nina Faure" in undone.get_data(as_text=True)
    assert len(_entries(app, place_id, live=True)) == 0
    for sent in ({}, {"token": token}, {"token": token, "nonce": "court"}):  # a form that lost its nonce
        refused = client.post(f"/events/checkin/{event_id}", data=sent)
        text = html.unescape(refused.get_data(as_text=True))
        assert refused.status_code == 200 and "Nonce : 8 à 64 lettres" in text, sent
    assert len(_entries(app, place_id, live=True)) == 0


# ---------------------------------------------------------------------------
# Twenty scans of one ticket at once, through the live server
# ---------------------------------------------------------------------------


def _post_json(visitor, path, body):
    """POST a JSON body with the visitor's session cookie, from any thread."""
    connection = http.client.HTTPConnection(visitor.host, visitor.port, timeout=120)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={
            "Content-Type": "application/json",
            "Cookie": "; ".join(f"{k}={v}" for k, v in visitor.cookies.items())})
        response = connection.getresponse()
        return response.status, json.loads(response.read().decode("utf-8"))
    finally:
        connection.close()


def test_twenty_concurrent_scans_of_one_ticket_record_one_entry(app, live_url):
    event_id, place_id, token = _door(app)
    scanners = [Visitor(live_url, "checker") for _ in range(4)]
    answers = burst([lambda who=scanners[i % 4]: _post_json(who, SCAN, {
        "event": event_id, "token": token, "nonce": str(uuid.uuid4())}) for i in range(20)])
    assert all(status == 200 for status, _ in answers), answers
    codes = sorted(answer["verdict"] for _, answer in answers)
    assert codes == ["already"] * 19 + ["ok"], codes
    assert len(_entries(app, place_id)) == 1


# ---------------------------------------------------------------------------
# The scanner page in a browser: online, then offline
# ---------------------------------------------------------------------------


def _opposed_token(app, event_id):
    """The token of a new place on the event, opposed since it was printed."""
    with app.app_context():
        event = db.session.get(Event, event_id)
        place, token = _place(event, event.ticket_types[0])
        rules.RESERVATION_WORKFLOW.fire(place, "oppose", user("eventadmin"), "Billet revendu")
        db.session.commit()
        return token


def _type(page, token):
    page.fill("#checkin-token", token)
    page.press("#checkin-token", "Enter")


def test_the_scanner_page_answers_a_typed_code_then_says_it_already_entered(app, browser_login, live_url,
                                                                           axe_source):
    event_id, place_id, token = _door(app)
    audit = Audit(live_url, axe_source)
    page = browser_login("checker")
    page.goto(f"{live_url}/events/show/{event_id}")
    page.click("#checkin-event")
    page.wait_for_url(f"**/events/checkin/{event_id}")
    verdict = page.locator("#checkin-verdict")
    assert verdict.get_attribute("role") == "status" and verdict.get_attribute("aria-live") == "assertive"
    expect(page.locator("#checkin-counts")).to_have_text(re.compile(r"0\s+entrés\s+/\s+1\s+attendus"))

    _type(page, token)
    expect(verdict).to_have_attribute("data-code", "ok")
    expect(verdict.locator(".checkin-headline")).to_have_text("OK")
    expect(verdict.locator(".checkin-message")).to_have_text(re.compile(r"^Entrée enregistrée : Nina Faure"))
    expect(page.locator('[data-count="entered"]')).to_have_text("1")
    audit.check(page, "checker", "/events/checkin (OK)")

    _type(page, token)
    expect(verdict).to_have_attribute("data-code", "already")
    expect(verdict.locator(".checkin-headline")).to_have_text("Déjà entré")
    expect(verdict.locator(".checkin-message")).to_have_text(re.compile(r"^Déjà entré à \d\d:\d\d, par Théo Girard\.$"))
    audit.check(page, "checker", "/events/checkin (already)")
    _type(page, _opposed_token(app, event_id))
    expect(verdict).to_have_attribute("data-code", "opposed")
    expect(verdict.locator(".checkin-headline")).to_have_text("Entrée refusée")
    audit.check(page, "checker", "/events/checkin (refused)")
    assert page.url.endswith(f"/events/checkin/{event_id}")  # answered in place: no page was posted
    assert len(_entries(app, place_id)) == 1

    page.fill("#undo-reason", "Mauvais billet scanné")
    page.click("#undo-form button[type=submit]")
    expect(verdict.locator(".checkin-headline")).to_have_text(re.compile(r"^Entrée annulée : Nina Faure"))
    expect(page.locator('[data-count="entered"]')).to_have_text("0")
    assert _entries(app, place_id, live=True) == [] and not audit.found, audit.found


def test_offline_the_page_checks_signatures_itself_queues_and_syncs_flagging_duplicates(app, browser_login,
                                                                                        live_url, checker):
    event_id, place_id, token = _door(app)
    other_token = _door_on(app, event_id)
    revoked = _opposed_token(app, event_id)
    with app.app_context():
        other_id = signing.read(other_token)[0]
    page = browser_login("checker")
    page.goto(f"{live_url}/events/checkin/{event_id}")
    page.wait_for_function(f"() => localStorage.getItem('guichet.checkin.{event_id}.pack') !== null")
    verdict = page.locator("#checkin-verdict")

    page.context.set_offline(True)
    _type(page, token)
    expect(verdict).to_have_attribute("data-code", "ok-offline")
    expect(verdict.locator(".checkin-headline")).to_have_text("OK (hors ligne)")
    _type(page, revoked)
    expect(verdict).to_have_attribute("data-code", "opposed-offline")
    expect(verdict.locator(".checkin-message")).to_have_text("Billet révoqué : la place est en opposition.")
    _type(page, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    expect(verdict).to_have_attribute("data-code", "bad_signature-offline")
    _type(page, token)  # scanned again on this device
    expect(verdict).to_have_attribute("data-code", "already-offline")
    _type(page, other_token)
    expect(verdict).to_have_attribute("data-code", "ok-offline")
    expect(page.locator("#checkin-network")).to_contain_text("Scans en attente de synchronisation : 2.")
    assert _entries(app, place_id) == []
    # Meanwhile another scanner, online, let the other ticket in.
    assert _scan(checker, event_id, other_token)[1]["verdict"] == "ok"

    page.context.set_offline(False)
    synced = page.locator("#checkin-sync-log li")
    expect(synced).to_have_count(2, timeout=20000)
    expect(page.locator("#checkin-sync-log li[data-duplicate=true]")).to_have_count(1)
    expect(page.locator("#checkin-sync-log li[data-duplicate=true]")).to_contain_text("Doublon")
    expect(page.locator("#checkin-sync-log li[data-code=ok]")).to_contain_text("scannée hors ligne")
    (_, _, _, _, offline, _), = _entries(app, place_id)
    assert offline is True and len(_entries(app, other_id)) == 1
    assert page.evaluate(f"() => JSON.parse(localStorage.getItem('guichet.checkin.{event_id}.queue'))") == []


def _qr_video(text, path, width=640, height=480, frames=10):
    """A y4m video showing the QR code of `text`: what Chromium's fake camera films."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=6, border=4)
    code = Image.open(io.BytesIO(out.getvalue())).convert("L")
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - code.width) // 2, (height - code.height) // 2))
    chroma = bytes([128]) * (width // 2 * height // 2)
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)


def test_the_camera_reads_a_ticket_s_qr_code(app, chromium, live_url, tmp_path):
    """Chromium's fake camera films a ticket's QR code: qr-scanner decodes it (in its
    worker, under the app's CSP) and the page checks it in."""
    event_id, place_id, token = _door(app)
    video = tmp_path / "ticket.y4m"
    _qr_video(token, video)
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
        violations = []
        collect_csp_violations(context, violations)
        context.grant_permissions(["camera"], origin=live_url)
        page = context.new_page()
        page.goto(f"{live_url}/login/")
        page.fill("#username", "checker")
        page.fill("#password", DEMO_PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_url}/events/checkin/{event_id}")
        expect(page.locator("#checkin-camera")).to_be_visible()
        page.click("#camera-toggle")
        expect(page.locator("#camera-toggle")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#checkin-verdict")).to_have_attribute("data-code", re.compile("ok|already"),
                                                                   timeout=15000)
        assert len(_entries(app, place_id)) == 1 and not violations, violations
    finally:
        browser.close()
