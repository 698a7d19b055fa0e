"""The platform's demo data: realistic French organisations of every kind, the
accounts of the platform and of the desks still to come, a few feed entries and
outbox mails; and the helpers every desk's demo uses (`ensure_account`,
`organisation`, `domain`)."""
import re
import unicodedata

from flask import current_app

from ..extensions import db
from ..models import MailState, Membership, Notification, Organisation, OrganisationKind, OutboxMail, RoleGrant, utcnow
from ..platform import delegation
from ..security import ADMIN, EVENT_ADMIN, OPERATOR_ADMIN, OPERATOR_USER, WHOLESALE_AGENT

DEMO_PASSWORD = "demo1234"

ORGANISATIONS = [
    ("Rectorat de l'académie de Lyon", OrganisationKind.member, "Lyon"),
    ("Université Grenoble Alpes", OrganisationKind.member, "Saint-Martin-d'Hères"),
    ("Les Nuits de Fourvière", OrganisationKind.client, "Lyon"),
    ("Salon Made in Rhône", OrganisationKind.client, "Villeurbanne"),
    ("Atelier Numérique SAS", OrganisationKind.vendor, "Annecy"),
    ("Visiocom Services", OrganisationKind.vendor, "Clermont-Ferrand"),
    ("Lycée Victor Hugo", OrganisationKind.establishment, "Besançon"),
    ("Collège Jean Moulin", OrganisationKind.establishment, "Bron"),
    ("Bureau des élèves de Centrale Lyon", OrganisationKind.association, "Écully"),
    ("Association sportive de l'INSA", OrganisationKind.association, "Villeurbanne"),
    ("Fibre Rhône Télécom", OrganisationKind.operator, "Vénissieux"),
    ("Alpes Connect", OrganisationKind.operator, "Chambéry"),
    ("Fibre de France Wholesale", OrganisationKind.vendor, "Paris"),
]

# login, role, first name, last name, organisation
ACCOUNTS = [
    ("admin", ADMIN, "Claire", "Fontaine", "Rectorat de l'académie de Lyon"),
    ("eventadmin", EVENT_ADMIN, "Hugo", "Perrin", "Bureau des élèves de Centrale Lyon"),
    ("opadmin", OPERATOR_ADMIN, "Karim", "Haddad", "Fibre Rhône Télécom"),
    ("opuser", OPERATOR_USER, "Manon", "Garcia", "Fibre Rhône Télécom"),
    ("wholesale", WHOLESALE_AGENT, "Bastien", "Roux", "Fibre de France Wholesale"),
    ("ops", WHOLESALE_AGENT, "Sophie", "Lemaire", "Fibre de France Wholesale"),
]

# Feed entries (login, title, link, read) and outbox mails (login or address,
# subject, state, attempts, last error) of two people, so that each sees only theirs.
DEMO_NOTIFICATIONS = [
    ("opadmin", "Bienvenue sur Guichet : votre compte est prêt.", "/users/userinfo/", True),
    ("opadmin", "Nouvelle adhésion : Karim Haddad rejoint Fibre Rhône Télécom.", "/memberships/list/", False),
    ("eventadmin", "Bienvenue sur Guichet : votre compte est prêt.", "/users/userinfo/", False),
]
DEMO_MAILS = [
    ("opadmin", "[Guichet] Bienvenue sur Guichet", "sent", 1, None),
    ("eventadmin", "[Guichet] Bienvenue sur Guichet", "queued", 0, None),
    ("noc@fibre-rhone-telecom.example", "[Guichet] Message de test", "failed", 6,
     "SMTPRecipientsRefused: {'noc@fibre-rhone-telecom.example': (550, b'5.1.1 Mailbox unavailable')}"),
]


def organisation(name):
    return db.session.query(Organisation).filter_by(name=name).one()


def domain(name):
    """A mail domain made of an organisation's name ("Lycée Victor Hugo" → lycee-victor-hugo)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def ensure_account(login, role_name, first_name, last_name, organisation_names):
    """Create the account if missing, and its memberships; return the user."""
    sm = current_app.appbuilder.sm
    user = sm.find_user(username=login)
    if user is None:
        user = sm.add_user(login, first_name, last_name, f"{login}@guichet.example",
                           [sm.find_role(role_name)], password=DEMO_PASSWORD)
    for name in organisation_names:
        org = organisation(name)
        if not db.session.query(Membership).filter_by(user_id=user.id, organisation_id=org.id).first():
            db.session.add(Membership(user_id=user.id, organisation_id=org.id))
    db.session.commit()
    return user


def ensure_grant(login, role_name, organisation_name):
    """The role as an administrator handed it to a local admin, logged (app.platform.delegation)."""
    sm = current_app.appbuilder.sm
    admin, grantee = sm.find_user(username="admin"), sm.find_user(username=login)
    role, org = sm.find_role(role_name), organisation(organisation_name)
    if not db.session.query(RoleGrant).filter_by(grantee_id=grantee.id, role_id=role.id,
                                                 organisation_id=org.id).first():
        delegation.grant_role(admin, RoleGrant(grantee=grantee, role=role, organisation=org))
    db.session.commit()


def load():
    for name, kind, city in ORGANISATIONS:
        if not db.session.query(Organisation).filter_by(name=name).first():
            db.session.add(Organisation(name=name, kind=kind, city=city, email=f"contact@{domain(name)}.example"))
    db.session.commit()
    for login, role, first, last, org in ACCOUNTS:
        ensure_account(login, role, first, last, [org])
    ensure_grant("opadmin", OPERATOR_ADMIN, "Fibre Rhône Télécom")
    load_notifications()
    yield (f"{len(ORGANISATIONS)} organisations, {len(ACCOUNTS)} platform accounts "
           f"(password of every account: {DEMO_PASSWORD})")


def load_notifications():
    """A few feed entries and outbox mails (written directly: nothing is sent)."""
    sm = current_app.appbuilder.sm
    for login, title, link, read in DEMO_NOTIFICATIONS:
        user = sm.find_user(username=login)
        if not db.session.query(Notification).filter_by(user_id=user.id, title=title).first():
            db.session.add(Notification(user_id=user.id, template="notification", title=title, link=link,
                                        read_on=utcnow() if read else None))
    for who, subject, state, attempts, error in DEMO_MAILS:
        user = sm.find_user(username=who) if "@" not in who else None
        address = user.email if user else who
        if not db.session.query(OutboxMail).filter_by(recipient=address, subject=subject).first():
            body = f"Bonjour,\n\n{subject}\n\n-- \nCe message a été envoyé automatiquement par Guichet."
            db.session.add(OutboxMail(
                recipient=address, user_id=user.id if user else None, locale="fr", template="notification",
                subject=subject, body=body, state=MailState(state), attempts=attempts, last_error=error,
                sent_on=utcnow() if state == "sent" else None))
    db.session.commit()
