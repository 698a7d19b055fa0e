"""Desk C's demo data (ENT: a school's online workspace): two establishments and
their support desk, the application catalogue, the referents (`referent`,
`referent2`), the desk's agent (`desk`), workspace users (`teacher`, `student`,
`user`) and requests in every status with their events. UAI (unité administrative
immatriculée): an establishment's national code."""
from flask import current_app

from ..extensions import db
from ..models import EntApplication, EntEstablishment, EntProfile, EntUserProfile, HelpRequest, Organisation, OrganisationKind
from ..rules import ent
from ..security import ENT_REFERENT, ENT_SUPPORT, USER
from .platform import domain, ensure_account, ensure_grant, organisation

SUPPORT_DESK = ("Assistance ENT Auvergne-Rhône-Alpes", "Lyon")
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
    ("referent", ENT_REFERENT, "Nathalie", "Roux", ["Lycée Victor Hugo"], "staff"),
    ("user", USER, "Léa", "Moreau", ["Lycée Victor Hugo"], "parent"),
    ("teacher", USER, "Marc", "Dubois", ["Lycée Victor Hugo", "Collège Jean Moulin"], "teacher"),
    ("student", USER, "Chloé", "Martin", ["Lycée Victor Hugo"], "student"),
    ("referent2", ENT_REFERENT, "Sylvie", "Blanc", ["Collège Jean Moulin"], "staff"),
    ("desk", ENT_SUPPORT, "Olivier", "Chevalier", [SUPPORT_DESK[0]], None),
]
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


def load():
    """Desk C: two establishments with a support desk, the application catalogue,
    the accounts of the issue, and requests in every status with their events."""

    sm = current_app.appbuilder.sm
    name, city = SUPPORT_DESK
    if not db.session.query(Organisation).filter_by(name=name).first():
        db.session.add(Organisation(name=name, kind=OrganisationKind.vendor, city=city,
                                    email=f"contact@{domain(name)}.example"))
    for app_name, description in ENT_APPLICATIONS:
        if not db.session.query(EntApplication).filter_by(name=app_name).first():
            db.session.add(EntApplication(name=app_name, description=description, active=True))
    db.session.commit()
    desk = organisation(name)
    for establishment, uai in ENT_ESTABLISHMENTS:
        org = organisation(establishment)
        if not db.session.query(EntEstablishment).filter_by(organisation_id=org.id).first():
            db.session.add(EntEstablishment(organisation_id=org.id, uai=uai, support_desk_id=desk.id))
    profiles = []
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
    ensure_grant("referent", ENT_REFERENT, "Lycée Victor Hugo")
    yield f"ENT help desk: {len(ENT_REQUESTS)} requests in {len(ENT_ESTABLISHMENTS)} establishments"


