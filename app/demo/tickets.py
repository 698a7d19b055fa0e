"""Desk B's demo data: a vendor's projects for two client companies, in both phases,
with tickets in every state; the vendor's staff (`lead`, `agent`) and the clients'
people (`client`, `cmartin`, `client2`); internal notes, the vendor's canned answers,
and tickets unassigned and overdue so that every queue has some."""
from datetime import timedelta

from ..extensions import db
from ..platform import clock
from ..models import (
    CannedAnswer,
    Project,
    ProjectPhase,
    ProjectViewer,
    ProjectTicket,
    ProjectTicketComment,
    ProjectTicketPriority,
    ProjectTicketState,
    WorkflowEvent,
    utcnow,
)
from ..security import CLIENT, PROJECT_LEAD, VENDOR_AGENT
from .platform import ensure_account, organisation

# login, role, first name, last name, organisation
ACCOUNTS = [
    ("lead", PROJECT_LEAD, "Thomas", "Girard", "Atelier Numérique SAS"),
    ("agent", VENDOR_AGENT, "Inès", "Benali", "Atelier Numérique SAS"),
    ("client", CLIENT, "Xavier", "Lemoine", "Les Nuits de Fourvière"),
    ("cmartin", CLIENT, "Camille", "Martin", "Les Nuits de Fourvière"),
    ("client2", CLIENT, "Aurélie", "Bonnet", "Salon Made in Rhône"),
]

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
     "Plusieurs réclamations de spectateurs", 4,
     [("agent", "Le tarif réduit n'est pas paramétré dans l'offre : à voir avec Thomas avant de répondre.", True)]),
    ("G67TT09", 0, "client", "in_progress", "medium", "Logo flou dans l'en-tête", None, 6, []),
    ("VD5C97E", 0, "client", "waiting_rd", "low", "Extraction des ventes : colonnes inversées", None, 8, []),
    ("OK899Q5", 0, "client", "waiting_client", "medium", "Plan de salle incomplet", None, 10,
     [("agent", "Pouvez-vous nous envoyer le plan à jour de l'Odéon ?"),
      ("lead", "Relancer le client jeudi s'il n'a pas répondu.", True)]),
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
     "Exposants bloqués", 13, [("client2", "Le virement est toujours refusé."),
                               ("agent", "Le prestataire bancaire a un incident en cours, ticket ouvert chez eux.", True)]),
    ("YA031BA", 2, "client2", "processed", "medium", "Traduction anglaise du formulaire", None, 15, []),
    ("5UJ4V0P", 2, "client2", "closed", "medium", "Logo du salon en basse définition", None, 45, []),
    ("F1MZQB6", 3, "client2", "in_progress", "blocking", "Le plan interactif ne charge plus",
     "Le salon ouvre dans trois jours", 1, []),
    ("9R0O50C", 3, "client2", "closed", "low", "Horaires du dimanche à corriger", None, 50, []),
]

# The vendor's canned answers: title, text (placeholders: app/rules/tickets.py).
DEMO_CANNED_ANSWERS = [
    ("Prise en charge", "Bonjour {client_name},\n\nNous avons bien reçu votre ticket {ticket_reference} "
     "« {ticket_title} » et le prenons en charge.\n\nCordialement,\n{agent_name}"),
    ("Demande de capture d'écran", "Bonjour {client_name},\n\nPour avancer sur le ticket {ticket_reference}, "
     "pouvez-vous nous envoyer une capture d'écran et le nom du navigateur utilisé ?\n\nMerci,\n{agent_name}"),
    ("Correctif en recette", "Bonjour {client_name},\n\nLe correctif du ticket {ticket_reference} est en ligne "
     "sur la plateforme de recette du projet {project_name} : merci de vérifier, puis de clôturer le ticket."
     "\n\n{agent_name}"),
]

# The transition that last moved each demo ticket (its history shows it).
DEMO_TRANSITIONS = {"assigned": "assign", "in_progress": "start", "waiting_rd": "wait_rd",
                    "waiting_client": "ask_client", "lead_followup": "lead_followup",
                    "returned": "send_back", "processed": "process", "closed": "close"}


def load():
    """Projects of two client companies, in both phases, with tickets in every state."""


    people = {
        login: ensure_account(login, role, first, last, [org]) for login, role, first, last, org in ACCOUNTS
    }
    vendor = organisation("Atelier Numérique SAS")
    projects = []
    for name, company, phase, client_lead, days, listed in DEMO_PROJECTS:
        project = db.session.query(Project).filter_by(name=name).first()
        if project is None:
            project = Project(
                name=name, organisation=organisation(company), vendor=vendor, vendor_lead=people["lead"],
                client_lead=people[client_lead], phase=ProjectPhase(phase),
                event_date=clock.local_today() + timedelta(days=days) if days else None,
                setup_contact=people["agent"], support_mailbox="support@atelier-numerique.example")
            project.viewers = [ProjectViewer(user=people[login]) for login in listed]
            db.session.add(project)
        projects.append(project)
    db.session.flush()
    now = utcnow()
    for reference, index, declarant, state, priority, title, context, days, comments in DEMO_TICKETS:
        if db.session.query(ProjectTicket).filter_by(reference=reference).first():
            continue
        project = projects[index]
        created = now - timedelta(days=days, hours=2)
        if days == 0:  # today's, even just after local midnight
            created = min(max(created, clock.start_of_local_day() + timedelta(minutes=1)), now)
        # Its history: taken up 3 hours after, then the comments an hour apart; a
        # closed ticket is closed after its last comment. Never later than now.
        said = [min(created + timedelta(hours=4 + n), now) for n in range(len(comments))]
        moved = min(created + timedelta(hours=4 + len(comments) if state == "closed" else 3), now)
        # The client waits for an answer of ours on new tickets, and since their last
        # message on returned ones.
        client_wrote = [when for when, (login, *_) in zip(said, comments) if login not in ("agent", "lead")]
        waiting = created if state == "new" else (client_wrote[-1] if state == "returned" and client_wrote else None)
        ticket = ProjectTicket(
            awaiting_vendor_since=waiting,
            reference=reference, project=project, organisation_id=project.organisation_id, title=title,
            description=f"{title}.\nConstaté sur la version de recette, voir capture jointe si besoin.",
            priority=ProjectTicketPriority(priority), priority_context=context, state=ProjectTicketState(state),
            declarant=people[declarant], created_on=created,
            assignee=people["agent"] if state not in ("new", "lead_followup") else None,
            closed_on=moved if state == "closed" else None)
        db.session.add(ticket)
        db.session.flush()
        if state != "new":
            db.session.add(WorkflowEvent(
                object_type=ProjectTicket.__tablename__, object_id=ticket.id, transition=DEMO_TRANSITIONS[state],
                from_state="new", to_state=state,
                actor_id=people[declarant if state in ("returned", "closed") else "agent"].id, happened_on=moved,
                comment="Prise en charge." if state != "closed" else None))
        for when, (login, text, *internal) in zip(said, comments):
            db.session.add(ProjectTicketComment(ticket=ticket, state=ProjectTicketState(state), author_id=people[login].id,
                                                text=text, internal=bool(internal), created_on=when))
    for title, body in DEMO_CANNED_ANSWERS:
        if not db.session.query(CannedAnswer).filter_by(vendor_id=vendor.id, title=title).first():
            db.session.add(CannedAnswer(vendor=vendor, title=title, body=body))
    db.session.commit()
    yield (f"{len(DEMO_PROJECTS)} ticket projects, {len(DEMO_TICKETS)} tickets, "
           f"{len(DEMO_CANNED_ANSWERS)} canned answers")



