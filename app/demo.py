"""Demo data for `flask demo-data`: realistic French organisations and one account per role.

Safe to run twice: every record is looked up by its natural key first.
Desk issues add their records here, after the platform's.
"""
from flask import current_app

from .extensions import db
from .models import Membership, Organisation, OrganisationKind, RoleGrant
from .platform import delegation

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
]

# login, role, first name, last name, organisation
ACCOUNTS = [
    ("admin", "Admin", "Claire", "Fontaine", "Rectorat de l'académie de Lyon"),
    ("vnoc", "VNOC", "Julien", "Mercier", "Rectorat de l'académie de Lyon"),
    ("creator", "Creator", "Sophie", "Lambert", "Rectorat de l'académie de Lyon"),
    ("lead", "ProjectLead", "Thomas", "Girard", "Atelier Numérique SAS"),
    ("agent", "SupportAgent", "Inès", "Benali", "Atelier Numérique SAS"),
    ("eventadmin", "EventAdmin", "Hugo", "Perrin", "Bureau des élèves de Centrale Lyon"),
    ("referent", "EntReferent", "Nathalie", "Roux", "Lycée Victor Hugo"),
    ("opadmin", "OperatorAdmin", "Karim", "Haddad", "Fibre Rhône Télécom"),
    ("user", "User", "Léa", "Moreau", "Lycée Victor Hugo"),
]


def organisation(name):
    return db.session.query(Organisation).filter_by(name=name).one()


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


def load():
    """Load the platform's demo data; yield lines worth printing."""
    for name, kind, city in ORGANISATIONS:
        if not db.session.query(Organisation).filter_by(name=name).first():
            db.session.add(Organisation(name=name, kind=kind, city=city,
                                        email=f"contact@{_domain(name)}.example"))
    db.session.commit()
    for login, role, first, last, org in ACCOUNTS:
        ensure_account(login, role, first, last, [org])
    yield f"{len(ORGANISATIONS)} organisations, {len(ACCOUNTS)} accounts (password: {DEMO_PASSWORD})"
    load_grants()
    load_notifications()
    yield load_tickets()
    yield load_ent()
    yield load_booking()


def load_grants():
    """The roles the administrator handed to two organisations' local admins, as logged."""
    sm = current_app.appbuilder.sm
    admin = sm.find_user(username="admin")
    for login, role_name, organisation_name in [("opadmin", "OperatorAdmin", "Fibre Rhône Télécom"),
                                                ("referent", "EntReferent", "Lycée Victor Hugo")]:
        grantee, role, org = sm.find_user(username=login), sm.find_role(role_name), organisation(organisation_name)
        if not db.session.query(RoleGrant).filter_by(grantee_id=grantee.id, role_id=role.id,
                                                     organisation_id=org.id).first():
            delegation.grant_role(admin, RoleGrant(grantee=grantee, role=role, organisation=org))
    db.session.commit()



# Feed entries (login, title, link, read) and outbox mails (login or address,
# subject, state, attempts, last error) of two people, so that each sees only theirs.
DEMO_NOTIFICATIONS = [
    ("creator", "Bienvenue sur Guichet : votre compte est prêt.", "/users/userinfo/", True),
    ("creator", "Nouvelle adhésion : Sophie Lambert rejoint le Rectorat de l'académie de Lyon.",
     "/memberships/list/", False),
    ("user", "Bienvenue sur Guichet : votre compte est prêt.", "/users/userinfo/", False),
]
DEMO_MAILS = [
    ("creator", "[Guichet] Bienvenue sur Guichet", "sent", 1, None),
    ("user", "[Guichet] Bienvenue sur Guichet", "queued", 0, None),
    ("vnoc@rectorat-lyon.example", "[Guichet] Message de test", "failed", 6,
     "SMTPRecipientsRefused: {'vnoc@rectorat-lyon.example': (550, b'5.1.1 Mailbox unavailable')}"),
]


def load_notifications():
    """A few feed entries and outbox mails (written directly: nothing is sent)."""
    from .models import MailState, Notification, OutboxMail, utcnow

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


def _domain(name):
    import re
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


# ---------------------------------------------------------------------------
# Desk C: ENT help and support
# ---------------------------------------------------------------------------

ENT_SUPPORT_DESK = ("Assistance ENT Auvergne-Rhône-Alpes", "Lyon")
# establishment, UAI code
ENT_ESTABLISHMENTS = [("Lycée Victor Hugo", "0250010X"), ("Collège Jean Moulin", "0691664K")]
ENT_APPLICATIONS = [
    ("Messagerie", "Messagerie interne de l'ENT"),
    ("Cahier de textes", "Séances, devoirs et ressources par classe"),
    ("Emploi du temps", "Emplois du temps des classes et des personnels"),
    ("Vie scolaire", "Absences, retards, appel en classe"),
    ("Espace documentaire", "Documents personnels et partagés"),
    ("Blog", "Blogs de classe et d'établissement"),
    ("Agenda", "Agendas personnels et d'établissement"),
    ("Médiacentre", "Manuels et ressources numériques"),
]
# login, role, first name, last name, establishments, profile
ENT_ACCOUNTS = [
    ("teacher", "User", "Marc", "Dubois", ["Lycée Victor Hugo", "Collège Jean Moulin"], "teacher"),
    ("student", "User", "Chloé", "Martin", ["Lycée Victor Hugo"], "student"),
    ("referent2", "EntReferent", "Sylvie", "Blanc", ["Collège Jean Moulin"], "staff"),
    ("desk", "SupportAgent", "Olivier", "Chevalier", [ENT_SUPPORT_DESK[0]], None),
]
ENT_PROFILES = [("user", "parent"), ("referent", "staff")]
# requester, establishment, application, subject, description,
# then steps: (login, action, text) with action a transition, "comment" or "answer"
ENT_REQUESTS = [
    ("teacher", "Lycée Victor Hugo", "Messagerie", "Impossible d'écrire à ma classe de 2nde B",
     "Le groupe « 2nde B » n'apparaît plus dans la liste des destinataires depuis lundi.", []),
    ("student", "Lycée Victor Hugo", "Cahier de textes", "Les devoirs de mathématiques n'apparaissent pas",
     "Le cahier de textes de mathématiques est vide alors que le professeur dit l'avoir rempli.",
     [("referent", "open", "Je vérifie avec votre professeur."),
      ("student", "comment", "Merci, c'est pour le chapitre sur les suites.")]),
    ("user", "Lycée Victor Hugo", "Emploi du temps", "Emploi du temps vide depuis la rentrée",
     "Je ne vois aucun cours dans l'emploi du temps de ma fille, en 1re STMG.",
     [("referent", "escalate", "L'import de l'emploi du temps semble incomplet."),
      ("desk", "answer", "L'import de l'EDT a été relancé ce matin ; les cours apparaîtront d'ici une heure.")]),
    ("teacher", "Lycée Victor Hugo", "Espace documentaire", "Quota de stockage atteint",
     "Je ne peux plus déposer de documents dans mon espace.",
     [("referent", "resolve", "Votre quota a été porté à 2 Go.")]),
    ("student", "Lycée Victor Hugo", "Médiacentre", "Accès refusé au manuel de physique",
     "Le manuel de physique-chimie affiche « ressource non attribuée ».",
     [("referent", "resolve", "La ressource vous a été attribuée."), ("student", "close", "")]),
    ("teacher", "Collège Jean Moulin", "Vie scolaire", "Appel non enregistré en salle 12",
     "L'appel de 8 h en 4e A n'a pas été enregistré, l'écran reste blanc.", []),
    ("teacher", "Collège Jean Moulin", "Blog", "Publier un article sur la sortie au musée",
     "Je n'ai pas le bouton « Publier » sur le blog de la classe de 5e C.",
     [("referent2", "comment", "Je vous ai donné le droit de publication."),
      ("referent2", "resolve", "")]),
    ("teacher", "Collège Jean Moulin", "Agenda", "Réunion parents-professeurs invisible",
     "La réunion du 14 n'apparaît pas dans l'agenda de l'établissement.",
     [("referent2", "open", ""), ("referent2", "escalate", "Problème de synchronisation de l'agenda.")]),
    ("teacher", "Collège Jean Moulin", "Messagerie", "Pièce jointe trop volumineuse",
     "Je n'arrive pas à envoyer une vidéo de 80 Mo aux élèves.",
     [("referent2", "close", "Les vidéos se partagent par l'espace documentaire.")]),
]


def load_ent():
    """Desk C: two establishments with a support desk, the application catalogue,
    the accounts of the issue, and requests in every status with their events."""
    from .models import EntApplication, EntEstablishment, EntProfile, EntUserProfile, HelpRequest
    from .rules import ent

    sm = current_app.appbuilder.sm
    name, city = ENT_SUPPORT_DESK
    if not db.session.query(Organisation).filter_by(name=name).first():
        db.session.add(Organisation(name=name, kind=OrganisationKind.vendor, city=city,
                                    email=f"contact@{_domain(name)}.example"))
    for app_name, description in ENT_APPLICATIONS:
        if not db.session.query(EntApplication).filter_by(name=app_name).first():
            db.session.add(EntApplication(name=app_name, description=description, active=True))
    db.session.commit()
    desk = organisation(name)
    for establishment, uai in ENT_ESTABLISHMENTS:
        org = organisation(establishment)
        if not db.session.query(EntEstablishment).filter_by(organisation_id=org.id).first():
            db.session.add(EntEstablishment(organisation_id=org.id, uai=uai, support_desk_id=desk.id))
    profiles = list(ENT_PROFILES)
    for login, role, first, last, organisations, profile in ENT_ACCOUNTS:
        ensure_account(login, role, first, last, organisations)
        if profile:
            profiles.append((login, profile))
    for login, profile in profiles:
        user = sm.find_user(username=login)
        if db.session.get(EntUserProfile, user.id) is None:
            db.session.add(EntUserProfile(user_id=user.id, profile=EntProfile(profile)))
    db.session.commit()
    for login, establishment, application, subject, description, steps in ENT_REQUESTS:
        requester = sm.find_user(username=login)
        if db.session.query(HelpRequest).filter_by(requester_id=requester.id, subject=subject).first():
            continue
        item = ent.create_request(
            requester, application_id=db.session.query(EntApplication).filter_by(name=application).one().id,
            subject=subject, description=description, organisation_id=organisation(establishment).id)
        for actor_login, action, text in steps:
            actor = sm.find_user(username=actor_login)
            if action == "comment":
                ent.add_comment(item, actor, text)
            elif action == "answer":
                ent.support_answer(item, actor, text)
            else:
                ent.REQUEST_WORKFLOW.fire(item, action, actor, text)
        db.session.commit()
    return f"ENT help desk: {len(ENT_REQUESTS)} requests in {len(ENT_ESTABLISHMENTS)} establishments"


# ---------------------------------------------------------------------------
# Desk B: client-project tickets
# ---------------------------------------------------------------------------

# name, client company, phase, client lead, event date (days from today), visibility list
DEMO_PROJECTS = [
    ("Billetterie Festival 2026", "Les Nuits de Fourvière", "setup", "client", 60, []),
    ("Site institutionnel des Nuits", "Les Nuits de Fourvière", "operation", "client", None, ["client"]),
    ("Extranet exposants Made in Rhône", "Salon Made in Rhône", "setup", "client2", 120, []),
    ("Portail visiteurs Made in Rhône", "Salon Made in Rhône", "operation", "client2", None, []),
]
# reference, project, declarant, state, priority, title, context, days ago, comments
DEMO_TICKETS = [
    ("2GBS0DW", 0, "client", "new", "medium", "Le bouton « Réserver » ne répond pas sur mobile", None, 0, []),
    ("KJC0E3R", 0, "client", "new", "blocking", "Erreur à la création d'une inscription",
     "Les ventes ouvrent lundi", 1, []),
    ("APBQZM0", 0, "cmartin", "assigned", "high", "Tarif réduit absent du récapitulatif",
     "Plusieurs réclamations de spectateurs", 4, []),
    ("G67TT09", 0, "client", "in_progress", "medium", "Logo flou dans l'en-tête", None, 6, []),
    ("VD5C97E", 0, "client", "waiting_rd", "low", "Extraction des ventes : colonnes inversées", None, 8, []),
    ("OK899Q5", 0, "client", "waiting_client", "medium", "Plan de salle incomplet", None, 10,
     [("agent", "Pouvez-vous nous envoyer le plan à jour de l'Odéon ?")]),
    ("WDH00P9", 0, "cmartin", "lead_followup", "high", "Changement du prestataire de paiement",
     "Contrat à signer avant la fin du mois", 12, []),
    ("VHBS48F", 0, "client", "returned", "blocking", "Mail de confirmation non reçu",
     "Les spectateurs appellent la billetterie", 14,
     [("agent", "Corrigé sur la plateforme de recette."), ("client", "Toujours rien reçu ce matin.")]),
    ("5VH8E3Z", 0, "client", "processed", "high", "Mauvais horaire pour la soirée d'ouverture",
     "Affichage public", 16, [("agent", "C'est corrigé, merci de vérifier.")]),
    ("BU8MWBC", 0, "client", "closed", "low", "Faute de frappe sur la page d'accueil", None, 30,
     [("client", "C'est bon, je clôture. Merci !")]),
    ("IDQ0QQC", 1, "client", "in_progress", "medium", "Mise à jour des mentions légales", None, 3, []),
    ("ZJ52BKM", 1, "client", "closed", "low", "Ajouter le lien vers Instagram", None, 40, []),
    ("TWU0EMC", 2, "client2", "new", "medium", "Formulaire exposant : champ SIRET obligatoire", None, 0, []),
    ("X7FDDU2", 2, "client2", "assigned", "medium", "Import du catalogue des exposants", None, 2, []),
    ("GYA9NPK", 2, "client2", "in_progress", "high", "Facturation des stands équipés",
     "Envoi des factures prévu vendredi", 5, []),
    ("M9KK19T", 2, "client2", "waiting_rd", "low", "L'image du stand équipé n'est pas la bonne", None, 7, []),
    ("OSS0KUW", 2, "client2", "waiting_client", "medium", "Badge exposant : gabarit", None, 9,
     [("agent", "Quel format de badge souhaitez-vous ?")]),
    ("MJMHEYY", 2, "client2", "lead_followup", "medium", "Ouverture d'un second hall", None, 11, []),
    ("34D8T7T", 2, "client2", "returned", "high", "Paiement par virement refusé",
     "Exposants bloqués", 13, [("client2", "Le virement est toujours refusé.")]),
    ("YA031BA", 2, "client2", "processed", "medium", "Traduction anglaise du formulaire", None, 15, []),
    ("5UJ4V0P", 2, "client2", "closed", "medium", "Logo du salon en basse définition", None, 45, []),
    ("F1MZQB6", 3, "client2", "in_progress", "blocking", "Le plan interactif ne charge plus",
     "Le salon ouvre dans trois jours", 1, []),
    ("9R0O50C", 3, "client2", "closed", "low", "Horaires du dimanche à corriger", None, 50, []),
]

# The transition that last moved each demo ticket (its history shows it).
DEMO_TRANSITIONS = {"assigned": "assign", "in_progress": "start", "waiting_rd": "wait_rd",
                    "waiting_client": "ask_client", "lead_followup": "lead_followup",
                    "returned": "send_back", "processed": "process", "closed": "close"}


def load_tickets():
    """Projects of two client companies, in both phases, with tickets in every state."""
    from datetime import date, timedelta

    from .models import Project, ProjectPhase, ProjectViewer, Ticket, TicketComment, TicketPriority, TicketState
    from .models import WorkflowEvent, utcnow

    sm = current_app.appbuilder.sm
    people = {
        "client": ensure_account("client", "Creator", "Xavier", "Lemoine", ["Les Nuits de Fourvière"]),
        "cmartin": ensure_account("cmartin", "Creator", "Camille", "Martin", ["Les Nuits de Fourvière"]),
        "client2": ensure_account("client2", "Creator", "Aurélie", "Bonnet", ["Salon Made in Rhône"]),
        "lead": sm.find_user(username="lead"),
        "agent": sm.find_user(username="agent"),
    }
    vendor = organisation("Atelier Numérique SAS")
    projects = []
    for name, company, phase, client_lead, days, listed in DEMO_PROJECTS:
        project = db.session.query(Project).filter_by(name=name).first()
        if project is None:
            project = Project(
                name=name, organisation=organisation(company), vendor=vendor, vendor_lead=people["lead"],
                client_lead=people[client_lead], phase=ProjectPhase(phase),
                event_date=date.today() + timedelta(days=days) if days else None,
                setup_contact=people["agent"], support_mailbox="support@atelier-numerique.example")
            project.viewers = [ProjectViewer(user=people[login]) for login in listed]
            db.session.add(project)
        projects.append(project)
    db.session.flush()
    now = utcnow()
    for reference, index, declarant, state, priority, title, context, days, comments in DEMO_TICKETS:
        if db.session.query(Ticket).filter_by(reference=reference).first():
            continue
        project = projects[index]
        created = now - timedelta(days=days, hours=2)
        ticket = Ticket(
            reference=reference, project=project, organisation_id=project.organisation_id, title=title,
            description=f"{title}.\nConstaté sur la version de recette, voir capture jointe si besoin.",
            priority=TicketPriority(priority), priority_context=context, state=TicketState(state),
            declarant=people[declarant], created_on=created,
            assignee=people["agent"] if state not in ("new", "lead_followup") else None,
            closed_on=created + timedelta(days=2) if state == "closed" else None)
        db.session.add(ticket)
        db.session.flush()
        if state != "new":
            db.session.add(WorkflowEvent(
                object_type=Ticket.__tablename__, object_id=ticket.id, transition=DEMO_TRANSITIONS[state],
                from_state="new", to_state=state,
                actor_id=people[declarant if state in ("returned", "closed") else "agent"].id, happened_on=created + timedelta(hours=3),
                comment="Prise en charge." if state != "closed" else None))
        for position, (login, text) in enumerate(comments):
            db.session.add(TicketComment(ticket=ticket, state=TicketState(state), author_id=people[login].id,
                                         text=text, created_on=created + timedelta(hours=4 + position)))
    db.session.commit()
    return f"{len(DEMO_PROJECTS)} ticket projects, {len(DEMO_TICKETS)} tickets"



# Desk A (visio booking): rooms, equipment and a few weeks of bookings of two member
# organisations, in every state; `creator2` books for the second one.
BOOKING_ORGANISATIONS = {
    "Rectorat de l'académie de Lyon": {
        "creator": "creator",
        "rooms": [("Salle Rotonde", "visio", 12), ("Salle du Conseil", "visio", 24), ("Audioconf 1", "audio", 40)],
        "equipment": [
            ("DSDEN du Rhône — salle 204", "ip", "Marc Dubois", "marc.dubois@ac-lyon.example", "04 72 80 61 20", "10.69.4.21", ""),
            ("Lycée Ampère — kit visio", "ip", "Anne Petit", "anne.petit@ac-lyon.example", "04 78 42 10 33", "10.69.12.8", ""),
            ("Inspection de l'Ain", "isdn", "Paul Garnier", "paul.garnier@ac-lyon.example", "04 74 45 59 00", "", ""),
            ("Portable de Sophie Lambert", "mobile", "Sophie Lambert", "creator@guichet.example", "06 12 34 56 78", "", ""),
        ],
        "sessions": ["Réunion des proviseurs", "Comité de pilotage numérique", "Formation ENT",
                     "Point hebdomadaire DANE", "Commission d'affectation", "Conseil pédagogique"],
    },
    "Université Grenoble Alpes": {
        "creator": "creator2",
        "rooms": [("Amphi Weil — visio", "visio", 80), ("Salle du conseil UGA", "visio", 20), ("Audioconf UGA", "audio", 30)],
        "equipment": [
            ("IUT de Valence — salle B12", "ip", "Élodie Martin", "elodie.martin@uga.example", "04 75 41 88 00", "10.38.2.14", ""),
            ("Campus de Chambéry", "ip", "Yann Leroy", "yann.leroy@uga.example", "04 79 75 85 85", "10.73.1.5", ""),
            ("Pont MCU national", "ip", "Support Renater", "support@renater.example", "01 53 94 20 30", "193.49.159.10", "4412"),
            ("Tablette de Luc Besson", "mobile", "Luc Besson", "luc.besson@uga.example", "06 98 76 54 32", "", ""),
        ],
        "sessions": ["Conseil d'administration", "Soutenance de thèse", "Réunion des doyens",
                     "Séminaire de laboratoire", "Jury de master", "Comité de direction"],
    },
}
# (day offset from today, start, minutes, state): past sessions held or cancelled,
# coming ones pending or validated; today's are validated (today's connections).
BOOKING_PLAN = [
    (-19, "09:00", 90, "validated"), (-18, "14:00", 120, "validated"), (-15, "10:00", 60, "cancelled"),
    (-12, "09:30", 120, "validated"), (-11, "15:00", 60, "refused"), (-8, "11:00", 60, "validated"),
    (-5, "09:00", 180, "validated"), (-4, "14:30", 90, "validated"), (-1, "10:00", 60, "validated"),
    (0, "10:00", 90, "validated"), (0, "14:00", 60, "validated"), (1, "09:00", 60, "pending"),
    (2, "10:30", 90, "validated"), (3, "14:00", 120, "pending"), (6, "09:00", 60, "refused"),
    (8, "11:00", 60, "cancelled"), (9, "14:00", 90, "pending"), (13, "09:30", 120, "validated"),
    (16, "15:00", 60, "pending"), (20, "10:00", 60, "validated"),
]
ORGANISERS = [("Hélène Brun", "helene.brun@{domain}.example", "04 72 80 60 00"),
              ("Jacques Morel", "jacques.morel@{domain}.example", "04 72 80 60 01"),
              ("Camille Faure", "camille.faure@{domain}.example", "04 76 51 46 00")]


def load_booking():
    from datetime import datetime, timedelta

    from .models import (Booking, BookingKind, BookingOccurrence, BookingParticipant, Equipment,
                         EquipmentKind, Recurrence, Room, RoomKind, WorkflowEvent, utcnow)
    from .rules import booking as rules

    ensure_account("creator2", "Creator", "Antoine", "Vidal", ["Université Grenoble Alpes"])
    sm = current_app.appbuilder.sm
    vnoc = sm.find_user(username="vnoc")
    today = rules.local_now().date()
    pad = rules.buffer()
    created = 0
    for org_name, spec in BOOKING_ORGANISATIONS.items():
        org = organisation(org_name)
        creator = sm.find_user(username=spec["creator"])
        rooms = []
        for name, kind, capacity in spec["rooms"]:
            room = db.session.query(Room).filter_by(organisation_id=org.id, name=name).first()
            if room is None:
                room = Room(organisation_id=org.id, name=name, kind=RoomKind(kind), capacity=capacity, active=True)
                db.session.add(room)
            rooms.append(room)
        equipment = []
        for name, kind, contact, email, phone, ip, bridge in spec["equipment"]:
            item = db.session.query(Equipment).filter_by(organisation_id=org.id, name=name).first()
            if item is None:
                item = Equipment(organisation_id=org.id, name=name, kind=EquipmentKind(kind), contact_name=contact,
                                 email=email, phone=phone, ip_address=ip or None, bridge_id=bridge or None)
                db.session.add(item)
            equipment.append(item)
        db.session.flush()
        if db.session.query(Booking).filter_by(organisation_id=org.id).first():
            continue
        domain = _domain(org_name)
        plans = list(enumerate(BOOKING_PLAN)) + [(len(BOOKING_PLAN), (7, "16:00", 60, "validated"))]
        for index, (offset, clock, minutes, state) in plans:
            room = rooms[index % len(rooms)]
            start = datetime.combine(today + timedelta(days=offset), datetime.strptime(clock, "%H:%M").time())
            end = start + timedelta(minutes=minutes)
            organiser = ORGANISERS[index % len(ORGANISERS)]
            recurring = index == len(BOOKING_PLAN)
            requested = utcnow() - timedelta(minutes=(20 if index % 2 else 75)) if state == "pending" \
                else datetime.combine(start.date(), start.time()) - timedelta(days=3)
            booking = Booking(
                organisation_id=org.id, creator_id=creator.id, created_by_id=creator.id,
                kind=BookingKind.audio if room.kind is RoomKind.audio else BookingKind.visio,
                session_name=spec["sessions"][index % len(spec["sessions"])],
                organiser_name=organiser[0], organiser_email=organiser[1].format(domain=domain),
                organiser_phone=organiser[2], start_at=start, end_at=end, state=state, requested_on=requested,
                recurrence=Recurrence.weekly if recurring else None, recurrence_count=4 if recurring else None,
                connection_id=f"70{1500 + index}" if state == "validated" else None,
                connection_url=f"https://visio.{domain}.example/{1500 + index}" if state == "validated" else None,
                notes="Prévoir un micro supplémentaire." if index % 5 == 0 else None,
            )
            booking.rooms = [room]
            for position, item in enumerate(equipment[index % 3: index % 3 + 2]):
                booking.participants.append(BookingParticipant(
                    equipment=item, name=item.name, kind=item.kind, contact_name=item.contact_name, email=item.email,
                    phone=item.phone, ip_address=item.ip_address, bridge_id=item.bridge_id,
                    vnoc_connects=item.kind is EquipmentKind.ip and position == 0))
            times = rules.occurrence_times(start, end, "weekly" if recurring else None, count=4 if recurring else None)
            for s, e in times:
                booking.occurrences.append(BookingOccurrence(
                    room=room, start_at=s, end_at=e, blocked_from=s - pad, blocked_until=e + pad,
                    active=state in rules.HOLDING_STATES))
            db.session.add(booking)
            db.session.flush()
            booking.reference = f"{booking.id:05d}"
            if state != "pending":
                db.session.add(WorkflowEvent(
                    object_type="booking", object_id=booking.id,
                    transition={"validated": "validate", "refused": "refuse", "cancelled": "cancel"}[state],
                    from_state="pending", to_state=state,
                    actor_id=(creator if state == "cancelled" else vnoc).id,
                    comment="Salle indisponible ce jour-là, rappel effectué." if state == "refused" else None,
                    happened_on=requested + timedelta(minutes=25)))
            created += 1
    db.session.commit()
    return f"visio booking: {created} bookings"
