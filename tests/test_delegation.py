"""Delegation: one grants only roles one holds, only inside one's organisation;
every grant and revoke is logged; a refused grant changes nothing."""
import pytest

from app.extensions import db
from app.models import DelegationLog, Organisation, RoleGrant
from app.platform import delegation

from .helpers import login, member, user

FIBRE = "Fibre Rhône Télécom"
ALPES = "Alpes Connect"


def _org(name):
    return db.session.query(Organisation).filter_by(name=name).one()


def _state():
    return (db.session.query(RoleGrant).count(), db.session.query(DelegationLog).count())


def _role_names(user):
    db.session.refresh(user)
    return sorted(r.name for r in user.roles)


def test_grant_and_revoke_are_applied_and_logged(app):
    with app.app_context():
        sm = app.appbuilder.sm
        opadmin, colleague = user("opadmin"), member("fibre.tech", FIBRE)
        grant = delegation.grant_role(opadmin, RoleGrant(grantee=colleague, role=sm.find_role("OperatorAdmin"),
                                                         organisation=_org(FIBRE)))
        db.session.commit()
        assert _role_names(colleague) == ["OperatorAdmin", "User"]
        entry = db.session.query(DelegationLog).order_by(DelegationLog.id.desc()).first()
        assert (entry.actor_id, entry.grantee_id, entry.right, str(entry.action.value)) == (
            opadmin.id, colleague.id, "OperatorAdmin", "grant")
        assert entry.organisation_id == _org(FIBRE).id and entry.happened_on is not None

        delegation.revoke_role(opadmin, grant)
        db.session.commit()
        assert _role_names(colleague) == ["User"]
        assert grant.revoked_by_id == opadmin.id and grant.revoked_on is not None
        entry = db.session.query(DelegationLog).order_by(DelegationLog.id.desc()).first()
        assert (entry.right, str(entry.action.value), entry.grantee_id) == ("OperatorAdmin", "revoke", colleague.id)


@pytest.mark.parametrize("grantor, role, organisation, grantee_org, field", [
    ("opadmin", "VNOC", FIBRE, FIBRE, "Role"),               # a role the grantor does not hold
    ("opadmin", "Admin", FIBRE, FIBRE, "Role"),              # never Admin
    ("opadmin", "OperatorAdmin", ALPES, ALPES, "Organisation"),  # outside the grantor's organisation
    ("opadmin", "OperatorAdmin", FIBRE, ALPES, "Person"),    # the person is not a member there
    ("creator", "Booker", "Rectorat de l'académie de Lyon", "Rectorat de l'académie de Lyon", None),  # may not delegate
])
def test_a_grant_beyond_ones_rights_is_refused_and_changes_nothing(app, grantor, role, organisation, grantee_org, field):
    with app.app_context():
        sm = app.appbuilder.sm
        grantee = member(f"grantee.{grantee_org[:5].lower().replace(' ', '')}", grantee_org)
        before, roles_before = _state(), _role_names(grantee)
        with pytest.raises(delegation.DelegationRefused) as refusal:
            delegation.grant_role(user(grantor),
                                  RoleGrant(grantee=grantee, role=sm.find_role(role), organisation=_org(organisation)))
        db.session.rollback()
        assert _state() == before and _role_names(grantee) == roles_before
        if field:
            assert str(refusal.value).startswith(("Rôle", "Organisation", "Personne", field))


def test_the_form_offers_only_held_roles_and_refuses_a_forged_one(app):
    with app.app_context():
        colleague = member("fibre.support", FIBRE)
        ids = {"grantee": colleague.id, "organisation": _org(FIBRE).id,
               "vnoc": app.appbuilder.sm.find_role("VNOC").id}
        before = _state()
    client = login(app.test_client(), "opadmin")
    form = client.get("/delegations/add").get_data(as_text=True)
    assert ">Administrateur opérateur<" in form and "VNOC" not in form and ">Administrateur<" not in form
    client.post("/delegations/add", data={"grantee": ids["grantee"], "role": ids["vnoc"],
                                          "organisation": ids["organisation"]})
    with app.app_context():
        assert _state() == before
        assert _role_names(user("fibre.support")) == ["User"]


def test_the_log_grid_shows_only_ones_organisation(app):
    client = login(app.test_client(), "opadmin")
    page = client.get("/delegation-log/list/").get_data(as_text=True)
    assert FIBRE in page
    assert "Lycée Victor Hugo" not in page  # the referent's grant, in another organisation
    # Every row on one page: the other tests' grants (desk D's events) come first in the log.
    admin = login(app.test_client(), "admin")
    admin_page = admin.get("/delegation-log/list/?psize_DelegationLogView=1000").get_data(as_text=True)
    assert "Lycée Victor Hugo" in admin_page and FIBRE in admin_page
