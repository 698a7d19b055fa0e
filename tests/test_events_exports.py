"""Desk D's exports of an event's places, written by the platform's export job and
read back: the door's short list in PDF (names, tickets, options, states, by name),
the complete XLSX (every field, the extra items, the payments), the zip and tar.gz
archives (the XLSX and every uploaded file, named by place). Only the event's admins
(view level and up) export them, and the job itself keeps the requester's scope."""
import io
import os
import tarfile
import uuid
import zipfile
from datetime import timedelta

import pypdfium2
import pytest
from flask_appbuilder.security.sqla.models import User
from openpyxl import load_workbook

from app.extensions import db
from app.models import (
    AdminLevel,
    Association,
    Event,
    EventVisibility,
    ExportFile,
    ExportState,
    Payment,
    PaymentProvider,
    PaymentState,
    Reservation,
    utcnow,
)
from app.platform import exports, jobs
from app.rules import events as rules

from .helpers import PNG, serve_live, upload, user, wait_for_export

BDE = "Bureau des élèves de Centrale Lyon"
SCAN = PNG + b"certificat de Zoe"


def _person(first, last):
    tag = uuid.uuid4().hex[:6]
    person = User(first_name=first, last_name=last, username=f"export-{tag}", email=f"export-{tag}@guichet.example",
                  active=True, password="x")
    db.session.add(person)
    db.session.commit()
    return person


def _event_with_places():
    """An event on sale with two ticket types, a size and two file items (whose labels
    make the same file name), and four places: Zoé (an option, every item given and
    validated, a PayPal payment), Adrien (an opposed place), his guest Jeanne, and
    Bruno (a free ticket); committed."""
    now = utcnow()
    admin = user("eventadmin")
    association = db.session.query(Association).join(Association.organisation).filter_by(name=BDE).one()
    event = rules.create_event(admin, association, name=f"Gala {uuid.uuid4().hex[:6]}",
                               starts_on=now + timedelta(days=9), ends_on=now + timedelta(days=9, hours=4),
                               sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=8),
                               visibility=EventVisibility.public, sponsorship_limit=1, place="Amphi Bernard")
    entry = rules.save_ticket_type(admin, event, name="Entrée", kind="open", price="12", capacity=20)
    free = rules.save_ticket_type(admin, event, name="Bénévole", kind="open", price="0", capacity=5)
    cloakroom = rules.save_option(admin, entry, name="Vestiaire", price_change="2")
    size = rules.save_extra_info(admin, entry, label="Taille du t-shirt", kind="size")
    scan = rules.save_extra_info(admin, entry, label="Certificat médical", kind="file")
    again = rules.save_extra_info(admin, entry, label="Certificat (médical)", kind="file")  # the same file name
    db.session.commit()
    zoe, adrien, bruno = _person("Zoé", "Łukasiewicz"), _person("Adrien", "Martin"), _person("Bruno", "Petit")
    [zoe_place] = rules.book(zoe, event, entry.id, [cloakroom.id])
    adrien_place, jeanne_place = rules.book(adrien, event, entry.id, guests=[
        {"name": "Jeanne Invitée", "email": "jeanne@example.org", "ticket_type": entry.id}])
    [bruno_place] = rules.book(bruno, event, free.id)
    db.session.commit()
    for item in (rules.answer(zoe, zoe_place, size, "m"),
                 rules.answer(zoe, zoe_place, scan, upload=upload("certificat.png", SCAN)),
                 rules.answer(zoe, zoe_place, again, upload=upload("rappel.png", PNG))):
        rules.validate_answer(admin, item)
    rules.RESERVATION_WORKFLOW.fire(adrien_place, "oppose", admin, "Chèque sans provision")
    db.session.add(Payment(payable_type=rules.PAYABLE_KIND, payable_id=zoe_place.id, provider=PaymentProvider.paypal,
                           state=PaymentState.pending, amount=zoe_place.price, currency="EUR",
                           reference=f"TXN-{zoe_place.id}"))
    db.session.commit()
    return {"event": event.id, "zoe": zoe_place.id, "adrien": adrien_place.id, "jeanne": jeanne_place.id,
            "bruno": bruno_place.id, "name": event.name, "again": again.id}


@pytest.fixture()
def places(app, monkeypatch, tmp_path):
    """The event and its places; exports run in-process (a thread) into a folder of their own."""
    monkeypatch.setitem(app.config, "EXPORTS_ROOT", str(tmp_path))
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    with app.app_context():
        return _event_with_places()


def _export(client, event_id, fmt, timeout=30):
    """Ask for an export from the event page's buttons, follow its page; (status, file's bytes)."""
    response = client.post(f"/reservations/export_places/{event_id}/{fmt}")
    assert response.status_code == 302 and "/exports/" in response.headers["Location"], response.headers
    location = response.headers["Location"].replace("http://localhost", "")
    assert "<progress" in client.get(location).get_data(as_text=True)
    status = wait_for_export(client, location, timeout)
    assert status["state"] == "ready", status
    downloaded = client.get(status["download"])
    assert downloaded.status_code == 200
    return status, downloaded


def _pdf_text(data):
    document = pypdfium2.PdfDocument(data)
    try:
        return "".join(page.get_textpage().get_text_range() for page in document), len(document)
    finally:
        document.close()


def _sheet_rows(data):
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return rows[0], {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}


def test_the_event_page_offers_the_exports_to_its_admins_only(app, login_as, places):
    page = login_as("eventadmin").get(f"/events/show/{places['event']}").get_data(as_text=True)
    assert 'id="export-places"' in page
    for fmt in ("pdf", "xlsx", "zip", "tar.gz"):
        assert f"/reservations/export_places/{places['event']}/{fmt}" in page
    for other in ("clubadmin", "etudiant"):
        assert 'id="export-places"' not in login_as(other).get(f"/events/show/{places['event']}").get_data(
            as_text=True)


def test_the_door_list_is_a_pdf_of_names_tickets_options_and_states_by_name(app, login_as, places):
    status, downloaded = _export(login_as("eventadmin"), places["event"], "pdf")
    assert downloaded.mimetype == "application/pdf"
    with app.app_context():
        assert downloaded.headers["Content-Disposition"] == "attachment; filename=" + exports.file_name(
            f"Liste d'entrée de {places['name']}", "pdf")
    assert (status["done"], status["total"]) == (4, 4)
    text, _ = _pdf_text(downloaded.data)
    names = ["Adrien Martin", "Bruno Petit", "Jeanne Invitée", "Zoé Łukasiewicz"]
    assert [text.index(name) for name in names] == sorted(text.index(name) for name in names)
    for expected in (places["name"], "Amphi Bernard", "Entrée", "Bénévole", "Vestiaire", "Préréservée",
                     "En opposition", "Réservée", "Nom", "Billet", "Options", "État"):
        assert expected in text, expected


def test_a_long_door_list_is_drawn_page_after_page(app, tmp_path):
    rows = ((number, f"Personne {number}", "Entrée", "Vestiaire", "Réservée") for number in range(1, 301))
    path = str(tmp_path / "list.pdf")
    with app.test_request_context():
        written = exports.write_pdf_list(path, "Liste", "Demain", ["No", "Nom", "Billet", "Options", "État"],
                                         (1, 5, 4, 6, 2), rows)
    with open(path, "rb") as handle:
        text, pages = _pdf_text(handle.read())
    assert written == 300 and pages > 5
    assert "Personne 300" in text and text.count("Nom") == pages  # the headers on every page


def test_the_complete_xlsx_has_every_field_item_and_payment(app, login_as, places):
    with app.app_context():  # Bruno entered, his entry was undone (a wrong scan), then he entered again
        bruno, event = db.session.get(Reservation, places["bruno"]), db.session.get(Event, places["event"])
        token = rules.ticket_token(bruno)
        assert rules.scan(user("eventadmin"), event, token, "nonce-first-scan").code == "ok"
        rules.undo_last(user("eventadmin"), event, "Scanné par erreur")
        assert rules.scan(user("eventadmin"), event, token, "nonce-second-scan").code == "ok"
        db.session.commit()
    status, downloaded = _export(login_as("eventadmin"), places["event"], "xlsx")
    assert downloaded.mimetype == exports.XLSX_MIMETYPE
    assert (status["done"], status["total"]) == (4, 4)
    headers, rows = _sheet_rows(downloaded.data)
    for header in ("N°", "Titulaire", "Courriel", "Parrain", "Billet", "Options", "Prix", "État", "Prise le",
                   "Payée le", "Modifié le", "Motif de l'opposition", "À rembourser", "Taille du t-shirt",
                   "Taille du t-shirt : validé par", "Taille du t-shirt : validé le", "Certificat médical",
                   "Certificat médical : validé par", "Paiement 1 : prestataire", "Paiement 1 : état",
                   "Paiement 1 : montant", "Paiement 1 : devise", "Paiement 1 : référence",
                   "Paiement 1 : créé le", "Paiement 1 : modifié le"):
        assert header in headers, header
    assert set(rows) == {places["zoe"], places["adrien"], places["jeanne"], places["bruno"]}
    zoe = rows[places["zoe"]]
    assert (zoe["Titulaire"], zoe["Billet"], zoe["Options"], zoe["Prix"], zoe["État"]) == (
        "Zoé Łukasiewicz", "Entrée", "Vestiaire", 14, "Préréservée")
    assert zoe["Courriel"].startswith("export-") and zoe["À rembourser"] == "Non"
    assert (zoe["Taille du t-shirt"], zoe["Certificat médical"]) == ("M", "certificat.png")
    assert zoe["Taille du t-shirt : validé par"] == "Hugo Perrin" and zoe["Taille du t-shirt : validé le"] is not None
    assert (zoe["Paiement 1 : prestataire"], zoe["Paiement 1 : état"], zoe["Paiement 1 : montant"],
            zoe["Paiement 1 : devise"], zoe["Paiement 1 : référence"]) == ("PayPal", "En attente", 14, "EUR",
                                                                           f"TXN-{places['zoe']}")
    jeanne, adrien = rows[places["jeanne"]], rows[places["adrien"]]
    assert (jeanne["Titulaire"], jeanne["Courriel"], jeanne["Parrain"]) == (
        "Jeanne Invitée", "jeanne@example.org", "Adrien Martin")
    assert (adrien["État"], adrien["Motif de l'opposition"]) == ("En opposition", "Chèque sans provision")
    assert adrien["Taille du t-shirt"] is None and adrien["Paiement 1 : prestataire"] is None
    bruno = rows[places["bruno"]]
    assert bruno["Entré le"] is not None and bruno["Contrôlé par"] == "Hugo Perrin"
    assert bruno["Scanné hors ligne"] == "Non" and "annulée par Hugo Perrin : Scanné par erreur" in bruno["Entrées annulées"]
    assert zoe["Entré le"] is None and zoe["Entrées annulées"] in ("", None)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archives_hold_the_xlsx_and_every_uploaded_file_named_by_place(app, login_as, places, fmt):
    status, downloaded = _export(login_as("eventadmin"), places["event"], fmt)
    assert downloaded.mimetype == exports.MIMETYPES[fmt]
    assert (status["done"], status["total"]) == (6, 6)  # four places, two files
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(downloaded.data)) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    else:
        with tarfile.open(fileobj=io.BytesIO(downloaded.data), mode="r:gz") as archive:
            members = {info.name: archive.extractfile(info).read() for info in archive.getmembers()}
    [spreadsheet] = [name for name in members if name.endswith(".xlsx")]
    assert spreadsheet.startswith("places-de-gala-")
    folder = f"{places['zoe']}-zoe-lukasiewicz"
    assert members[f"{folder}/certificat-medical.png"] == SCAN
    assert members[f"{folder}/certificat-medical-{places['again']}.png"] == PNG
    assert len(members) == 3
    _, rows = _sheet_rows(members[spreadsheet])
    assert rows[places["zoe"]]["Certificat médical"] == "certificat.png"


def test_only_the_events_admins_at_view_level_export_its_places(app, login_as, places):
    def exports_of(username):
        with app.app_context():
            return db.session.query(ExportFile).filter_by(user_id=user(username).id).count()

    # An admin of other events (clubadmin) is refused, and nothing is written.
    before = exports_of("clubadmin")
    client = login_as("clubadmin")
    response = client.post(f"/reservations/export_places/{places['event']}/xlsx")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/events/show/{places['event']}")
    assert "Seuls les administrateurs d&#39;un évènement exportent ses places." in client.get(
        response.headers["Location"]).get_data(as_text=True)
    assert exports_of("clubadmin") == before
    # A buyer has no export of places at all; a crafted format or event is refused too.
    assert login_as("etudiant").post(f"/reservations/export_places/{places['event']}/pdf").status_code == 403
    assert client.post(f"/reservations/export_places/{places['event']}/exe").status_code == 404
    assert client.post("/reservations/export_places/99999999/pdf").status_code == 302
    assert client.post("/reservations/export_places/99999999999999999999/pdf").status_code == 404
    assert exports_of("clubadmin") == before
    # The view level is enough.
    with app.app_context():
        rules.grant_level(user("eventadmin"), db.session.get(Event, places["event"]), AdminLevel.view,
                          user=user("clubadmin"))
        db.session.commit()
    status, downloaded = _export(client, places["event"], "pdf")
    assert "Zoé Łukasiewicz" in _pdf_text(downloaded.data)[0]


def test_the_job_writes_only_what_its_requester_may_see(app, places):
    """An export row made by hand for someone who is not the event's admin (as a
    crafted request would need): the job checks again, as them, and writes nothing."""
    with app.app_context():
        export = ExportFile(user_id=user("clubadmin").id, document=rules.PLACES, title="Places", format="xlsx",
                            query=f"event={places['event']}", locale="fr", rows_total=0, file_name="places.xlsx")
        db.session.add(export)
        db.session.commit()
        with pytest.raises(rules.EventRefused):
            exports.run_export(export.id)
        db.session.expire_all()
        export = db.session.get(ExportFile, export.id)
        assert export.state is ExportState.failed and export.storage_path is None
        assert not os.listdir(exports.export_root())


def test_the_job_reports_its_progress_to_the_waiting_page(app, login_as, places, monkeypatch):
    """The page's progress bar reads what the job reports: 0 of the total at its start,
    then the places written, up to the total (its figures kept on the export)."""
    reported = []
    report = jobs.set_progress
    monkeypatch.setattr(jobs, "set_progress", lambda key, done, total: (reported.append((done, total)),
                                                                         report(key, done, total)))
    status, _ = _export(login_as("eventadmin"), places["event"], "zip")
    assert reported[0] == (0, 6) and reported[-1] == (6, 6)
    assert [done for done, _ in reported] == sorted(done for done, _ in reported)
    assert status["text"] == "6 lignes sur 6"


def test_on_redis_a_worker_writes_the_archive(app, login_as, on_redis):
    """The production path: the job goes to RQ and a `flask worker` process writes the
    archive, reporting its progress through Redis."""
    with app.app_context():
        place_ids = _event_with_places()
    status, downloaded = _export(login_as("eventadmin"), place_ids["event"], "tar.gz", timeout=60)
    assert (status["done"], status["total"]) == (6, 6)
    with tarfile.open(fileobj=io.BytesIO(downloaded.data), mode="r:gz") as archive:
        names = archive.getnames()
    assert f"{place_ids['zoe']}-zoe-lukasiewicz/certificat-medical.png" in names


def test_every_place_holder_is_named_by_one_rule(app, places):
    with app.app_context():
        zoe, jeanne = db.session.get(Reservation, places["zoe"]), db.session.get(Reservation, places["jeanne"])
        assert (zoe.holder_name, jeanne.holder_name) == ("Zoé Łukasiewicz", "Jeanne Invitée")


@pytest.fixture()
def export_server(app, places):
    """A live server of its own, forked once the event and the exports' settings are there."""
    yield from serve_live(app)


def test_an_admin_exports_the_archive_from_the_event_page_and_downloads_it(chromium, export_server, places):
    from .conftest import collect_csp_violations
    from .helpers import DEMO_PASSWORD
    from .test_browser_a11y import AXE_RUN, AXE_SOURCE_PATH

    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        axe = source.read()
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900}, accept_downloads=True)
    violations = []
    collect_csp_violations(context, violations)
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(f"{export_server}/login/")
    page.fill("#username", "eventadmin")
    page.fill("#password", DEMO_PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.goto(f"{export_server}/events/show/{places['event']}")
    page.evaluate(axe)
    assert page.evaluate(AXE_RUN) == []
    page.get_by_role("button", name="Complet avec les fichiers (zip)").click()
    page.wait_for_url("**/exports/*")
    link = page.get_by_role("link", name="Télécharger places-et-fichiers-de-gala-")
    link.wait_for(state="visible")
    page.evaluate(axe)
    assert page.evaluate(AXE_RUN) == []
    assert page.locator("#export-text").inner_text() == "Prêt : 6 lignes sur 6"
    with page.expect_download() as download:
        link.click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert f"{places['zoe']}-zoe-lukasiewicz/certificat-medical.png" in archive.namelist()
    context.close()
    assert not violations
