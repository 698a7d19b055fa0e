"""The workflow engine: legal and illegal transitions, who may fire, guards,
history, bulk grid actions (each row on its own) and the detail-page timeline.

A test-only model (`Gadget`, outside the product's metadata) carries a small
workflow, registered through a second app built by `create_app(register_more=...)`.
"""
import html
import io
import re

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import declarative_base

from app import cli, create_app
from app.extensions import db
from app.models import LABELS, LabelledEnum, Organisation, WorkflowEvent, state_column
from app.platform.workflow import Transition, TransitionRefused, Workflow
from app.security import ScopedInterface, by_organisation, scope
from app.views.base import WorkflowModelView

from .helpers import login, user

GadgetBase = declarative_base()


class GadgetState(str, LabelledEnum):
    """The gadget's states; a str too, so that tests compare them with their codes."""

    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    closed = "closed"


LABELS[GadgetState] = {GadgetState.draft: _l("Draft"), GadgetState.submitted: "Soumis",
                       GadgetState.approved: "Approuvé", GadgetState.rejected: "Refusé",
                       GadgetState.closed: "Clos"}


class Gadget(GadgetBase):
    __tablename__ = "test_gadget"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)
    state = state_column(GadgetState, "gadget_state", default=GadgetState.draft)
    owner_id = Column(Integer)
    organisation_id = Column(Integer, ForeignKey(Organisation.id), nullable=False)

    def __str__(self):
        return self.name


scope(Gadget, by_organisation(Gadget.organisation_id))


def name_is_long_enough(item, user, comment):
    return None if len(item.name) >= 3 else "Nom : au moins 3 caractères."


GADGET_FLOW = Workflow(
    Gadget,
    states=GadgetState,
    transitions=[
        Transition("submit", "Soumettre", sources=(GadgetState.draft,), target=GadgetState.submitted,
                   roles=("Booker",)),
        Transition("approve", "Approuver", sources=(GadgetState.submitted,), target=GadgetState.approved,
                   roles=("VNOC",), guards=(name_is_long_enough,)),
        Transition("reject", "Refuser", sources=(GadgetState.submitted,), target=GadgetState.rejected,
                   roles=("VNOC",), comment_required=True),
        Transition("close", "Clore", sources=(GadgetState.approved, GadgetState.rejected),
                   target=GadgetState.closed, allowed=lambda user, item: user.id == item.owner_id),
    ],
    final_states=(GadgetState.closed,),
)


class GadgetView(WorkflowModelView):
    datamodel = ScopedInterface(Gadget)
    route_base = "/gadgets"
    workflow = GADGET_FLOW
    list_columns = ["name", "state"]
    show_columns = ["name", "state"]
    search_columns = ["name", "state"]


@pytest.fixture(scope="module")
def gadget_app(app):
    """A second app on the same database, with the gadget grid; Booker and VNOC
    get its permissions for the module, and lose them afterwards."""
    with app.app_context():
        GadgetBase.metadata.create_all(db.engine)
    second = create_app(dict(app.config), register_more=lambda ab: ab.add_view(GadgetView, "Gadgets"))
    with second.app_context():
        cli.sync_roles()
        sm = second.appbuilder.sm
        for role_name in ("Booker", "VNOC"):
            role = sm.find_role(role_name)
            role.permissions += [pv for pv in sm.find_permissions_view_menu(sm.find_view_menu("GadgetView"))]
        sm.session.commit()
    yield second
    with app.app_context():
        cli.sync_roles()
        GadgetBase.metadata.drop_all(db.engine)


def new_gadget(name="Écran", state="draft", owner="creator", organisation="Rectorat de l'académie de Lyon"):
    org = db.session.query(Organisation).filter_by(name=organisation).one()
    owner_id = user(owner).id
    gadget = Gadget(name=name, state=GadgetState(state), owner_id=owner_id, organisation_id=org.id)
    db.session.add(gadget)
    db.session.commit()
    return gadget


def events(gadget):
    return db.session.query(WorkflowEvent).filter_by(object_type="test_gadget", object_id=gadget.id).count()


def test_a_legal_transition_changes_the_state_and_writes_history(gadget_app):
    with gadget_app.app_context():
        gadget = new_gadget()
        event = GADGET_FLOW.fire(gadget, "submit", user("creator"), comment="Prêt pour revue")
        db.session.commit()
        assert gadget.state == "submitted"
        assert (event.from_state, event.to_state, event.transition) == ("draft", "submitted", "submit")
        assert event.actor_id == user("creator").id and event.comment == "Prêt pour revue"
        assert event.happened_on is not None
        assert [e.to_state for e in GADGET_FLOW.history(gadget)] == ["submitted"]


@pytest.mark.parametrize("state, name, login_name, comment, message", [
    ("draft", "approve", "vnoc", "", "Soumis"),              # not from this state… message names the state
    ("submitted", "approve", "creator", "", "Approuver"),    # a Booker may not approve
    ("submitted", "reject", "vnoc", "  ", "Comment"),        # a reason is required
    ("closed", "submit", "creator", "", "Clos"),             # closed is final
    ("approved", "close", "vnoc", "", "Clore"),              # only the owner closes
])
def test_an_illegal_transition_is_refused_and_changes_nothing(gadget_app, state, name, login_name, comment, message):
    with gadget_app.test_request_context():
        gadget = new_gadget(state=state)
        with pytest.raises(TransitionRefused) as refusal:
            GADGET_FLOW.fire(gadget, name, user(login_name), comment)
        db.session.rollback()
        db.session.refresh(gadget)
        assert gadget.state == state
        assert events(gadget) == 0
        text = str(refusal.value)
        assert text and (message in text or "commentaire" in text.lower() or "état" in text.lower())


def test_a_guard_refuses_with_its_message(gadget_app):
    with gadget_app.app_context():
        gadget = new_gadget(name="TV", state="submitted")
        with pytest.raises(TransitionRefused, match="Nom : au moins 3 caractères"):
            GADGET_FLOW.fire(gadget, "approve", user("vnoc"))
        assert gadget.state == "submitted"


def test_who_else_may_fire_is_checked_per_row(gadget_app):
    with gadget_app.app_context():
        mine = new_gadget(state="approved", owner="creator")
        GADGET_FLOW.fire(mine, "close", user("creator"))
        db.session.commit()
        assert mine.state == "closed"
        assert [t.name for t in GADGET_FLOW.available(new_gadget(state="approved", owner="vnoc"),
                                                      user("creator"))] == []


def test_bulk_fires_each_row_on_its_own(gadget_app):
    with gadget_app.app_context():
        good1, good2 = new_gadget("Caméra", "submitted"), new_gadget("Micro", "submitted")
        bad_state, bad_guard = new_gadget("Enceinte", "draft"), new_gadget("PC", "submitted")
        fired, refused = GADGET_FLOW.fire_many([good1, bad_state, good2, bad_guard], "approve", user("vnoc"))
        assert fired == [good1, good2]
        assert [item for item, _ in refused] == [bad_state, bad_guard]
        for gadget, state, count in [(good1, "approved", 1), (good2, "approved", 1),
                                     (bad_state, "draft", 0), (bad_guard, "submitted", 0)]:
            db.session.refresh(gadget)
            assert (gadget.state, events(gadget)) == (state, count)


def test_grid_bulk_action_records_each_row_and_reports_refusals(gadget_app):
    with gadget_app.app_context():
        ids = [new_gadget(n, s).id for n, s in [("Casque", "submitted"), ("Dalle", "submitted"), ("Hub", "draft")]]
    client = login(gadget_app.test_client(), "vnoc")
    response = client.post("/gadgets/action_post", data={"action": "approve", "rowid": ids},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hub" in page  # the refused row is named in the message
    with gadget_app.app_context():
        states = [db.session.get(Gadget, i).state for i in ids]
        assert states == ["approved", "approved", "draft"]
        assert [events(db.session.get(Gadget, i)) for i in ids] == [1, 1, 0]


def test_bulk_action_on_a_row_of_another_organisation_changes_nothing(gadget_app):
    with gadget_app.app_context():
        mine = new_gadget("Projecteur", "submitted").id
        theirs = new_gadget("Tableau", "submitted", organisation="Lycée Victor Hugo").id
    client = login(gadget_app.test_client(), "vnoc")
    response = client.post("/gadgets/action_post", data={"action": "approve", "rowid": [mine, theirs]})
    assert response.status_code == 404
    with gadget_app.app_context():
        assert db.session.get(Gadget, mine).state == "submitted"
        assert db.session.get(Gadget, theirs).state == "submitted"


def test_detail_page_fires_with_comment_and_attachment_and_shows_the_timeline(gadget_app):
    with gadget_app.app_context():
        gadget_id = new_gadget("Visionneuse", "submitted").id
    client = login(gadget_app.test_client(), "vnoc")
    page = client.get(f"/gadgets/show/{gadget_id}").get_data(as_text=True)
    assert f"/gadgets/transition/{gadget_id}/reject" in page and f"/gadgets/transition/{gadget_id}/approve" in page
    refused = client.post(f"/gadgets/transition/{gadget_id}/reject", data={"comment": ""}, follow_redirects=True)
    assert "Comment" in refused.get_data(as_text=True) or "ommentaire" in refused.get_data(as_text=True)
    response = client.post(
        f"/gadgets/transition/{gadget_id}/reject",
        data={"comment": "Modèle non référencé", "attachment": (io.BytesIO(b"%PDF-1.4 devis"), "devis.pdf")},
        content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Modèle non référencé" in page and "devis.pdf" in page
    with gadget_app.app_context():
        gadget = db.session.get(Gadget, gadget_id)
        (event,) = GADGET_FLOW.history(gadget)
        assert (gadget.state, event.to_state, event.comment) == ("rejected", "rejected", "Modèle non référencé")
        assert event.attachment.original_name == "devis.pdf"
        file_id = event.attachment_id
    assert client.get(f"/files/{file_id}").data == b"%PDF-1.4 devis"
    assert login(gadget_app.test_client(), "user").get(f"/files/{file_id}").status_code == 404


def _offered(page, gadget_id):
    """The transitions a detail page offers: its buttons and FAB's action links."""
    return sorted(set(re.findall(rf"/gadgets/(?:transition/{gadget_id}|action)/(\w+)", page)))


def test_a_detail_page_offers_only_what_can_fire_for_this_person_or_says_why(gadget_app):
    with gadget_app.app_context():
        submitted = new_gadget("Caméra", "submitted").id
        closed = new_gadget("Micro", "closed").id
    vnoc, booker = login(gadget_app.test_client(), "vnoc"), login(gadget_app.test_client(), "creator")
    assert _offered(vnoc.get(f"/gadgets/show/{submitted}").get_data(as_text=True), submitted) == \
        ["approve", "reject"]
    page = html.unescape(booker.get(f"/gadgets/show/{submitted}").get_data(as_text=True))
    assert _offered(page, submitted) == []
    assert "Aucune action pour vous : ce qui peut arriver depuis « Soumis » revient à d'autres personnes." in page
    page = vnoc.get(f"/gadgets/show/{closed}").get_data(as_text=True)
    assert _offered(page, closed) == []
    assert "Aucune action : « Clos » est un état final, plus rien ne peut changer." in page


def test_a_grid_offers_bulk_only_the_transitions_possible_from_its_rows(gadget_app):
    with gadget_app.app_context():
        new_gadget("Écran clos", "closed")
        new_gadget("Écran soumis", "submitted")
    vnoc = login(gadget_app.test_client(), "vnoc")
    def bulk_actions(query):
        return sorted(set(re.findall(r'class="(\w+)_menu_item"', vnoc.get(f"/gadgets/list/?{query}").get_data(
            as_text=True))))

    assert bulk_actions("_flt_0_state=closed") == []
    assert bulk_actions("_flt_0_state=submitted") == ["approve", "reject"]


def test_after_a_transition_the_person_stays_where_they_were(gadget_app):
    with gadget_app.app_context():
        gadget_id = new_gadget("Enceinte", "submitted").id
    response = login(gadget_app.test_client(), "vnoc").post(
        f"/gadgets/transition/{gadget_id}/approve", data={"next": "/gadgets/list/?_flt_0_state=submitted"})
    assert response.headers["Location"].endswith("/gadgets/list/?_flt_0_state=submitted")
    with gadget_app.app_context():
        other = new_gadget("Caisson", "submitted").id
    response = login(gadget_app.test_client(), "vnoc").post(
        f"/gadgets/transition/{other}/approve", data={"next": "//evil.example/"})
    assert response.headers["Location"].endswith(f"/gadgets/show/{other}")


# ---------------------------------------------------------------------------
# Races: the engine re-reads the row under a lock and compares-and-sets the state
# (the concurrent HTTP tests are in test_races.py)
# ---------------------------------------------------------------------------


def _local_clock(moment):
    """A history row's time (UTC) as people read it (TIMEZONE, HH:MM)."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from config import Config

    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(Config.TIMEZONE)).strftime("%H:%M")


def test_a_row_changed_since_it_was_read_is_re_read_and_the_loser_told_who_did_what(gadget_app):
    with gadget_app.test_request_context():
        gadget_id = new_gadget("Caméra 4K", "submitted").id
        stale = db.session.get(Gadget, gadget_id)
        assert stale.state == "submitted"  # what this request read
        with gadget_app.app_context():  # meanwhile, someone else approves and commits
            GADGET_FLOW.fire(db.session.get(Gadget, gadget_id), "approve", user("vnoc"))
            db.session.commit()
        with pytest.raises(TransitionRefused) as refusal:
            GADGET_FLOW.fire(stale, "reject", user("admin"), "Trop cher")
        db.session.rollback()
        (event,) = GADGET_FLOW.history(stale)
        assert (stale.state, event.transition) == ("approved", "approve")
        message = str(refusal.value)
        assert "Julien Mercier" in message and _local_clock(event.happened_on) in message, message


def test_move_changes_the_state_only_if_it_is_still_what_was_read(gadget_app):
    """The compare-and-set itself, without the lock: a stale state changes nothing."""
    with gadget_app.test_request_context():
        gadget_id = new_gadget("Dalle tactile", "submitted").id
        stale = db.session.get(Gadget, gadget_id)
        assert stale.state == "submitted"
        with gadget_app.app_context():
            GADGET_FLOW.fire(db.session.get(Gadget, gadget_id), "reject", user("vnoc"), "Hors budget")
            db.session.commit()
        with pytest.raises(TransitionRefused) as refusal:
            GADGET_FLOW.move(stale, "approve", user("vnoc"), GadgetState.approved)
        db.session.rollback()
        assert db.session.get(Gadget, gadget_id).state == "rejected" and events(stale) == 1
        assert "Julien Mercier" in str(refusal.value)
