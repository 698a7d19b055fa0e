"""The operators' digital certificates, as the seed's table shows Fibre Rhône Télécom's
(e-RDV, e-SAV, FCI, Grafic, TAO; production and test), one of them expiring within
30 days and one renewed, and two of Alpes Connect's. Each file is a real self-signed
X.509 certificate (PEM), made now (an EC key: small and fast), valid until its
expiry date; dates are relative to today."""
import io
from datetime import datetime, time, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import current_app
from werkzeug.datastructures import FileStorage

from ...extensions import db
from ...models import Certificate, CertificateEnvironment, EService
from ...platform import files
from ...platform.clock import local_today
from ...rules.operator.certificates import fingerprint_of
from ..platform import organisation
from .accounts import ALPES, FIBRE

PROD, TEST = CertificateEnvironment.production, CertificateEnvironment.non_production
# operator, e-service code, environment, label, published (days ago), expires (days from today)
CERTIFICATES = [
    (FIBRE, "e-rdv", PROD, "397480930_eRDV_prod_2024", 400, -20),
    (FIBRE, "e-rdv", PROD, "397480930_eRDV_prod", 60, 229),
    (FIBRE, "e-sav-test", PROD, "397480930_eSAV_prod", 60, 611),
    (FIBRE, "e-sav-test", TEST, "397480930_eSAV_test", 60, 611),
    (FIBRE, "fci", PROD, "397480930_FCI_prod", 60, 252),
    (FIBRE, "fci", TEST, "397480930_FCI_test", 60, 252),
    (FIBRE, "grafic", PROD, "397480930_Gra_prod", 60, 533),
    (FIBRE, "grafic", TEST, "397480930_GRA_test", 60, 141),
    (FIBRE, "tao", PROD, "397480930_TAO_prod", 60, 673),
    (FIBRE, "tao", TEST, "Test certificat à renouveler bientôt", 10, 21),
    (ALPES, "fci", PROD, "512345678_FCI_prod", 90, 300),
    (ALPES, "e-rdv-business", TEST, "512345678_eRDVpro_test", 30, 45),
]


def self_signed(common_name, operator, not_before, not_after) -> bytes:
    """A self-signed X.509 certificate (PEM) for `common_name`, valid over those days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, operator)])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(datetime.combine(not_before, time(8), timezone.utc))
                   .not_valid_after(datetime.combine(not_after, time(12), timezone.utc))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)


def load():
    today = local_today()
    admin = current_app.appbuilder.sm.find_user(username="admin")
    made = 0
    for operator_name, code, environment, label, published_ago, expires_in in CERTIFICATES:
        operator = organisation(operator_name)
        if db.session.query(Certificate).filter_by(organisation_id=operator.id, label=label).first():
            continue
        service = db.session.query(EService).filter_by(code=code).one()
        published, expires = today - timedelta(days=published_ago), today + timedelta(days=expires_in)
        pem = self_signed(label, operator_name, published, expires)
        certificate = Certificate(organisation_id=operator.id, eservice_id=service.id, environment=environment,
                                  label=label, published_on=published, expires_on=expires,
                                  fingerprint=fingerprint_of(x509.load_pem_x509_certificate(pem).fingerprint(
                                      hashes.SHA256())))
        db.session.add(certificate)
        db.session.flush()
        stored = files.save_upload(FileStorage(io.BytesIO(pem), filename=f"{label}.pem"), certificate, admin,
                                   field="file")
        certificate.file_id = stored.id
        made += 1
    db.session.commit()
    yield f"desk E: {len(CERTIFICATES)} digital certificates of the two operators ({made} made now)"
