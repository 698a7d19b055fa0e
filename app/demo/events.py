"""Desk D's demo data: two schools, two associations (a BDE and a sports club) with
their boards, students of both schools and of several promotions, an external
account, a checker; the gala (tickets restricted by promotion, options, an option
group, a deposit cheque to upload, sponsorship), a free conference, a club activity,
the board's private meeting; a few places taken, one checked in at the conference's
door; the BDE's PayPal and Lydia accounts, the gala paid by PayPal."""
from datetime import datetime, time, timedelta

from flask import current_app

from ..extensions import db
from ..models import (
    AdminLevel,
    Association,
    AssociationMembership,
    CheckIn,
    Event,
    EventAdminGrant,
    EventVisibility,
    ExtraInfoKind,
    Payment,
    PaymentAccount,
    PaymentProvider,
    PaymentState,
    PersonProfile,
    Reservation,
    School,
)
from ..platform import payments
from ..platform.clock import local_today, to_utc
from ..rules import events as rules
from ..security import EVENT_ADMIN, USER
from .platform import ensure_account, organisation

BDE, CLUB = "Bureau des élèves de Centrale Lyon", "Association sportive de l'INSA"
SCHOOLS = {BDE: "École Centrale de Lyon", CLUB: "INSA Lyon"}
# login, role, first name, last name, school (None: external), promotion, memberships (association, board, paid)
EVENT_ACCOUNTS = [
    ("eventadmin", EVENT_ADMIN, "Hugo", "Perrin", BDE, 2026, [(BDE, True, True)]),
    ("clubadmin", EVENT_ADMIN, "Inès", "Lambert", CLUB, 2027, [(CLUB, True, True)]),
    ("checker", EVENT_ADMIN, "Théo", "Girard", BDE, 2027, [(BDE, False, True)]),
    ("etudiant", USER, "Lucie", "Bernard", BDE, 2026, [(BDE, False, True)]),
    ("etudiant2", USER, "Paul", "Robert", BDE, 2028, [(BDE, False, False)]),
    ("insa", USER, "Sarah", "Petit", CLUB, 2027, [(CLUB, False, True)]),
    ("externe", USER, "Marie", "Durand", None, None, []),
]


def _event(creator, association, name, days, visibility, limit=0, place=None, description=None,
           at=time(19, 30), hours=4):
    """An event `days` ahead at the local time `at`, on sale since yesterday noon until
    the eve at midnight (stored in UTC, as moments are)."""
    event = db.session.query(Event).filter_by(name=name).first()
    if event is not None:
        return event, False
    day = local_today() + timedelta(days=days)
    starts = to_utc(datetime.combine(day, at))
    return rules.create_event(creator, association, name=name, starts_on=starts,
                              ends_on=starts + timedelta(hours=hours),
                              sale_opens_on=to_utc(datetime.combine(local_today() - timedelta(days=1), time(12))),
                              sale_closes_on=to_utc(datetime.combine(day, time(0))), visibility=visibility,
                              sponsorship_limit=limit, place=place, description=description), True


def _payment_accounts(association):
    """The BDE's PayPal and Lydia accounts (the Lydia tokens are the demo's own, no real vendor's)."""
    found = {account.provider: account for account in db.session.query(PaymentAccount).filter_by(
        organisation_id=association.organisation_id)}
    wanted = [PaymentAccount(organisation_id=association.organisation_id, provider=PaymentProvider.paypal,
                             description="PayPal du BDE", receiver_email="tresorerie-bde@guichet.example"),
              PaymentAccount(organisation_id=association.organisation_id, provider=PaymentProvider.lydia,
                             description="Lydia du BDE", public_token="demo-bde-public-token")]
    for account in wanted:
        if account.provider not in found:
            payments.check_account(account, "demo-bde-private-token" if account.provider is PaymentProvider.lydia
                                   else None)
            db.session.add(account)
            found[account.provider] = account
    db.session.commit()
    return found[PaymentProvider.paypal], found[PaymentProvider.lydia]


def load():
    sm = current_app.appbuilder.sm
    schools = {}
    for name in SCHOOLS.values():
        school = db.session.query(School).filter_by(name=name).first() or School(name=name)
        db.session.add(school)
        schools[name] = school
    db.session.flush()
    associations = {}
    for name, school in SCHOOLS.items():
        org = organisation(name)
        association = db.session.query(Association).filter_by(organisation_id=org.id).first()
        if association is None:
            association = Association(organisation_id=org.id, school_id=schools[school].id)
            db.session.add(association)
        associations[name] = association
    db.session.commit()
    paid_until = local_today().replace(month=8, day=31) + timedelta(days=365)
    for login, role, first, last, school_of, promotion, memberships in EVENT_ACCOUNTS:
        tenants = [name for name, board, _ in memberships if board]
        user = ensure_account(login, role, first, last, tenants)
        if db.session.get(PersonProfile, user.id) is None:
            db.session.add(PersonProfile(user_id=user.id, promotion=promotion,
                                         school_id=schools[SCHOOLS[school_of]].id if school_of else None))
        for name, board, paid in memberships:
            association = associations[name]
            if not db.session.query(AssociationMembership).filter_by(user_id=user.id,
                                                                     association_id=association.id).first():
                db.session.add(AssociationMembership(user_id=user.id, association_id=association.id,
                                                     board_member=board, paid_until=paid_until if paid else None))
    db.session.commit()
    people = {login: sm.find_user(username=login) for login, *_ in EVENT_ACCOUNTS}
    bde, club = associations[BDE], associations[CLUB]

    gala, new = _event(people["eventadmin"], bde, "Gala de Centrale Lyon 2026", 40, EventVisibility.public, 2,
                       "Pavillon de la Tête d'Or, Lyon", "La soirée de l'année : dîner, concert et bal.",
                       at=time(20), hours=6)
    if new:
        students = rules.save_ticket_type(people["eventadmin"], gala, name="Élève promotions 2026–2027",
                                          kind="restricted", price="45", capacity=300, sponsorship_allowed=True,
                                          promotions=[2026, 2027])
        rules.save_ticket_type(people["eventadmin"], gala, name="Invité extérieur", kind="open", price="60",
                               capacity=100)
        rules.save_option(people["eventadmin"], students, name="Navette retour", price_change="5")
        meal = rules.save_option_group(people["eventadmin"], students, name="Repas")
        rules.save_option(people["eventadmin"], students, name="Menu terroir", price_change="12", group_id=meal.id)
        rules.save_option(people["eventadmin"], students, name="Menu végétarien", price_change="10",
                          group_id=meal.id)
        rules.save_extra_info(people["eventadmin"], students, label="Chèque de caution (scan)",
                              kind=ExtraInfoKind.file.value)
        rules.grant_level(people["eventadmin"], gala, AdminLevel.checkin, user=people["checker"])
        db.session.commit()
    paypal, lydia = _payment_accounts(bde)
    if gala.paypal_account_id is None:
        gala.paypal_account_id = paypal.id
        db.session.commit()
    conference, new = _event(people["eventadmin"], bde, "Conférence : l'IA et l'ingénieur", 15,
                             EventVisibility.public, 0, "Amphi 1, Écully", at=time(18), hours=2)
    if new:
        rules.save_ticket_type(people["eventadmin"], conference, name="Entrée libre", kind="open", price="0",
                               capacity=150)
        db.session.commit()
    activity, new = _event(people["clubadmin"], club, "Sortie escalade au Club Vertical", 10,
                           EventVisibility.association, 1, "Club Vertical, Villeurbanne", at=time(14), hours=3)
    if new:
        rules.save_ticket_type(people["clubadmin"], activity, name="Participant", kind="open", price="5",
                               capacity=20)
        db.session.commit()
    tournament, new = _event(people["clubadmin"], club, "Tournoi inter-écoles de volley", 20,
                             EventVisibility.school, 0, "Gymnase de l'INSA", at=time(9), hours=8)
    if new:
        rules.save_ticket_type(people["clubadmin"], tournament, name="Joueur", kind="open", price="3", capacity=48)
        db.session.commit()
    meeting, new = _event(people["eventadmin"], bde, "Réunion du bureau du BDE", 5, EventVisibility.private,
                                at=time(12, 30), hours=1)
    if new:
        rules.save_ticket_type(people["eventadmin"], meeting, name="Membre du bureau", kind="open", price="0",
                               capacity=15)
        db.session.commit()

    bookings = [("etudiant", gala, 0, ["Navette retour", "Menu végétarien"], [{"name": "Jeanne Bernard",
                                                                              "email": "jeanne.bernard@example.org"}]),
                ("externe", conference, 0, [], []), ("insa", activity, 0, [], []), ("insa", tournament, 0, [], []),
                ("eventadmin", meeting, 0, [], [])]
    for login, event, index, option_names, guests in bookings:
        user = people[login]
        if db.session.query(Reservation).filter_by(event_id=event.id, holder_id=user.id).first():
            continue
        ticket_type = event.ticket_types[index]
        options = [o.id for o in ticket_type.options if o.name in option_names]
        rules.book(user, event, ticket_type.id, options, guests)
        db.session.commit()
    # The student paid the gala by PayPal before the cheque scan was validated: the
    # payment waits on the place, as the payments grid shows.
    place = db.session.query(Reservation).filter_by(event_id=gala.id, holder_id=people["etudiant"].id).first()
    if place is not None and not payments.payments_of(rules.PAYABLE_KIND, place.id):
        db.session.add(Payment(
            payable_type=rules.PAYABLE_KIND, payable_id=place.id, account_id=paypal.id,
            provider=PaymentProvider.paypal, state=PaymentState.pending, amount=place.price, currency="EUR",
            reference="DEMO-7HX41285LK", payer_email="lucie.bernard@example.org",
            reason="Informations supplémentaires manquantes ou non validées : Chèque de caution (scan).",
            raw="mc_gross=60.00&mc_currency=EUR&payment_status=Completed&txn_id=DEMO-7HX41285LK"))
        db.session.commit()
    # The external account has come in to the conference (its scanner page shows the entry);
    # the scan's nonce makes it once however often the demo is loaded.
    place = db.session.query(Reservation).filter_by(event_id=conference.id, holder_id=people["externe"].id).first()
    if place is not None:
        rules.scan(people["eventadmin"], conference, rules.ticket_token(place), "demo-conference-externe")
        db.session.commit()
    grants = db.session.query(EventAdminGrant).count()
    yield (f"Events: {db.session.query(Event).count()} events of {len(associations)} associations, "
           f"{db.session.query(Reservation).count()} places, {grants} admin grants, "
           f"{db.session.query(CheckIn).count()} entries")
