"""Desk E, "Mes certificats numériques": who sees an operator's certificates (the
operator's admin and the accounts ticked for them, both ways, screen and API), the
grid (search, filter, sort, the expiring marked), downloads (as often as wanted, each
recorded), the staff's publication (X.509 dates and fingerprints, the seed's mails)
and the expiry alerts under a frozen clock (one mail per threshold, the nearest only,
none once renewed, two sweeps at once send each once)."""
import hashlib
import html
import io
import threading
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import func, select

from app.demo.operator.certificates import self_signed
from app.extensions import db
from app.models import (
    Certificate,
    CertificateAlert,
    CertificateDownload,
    CertificateEnvironment,
    Entitlement,
    EService,
    Membership,
    Notification,
    OperatorSubscription,
    Organisation,
    OrganisationKind,
    OutboxMail,
    StoredFile,
)
from app.platform import files
from app.platform.clock import local_today
from app.rules.operator import certificates as rules
from app.security import OPERATOR_ADMIN, OPERATOR_USER

from .helpers import TIMEZONE, BearerClient, member, stored_paths, upload, user

FIBRE, ALPES, TRIAL = "Fibre Rhône Télécom", "Alpes Connect", "Essai Certificats"
PROD, TEST = CertificateEnvironment.production, CertificateEnvironment.non_production
LIST = "/operator/certificates/list/"


def on_day(day, at="07:00"):
    """The clock stopped on `day` at `at`, local time (the sweep's morning)."""
    return time_machine.travel(datetime.combine(day, time.fromisoformat(at), TIMEZONE).astimezone(UTC), tick=False)


def certificate_id(label):
    return db.session.scalar(select(Certificate.id).where(Certificate.label == label))


def text(response):
    """The page as a reader reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture(scope="module")
def trial(app):
    """An operator of the tests' own, subscribing to every e-service (each certificate of
    a sweep gets an e-service and environment of its own, so none renews another): its
    admin `certadmin`, `certreader` ticked for the certificates, `certother` not."""
    with app.app_context():
        operator = Organisation(name=TRIAL, kind=OrganisationKind.operator, city="Lyon",
                                email="contact@essai.example")
        db.session.add(operator)
        db.session.flush()
        services = db.session.scalars(select(EService)).all()
        db.session.add_all(OperatorSubscription(organisation_id=operator.id, eservice_id=s.id) for s in services)
        db.session.commit()
        member("certadmin", TRIAL, role=OPERATOR_ADMIN)
        reader = member("certreader", TRIAL, role=OPERATOR_USER)
        member("certother", TRIAL, role=OPERATOR_USER)
        service = db.session.scalar(select(EService).where(EService.code == "certificates"))
        db.session.add(Entitlement(user_id=reader.id, organisation_id=operator.id, eservice_id=service.id))
        db.session.commit()
        yield operator.id, [s.id for s in services if s.code != "certificates"]
        for model in (Entitlement, OperatorSubscription, Membership):
            db.session.query(model).filter_by(organisation_id=operator.id).delete()
        db.session.delete(db.session.get(Organisation, operator.id))
        db.session.commit()


@pytest.fixture()
def made(app):
    """made(label, expires_on, ...) -> a certificate's id, written as the demo writes one
    (rows only, or with its PEM file); every certificate the test made or published is
    deleted afterwards, with its file, downloads and alerts."""
    with app.app_context():
        before = db.session.scalar(select(func.coalesce(func.max(Certificate.id), 0)))

    def make(label, expires_on, *, operator=FIBRE, code="e-rdv", environment=PROD, published_on=None,
             with_file=False):
        organisation = db.session.scalar(select(Organisation).where(Organisation.name == operator)) \
            if isinstance(operator, str) else db.session.get(Organisation, operator)
        service = db.session.scalar(select(EService).where(EService.code == code)) if isinstance(code, str) \
            else db.session.get(EService, code)
        published_on = published_on or min(local_today(), expires_on - timedelta(days=1))
        item = Certificate(organisation_id=organisation.id, eservice_id=service.id, environment=environment,
                           label=label, published_on=published_on, expires_on=expires_on, fingerprint="AB:CD")
        db.session.add(item)
        db.session.flush()
        if with_file:
            pem = self_signed(label, operator if isinstance(operator, str) else TRIAL, published_on, expires_on)
            item.file_id = files.save_upload(upload(f"{label}.pem", pem), item, field="file",
                                             allowed_types=rules.FILE_TYPES).id
        db.session.commit()
        return item.id

    with app.app_context():
        yield make
        for item in db.session.scalars(select(Certificate).where(Certificate.id > before)).all():
            rules.delete(item)
            db.session.delete(item)
        db.session.commit()


@pytest.fixture(scope="module")
def alpes_admin(app):
    """Alpes Connect's OperatorAdmin (the demo gives that operator no account)."""
    with app.app_context():
        member("alpesadmin", ALPES, role=OPERATOR_ADMIN)
    return "alpesadmin"


# ---------------------------------------------------------------------------
# Who sees them: the gate and the row scope, both ways
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["opadmin", "opsav"])
def test_the_operator_s_admin_and_the_accounts_ticked_see_its_certificates(app, login_as, login):
    page = text(login_as(login).get(LIST))
    assert "397480930_eRDV_prod" in page and "397480930_TAO_prod" in page
    assert "512345678_FCI_prod" not in page  # Alpes Connect's
    assert "Mes certificats numériques" in page
    home = text(login_as(login).get("/operator/"))
    assert LIST in home  # the menu and the e-service's link on the home page


def test_an_account_not_ticked_gets_403_on_every_screen_and_its_menu_hides_them(app, login_as):
    with app.app_context():
        item = db.session.scalar(select(Certificate).where(Certificate.label == "397480930_eRDV_prod"))
        pk, file_id = item.id, item.file_id
    client = login_as("opuser")
    for path in (LIST, f"/operator/certificates/show/{pk}", f"/operator/certificates/file/{pk}",
                 "/operator/certificates/add"):
        assert client.get(path).status_code in (302, 403), path
    assert client.get(LIST).status_code == 403
    assert client.get(f"/files/{file_id}").status_code == 404  # the file's own row scope
    assert LIST not in text(client.get("/operator/"))
    with app.app_context():
        assert not db.session.query(CertificateDownload).filter_by(certificate_id=pk).count()


def test_an_api_client_not_ticked_gets_403_with_a_token_or_a_session(app, login_as):
    with app.app_context():
        pk = certificate_id("397480930_eRDV_prod")
    bearer = BearerClient(app, "opuser")
    for path in ("/api/v1/certificate/", f"/api/v1/certificate/{pk}", "/api/v1/certificate/_info",
                 f"/api/v1/certificate/{pk}/file"):
        answer = bearer.get(path)
        assert answer.status_code == 403, path
        assert "Mes certificats numériques" in answer.json["message"]
    assert login_as("opuser").get("/api/v1/certificate/").status_code == 403
    assert app.test_client().get("/api/v1/certificate/").status_code == 401


def test_a_ticked_api_client_lists_and_downloads_with_a_token(app):
    bearer = BearerClient(app, "opsav")
    listed = bearer.get("/api/v1/certificate/?q=(page_size:100)")
    assert listed.status_code == 200
    labels = {row["label"] for row in listed.json["result"]}
    assert {"397480930_eRDV_prod", "397480930_FCI_test"} <= labels and "512345678_FCI_prod" not in labels
    row = next(r for r in listed.json["result"] if r["label"] == "397480930_FCI_test")
    assert row["environment"] == "non_production" and row["eservice"]["name"].startswith("FCI")
    assert len(row["fingerprint"].split(":")) == 32
    with app.app_context():
        before = db.session.query(CertificateDownload).filter_by(certificate_id=row["id"]).count()
    answer = bearer.get(f"/api/v1/certificate/{row['id']}/file")
    assert answer.status_code == 200 and answer.data.startswith(b"-----BEGIN CERTIFICATE-----")
    with app.app_context():
        downloads = db.session.query(CertificateDownload).filter_by(certificate_id=row["id"]).all()
        assert len(downloads) == before + 1 and downloads[-1].user_id == user("opsav").id


def test_another_operator_s_people_never_see_fibre_rhone_s(app, login_as, alpes_admin):
    with app.app_context():
        fibre = db.session.scalar(select(Certificate).where(Certificate.label == "397480930_eRDV_prod"))
        alpes_pk = certificate_id("512345678_FCI_prod")
        pk, file_id = fibre.id, fibre.file_id
    client = login_as(alpes_admin)
    page = text(client.get(LIST))
    assert "512345678_FCI_prod" in page and "512345678_eRDVpro_test" in page
    assert "397480930" not in page
    for path in (f"/operator/certificates/show/{pk}", f"/operator/certificates/file/{pk}", f"/files/{file_id}",
                 f"/api/v1/certificate/{pk}", f"/api/v1/certificate/{pk}/file"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/operator/certificates/show/{alpes_pk}").status_code == 200
    for login in ("opadmin", "opsav"):
        assert login_as(login).get(f"/operator/certificates/show/{alpes_pk}").status_code == 404
    with app.app_context():
        assert not db.session.query(CertificateDownload).filter_by(certificate_id=pk, user_id=user(
            alpes_admin).id).count()


# ---------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------


def _filter_args(app):
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "CertificateView")
    from app.views.operator.certificates import EnvironmentIs, EServiceIs, Keyword

    return (view.filter_arg("label", Keyword), view.filter_arg("eservice", EServiceIs),
            view.filter_arg("environment", EnvironmentIs))


def _labels(page):
    import re

    return re.findall(r'/operator/certificates/show/\d+">([^<]+)</a>', page)


def test_the_grid_searches_by_keyword_filters_and_clears_the_filter(app, login_as):
    keyword, eservice, environment = _filter_args(app)
    client = login_as("opadmin")
    everything = text(client.get(LIST))
    assert "Effacer le filtre" not in everything
    found = text(client.get(LIST, query_string={keyword: "fci"}))
    assert set(_labels(found)) == {"397480930_FCI_prod", "397480930_FCI_test"}
    assert "Effacer le filtre" in found
    assert _labels(text(client.get(LIST, query_string={keyword: "translation test"}))) == [
        "Test certificat à renouveler bientôt"]  # every word, in the label or the e-service's name
    with app.app_context():
        grafic = db.session.scalar(select(EService.id).where(EService.code == "grafic"))
    page = text(client.get(LIST, query_string={eservice: grafic}))
    assert set(_labels(page)) == {"397480930_Gra_prod", "397480930_GRA_test"}
    page = text(client.get(LIST, query_string={eservice: grafic, environment: "non_production"}))
    assert _labels(page) == ["397480930_GRA_test"]
    assert client.get(LIST, query_string={eservice: "x"}).status_code == 400  # named, not a 500


def test_the_grid_sorts_by_expiry_label_and_e_service(app, login_as):
    client = login_as("opadmin")
    by_expiry = _labels(text(client.get(LIST)))
    assert by_expiry[:2] == ["397480930_eRDV_prod_2024", "Test certificat à renouveler bientôt"]
    assert by_expiry[-1] == "397480930_TAO_prod"
    answer = client.get(LIST, query_string={"sort": "label:desc"})  # the sort menu (a phone has no headers)
    assert answer.status_code == 302
    by_label = _labels(text(client.get(answer.headers["Location"])))
    assert by_label == sorted(by_label, reverse=True)
    by_service = _labels(text(client.get(LIST, query_string={"_oc_CertificateView": "eservice.name",
                                                               "_od_CertificateView": "asc"})))
    assert by_service.index("397480930_eRDV_prod") < by_service.index("397480930_FCI_prod") \
        < by_service.index("397480930_TAO_prod")


def test_the_grid_marks_the_expiring_the_expired_and_the_renewed(app, login_as, made):
    made("Essai expiré hier", local_today() - timedelta(days=1), code="e-sav-signal")
    page = text(login_as("opadmin").get(LIST))
    rows = {label: page[page.index(f">{label}</a>") - 400:page.index(f">{label}</a>") + 600]
            for label in ("Test certificat à renouveler bientôt", "Essai expiré hier", "397480930_eRDV_prod_2024",
                          "397480930_TAO_prod")}
    assert 'data-state="soon"' in rows["Test certificat à renouveler bientôt"]
    assert "Expire bientôt" in rows["Test certificat à renouveler bientôt"]
    assert 'data-state="expired"' in rows["Essai expiré hier"] and "Expiré" in rows["Essai expiré hier"]
    assert "Renouvelé" in rows["397480930_eRDV_prod_2024"]  # expired, but a newer one replaces it
    assert 'data-state=""' in rows["397480930_TAO_prod"]


# ---------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------


def test_a_certificate_downloads_as_often_as_wanted_each_download_recorded(app, login_as, made):
    pk = made("Essai téléchargé", local_today() + timedelta(days=200), code="invoices", with_file=True)
    with app.app_context():
        item = db.session.get(Certificate, pk)
        file_id, pem = item.file_id, open(files.absolute_path(item.file), "rb").read()
    reader = login_as("opsav")
    for _ in range(2):
        answer = reader.get(f"/operator/certificates/file/{pk}")
        assert answer.status_code == 200 and answer.data == pem
        assert "attachment" in answer.headers["Content-Disposition"]
    assert reader.get(f"/files/{file_id}").data == pem  # the platform's download path records it too
    with app.app_context():
        assert db.session.query(CertificateDownload).filter_by(certificate_id=pk,
                                                               user_id=user("opsav").id).count() == 3
    assert "Téléchargements" not in text(reader.get(LIST))  # the trace is the admin's
    admin = login_as("opadmin")
    page = text(admin.get(LIST))
    row = page[page.index(">Essai téléchargé</a>"):]
    assert "Téléchargements" in page and ">3 <" in row[:row.index("</tr>")]
    assert "Julien Morel" in text(admin.get(f"/operator/certificates/show/{pk}"))


# ---------------------------------------------------------------------------
# Publication by platform staff
# ---------------------------------------------------------------------------


def _ids(app, *codes):
    with app.app_context():
        fibre = db.session.scalar(select(Organisation.id).where(Organisation.name == FIBRE))
        return (fibre, *[db.session.scalar(select(EService.id).where(EService.code == code)) for code in codes])


def _publish(client, operator, eservice, label, data, expires_on="", environment="production", name=None):
    return client.post("/operator/certificates/add", data={
        "organisation": operator, "eservice": eservice, "environment": environment, "label": label,
        "published_on": "", "expires_on": expires_on,
        "file": (io.BytesIO(data), name or f"{label}.pem")}, content_type="multipart/form-data")


def _mails(app, label):
    with app.app_context():
        return db.session.execute(select(OutboxMail.recipient, OutboxMail.template, OutboxMail.subject,
                                         OutboxMail.body).where(OutboxMail.body.contains(label))
                                  .order_by(OutboxMail.id)).all()


def test_staff_publish_an_x509_certificate_its_date_and_fingerprint_read_from_it(app, login_as, made):
    operator, service = _ids(app, "e-just-fibre")
    today = local_today()
    pem = self_signed("Essai publication", FIBRE, today, today + timedelta(days=300))
    label = f"Essai-{uuid.uuid4().hex[:6]}"
    answer = _publish(login_as("admin"), operator, service, label, pem)
    assert answer.status_code == 302, text(answer)
    with app.app_context():
        item = db.session.scalar(select(Certificate).where(Certificate.label == label))
        assert item.expires_on == today + timedelta(days=300) and item.published_on == today
        expected = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex(":").upper()
        assert item.fingerprint == expected
        assert item.file.owner_type == "certificate" and item.file.owner_id == item.id
    mails = _mails(app, label)
    recipients = {m.recipient for m in mails}  # the operator's admins (tests may add one) and opsav, ticked
    assert {"opadmin@guichet.example", "opsav@guichet.example"} <= recipients
    with app.app_context():
        assert all(OPERATOR_ADMIN in {r.name for r in person.roles} or person.username == "opsav"
                   for person in db.session.query(app.appbuilder.sm.user_model).filter(
                       app.appbuilder.sm.user_model.email.in_(recipients)))
    mail = mails[0]
    assert mail.template == "operator/certificate_created" and mail.subject == "Dépôt d'un certificat – création"
    assert ("Nous vous informons que votre certificat d'utilisation du e-Service e-Just Fibre pour "
            "l'environnement de Production est disponible dans votre Espace Opérateurs, rubrique "
            "« Mes certificats numériques ».") in mail.body
    assert "Pour activer votre e-service vous devez récupérer le certificat et l'installer" in mail.body
    assert "L'équipe Habilitation Opérateurs" in mail.body
    # The same e-service and environment, a later expiry: a renewal, the same file as DER.
    der = x509.load_pem_x509_certificate(self_signed("Essai renouvellement", FIBRE, today,
                                                     today + timedelta(days=700))).public_bytes(
        serialization.Encoding.DER)
    renewal = f"Essai-{uuid.uuid4().hex[:6]}"
    assert _publish(login_as("admin"), operator, service, renewal, der, name="cert.der").status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Certificate).where(Certificate.label == renewal))
        assert item.expires_on == today + timedelta(days=700)
        assert item.fingerprint == hashlib.sha256(der).digest().hex(":").upper()
    mail = _mails(app, renewal)[0]
    assert mail.template == "operator/certificate_renewed"
    assert mail.subject == "Dépôt d'un certificat – renouvellement"
    assert "votre nouveau certificat d'utilisation du e-Service e-Just Fibre" in mail.body
    assert "Pour continuer à utiliser e-service e-Just Fibre, vous devez récupérer le nouveau certificat" in mail.body


def test_a_typed_date_that_disagrees_with_the_certificate_is_refused_and_nothing_is_kept(app, login_as, made):
    operator, service = _ids(app, "e-just-fibre")
    today = local_today()
    pem = self_signed("Essai date", FIBRE, today, today + timedelta(days=300))
    with app.app_context():
        files_before, count = stored_paths(), db.session.query(Certificate).count()
    answer = _publish(login_as("admin"), operator, service, "Essai date", pem,
                      expires_on=(today + timedelta(days=299)).isoformat())
    page = text(answer)
    assert answer.status_code == 200 and "Expire le : d'après son fichier, le certificat expire le" in page
    assert (today + timedelta(days=300)).strftime("%d/%m/%Y") in page and 'aria-invalid="true"' in page
    with app.app_context():
        assert db.session.query(Certificate).count() == count and stored_paths() == files_before
    # The same date typed is accepted.
    answer = _publish(login_as("admin"), operator, service, "Essai date", pem,
                      expires_on=(today + timedelta(days=300)).isoformat())
    assert answer.status_code == 302


def test_a_file_that_is_not_x509_needs_a_typed_date_and_is_fingerprinted_whole(app, login_as, made):
    operator, service = _ids(app, "e-just-fibre")
    bundle = b"PK\x03\x04" + b"\x00" * 200  # a zip (a PKCS#12 in its archive, say)
    answer = _publish(login_as("admin"), operator, service, "Essai zip", bundle, name="bundle.zip")
    assert "n'est pas un certificat X.509 dont la date pourrait être lue" in text(answer)
    expires = local_today() + timedelta(days=90)
    answer = _publish(login_as("admin"), operator, service, "Essai zip", bundle, name="bundle.zip",
                      expires_on=expires.isoformat())
    assert answer.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Certificate).where(Certificate.label == "Essai zip"))
        assert item.expires_on == expires and item.fingerprint == hashlib.sha256(bundle).digest().hex(":").upper()


@pytest.mark.parametrize("field, values, message", [
    ("eservice", {"eservice": "e-pricer"}, "n'est pas abonné à e-pricer"),
    ("organisation", {"organisation": "Lycée Victor Hugo"}, "ce choix n'est pas valide"),
    ("environment", {"environment": "staging"}, "ce choix n'est pas valide"),
    ("label", {"label": " "}, "Libellé : ce champ est obligatoire"),
    ("file", {"file": None}, "Fichier du certificat : ce champ est obligatoire"),
    ("expires_on", {"expired": True}, "ce certificat a déjà expiré"),
])
def test_a_publication_is_refused_on_the_field_at_fault(app, login_as, made, field, values, message):
    operator, service = _ids(app, "e-just-fibre")
    today = local_today()
    with app.app_context():
        if "eservice" in values:
            service = db.session.scalar(select(EService.id).where(EService.code == values["eservice"]))
        if "organisation" in values:
            operator = db.session.scalar(select(Organisation.id).where(Organisation.name == values["organisation"]))
        count = db.session.query(Certificate).count()
    ends = today - timedelta(days=2) if values.get("expired") else today + timedelta(days=100)
    pem = self_signed("Essai refus", FIBRE, today - timedelta(days=30), ends)
    data = {"organisation": operator, "eservice": service, "environment": values.get("environment", "production"),
            "label": values.get("label", "Essai refus"), "published_on": "", "expires_on": ""}
    if values.get("file", True) is not None:
        data["file"] = (io.BytesIO(pem), "essai.pem")
    answer = login_as("admin").post("/operator/certificates/add", data=data, content_type="multipart/form-data")
    page = text(answer)
    assert answer.status_code == 200 and message in page, page[:3000]
    assert f'id="{field}-problem"' in page
    with app.app_context():
        assert db.session.query(Certificate).count() == count


def test_only_platform_staff_publish_and_delete(app, login_as, made):
    pk = made("Essai suppression", local_today() + timedelta(days=100), code="invoices", with_file=True)
    with app.app_context():
        path = files.absolute_path(db.session.get(Certificate, pk).file)
    assert login_as("opadmin").get("/operator/certificates/add").status_code in (302, 403)
    assert login_as("opadmin").post(f"/operator/certificates/delete/{pk}").status_code in (302, 403)
    login_as("opsav").get(f"/operator/certificates/file/{pk}")
    with app.app_context():
        assert db.session.get(Certificate, pk) is not None
    assert login_as("admin").post(f"/operator/certificates/delete/{pk}").status_code == 302
    with app.app_context():
        assert db.session.get(Certificate, pk) is None
        assert not db.session.query(CertificateDownload).filter_by(certificate_id=pk).count()
        assert not db.session.query(StoredFile).filter_by(owner_type="certificate", owner_id=pk).count()
    import os

    assert not os.path.exists(path)


# ---------------------------------------------------------------------------
# The alert sweep, under a frozen clock
# ---------------------------------------------------------------------------


def _alerts(ids):
    return {(a.certificate_id, a.threshold, a.skipped) for a in db.session.scalars(
        select(CertificateAlert).where(CertificateAlert.certificate_id.in_(ids)))}


def _sweep_mails(label):
    return db.session.execute(select(OutboxMail.recipient, OutboxMail.template, OutboxMail.subject, OutboxMail.body)
                              .where(OutboxMail.template.like("operator/certificate_%"),
                                     OutboxMail.template.notin_(["operator/certificate_created",
                                                                 "operator/certificate_renewed"]),
                                     OutboxMail.body.contains(f"/operator/certificates/show/{certificate_id(label)}\n"))
                              .order_by(OutboxMail.id)).all()


def test_each_threshold_alerts_once_the_nearest_only_and_the_expired_once(app, made, trial):
    operator, services = trial
    start = local_today()
    ends = start + timedelta(days=40)
    month = made("Essai 40 jours", ends, operator=operator, code=services[0])
    late = made("Essai publié 5 jours avant", start + timedelta(days=5), operator=operator, code=services[1])
    readers = {"certadmin@guichet.example", "certreader@guichet.example"}
    with on_day(start):
        assert rules.sweep_alerts() >= 1
        assert _alerts([month, late]) == {(late, 7, False), (late, 30, True)}  # 30 skipped: never sent
        mails = _sweep_mails("Essai publié 5 jours avant")
        assert {m.recipient for m in mails} == readers and len(mails) == 2
        assert mails[0].template == "operator/certificate_reminder"
        assert mails[0].subject == "Rappel – fin de validité d'un certificat"
        assert "arrive très prochainement à expiration" in mails[0].body
        assert "Pour éviter toute coupure de service, téléchargez sans attendre" in mails[0].body
        assert rules.sweep_alerts() == 0  # the same morning again: nothing
    with on_day(start + timedelta(days=10)):  # 30 days before the first's expiry
        rules.sweep_alerts()
        assert (month, 30, False) in _alerts([month])
        mail = _sweep_mails("Essai 40 jours")[0]
        assert mail.template == "operator/certificate_alert"
        assert mail.subject == "Alerte – fin de validité d'un certificat"
        assert (f"Votre certificat Essai 40 jours pour l'environnement de Production arrive à expiration le "
                f"{ends.strftime('%d/%m/%Y')}.") in mail.body
        assert "téléchargez le nouveau certificat dans votre Espace Opérateurs" in mail.body
        assert _alerts([late]) == {(late, 7, False), (late, 30, True), (late, 0, False), (late, 1, True)}
        expired = _sweep_mails("Essai publié 5 jours avant")[-1]
        assert expired.template == "operator/certificate_expired" and "a expiré le" in expired.body
    for day in (33, 39, 41, 42, 80):  # 7 days, 1 day, expired, then never again
        with on_day(start + timedelta(days=day)):
            rules.sweep_alerts()
    assert _alerts([month]) == {(month, 30, False), (month, 7, False), (month, 1, False), (month, 0, False)}
    mails = _sweep_mails("Essai 40 jours")
    assert len(mails) == 8 and [m.template.rsplit("_", 1)[1] for m in mails[::2]] == [
        "alert", "reminder", "reminder", "expired"]
    assert not db.session.query(OutboxMail).filter(OutboxMail.recipient == "certother@guichet.example").count()


def test_a_renewed_certificate_gets_no_alert(app, made, trial):
    operator, services = trial
    start = local_today()
    old = made("Essai ancien", start + timedelta(days=3), operator=operator, code=services[2])
    with on_day(start - timedelta(days=1)):
        new = made("Essai nouveau", start + timedelta(days=400), operator=operator, code=services[2])
        other = made("Essai autre environnement", start + timedelta(days=3), operator=operator, code=services[2],
                     environment=TEST)
    with on_day(start):
        rules.sweep_alerts()
    assert _alerts([old, new]) == set()
    assert (other, 7, False) in _alerts([other])  # the other environment is not renewed


@pytest.mark.parametrize("run", range(2))
def test_two_sweeps_at_once_send_each_alert_once(app, made, trial, run):
    operator, services = trial
    start = local_today()
    ids = [made(f"Essai course {run}-{n}", start + timedelta(days=(1, 6, 25, -3)[n % 4]), operator=operator,
                code=services[n // 2], environment=(PROD, TEST)[n % 2]) for n in range(2 * len(services))]
    with app.app_context():
        outbox_before = db.session.scalar(select(func.max(OutboxMail.id)))
        feed_before = db.session.scalar(select(func.coalesce(func.max(Notification.id), 0)))
    barrier, results, errors = threading.Barrier(2), [], []

    def sweep():
        with app.app_context():
            try:
                barrier.wait()
                results.append(rules.sweep_alerts(batch_size=3))
            except Exception as error:  # reported below
                errors.append(error)
                raise

    with on_day(start):
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    with app.app_context():
        sent = [(a.certificate_id, a.threshold) for a in db.session.scalars(select(CertificateAlert).where(
            CertificateAlert.certificate_id.in_(ids), CertificateAlert.skipped.is_(False)))]
        assert len(sent) == len(set(sent)) == len(ids)
        assert sum(results) >= len(ids)
        mails = db.session.execute(select(OutboxMail.recipient, OutboxMail.body).where(
            OutboxMail.id > outbox_before, OutboxMail.template.like("operator/certificate_%"),
            OutboxMail.recipient.like("cert%"))).all()
        assert len(mails) == 2 * len(ids) and len(set(mails)) == len(mails)
        feed = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.id > feed_before, Notification.link.in_([f"/operator/certificates/show/{pk}" for pk in ids])))
        assert feed == 2 * len(ids)


# ---------------------------------------------------------------------------
# On a phone
# ---------------------------------------------------------------------------


def test_the_grid_works_on_a_phone_and_its_download_button_downloads(phone_login, live_url, app):
    from .test_browser_a11y import AXE_RUN, AXE_SOURCE_PATH

    page = phone_login("opadmin")
    page.goto(f"{live_url}{LIST}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    soon = page.locator("tr[data-state=soon]")
    assert "Expire bientôt" in soon.inner_text()
    page.select_option("#certificate-sort", "label:asc")
    page.fill("#certificate-keyword", "FCI")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("table.guichet-certificates tbody tr").count() == 2
    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        page.evaluate(source.read())
    assert page.evaluate(AXE_RUN) == []
    with page.expect_download() as download:
        page.locator("a:has-text('Télécharger')").first.click()
    assert download.value.suggested_filename == "397480930_FCI_prod.pem"
    page.click("text=Effacer le filtre")
    page.wait_for_load_state()
    assert page.locator("table.guichet-certificates tbody tr").count() >= 10


def test_the_grid_exports_what_it_shows_behind_the_same_gate(login_as):
    answer = login_as("opsav").get("/operator/certificates/export/csv")
    assert answer.status_code == 200
    exported = answer.get_data(as_text=True)
    assert "397480930_eRDV_prod" in exported and "512345678_FCI_prod" not in exported
    assert login_as("opuser").get("/operator/certificates/export/csv").status_code == 403
