"""Desk C — ENT help and support: the rules (filing, status changes, escalation,
support answers, comments), who is notified of each, bulk changes, the quota
exemption, the screens, and the row scope across every path."""
import csv
import io
import re

import pytest

from app.extensions import db
from app.models import (
    EntEstablishment,
    EntProfile,
    EntUserProfile,
    HelpRequest,
    HelpRequestStatus,
    Notification,
    Organisation,
    StoredFile,
    SupportState,
    WorkflowEvent,
)
from app.platform import files
from app.platform.workflow import TransitionRefused
from app.rules import ent as rules

from .helpers import PNG, member, stored_paths, upload, user

VH, JM = "Lycée Victor Hugo", "Collège Jean Moulin"


def org_id(name):
    return db.session.query(Organisation).filter_by(name=name).one().id


def application_id():
    return rules.active_applications()[0].id


def file_request(app, login, establishment=VH, subject="Mon écran reste blanc", uploads=()):
    """A new request filed by `login` (committed); returns its id."""
    with app.app_context():
        item = rules.create_request(user(login), application_id=application_id(), subject=subject,
                                    description="Depuis ce matin, la page ne se charge plus.",
                                    organisation_id=org_id(establishment), uploads=uploads)
        db.session.commit()
        return item.id


def fire(app, request_id, name, login, comment=""):
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        rules.REQUEST_WORKFLOW.fire(item, name, user(login), comment)
        db.session.commit()


def notified(request_id, template):
    """Logins whose feed received `template` about this request."""
    rows = db.session.query(Notification).filter_by(
        template=template, link=f"/helprequests/show/{request_id}").all()
    return sorted(row.user.username for row in rows)


def counts():
    return (db.session.query(HelpRequest).count(), db.session.query(WorkflowEvent).count(),
            db.session.query(Notification).count())


# ---------------------------------------------------------------------------
# Filing a request
# ---------------------------------------------------------------------------


def test_a_new_request_notifies_the_referents_of_its_establishment_only(app):
    request_id = file_request(app, "teacher", JM)
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        assert item.status is HelpRequestStatus.new and item.requester_profile is EntProfile.teacher
        assert notified(request_id, "ent/request_created") == ["referent2"]
        [event] = rules.events_of(item)
        assert event.transition == "create" and event.actor.username == "teacher"
        assert item.event_count == 1


def test_the_establishment_is_asked_only_of_people_in_several(app):
    with app.app_context():
        before = counts()
        with pytest.raises(rules.RequestRefused, match="^Établissement"):
            rules.create_request(user("teacher"), application_id=application_id(),
                                 subject="Sujet", description="Texte")
        with pytest.raises(rules.RequestRefused, match="^Établissement"):
            rules.create_request(user("student"), application_id=application_id(), subject="Sujet",
                                 description="Texte", organisation_id=org_id(JM))
        db.session.rollback()
        assert counts() == before
        item = rules.create_request(user("student"), application_id=application_id(),
                                    subject="Sans établissement choisi", description="Texte")
        assert item.organisation.name == VH
        db.session.rollback()


@pytest.mark.parametrize("field, values", [
    ("Application", {"application_id": None}),
    ("Objet", {"subject": "  "}),
    ("Objet", {"subject": "x" * 201}),
    ("Description", {"description": ""}),
])
def test_a_refused_request_names_its_field_and_writes_nothing(app, field, values):
    with app.app_context():
        before = counts()
        arguments = {"application_id": application_id(), "subject": "Sujet", "description": "Texte",
                     "organisation_id": org_id(VH), **values}
        with pytest.raises(rules.RequestRefused, match=f"^{field}"):
            rules.create_request(user("teacher"), **arguments)
        db.session.rollback()
        assert counts() == before


def test_the_profile_is_asked_once_then_kept_on_each_request(app):
    with app.app_context():
        newcomer = member("ent_parent", JM)
        arguments = {"application_id": application_id(), "subject": "Connexion", "description": "Texte"}
        with pytest.raises(rules.RequestRefused, match="^Profil"):
            rules.create_request(newcomer, **arguments)
        db.session.rollback()
        item = rules.create_request(newcomer, profile="parent", **arguments)
        db.session.commit()
        assert item.requester_profile is EntProfile.parent
        assert db.session.get(EntUserProfile, newcomer.id).profile is EntProfile.parent
        again = rules.create_request(newcomer, profile="student", **arguments)
        assert again.requester_profile is EntProfile.parent
        db.session.rollback()


# ---------------------------------------------------------------------------
# Status changes
# ---------------------------------------------------------------------------


def test_a_referents_change_notifies_the_requester(app):
    request_id = file_request(app, "student")
    fire(app, request_id, "open", "referent", "Je regarde.")
    with app.app_context():
        assert notified(request_id, "ent/request_changed") == ["student"]
        event = rules.events_of(db.session.get(HelpRequest, request_id))[-1]
        assert (event.from_state, event.to_state, event.comment) == ("new", "open", "Je regarde.")


def test_the_requesters_change_notifies_the_referents(app):
    request_id = file_request(app, "student")
    fire(app, request_id, "close", "student")
    with app.app_context():
        assert notified(request_id, "ent/request_changed") == ["referent"]
        assert db.session.get(HelpRequest, request_id).status is HelpRequestStatus.closed


@pytest.mark.parametrize("login, transition", [
    ("referent2", "open"),  # a referent of another establishment
    ("student", "open"),  # the requester changes no status but close / reopen
    ("teacher", "close"),  # someone else's request
    ("desk", "resolve"),  # the desk, on a request not transmitted to it
])
def test_status_changes_are_refused_to_others_and_change_nothing(app, login, transition):
    request_id = file_request(app, "student")
    with app.app_context():
        before = counts()
        item = db.session.get(HelpRequest, request_id)
        with pytest.raises(TransitionRefused, match="ne vous est pas permise"):
            rules.REQUEST_WORKFLOW.fire(item, transition, user(login))
        db.session.rollback()
        assert counts() == before and db.session.get(HelpRequest, request_id).status is HelpRequestStatus.new


# ---------------------------------------------------------------------------
# Escalation and the support desk
# ---------------------------------------------------------------------------


def test_the_escalation_round_trip(app):
    request_id = file_request(app, "student", subject="Cahier de textes inaccessible")
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        rules.escalate(item, user("referent"), "L'application ne répond plus.")
        db.session.commit()
        assert item.status is HelpRequestStatus.open and item.escalated
        assert item.support_reference == f"SUP-{request_id:06d}"
        assert item.support_desk.name == "Assistance ENT Auvergne-Rhône-Alpes"
        assert item.support_state is SupportState.transmitted
        assert notified(request_id, "ent/request_escalated") == ["desk", "student"]

        rules.support_answer(item, user("desk"), "Le service a été redémarré, réessayez.")
        db.session.commit()
        assert item.support_state is SupportState.answered
        assert notified(request_id, "ent/support_answer") == ["referent", "student"]
        kinds = [event.transition for event in rules.events_of(item)]
        assert kinds == ["create", "escalate", "support_answer"]
        answer = rules.events_of(item)[-1]
        assert answer.actor.username == "desk" and answer.from_state == answer.to_state == "open"

        before = counts()
        with pytest.raises(TransitionRefused, match="SUP-"):
            rules.escalate(item, user("referent"))
        with pytest.raises(rules.RequestRefused, match="^Réponse"):
            rules.support_answer(item, user("agent"), "Je ne suis pas du support ENT.")
        db.session.rollback()
        assert counts() == before


@pytest.mark.parametrize("final", ["resolve", "close"])
def test_escalation_only_from_new_or_open(app, final):
    request_id = file_request(app, "student")
    fire(app, request_id, final, "referent")
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        before = counts()
        with pytest.raises(TransitionRefused, match="est impossible depuis l.état"):
            rules.escalate(item, user("referent"))
        db.session.rollback()
        assert counts() == before and not db.session.get(HelpRequest, request_id).escalated


def test_escalation_needs_a_support_desk_and_the_desk_answers_escalated_requests_only(app):
    request_id = file_request(app, "teacher", JM)
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        with pytest.raises(rules.RequestRefused, match="^Réponse"):
            rules.support_answer(item, user("desk"), "Bonjour")
        settings = db.session.query(EntEstablishment).filter_by(organisation_id=org_id(JM)).one()
        settings.support_desk_id = None
        with pytest.raises(TransitionRefused, match="^Support"):
            rules.escalate(item, user("referent2"))
        db.session.rollback()


def test_comments_go_to_the_other_side(app):
    request_id = file_request(app, "student")
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        rules.add_comment(item, user("referent"), "Pouvez-vous joindre une capture ?")
        rules.add_comment(item, user("student"), "La voici.", upload())
        db.session.commit()
        rows = db.session.query(Notification).filter_by(
            template="ent/request_comment", link=f"/helprequests/show/{request_id}").order_by(Notification.id)
        assert [row.user.username for row in rows] == ["student", "referent"]
        assert rules.events_of(item)[-1].attachment.original_name == "capture.png"
        with pytest.raises(rules.RequestRefused, match="^Commentaire"):
            rules.add_comment(item, user("teacher"), "Je m'invite.")
        db.session.rollback()


# ---------------------------------------------------------------------------
# The attachment quota
# ---------------------------------------------------------------------------


def test_help_request_attachments_are_accepted_when_the_quota_is_full(app, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_USER_QUOTA_BYTES", 1)  # full as soon as one byte is stored
    request_id = file_request(app, "student", uploads=[upload()])
    with app.app_context():
        student = user("student")
        assert files.used_bytes(student.id) > 1
        stored = files.files_of(db.session.get(HelpRequest, request_id))
        assert [f.original_name for f in stored] == ["capture.png"]
        before = db.session.query(StoredFile).count()
        other_owner = db.session.query(Organisation).filter_by(name=VH).one()
        with pytest.raises(files.FileRefused, match="^Pièce jointe.*quota"):
            files.save_upload(upload(), other_owner, student)
        db.session.rollback()
        assert db.session.query(StoredFile).count() == before


# ---------------------------------------------------------------------------
# Screens
# ---------------------------------------------------------------------------


def test_users_land_on_new_request_and_referents_on_the_list(login_as):
    assert login_as("student").get("/helprequests/home").headers["Location"].endswith("/helprequests/new")
    assert login_as("referent").get("/helprequests/home").headers["Location"].endswith("/helprequests/list/")
    assert login_as("desk").get("/helprequests/home").headers["Location"].endswith("/helprequests/list/")


def test_the_form_asks_the_establishment_only_of_people_in_several(login_as):
    assert 'name="establishment"' in login_as("teacher").get("/helprequests/new").get_data(as_text=True)
    page = login_as("student").get("/helprequests/new").get_data(as_text=True)
    assert 'name="establishment"' not in page and 'name="subject"' in page


def test_filing_through_the_form(app, login_as):
    client = login_as("teacher")
    with app.app_context():
        data = {"application": str(application_id()), "establishment": str(org_id(JM)),
                "subject": "Formulaire web", "description": "Déposé depuis le formulaire.",
                "attachments": [(io.BytesIO(PNG), "ecran.png")]}
    response = client.post("/helprequests/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Formulaire web" in page and "ecran.png" in page and "Collège Jean Moulin" in page
    refused = client.post("/helprequests/new", data={**data, "subject": "", "attachments": []},
                          content_type="multipart/form-data")
    assert refused.status_code == 200 and "Objet : un objet est obligatoire." in refused.get_data(as_text=True)


def test_twelve_files_of_a_megabyte_are_refused_naming_the_field_and_none_is_written(app, login_as):
    client = login_as("teacher")
    with app.app_context():
        data = {"application": str(application_id()), "establishment": str(org_id(JM)),
                "subject": "Douze captures", "description": "Voici toutes mes captures d'écran."}
        before, requests = stored_paths(), db.session.query(HelpRequest).count()
    megabyte = PNG + b"\x00" * (1024 * 1024 - len(PNG))
    data["attachments"] = [(io.BytesIO(megabyte), f"capture{n}.png") for n in range(12)]
    response = client.post("/helprequests/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Pièces jointes : 5 fichiers au plus à la fois." in response.get_data(as_text=True)
    with app.app_context():
        assert stored_paths() == before
        assert db.session.query(HelpRequest).count() == requests
    data["attachments"] = [(io.BytesIO(megabyte), f"capture{n}.png") for n in range(5)]
    assert client.post("/helprequests/new", data=data, content_type="multipart/form-data").status_code == 302
    with app.app_context():
        assert len(stored_paths()) == len(before) + 5


def test_a_request_refused_after_its_files_were_written_leaves_none_on_disk(app, login_as):
    """The first two files are stored, the third is refused (its type): the request is
    not filed and the two files written before are deleted."""
    client = login_as("teacher")
    with app.app_context():
        data = {"application": str(application_id()), "establishment": str(org_id(JM)),
                "subject": "Trois fichiers", "description": "Deux captures et un programme."}
        before, requests = stored_paths(), db.session.query(HelpRequest).count()
    data["attachments"] = [(io.BytesIO(PNG), "ecran1.png"), (io.BytesIO(PNG), "ecran2.png"),
                           (io.BytesIO(b"\x7fELF\x02\x01\x01" + b"\x00" * 64), "outil.exe")]
    response = client.post("/helprequests/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Pièces jointes : ce type de fichier" in response.get_data(as_text=True)
    with app.app_context():
        assert stored_paths() == before
        assert db.session.query(HelpRequest).count() == requests


def _filter_arg(app, column, filter_name):
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "HelpRequestView")
    return view._filter_arg(column, getattr(__import__("app.views.ent", fromlist=[filter_name]), filter_name))


def _listed_ids(html):
    return {int(key) for key in re.findall(r'/helprequests/show/(\d+)"', html)}


def test_the_referents_list_filters_statuses_combined_and_created_by_me(app, login_as):
    new_id = file_request(app, "student", subject="Filtre nouveau")
    resolved_id = file_request(app, "student", subject="Filtre résolu")
    fire(app, resolved_id, "resolve", "referent")
    mine_id = file_request(app, "referent", subject="Créée par la référente")
    status_arg = _filter_arg(app, "status", "StatusIsOneOf")
    mine_arg = _filter_arg(app, "requester", "CreatedByMe")
    client = login_as("referent")
    both = client.get(f"/helprequests/list/?{status_arg}=new&{status_arg}=resolved&psize_HelpRequestView=500")
    listed = _listed_ids(both.get_data(as_text=True))
    assert {new_id, resolved_id, mine_id} <= listed
    with app.app_context():
        statuses = {str(s.status.value) for s in db.session.query(HelpRequest).filter(HelpRequest.id.in_(listed))}
    assert statuses == {"new", "resolved"}
    only_resolved = _listed_ids(client.get(f"/helprequests/list/?{status_arg}=resolved&psize_HelpRequestView=500")
                                .get_data(as_text=True))
    assert resolved_id in only_resolved and new_id not in only_resolved
    mine = _listed_ids(client.get(f"/helprequests/list/?{mine_arg}=1").get_data(as_text=True))
    assert mine == {mine_id}
    export = client.get(f"/helprequests/export/csv?{mine_arg}=1").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(export.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 2 and rows[1][0] == str(mine_id) and "Créée par la référente" in rows[1][1]


def test_the_list_shows_profile_event_count_summary_and_a_link_to_the_requester(app, login_as):
    request_id = file_request(app, "teacher", subject="Colonnes de la liste")
    fire(app, request_id, "open", "referent")
    with app.app_context():
        teacher_id = user("teacher").id
    html = login_as("referent").get("/helprequests/list/?psize_HelpRequestView=500").get_data(as_text=True)
    row = html[html.index(f'/helprequests/show/{request_id}"'):]
    row = row[:row.index("</tr>")]
    assert "<strong>Colonnes de la liste</strong>" in row and "la page ne se charge plus" in row
    assert f'href="/helprequests/requester/{teacher_id}">Marc Dubois</a>' in row
    assert "Enseignant" in row and "<td>2</td>" in row
    profile = login_as("referent").get(f"/helprequests/requester/{teacher_id}").get_data(as_text=True)
    assert "Marc Dubois" in profile and "Colonnes de la liste" in profile


def test_the_events_column_counts_every_event_of_the_history(app, login_as):
    request_id = file_request(app, "teacher", subject="Compteur d'événements")
    fire(app, request_id, "open", "referent")
    with app.app_context():
        rules.add_comment(db.session.get(HelpRequest, request_id), user("teacher"), "Toujours en panne")
        db.session.commit()
    login_as("referent").post("/helprequests/action_post", data={"action": "resolve", "rowid": [str(request_id)]})
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        assert item.status is HelpRequestStatus.resolved
        assert item.event_count == len(rules.events_of(item)) == 4


def test_bulk_status_change_records_each_request(app, login_as):
    first, second = file_request(app, "student", subject="Lot 1"), file_request(app, "teacher", subject="Lot 2")
    closed = file_request(app, "student", subject="Lot déjà fermé")
    fire(app, closed, "close", "referent")
    response = login_as("referent").post("/helprequests/action_post", data={
        "action": "resolve", "rowid": [str(first), str(second), str(closed)]})
    assert response.status_code == 302
    with app.app_context():
        for key in (first, second):
            item = db.session.get(HelpRequest, key)
            assert item.status is HelpRequestStatus.resolved
            last = rules.events_of(item)[-1]
            assert (last.transition, last.actor.username) == ("resolve", "referent")
        assert db.session.get(HelpRequest, closed).status is HelpRequestStatus.closed
        assert notified(first, "ent/request_changed")[-1:] == ["student"]
        assert notified(second, "ent/request_changed") == ["teacher"]


def test_the_desk_answers_from_the_request_page(app, login_as):
    request_id = file_request(app, "teacher", JM, subject="Page du support")
    fire(app, request_id, "escalate", "referent2")
    desk = login_as("desk")
    page = desk.get(f"/helprequests/show/{request_id}").get_data(as_text=True)
    assert 'id="request-reply"' in page and "Répondre au nom du support" in page
    assert f"SUP-{request_id:06d}" in page
    desk.post(f"/helprequests/reply/{request_id}", data={"comment": "Synchronisation relancée."})
    teacher_page = login_as("teacher").get(f"/helprequests/show/{request_id}").get_data(as_text=True)
    assert "Synchronisation relancée." in teacher_page and "Réponse du support" in teacher_page


# ---------------------------------------------------------------------------
# Row scope
# ---------------------------------------------------------------------------


def test_referent2_reaches_nothing_of_the_other_establishment(app, login_as):
    request_id = file_request(app, "student", VH, subject="Confidentiel Victor Hugo", uploads=[upload()])
    with app.app_context():
        file_id = files.files_of(db.session.get(HelpRequest, request_id))[0].id
        student_id = user("student").id
        vh_ids = {r.id for r in db.session.query(HelpRequest).filter_by(organisation_id=org_id(VH))}
    client = login_as("referent2")
    listed = _listed_ids(client.get("/helprequests/list/?psize_HelpRequestView=500").get_data(as_text=True))
    assert listed and not listed & vh_ids
    for path in (f"/helprequests/show/{request_id}", f"/api/v1/helprequest/{request_id}",
                 f"/files/{file_id}", f"/helprequests/requester/{student_id}"):
        assert client.get(path).status_code == 404, path
    with app.app_context():
        before = counts()
    for path, data in ((f"/helprequests/reply/{request_id}", {"comment": "Intrusion"}),
                       (f"/helprequests/transition/{request_id}/resolve", {}),
                       (f"/helprequests/action/resolve/{request_id}", {}),
                       ("/helprequests/action_post", {"action": "escalate", "rowid": [str(request_id)]})):
        assert client.post(path, data=data).status_code == 404, path
    with app.app_context():
        assert counts() == before and db.session.get(HelpRequest, request_id).status is HelpRequestStatus.new
    api_ids = set(client.get("/api/v1/helprequest/?q=(page_size:100)").json["ids"])
    assert api_ids and not api_ids & vh_ids
    export = client.get("/helprequests/export/csv").get_data(as_text=True)
    assert "Confidentiel Victor Hugo" not in export and "Victor Hugo" not in export


def test_users_see_their_own_requests_and_the_desk_escalated_ones(app, login_as):
    escalated = file_request(app, "teacher", JM, subject="Transmise au support")
    fire(app, escalated, "escalate", "referent2")
    kept = file_request(app, "teacher", JM, subject="Gardée par la référente")
    with app.app_context():
        student_id, teacher_id = user("student").id, user("teacher").id
        own = {r.id for r in db.session.query(HelpRequest).filter_by(requester_id=student_id)}
        escalated_ids = {r.id for r in db.session.query(HelpRequest).filter(HelpRequest.escalated_on.isnot(None))}
    student = login_as("student")
    assert _listed_ids(student.get("/helprequests/list/?psize_HelpRequestView=500").get_data(as_text=True)) == own
    assert student.get(f"/helprequests/show/{kept}").status_code == 404
    assert student.get(f"/helprequests/requester/{teacher_id}").status_code == 404
    desk = login_as("desk")
    assert _listed_ids(desk.get("/helprequests/list/?psize_HelpRequestView=500").get_data(as_text=True)) == escalated_ids
    assert desk.get(f"/helprequests/show/{kept}").status_code == 404
    # A vendor's support agent works tickets, not help requests: refused by the permission.
    assert login_as("agent").get(f"/helprequests/show/{escalated}").status_code == 403


# ---------------------------------------------------------------------------
# The request page's one reply box (a message and/or a status change)
# ---------------------------------------------------------------------------


def test_the_request_page_has_one_reply_box_with_a_status_selector(app, login_as):
    request_id = file_request(app, "student", VH, subject="Une seule boîte")
    page = login_as("referent").get(f"/helprequests/show/{request_id}").get_data(as_text=True)
    assert page.count("<textarea") == 1 and page.count("<form") - page.count('class="guichet-transition"') >= 1
    assert 'id="reply-then"' in page and "Conserver « Nouveau »" in page
    for label in ("Ouvrir", "Marquer résolue", "Fermer"):
        assert f">{label}</option>" in page
    assert "Transmettre la demande au support" in page  # the referents' own button
    student_page = login_as("student").get(f"/helprequests/show/{request_id}").get_data(as_text=True)
    assert student_page.count("<textarea") == 1 and ">Fermer</option>" in student_page
    assert ">Ouvrir</option>" not in student_page


def test_a_reply_with_a_status_is_one_event_and_a_status_alone_needs_no_message(app, login_as):
    request_id = file_request(app, "student", VH, subject="Réponse et statut")
    referent = login_as("referent")
    referent.post(f"/helprequests/reply/{request_id}", data={"comment": "Je regarde.", "then": "open"})
    referent.post(f"/helprequests/reply/{request_id}", data={"comment": "", "then": "resolve"})
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        assert item.status is HelpRequestStatus.resolved
        events = [(e.transition, e.comment) for e in rules.events_of(item)][1:]
        assert events == [("open", "Je regarde."), ("resolve", None)]
        assert notified(request_id, "ent/request_changed") == ["student", "student"]


def test_a_refused_reply_names_the_field_and_changes_nothing(app, login_as):
    request_id = file_request(app, "student", VH, subject="Réponse refusée")
    with app.app_context():
        before = counts()
    student = login_as("student")
    page = student.post(f"/helprequests/reply/{request_id}", data={"comment": "Et alors ?", "then": "open"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Statut :" in page
    page = student.post(f"/helprequests/reply/{request_id}", data={"comment": "  "},
                        follow_redirects=True).get_data(as_text=True)
    assert "Commentaire : un texte est obligatoire." in page
    page = student.post(f"/helprequests/reply/{request_id}", data={"then": "nowhere"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Statut :" in page
    with app.app_context():
        assert counts() == before
        assert db.session.get(HelpRequest, request_id).status is HelpRequestStatus.new


def test_the_support_sides_changes_show_on_the_referents_page(app, login_as):
    request_id = file_request(app, "teacher", VH, subject="Suivi du support")
    fire(app, request_id, "escalate", "referent")
    desk = login_as("desk")
    desk.post(f"/helprequests/reply/{request_id}", data={"comment": "Corrigé de notre côté.", "then": "resolve"})
    page = login_as("referent").get(f"/helprequests/show/{request_id}").get_data(as_text=True)
    assert "Résolue par le support" in page and "Corrigé de notre côté." in page
    with app.app_context():
        item = db.session.get(HelpRequest, request_id)
        assert item.status is HelpRequestStatus.resolved
        assert "referent" in notified(request_id, "ent/request_changed")
        assert "referent" in notified(request_id, "ent/support_answer")
