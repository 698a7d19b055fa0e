"""Desk D, an event's configuration in tabs, through its pages and forms: managers
change it, lower levels read it, others do not find it (404); a frozen ticket type, a
grant above one's level and every garbage input are refused naming the field, nothing
changed, never a 500; grants and revokes are logged."""
import html
import re
import uuid
from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import Group

from app.extensions import db
from app.models import (
    Association,
    DelegationAction,
    DelegationLog,
    Event,
    EventAdminGrant,
    EventVisibility,
    ExtraInfo,
    Option,
    OptionGroup,
    PaymentAccount,
    PaymentProvider,
    TicketType,
    utcnow,
)
from app.rules import events as rules

from .helpers import user

GALA = "Gala de Centrale Lyon 2026"
BDE = "Bureau des élèves de Centrale Lyon"
CLUB = "Association sportive de l'INSA"
TABS = ("information", "tickets", "options", "groups", "items", "admins", "payments")


def _association(name=BDE):
    return db.session.query(Association).join(Association.organisation).filter_by(name=name).one()


def _new_event(app):
    """A new event of the BDE created by eventadmin (who holds manage), without tickets."""
    with app.app_context():
        now = utcnow()
        event = rules.create_event(user("eventadmin"), _association(), name=f"Soirée {uuid.uuid4().hex[:8]}",
                                   starts_on=now + timedelta(days=9), ends_on=now + timedelta(days=9, hours=4),
                                   sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=8),
                                   visibility=EventVisibility.public)
        db.session.commit()
        return event.id


def _gala(app):
    with app.app_context():
        gala = db.session.query(Event).filter_by(name=GALA).one()
        return gala.id, gala.ticket_types[0].id, gala.ticket_types[1].id  # students (has places), guests (none)


def _save(client, event_id, form, data):
    """Post one configuration form; returns the tab's page it comes back to."""
    response = client.post(f"/events/configure/{event_id}/save/{form}", data=data, follow_redirects=True)
    assert response.status_code == 200, f"{form} {data}: {response.status_code}"
    return response.get_data(as_text=True)


def _flashes(page, kind="danger|success"):
    """The text of the page's flashed messages of `kind` (FAB's alert categories)."""
    return html.unescape(" ".join(re.findall(rf'<div class="alert alert-(?:{kind})">(.*?)</div>', page, re.S)))


def _configuration(app, event_id):
    """Everything the configuration forms may change, to check nothing did."""
    with app.app_context():
        db.session.expire_all()
        event = db.session.get(Event, event_id)
        return (
            (event.name, event.place, event.description, event.starts_on, event.ends_on, event.sale_opens_on,
             event.sale_closes_on, event.visibility, event.sponsorship_limit, event.paypal_account_id,
             event.lydia_account_id),
            [(t.id, t.name, t.kind, str(t.price), t.capacity, t.sponsorship_allowed, t.promotions,
              [s.id for s in t.schools], [a.id for a in t.memberships], t.description,
              [(o.id, o.name, str(o.price_change), o.group_id) for o in t.options],
              [(g.id, g.name) for g in t.option_groups],
              [(i.id, i.label, i.kind, i.choices) for i in t.extra_infos]) for t in event.ticket_types],
            sorted((g.id, g.level, g.user_id, g.group_id, g.board_id, g.revoked_on)
                   for g in db.session.query(EventAdminGrant).filter_by(event_id=event_id)),
        )


def test_a_manager_configures_a_ticket_type_with_options_a_group_and_an_item(app, speaking):
    event_id = _new_event(app)
    with app.app_context():
        school_id = db.session.query(Association).join(Association.organisation).filter_by(
            name=BDE).one().school_id
        bde_id = _association().id
    manager = speaking("eventadmin", "en")
    page = _save(manager, event_id, "add_ticket_type", {
        "kind": "restricted", "name": "Élève", "price": "12,50", "capacity": "80", "sponsorship_allowed": "1",
        "promotions": "2026, 2027", "schools": [str(school_id)], "memberships": [str(bde_id)]})
    assert "Élève: created." in _flashes(page)
    with app.app_context():
        ticket_type = db.session.query(TicketType).filter_by(event_id=event_id).one()
        assert (ticket_type.kind.value, str(ticket_type.price), ticket_type.capacity) == ("restricted", "12.50", 80)
        assert ticket_type.promotions == [2026, 2027] and ticket_type.sponsorship_allowed
        assert [s.id for s in ticket_type.schools] == [school_id]
        assert [a.id for a in ticket_type.memberships] == [bde_id]
        ticket_type_id = ticket_type.id
    _save(manager, event_id, "add_group", {"ticket_type": ticket_type_id, "name": "Repas"})
    with app.app_context():
        group_id = db.session.query(OptionGroup.id).filter_by(ticket_type_id=ticket_type_id).scalar()
    _save(manager, event_id, "add_option", {"ticket_type": ticket_type_id, "name": "Menu terroir",
                                            "price_change": "8", "group": group_id})
    _save(manager, event_id, "add_option", {"ticket_type": ticket_type_id, "name": "Navette",
                                            "price_change": "-2.5", "group": ""})
    page = _save(manager, event_id, "add_item", {"ticket_type": ticket_type_id, "label": "Taille de t-shirt",
                                                 "kind": "choice", "choices": "S\nM\n\nL\n"})
    assert "Taille de t-shirt: created." in _flashes(page)
    page = _save(manager, event_id, "edit_ticket_type", {
        "ticket_type": ticket_type_id, "name": "Élève BDE", "price": "15", "capacity": "90",
        "promotions": "2026"})
    with app.app_context():
        ticket_type = db.session.get(TicketType, ticket_type_id)
        assert (ticket_type.name, str(ticket_type.price), ticket_type.capacity) == ("Élève BDE", "15.00", 90)
        assert ticket_type.promotions == [2026] and not ticket_type.schools and not ticket_type.sponsorship_allowed
        assert {(o.name, str(o.price_change), o.group_id) for o in ticket_type.options} == {
            ("Menu terroir", "8.00", group_id), ("Navette", "-2.50", None)}
        [item] = ticket_type.extra_infos
        assert (item.kind.value, item.choice_list) == ("choice", ["S", "M", "L"])
        shuttle_id = next(o.id for o in ticket_type.options if o.group_id is None)
    for tab, shown in (("options", "Menu terroir"), ("groups", "Repas"), ("items", "Taille de t-shirt"),
                       ("tickets", "Élève BDE")):
        assert shown in manager.get(f"/events/configure/{event_id}/{tab}").get_data(as_text=True)
    page = _save(manager, event_id, "delete_option", {"option": shuttle_id})
    assert "Navette: deleted." in _flashes(page) and "Navette" not in page.split('id="tab-options"')[1]
    with app.app_context():
        assert db.session.get(Option, shuttle_id) is None
    page = _save(manager, event_id, "information", {
        "name": "Soirée d'hiver", "place": "Foyer", "description": "", "starts_on": "2027-01-20T20:00",
        "ends_on": "2027-01-21T02:00", "sale_opens_on": "2026-12-01T12:00", "sale_closes_on": "2027-01-20T12:00",
        "visibility": "school", "sponsorship_limit": "2"})
    assert "information is saved" in _flashes(page)
    assert 'value="2027-01-20T20:00"' in page  # shown again as typed, in local time
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.name == "Soirée d'hiver" and event.visibility is EventVisibility.school
        assert event.starts_on.isoformat() == "2027-01-20T19:00:00"  # Paris in winter is UTC+1: stored in UTC
        assert event.sponsorship_limit == 2


def test_a_checkin_admin_reads_every_tab_and_may_change_nothing(app, speaking):
    gala_id, _students_id, guests_id = _gala(app)
    checker = speaking("checker", "en")
    for tab in TABS:
        page = checker.get(f"/events/configure/{gala_id}/{tab}").get_data(as_text=True)
        assert 'id="read-only"' in page and "/save/" not in page, tab  # no form at all
        assert f'href="/events/configure/{gala_id}/{tab}" aria-current="page"' in page
    assert "Pavillon de la Tête" in checker.get(f"/events/configure/{gala_id}/information").get_data(
        as_text=True)
    before = _configuration(app, gala_id)
    page = _save(checker, gala_id, "add_option", {"ticket_type": guests_id, "name": "Vestiaire",
                                                  "price_change": "2"})
    assert "may not change the configuration" in _flashes(page)
    _save(checker, gala_id, "information", {"name": "Piraté"})
    _save(checker, gala_id, "delete_ticket_type", {"ticket_type": guests_id})
    assert _configuration(app, gala_id) == before


def test_a_manager_chooses_the_event_s_payment_accounts_among_its_association_s(app, speaking):
    """Only the organiser association's accounts are offered and taken; another
    organisation's account or garbage is refused naming the field, nothing changed."""
    event_id = _new_event(app)
    with app.app_context():
        bde = {a.provider: a.id for a in db.session.query(PaymentAccount).filter_by(
            organisation_id=_association().organisation_id)}
        foreign = PaymentAccount(organisation_id=_association(CLUB).organisation_id,
                                 provider=PaymentProvider.paypal, description="Trésorerie AS INSA",
                                 receiver_email=f"as-{uuid.uuid4().hex[:6]}@guichet.example")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    manager = speaking("eventadmin", "fr")
    page = manager.get(f"/events/configure/{event_id}/payments").get_data(as_text=True)
    assert f'<option value="{bde[PaymentProvider.paypal]}"' in page and "Trésorerie AS INSA" not in page
    page = _save(manager, event_id, "accounts", {"paypal_account": bde[PaymentProvider.paypal], "lydia_account": ""})
    assert "Les comptes de paiement de l'évènement sont enregistrés." in _flashes(page)
    before = _configuration(app, event_id)
    assert before[0][-2:] == (bde[PaymentProvider.paypal], None)
    for sent, field in (({"paypal_account": foreign_id}, "Compte PayPal"),
                        ({"lydia_account": bde[PaymentProvider.paypal]}, "Compte Lydia"),
                        ({"paypal_account": "abc"}, "Compte PayPal")):
        page = _save(manager, event_id, "accounts", sent)
        assert f"{field} : choisissez" in _flashes(page, "danger"), sent
    assert _configuration(app, event_id) == before


def test_without_a_level_the_configuration_does_not_exist(app, login_as):
    gala_id, students_id, _ = _gala(app)
    stranger = login_as("clubadmin")  # an organiser, of another association: no level on the gala
    for tab in TABS:
        assert stranger.get(f"/events/configure/{gala_id}/{tab}").status_code == 404
    assert stranger.post(f"/events/configure/{gala_id}/save/information", data={"name": "x"}).status_code == 404
    assert 'id="configure-event"' not in stranger.get(f"/events/show/{gala_id}").get_data(as_text=True)
    buyer = login_as("etudiant")  # a buyer: no such page for their role
    assert buyer.get(f"/events/configure/{gala_id}/information").status_code in (302, 403)
    assert 'id="configure-event"' not in buyer.get(f"/events/show/{gala_id}").get_data(as_text=True)
    page = login_as("checker").get(f"/events/show/{gala_id}").get_data(as_text=True)
    assert f'href="/events/configure/{gala_id}/information"' in page
    back = login_as("checker").get(f"/events/configure/{gala_id}/admins").get_data(as_text=True)
    assert f'href="/events/show/{gala_id}" id="back-to-event"' in back
    assert login_as("eventadmin").get(f"/events/configure/{gala_id}/nosuchtab").status_code == 404
    assert login_as("eventadmin").post(f"/events/configure/{gala_id}/save/nosuchform").status_code == 404


def test_a_ticket_type_with_places_is_shown_frozen_and_its_changes_refused(app, speaking):
    gala_id, students_id, guests_id = _gala(app)
    manager = speaking("eventadmin", "en")
    page = manager.get(f"/events/configure/{gala_id}/tickets").get_data(as_text=True)
    students = page.split(f'data-ticket-type="{students_id}"')[1].split("<hr>")[0]
    assert "already has (pre-)reservations" in students
    # Only its ticket template may change: how a ticket looks, not what was bought.
    assert re.findall(r'action="[^"]*/save/(\w+)"', students) == ["set_template"]
    guests = page.split(f'data-ticket-type="{guests_id}"')[1].split("<hr>")[0]
    assert 'class="edit-ticket-type"' in guests
    options = manager.get(f"/events/configure/{gala_id}/options").get_data(as_text=True)
    assert "add-option" not in options.split(f'data-ticket-type="{students_id}"')[1].split("ticket-type")[0]
    before = _configuration(app, gala_id)
    for form, data in (("edit_ticket_type", {"ticket_type": students_id, "name": "Autre", "capacity": "300"}),
                       ("delete_ticket_type", {"ticket_type": students_id}),
                       ("add_option", {"ticket_type": students_id, "name": "Vestiaire"}),
                       ("add_group", {"ticket_type": students_id, "name": "Boissons"}),
                       ("add_item", {"ticket_type": students_id, "label": "Régime", "kind": "text"})):
        flashed = _flashes(_save(manager, gala_id, form, data))
        assert "Ticket:" in flashed and "can no longer change" in flashed, form
    with app.app_context():
        option_id = db.session.query(Option.id).filter_by(ticket_type_id=students_id).first()[0]
        item_id = db.session.query(ExtraInfo.id).filter_by(ticket_type_id=students_id).first()[0]
    assert "can no longer change" in _flashes(_save(manager, gala_id, "delete_option", {"option": option_id}))
    assert "can no longer change" in _flashes(_save(manager, gala_id, "delete_item", {"item": item_id}))
    assert _configuration(app, gala_id) == before


def test_grants_up_to_ones_own_level_each_grant_and_revoke_logged(app, speaking):
    event_id = _new_event(app)
    with app.app_context():
        group = Group(name=f"Bénévoles {uuid.uuid4().hex[:6]}")
        db.session.add(group)
        db.session.commit()
        group_id, group_name, club_id = group.id, group.name, _association(CLUB).id
        logged = db.session.query(DelegationLog).count()
    manager = speaking("eventadmin", "en")
    page = _save(manager, event_id, "grant", {"grantee_kind": "user", "grantee": "checker", "level": "checkin"})
    assert "now holds the level Check-in" in _flashes(page)
    _save(manager, event_id, "grant", {"grantee_kind": "user", "grantee": user_email(app, "etudiant2").upper(),
                                       "level": "view"})
    _save(manager, event_id, "grant", {"grantee_kind": "group", "grantee": group_id, "level": "validate"})
    page = _save(manager, event_id, "grant", {"grantee_kind": "board", "grantee": club_id, "level": "view"})
    table = html.unescape(page.split('id="grants"')[1].split("</table>")[0])
    assert "Théo Girard (checker)" in table and "Paul Robert (etudiant2)" in table
    assert f"Group {group_name}" in table and f"Board of {CLUB}" in table
    with app.app_context():
        grants = db.session.query(EventAdminGrant).filter_by(event_id=event_id).all()
        checker_grant = next(g.id for g in grants if g.user_id == user("checker").id)
        assert db.session.query(DelegationLog).count() == logged + 4
    page = _save(manager, event_id, "revoke", {"grant": checker_grant})
    assert "no longer holds the level Check-in" in _flashes(page)
    with app.app_context():
        entry = db.session.query(DelegationLog).order_by(DelegationLog.id.desc()).first()
        assert (entry.action, entry.right, entry.object_id, entry.grantee_id) == (
            DelegationAction.revoke, "event_admin:checkin", checker_grant, user("checker").id)
        assert rules.level_of(user("checker"), db.session.get(Event, event_id)) is None
    # checker, at check-in level on the gala, grants nothing (manage would be above their level)
    gala_id, _, _ = _gala(app)
    before = _configuration(app, gala_id)
    page = _save(speaking("checker", "en"), gala_id, "grant",
                 {"grantee_kind": "user", "grantee": "etudiant", "level": "manage"})
    assert "Only the event's managers may grant" in _flashes(page)
    assert _configuration(app, gala_id) == before


def user_email(app, username):
    with app.app_context():
        return user(username).email


TOO_BIG = "9" * 30
GARBAGE = [
    # (form, data, what the message names)
    ("add_ticket_type", {"kind": "bogus", "name": "X", "capacity": "1"}, "Kind:"),
    ("add_ticket_type", {"kind": "open", "name": "", "capacity": "1"}, "Name:"),
    ("add_ticket_type", {"kind": "open", "name": "X" * 101, "capacity": "1"}, "Name:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "abc"}, "Capacity:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": TOO_BIG}, "Capacity:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "-3"}, "Capacity:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "1", "price": "beaucoup"}, "Price:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "1", "price": "1e400"}, "Price:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "1", "price": "-5"}, "Price:"),
    ("add_ticket_type", {"kind": "restricted", "name": "X", "capacity": "1", "promotions": "20x6"},
     "Promotions:"),
    ("add_ticket_type", {"kind": "restricted", "name": "X", "capacity": "1", "promotions": TOO_BIG},
     "Promotions:"),
    ("add_ticket_type", {"kind": "restricted", "name": "X", "capacity": "1", "schools": "abc"}, "Schools:"),
    ("add_ticket_type", {"kind": "restricted", "name": "X", "capacity": "1", "schools": "987654"}, "Schools:"),
    ("add_ticket_type", {"kind": "restricted", "name": "X", "capacity": "1", "memberships": TOO_BIG},
     "Paid members of:"),
    ("add_ticket_type", {"kind": "open", "name": "X", "capacity": "1", "promotions": "2026"}, "Restrictions:"),
    ("edit_ticket_type", {"ticket_type": "abc", "name": "X"}, "Ticket:"),
    ("edit_ticket_type", {"ticket_type": "987654321", "name": "X"}, "Ticket:"),
    ("delete_ticket_type", {}, "Ticket:"),
    ("add_option", {"ticket_type": "TICKET", "name": "X", "group": "abc"}, "Group:"),
    ("add_option", {"ticket_type": "TICKET", "name": "X", "group": "987654"}, "Group:"),
    ("add_option", {"ticket_type": "TICKET", "name": "X", "price_change": "NaN"}, "Price change:"),
    ("add_option", {"ticket_type": "TICKET", "name": ""}, "Name:"),
    ("add_option", {"ticket_type": TOO_BIG, "name": "X"}, "Ticket:"),
    ("delete_option", {"option": "xyz"}, "Option:"),
    ("add_group", {"ticket_type": "TICKET"}, "Name:"),
    ("delete_group", {"group": "987654"}, "Group:"),
    ("add_item", {"ticket_type": "TICKET", "label": "Taille", "kind": "choice", "choices": " \n "}, "Choices:"),
    ("add_item", {"ticket_type": "TICKET", "label": "Taille", "kind": "colour"}, "Kind:"),
    ("add_item", {"ticket_type": "TICKET", "label": "", "kind": "text"}, "Label:"),
    ("delete_item", {"item": "-1"}, "Extra item:"),
    ("information", {}, "Name:"),
    ("information", {"name": "X", "starts_on": "demain"}, "Starts on:"),
    ("information", {"name": "X", "starts_on": "0001-01-01T00:00", "ends_on": "2027-01-01T00:00"}, "Starts on:"),
    ("information", {"name": "X", "starts_on": "2027-01-02T00:00", "ends_on": "2027-01-01T00:00",
                     "sale_opens_on": "2026-12-01T00:00", "sale_closes_on": "2026-12-02T00:00"}, "Ends on:"),
    ("information", {"name": "X", "starts_on": "2027-01-01T00:00", "ends_on": "2027-01-01T05:00",
                     "sale_opens_on": "2026-12-02T00:00", "sale_closes_on": "2026-12-01T00:00"},
     "Sale closes on:"),
    ("information", {"name": "X", "starts_on": "2027-01-01T00:00", "ends_on": "2027-01-01T05:00",
                     "sale_opens_on": "2026-12-01T00:00", "sale_closes_on": "2026-12-02T00:00",
                     "visibility": "nowhere", "sponsorship_limit": "0"}, "Visibility:"),
    ("information", {"name": "X", "starts_on": "2027-01-01T00:00", "ends_on": "2027-01-01T05:00",
                     "sale_opens_on": "2026-12-01T00:00", "sale_closes_on": "2026-12-02T00:00",
                     "visibility": "public", "sponsorship_limit": TOO_BIG}, "Guests per person:"),
    ("information", {"name": "X", "starts_on": "2027-01-01T00:00", "ends_on": "2027-01-01T05:00",
                     "sale_opens_on": "2026-12-01T00:00", "sale_closes_on": "2026-12-02T00:00",
                     "visibility": "public", "sponsorship_limit": "1", "place": "P" * 201}, "Place:"),
    ("grant", {"grantee_kind": "user", "grantee": "nobody-here", "level": "view"}, "Person:"),
    ("grant", {"grantee_kind": "user", "grantee": "", "level": "view"}, "Person:"),
    ("grant", {"grantee_kind": "user", "grantee": "checker", "level": "god"}, "Level:"),
    ("grant", {"grantee_kind": "board", "grantee": "abc", "level": "view"}, "Grantee:"),
    ("grant", {"grantee_kind": "board", "grantee": "987654", "level": "view"}, "Board:"),
    ("grant", {"grantee_kind": "group", "grantee": TOO_BIG, "level": "view"}, "Grantee:"),
    ("grant", {"grantee_kind": "planet", "grantee": "1", "level": "view"}, "Grantee:"),
    ("revoke", {"grant": TOO_BIG}, "Right:"),
    ("revoke", {"grant": "987654"}, "Right:"),
]


@pytest.fixture(scope="module")
def garbage_event(app):
    """An event with one open ticket type, no place: every form would be accepted if its input were."""
    event_id = _new_event(app)
    with app.app_context():
        ticket_type = rules.save_ticket_type(user("eventadmin"), db.session.get(Event, event_id), name="Place",
                                             kind="open", price="5", capacity=10)
        db.session.commit()
        return event_id, ticket_type.id


@pytest.mark.parametrize("form, data, named", GARBAGE, ids=[f"{f}-{n}" for f, _, n in GARBAGE])
def test_garbage_input_is_refused_naming_the_field_and_changes_nothing(app, speaking, garbage_event, form, data,
                                                                       named):
    event_id, ticket_type_id = garbage_event
    data = {key: str(ticket_type_id) if value == "TICKET" else value for key, value in data.items()}
    before = _configuration(app, event_id)
    flashed = _flashes(_save(speaking("eventadmin", "en"), event_id, form, data), "danger")
    assert named in flashed, flashed
    assert _configuration(app, event_id) == before
