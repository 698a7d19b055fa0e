"""One refusal type: every rule's refusal is a `Refused(field, message)`, and one view
helper (`Attempt`) commits, or rolls back and tells the person on the field or in a flash."""
import pytest
from flask import get_flashed_messages
from wtforms import Form, StringField

from app.extensions import db
from app.models import Organisation, OrganisationKind
from app.platform.accounts import AccountRefused, TokenExpired
from app.platform.delegation import DelegationRefused
from app.platform.files import FileRefused
from app.platform.refusals import Refused
from app.platform.workflow import TransitionRefused
from app.rules.booking import BookingRefused, Problem
from app.rules.ent import RequestRefused
from app.rules.tickets import TicketRefused
from app.views.base import Attempt


@pytest.mark.parametrize("kind", [TransitionRefused, FileRefused, DelegationRefused, AccountRefused,
                                  TicketRefused, RequestRefused])
def test_every_rule_refuses_with_a_field_and_a_message(kind):
    refusal = kind("title", "Sujet : ce champ est obligatoire.")
    assert isinstance(refusal, Refused)
    assert (refusal.field, str(refusal)) == ("title", "Sujet : ce champ est obligatoire.")


def test_a_booking_refusal_lists_its_problems_and_names_the_first_field(app):
    with app.test_request_context():
        refusal = BookingRefused([Problem("rooms", "choisissez au moins une salle."),
                                  Problem("end", "la fin doit suivre le début.")])
        assert isinstance(refusal, Refused) and refusal.field == "rooms"
        assert refusal.fields == {"rooms", "end"}
        assert "Salles" in str(refusal) and "Fin" in str(refusal)
        assert isinstance(TokenExpired(), Refused) and TokenExpired().field is None


class TicketForm(Form):
    title = StringField("Sujet")


def _organisations(name):
    return db.session.query(Organisation).filter_by(name=name).count()


def test_a_refusal_rolls_back_and_lands_on_the_field_it_names(app):
    with app.test_request_context():
        form = TicketForm()
        with Attempt(done="Enregistré.", form=form) as attempt:
            db.session.add(Organisation(name="Écrite puis refusée", kind=OrganisationKind.client))
            db.session.flush()
            raise TicketRefused("title", "Sujet : ce champ est obligatoire.")
        assert isinstance(attempt.refused, TicketRefused)
        assert _organisations("Écrite puis refusée") == 0
        assert form.title.errors == ["Sujet : ce champ est obligatoire."]
        assert get_flashed_messages() == []


def test_a_refusal_without_its_field_on_a_form_is_flashed(app):
    with app.test_request_context():
        with Attempt(done="Enregistré.") as attempt:
            db.session.add(Organisation(name="Refusée aussi", kind=OrganisationKind.client))
            raise RequestRefused(None, "Vous ne pouvez pas commenter cette demande.")
        assert attempt.refused is not None and _organisations("Refusée aussi") == 0
        assert get_flashed_messages(with_categories=True) == [
            ("danger", "Vous ne pouvez pas commenter cette demande.")]


def test_without_a_refusal_the_writes_are_committed_and_done_is_flashed(app):
    with app.test_request_context():
        with Attempt(done="Organisation créée.") as attempt:
            db.session.add(Organisation(name="Acceptée", kind=OrganisationKind.client))
        assert attempt.refused is None
        db.session.expire_all()
        assert _organisations("Acceptée") == 1
        assert get_flashed_messages(with_categories=True) == [("success", "Organisation créée.")]
        db.session.query(Organisation).filter_by(name="Acceptée").delete()
        db.session.commit()


def test_other_errors_are_not_swallowed(app):
    with app.test_request_context(), pytest.raises(ZeroDivisionError):
        with Attempt():
            1 / 0
