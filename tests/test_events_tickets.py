"""Desk D's QR tickets: a place gets its PDF once reserved with its extra items
validated (else the refusal says what is missing); the PDF's QR code, read back from
the rendered page by a real decoder (zxing-cpp), holds a token signed with the
event's Ed25519 key, which its public key verifies offline; a forged or altered token
does not verify; opposition revokes the token."""
import html
import io
import uuid
from datetime import timedelta

import pypdfium2
import pytest
import zxingcpp
from flask_appbuilder.security.sqla.models import User
from PIL import Image

from app.extensions import db
from app.models import (Association, Event, EventVisibility, ExtraInfo, Reservation, ReservationState, TicketType,
                        utcnow)
from app.platform import passes, signing
from app.rules import events as rules

from app.demo.platform import ensure_account
from app.security import USER

from .helpers import PNG, login, user

BDE = "Bureau des élèves de Centrale Lyon"


def _buyer():
    tag = uuid.uuid4().hex[:6]
    person = User(first_name="Lina", last_name=f"Roux{tag}", username=f"ticket-{tag}",
                  email=f"ticket-{tag}@guichet.example", active=True, password="x")
    db.session.add(person)
    db.session.commit()
    return person


def _event(price="0", item=False):
    """An event on sale now with one open ticket type (and a text item to give)."""
    now = utcnow()
    association = db.session.query(Association).join(Association.organisation).filter_by(name=BDE).one()
    event = rules.create_event(user("eventadmin"), association, name=f"Soirée {uuid.uuid4().hex[:6]}",
                               starts_on=now + timedelta(days=9), ends_on=now + timedelta(days=9, hours=4),
                               sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=8),
                               visibility=EventVisibility.public, place="Amphi Bernard")
    ticket_type = rules.save_ticket_type(user("eventadmin"), event, name="Entrée", kind="open", price=price,
                                         capacity=10)
    rules.save_option(user("eventadmin"), ticket_type, name="Vestiaire", price_change="0")
    info = rules.save_extra_info(user("eventadmin"), ticket_type, label="Taille du t-shirt", kind="size") \
        if item else None
    db.session.commit()
    return event, ticket_type, info


def _codes(pdf_bytes):
    """The QR codes a real decoder reads on each page of the PDF rendered at 150 dpi."""
    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        return [[code.text for code in zxingcpp.read_barcodes(page.render(scale=150 / 72).to_pil())]
                for page in document]
    finally:
        document.close()


def test_a_reserved_place_prints_a_ticket_whose_qr_the_events_key_verifies(app):
    with app.app_context():
        event, ticket_type, _ = _event()
        buyer = _buyer()
        place = rules.book(buyer, event, ticket_type.id, [ticket_type.options[0].id])[0]
        db.session.commit()
        assert place.state is ReservationState.reserved  # price 0: reserved at once

        pdf = rules.ticket_pdf(buyer, place)
        db.session.commit()
        pages = _codes(pdf)
        assert len(pages) == 1 and len(pages[0]) == 1
        token = pages[0][0]
        event = db.session.get(Event, event.id)
        assert signing.verify(event.public_key, token) == (place.id, place.ticket_secret)
        text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
        assert "Lina Roux" in text and "Entrée" in text and "Vestiaire" in text and "Amphi Bernard" in text
        assert f"Place n° {place.id}" in text

        # The same place prints the same token again; another event's key does not verify it.
        assert _codes(rules.ticket_pdf(buyer, place))[0] == [token]
        other, other_type, _ = _event()
        rules.ticket_pdf(buyer, rules.book(buyer, other, other_type.id)[0])
        with pytest.raises(signing.BadToken):
            signing.verify(db.session.get(Event, other.id).public_key, token)


def test_altered_or_forged_tokens_do_not_verify(app):
    with app.app_context():
        event, ticket_type, _ = _event()
        buyer = _buyer()
        place = rules.book(buyer, event, ticket_type.id)[0]
        token = rules.ticket_token(place)
        db.session.commit()
        public_key = db.session.get(Event, event.id).public_key
        payload, signature = token.split(".")
        number, secret, _, _ = signing.read(token)
        another_number = signing._b64((number + 1).to_bytes(6, "big") + bytes.fromhex(secret))
        forged_key, _ = signing.new_key_pair()
        for bad in (f"{another_number}.{signature}", signing.sign(forged_key, place.id, place.ticket_secret),
                    token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), "", "abc", "a.b", token + "x"):
            with pytest.raises(signing.BadToken):
                signing.verify(public_key, bad)


def test_no_ticket_before_payment_and_validated_items_and_the_page_says_what_is_missing(app):
    with app.app_context():
        event, ticket_type, info = _event(price="12", item=True)
        buyer = _buyer()
        place = rules.book(buyer, event, ticket_type.id)[0]
        db.session.commit()
        assert rules.ticket_missing(place) == ["le paiement", "Taille du t-shirt (validée)"]
        with pytest.raises(rules.EventRefused) as refused:
            rules.ticket_pdf(buyer, place)
        assert str(refused.value.message) == "Pas encore de billet : il manque le paiement, Taille du t-shirt (validée)."
        assert place.ticket_secret is None and db.session.get(Event, event.id).signing_key is None

        answer = rules.answer(buyer, place, info, "M")
        rules.validate_answer(user("eventadmin"), answer)
        rules.RESERVATION_WORKFLOW.fire(place, "mark_paid", user("eventadmin"))
        db.session.commit()
        assert rules.ticket_missing(place) == []
        assert _codes(rules.ticket_pdf(buyer, place))[0]


def test_only_the_holder_and_the_events_admins_print_and_opposition_revokes_the_token(app):
    with app.app_context():
        event, ticket_type, _ = _event()
        buyer = _buyer()
        place = rules.book(buyer, event, ticket_type.id)[0]
        db.session.commit()
        with pytest.raises(rules.EventRefused):
            rules.ticket_pdf(user("etudiant2"), place)
        assert _codes(rules.ticket_pdf(user("eventadmin"), place))[0]
        token = rules.ticket_token(place)
        rules.RESERVATION_WORKFLOW.fire(place, "oppose", user("eventadmin"), "Chèque sans provision")
        db.session.commit()
        place = db.session.get(Reservation, place.id)
        number, secret = signing.verify(db.session.get(Event, event.id).public_key, token)
        assert number == place.id and place.ticket_secret != secret  # the signature holds, the secret is gone
        assert rules.ticket_missing(place) == ["la place est en opposition"]


def test_a_template_must_be_a_landscape_image_of_2480_by_1169_pixels(app):
    def image(size, kind="PNG"):
        out = io.BytesIO()
        Image.new("RGB", size, "white").save(out, kind)
        return out.getvalue()

    passes.check_template(image((2480, 1169)))
    passes.check_template(image((2480, 1169), "JPEG"))
    for bad in (image((1169, 2480)), image((2480, 1170)), image((2480, 1169), "GIF"), b"not an image", PNG):
        with pytest.raises(passes.BadTemplate):
            passes.check_template(bad)
    sample = passes.sample_template({"qr": "QR"})
    passes.check_template(sample)
    # A ticket drawn on the sample template still reads.
    token = "A" * 22 + "." + "B" * 86
    assert _codes(passes.draw([{"title": ["T"], "details": ["D"], "reference": "R", "qr": token}], sample)) == [[token]]


def test_my_places_offers_the_ticket_once_printable_and_says_what_is_missing_before(app):
    with app.app_context():
        event, ticket_type, info = _event(price="12", item=True)
        buyer = ensure_account(f"places-{uuid.uuid4().hex[:6]}", USER, "Lina", "Roux", [])
        place = rules.book(buyer, event, ticket_type.id)[0]
        db.session.commit()
        place_id, login_name, info_id = place.id, buyer.username, info.id
    client = app.test_client()
    login(client, login_name)
    page = client.get("/events/places").get_data(as_text=True)
    assert "Billet dès que vous aurez : le paiement, Taille du t-shirt (validée)" in page
    assert f"/events/ticket/{place_id}" not in page
    refused = client.get(f"/events/ticket/{place_id}", follow_redirects=True).get_data(as_text=True)
    assert "Pas encore de billet : il manque le paiement" in refused

    with app.app_context():
        place = db.session.get(Reservation, place_id)
        answer = rules.answer(place.holder, place, db.session.get(ExtraInfo, info_id), "L")
        rules.validate_answer(user("eventadmin"), answer)
        rules.RESERVATION_WORKFLOW.fire(place, "mark_paid", user("eventadmin"))
        db.session.commit()
    assert f"/events/ticket/{place_id}" in client.get("/events/places").get_data(as_text=True)
    response = client.get(f"/events/ticket/{place_id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert len(_codes(response.data)[0]) == 1
    # Someone else's place does not exist for another student.
    other = app.test_client()
    login(other, "etudiant2")
    assert other.get(f"/events/ticket/{place_id}").status_code == 404


def _image(size, colour=(20, 90, 160), kind="PNG"):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, kind)
    return out.getvalue()


def _upload(client, event_id, ticket_type_id, data, name="billet.png"):
    return client.post(f"/events/configure/{event_id}/save/set_template", data={
        "ticket_type": ticket_type_id, "template": (io.BytesIO(data), name)},
        content_type="multipart/form-data", follow_redirects=True)


def _page(response):
    return html.unescape(response.get_data(as_text=True))


def test_a_manager_gives_a_ticket_type_its_template_and_the_ticket_is_drawn_on_it(app):
    """A wrong image is refused naming the field and its size, and nothing is kept; a
    right one is used by the tickets (the artwork shows outside the white zones, the QR
    still reads); back to the default layout on request. The sample is the designers' guide."""
    with app.app_context():
        event, ticket_type, _ = _event()
        buyer = _buyer()
        place = rules.book(buyer, event, ticket_type.id)[0]
        db.session.commit()
        event_id, ticket_type_id, place_id, buyer_id = event.id, ticket_type.id, place.id, buyer.id
    client = app.test_client()
    login(client, "eventadmin")
    tab = client.get(f"/events/configure/{event_id}/tickets").get_data(as_text=True)
    assert "Aucun modèle : les billets suivent la mise en page par défaut." in tab
    sample = client.get("/events/ticket-template-sample")
    assert sample.status_code == 200 and sample.mimetype == "image/png"
    passes.check_template(sample.data)

    page = _page(_upload(client, event_id, ticket_type_id, _image((1169, 2480))))
    assert "Modèle de billet : l'image doit faire 2480 × 1169 pixels (paysage) ; celle-ci fait 1169 × 2480." in page
    page = _page(_upload(client, event_id, ticket_type_id, b"%PDF-1.4 not an image", "billet.pdf"))
    assert "Modèle de billet : une image PNG ou JPEG est attendue." in page
    with app.app_context():
        assert db.session.get(TicketType, ticket_type_id).template_file_id is None

    page = _page(_upload(client, event_id, ticket_type_id, _image((2480, 1169))))
    assert "les billets sont dessinés sur le nouveau modèle" in page
    assert "Les billets sont dessinés sur billet.png." in page
    with app.app_context():
        pdf = rules.ticket_pdf(db.session.get(User, buyer_id), db.session.get(Reservation, place_id))
        db.session.commit()
    picture = pypdfium2.PdfDocument(pdf)[0].render(scale=100 / 72).to_pil().convert("RGB")
    assert picture.getpixel((10, 10)) == (20, 90, 160)  # the artwork, outside the white zones
    assert len(_codes(pdf)[0]) == 1

    client.post(f"/events/configure/{event_id}/save/remove_template", data={"ticket_type": ticket_type_id})
    with app.app_context():
        pdf = rules.ticket_pdf(db.session.get(User, buyer_id), db.session.get(Reservation, place_id))
        assert db.session.get(TicketType, ticket_type_id).template_file_id is None
    assert pypdfium2.PdfDocument(pdf)[0].render(scale=100 / 72).to_pil().convert("RGB").getpixel((10, 10)) \
        == (255, 255, 255)


def test_only_the_event_s_managers_change_its_ticket_template(app):
    with app.app_context():
        event, ticket_type, _ = _event()
        event_id, ticket_type_id = event.id, ticket_type.id
    checker = app.test_client()
    login(checker, "checker")  # no level on this new event: it does not exist for them
    assert _upload(checker, event_id, ticket_type_id, _image((2480, 1169))).status_code == 404
    student = app.test_client()
    login(student, "etudiant")
    assert student.get("/events/ticket-template-sample").status_code in (302, 403)
    with app.app_context():
        assert db.session.get(TicketType, ticket_type_id).template_file_id is None


def test_a_ticket_prints_every_letter_of_a_name():
    """The PDF standard fonts lack Ł, Č, Œ...: the ticket embeds a font that has them."""
    pdf = passes.draw([{"title": ["Soirée"], "details": ["Zoé Łukasiewicz", "Œuvre Čapek"], "reference": "1",
                        "qr": "token"}])
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "Zoé Łukasiewicz" in text and "Œuvre Čapek" in text
