"""Desk E's entitlements: what opens to whom (the screens' gates are tested with each screen)."""
from app.access import operator as access
from app.extensions import db
from app.models import EService, OperatorSubscription, Organisation
from app.security import viewer_for

from .helpers import user


def codes(login):
    return access.entitled_codes(viewer_for(user(login)))


def test_the_admin_is_entitled_to_what_the_operator_subscribes_to_and_users_to_their_ticks(app):
    with app.app_context():
        subscribed = {s.eservice.code for s in db.session.query(OperatorSubscription).join(Organisation)
                      .filter(Organisation.name == "Fibre Rhône Télécom")}
        assert codes("opadmin") == subscribed
        assert codes("opuser") == {"eligibility", "tao", "e-rdv", "e-just-fibre"}
        assert codes("opsav") == {"e-sav-test", "e-sav-signal", "certificates"}
        assert codes("eventadmin") == set()
        assert codes("admin") == {code for (code,) in db.session.query(EService.code)}


def test_a_tick_lapses_when_the_operator_stops_subscribing(app):
    with app.app_context():
        subscription = (db.session.query(OperatorSubscription).join(EService).join(Organisation)
                        .filter(Organisation.name == "Fibre Rhône Télécom", EService.code == "tao").one())
        db.session.delete(subscription)
        db.session.flush()
        try:
            assert "tao" not in codes("opuser") and "tao" not in codes("opadmin")
        finally:
            db.session.rollback()
        assert "tao" in codes("opuser")


def test_the_home_lists_the_catalogue_and_marks_what_is_open(login_as):
    page = login_as("opuser").get("/operator/").get_data(as_text=True)
    assert "Mes e-services" in page and "Avant-vente" in page and "Espace documentaire" in page
    assert page.count("(ouvert pour vous)") == 4
    assert "Mes certificats numériques" in page
    assert login_as("user").get("/operator/").status_code in (302, 403)
