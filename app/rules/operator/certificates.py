"""Desk E — "Mes certificats numériques": platform staff publish an operator's digital
certificates, the operator's admin and the accounts they tick download them, and a
periodic sweep warns them before each certificate expires.

Publication. A certificate is for one operator, one e-service it subscribes to and one
environment. When the file is an X.509 certificate (PEM or DER) its own end of
validity (notAfter, as a local date) is the expiry date: an empty date is filled
with it and a different one is refused, because the alerts must follow the date the
operators' machines will enforce, not a typo. Its fingerprint is then the SHA-256 of
the certificate (what `openssl x509 -fingerprint -sha256` prints, whatever the
encoding); any other file (a PKCS#12 bundle...) gets the SHA-256 of its bytes and
needs a typed date. A certificate renews another of the same operator, e-service and
environment expiring no later: the mail is then the "renouvellement" one, else the
"création" one.

Alerts (`sweep_alerts`, daily). Thresholds are CERT_ALERT_DAYS days before expiry
(30, 7, 1) and `EXPIRED` (0) the day after it. The largest threshold sends the
"Alerte" with the date, the others the "Rappel", the expired one a last "Alerte"
saying it has expired. Each (certificate, threshold) is sent at most once: its
CertificateAlert row is inserted first, and the unique constraint lets one sweep
only win it, however many run at once. When several thresholds are crossed at once
(a certificate published 5 days before expiry, a sweep that did not run) only the
nearest is sent; the others are recorded as skipped. A renewed certificate gets no
alert, nor one expired longer ago than the largest threshold (history, not news).
"""
from __future__ import annotations

import hashlib
from datetime import date, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    and_,
    bindparam,
    case,
    delete as sa_delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from ...access.operator import CERTIFICATES
from ...extensions import db
from ...models import (
    CERTIFICATE_ENVIRONMENT_LABELS,
    Certificate,
    CertificateAlert,
    CertificateDownload,
    CertificateEnvironment,
    Entitlement,
    EService,
    Membership,
    OperatorSubscription,
    Organisation,
    OrganisationKind,
    utcnow,
)
from ...platform import files, jobs, notifications, transactions
from ...platform.clock import local_today, zone
from ...platform.inputs import int64, parse_date
from ...platform.refusals import Refused
from ...security import OPERATOR_ADMIN, apply_scope

EXPIRED = 0  # the threshold of the alert sent once a certificate has expired
LABEL_MAX = Certificate.__table__.c.label.type.length
# What a certificate file is, read from its content: PEM (text), DER or PKCS#12 (binary), a zip.
FILE_TYPES = ("text/plain", "application/octet-stream", "application/zip")
GRID = "/operator/certificates/list/"
SECTION = _l("My digital certificates")  # the grid's name, as the mails point to it


class CertificateRefused(Refused):
    """A publication that is refused; the message names the field."""


def certificate_link(certificate_id) -> str:
    return f"/operator/certificates/show/{certificate_id}"


# ---------------------------------------------------------------------------
# Thresholds and what the grid highlights
# ---------------------------------------------------------------------------


def alert_days() -> list:
    """CERT_ALERT_DAYS, largest first (the days before expiry an alert goes)."""
    return sorted({int(days) for days in current_app.config["CERT_ALERT_DAYS"] if int(days) > 0}, reverse=True)


def thresholds() -> list:
    """Every threshold, largest first, ending with EXPIRED."""
    return alert_days() + [EXPIRED]


def soon_days() -> int:
    """A certificate expiring within this many days is highlighted (its first alert has gone)."""
    return (alert_days() or [30])[0]


def crossed_on(threshold, today) -> date:
    """The latest expiry date for which `threshold` is crossed today: `threshold` days
    ahead, or yesterday for EXPIRED (a certificate is valid through its expiry day)."""
    return today + timedelta(days=threshold) if threshold != EXPIRED else today - timedelta(days=1)


def expiry_state(expires_on, today=None, renewed=False):
    """How the grid marks a certificate: "renewed" (a newer one replaces it), "expired",
    "soon" (within `soon_days`), or None."""
    today = today or local_today()
    if renewed:
        return "renewed"
    if expires_on < today:
        return "expired"
    if expires_on <= today + timedelta(days=soon_days()):
        return "soon"
    return None


def newer_exists(certificate=Certificate):
    """SQL: a newer certificate of the same operator, e-service and environment exists
    (one expiring later, or the same day and published after it)."""
    other = aliased(Certificate)
    return exists().where(
        other.organisation_id == certificate.organisation_id, other.eservice_id == certificate.eservice_id,
        other.environment == certificate.environment,
        or_(other.expires_on > certificate.expires_on,
            and_(other.expires_on == certificate.expires_on, other.id > certificate.id)))


def renewed_ids(ids) -> set:
    """Which of these certificates a newer one replaces."""
    if not ids:
        return set()
    return set(db.session.scalars(select(Certificate.id).where(Certificate.id.in_(list(ids)), newer_exists())))


# ---------------------------------------------------------------------------
# Who reads an operator's certificates
# ---------------------------------------------------------------------------


def readers_by_operator(organisation_ids) -> dict:
    """{operator id: [users]}: the active OperatorAdmins of each operator and the
    accounts ticked for "Mes certificats numériques", when it subscribes to it (the
    people `access.operator.visible_certificates` shows them to), in one query."""
    organisation_ids = list(set(organisation_ids))
    if not organisation_ids:
        return {}
    service = select(EService.id).where(EService.code == CERTIFICATES).scalar_subquery()
    is_admin = exists().where(assoc_user_role.c.user_id == User.id, assoc_user_role.c.role_id == Role.id,
                              Role.name == OPERATOR_ADMIN)
    ticked = exists().where(Entitlement.user_id == User.id,
                            Entitlement.organisation_id == Membership.organisation_id,
                            Entitlement.eservice_id == service)
    subscribed = exists().where(OperatorSubscription.organisation_id == Membership.organisation_id,
                                OperatorSubscription.eservice_id == service)
    readers = {}
    for organisation_id, user in db.session.execute(
            select(Membership.organisation_id, User).join(User, User.id == Membership.user_id)
            .where(Membership.organisation_id.in_(organisation_ids), User.active.is_(True), subscribed,
                   or_(is_admin, ticked)).order_by(Membership.organisation_id, User.id)):
        readers.setdefault(organisation_id, []).append(user)
    return readers


# ---------------------------------------------------------------------------
# Publication
# ---------------------------------------------------------------------------


def fingerprint_of(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def read_x509(data: bytes):
    """The X.509 certificate a file holds (PEM: the first of the file, DER), or None."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


def x509_expiry(certificate) -> date:
    """The local date of a certificate's end of validity (notAfter)."""
    return certificate.not_valid_after_utc.astimezone(zone()).date()


def operator_choices() -> list:
    """The operators staff may publish certificates for."""
    return db.session.scalars(select(Organisation).where(Organisation.kind == OrganisationKind.operator)
                              .order_by(Organisation.name)).all()


def eservice_choices() -> list:
    return db.session.scalars(select(EService).where(EService.code != CERTIFICATES)
                              .order_by(EService.position)).all()


def _subscribes(organisation_id, eservice_id) -> bool:
    return db.session.scalar(select(exists().where(OperatorSubscription.organisation_id == organisation_id,
                                                   OperatorSubscription.eservice_id == eservice_id)))


def _required(field, label):
    return CertificateRefused(field, gettext("%(field)s: this field is required.", field=label))


def _row_id(model, value, field, label):
    """The row of `model` whose id the form sent, or a refusal naming the field."""
    if value in (None, ""):
        raise _required(field, label)
    try:
        row = db.session.get(model, int64(value))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise CertificateRefused(field, gettext("%(field)s: not a valid choice.", field=label))
    return row


def _date(value, field, label):
    """A date from the form (text, `YYYY-MM-DD`) or from code; None when empty."""
    if isinstance(value, date):
        return value
    try:
        return parse_date(value, label)
    except Refused as refusal:
        raise CertificateRefused(field, refusal.message) from None


def publish(publisher, *, organisation_id, eservice_id, environment, label, published_on, expires_on,
            upload) -> Certificate:
    """Publish a certificate for an operator (platform staff): check the form, read the
    file (X.509: its expiry date and fingerprint), store it, and mail the operator's
    readers the "création" or "renouvellement" text. The caller commits; on a refusal
    nothing is kept (the file neither)."""
    operator_label, service_label = gettext("Operator"), gettext("E-service")
    operator = _row_id(Organisation, organisation_id, "organisation", operator_label)
    if operator.kind != OrganisationKind.operator:
        raise CertificateRefused("organisation", gettext("%(field)s: not a valid choice.", field=operator_label))
    certificates_service = db.session.scalar(select(EService).where(EService.code == CERTIFICATES))
    if not _subscribes(operator.id, certificates_service.id):
        raise CertificateRefused("organisation", gettext(
            "%(field)s: %(operator)s does not subscribe to “%(service)s”: its accounts would not see the "
            "certificate.", field=operator_label, operator=operator.name, service=certificates_service.name))
    service = _row_id(EService, eservice_id, "eservice", service_label)
    if service.code == CERTIFICATES or not _subscribes(operator.id, service.id):
        raise CertificateRefused("eservice", gettext(
            "%(field)s: %(operator)s does not subscribe to %(service)s.", field=service_label,
            operator=operator.name, service=service.name))
    environment_label = gettext("Environment")
    if not environment:
        raise _required("environment", environment_label)
    if environment not in CertificateEnvironment.__members__:
        raise CertificateRefused("environment", gettext("%(field)s: not a valid choice.", field=environment_label))
    label_label = gettext("Label")
    label = (label or "").strip()
    if not label:
        raise _required("label", label_label)
    if len(label) > LABEL_MAX:
        raise CertificateRefused("label", gettext("%(field)s: at most %(num)d characters.", field=label_label,
                                                  num=LABEL_MAX))
    today = local_today()
    published_label, expires_label = gettext("Published on"), gettext("Expires on")
    published = _date(published_on, "published_on", published_label) or today
    if published > today:
        raise CertificateRefused("published_on", gettext(
            "%(field)s: the certificate is shown and announced now; a date in the future is not accepted.",
            field=published_label))
    expires = _date(expires_on, "expires_on", expires_label)
    file_label = gettext("Certificate file")
    if upload is None or not upload.filename:
        raise _required("file", file_label)
    data = upload.stream.read(current_app.config["FILE_MAX_BYTES"] + 1)
    upload.stream.seek(0)
    certificate_x509 = read_x509(data)
    if certificate_x509 is not None:
        enforced = x509_expiry(certificate_x509)
        if expires is None:
            expires = enforced
        elif expires != enforced:
            raise CertificateRefused("expires_on", gettext(
                "%(field)s: the certificate's file says it expires on %(date)s (leave the date empty to take it).",
                field=expires_label, date=enforced.strftime("%d/%m/%Y")))
        fingerprint = fingerprint_of(certificate_x509.fingerprint(hashes.SHA256()))
    else:
        if expires is None:
            raise CertificateRefused("expires_on", gettext(
                "%(field)s: the file is not an X.509 certificate, whose date could be read: type the date.",
                field=expires_label))
        fingerprint = fingerprint_of(hashlib.sha256(data).digest())
    if expires < today:
        raise CertificateRefused("expires_on", gettext("%(field)s: this certificate has already expired.",
                                                       field=expires_label))
    if expires <= published:
        raise CertificateRefused("expires_on", gettext("%(field)s: it must come after the publication date.",
                                                       field=expires_label))
    environment = CertificateEnvironment[environment]
    renews = db.session.scalar(select(exists().where(
        Certificate.organisation_id == operator.id, Certificate.eservice_id == service.id,
        Certificate.environment == environment, Certificate.expires_on <= expires)))
    certificate = Certificate(organisation_id=operator.id, eservice_id=service.id, environment=environment,
                              label=label, published_on=published, expires_on=expires, fingerprint=fingerprint)
    db.session.add(certificate)
    db.session.flush()
    stored = files.save_upload(upload, certificate, publisher, field_label=file_label, field="file",
                               allowed_types=FILE_TYPES)
    certificate.file_id = stored.id
    notifications.notify(
        readers_by_operator([operator.id]).get(operator.id, []),
        "operator/certificate_renewed" if renews else "operator/certificate_created",
        _mail_context(certificate.label, service.name, environment, expires), link=certificate_link(certificate.id))
    return certificate


def _mail_context(label, eservice, environment, expires_on) -> dict:
    return {"label": label, "eservice": eservice, "environment": CERTIFICATE_ENVIRONMENT_LABELS[environment],
            "expires_on": expires_on, "section": SECTION, "grid": notifications.absolute_url(GRID)}


def delete(certificate) -> None:
    """A certificate published by mistake goes, with its file (once the deletion commits),
    its downloads and its alerts (written out: SQLite enforces no foreign key, and may
    give its id to the next certificate)."""
    for model in (CertificateDownload, CertificateAlert):
        db.session.execute(sa_delete(model).where(model.certificate_id == certificate.id))
    if certificate.file is not None:
        files.delete_file(certificate.file)


# ---------------------------------------------------------------------------
# Downloads: as often as wanted, each recorded
# ---------------------------------------------------------------------------


def record_download(certificate_id, user) -> CertificateDownload:
    download = CertificateDownload(certificate_id=certificate_id, user_id=getattr(user, "id", None),
                                   downloaded_on=utcnow())
    db.session.add(download)
    return download


files.record_downloads(Certificate.__tablename__, lambda stored, user: record_download(stored.owner_id, user))


def download_stats(ids) -> dict:
    """{certificate id: (downloads, last download)} for these certificates, of the
    downloads the reader sees (an operator's admin: all of their certificates')."""
    if not ids:
        return {}
    query = apply_scope(db.session.query(CertificateDownload.certificate_id, func.count(),
                                         func.max(CertificateDownload.downloaded_on)), CertificateDownload)
    return {certificate_id: (count, last) for certificate_id, count, last in query.filter(
        CertificateDownload.certificate_id.in_(list(ids))).group_by(CertificateDownload.certificate_id)}


def downloads_of(certificate) -> list:
    """The downloads of a certificate the reader sees, latest first."""
    return apply_scope(db.session.query(CertificateDownload), CertificateDownload).filter(
        CertificateDownload.certificate_id == certificate.id).order_by(
        CertificateDownload.downloaded_on.desc(), CertificateDownload.id.desc()).limit(500).all()


# ---------------------------------------------------------------------------
# The alert sweep
# ---------------------------------------------------------------------------


def _template(threshold, first) -> str:
    if threshold == EXPIRED:
        return "operator/certificate_expired"
    return "operator/certificate_alert" if threshold == first else "operator/certificate_reminder"


def _insert_alerts(values) -> list:
    """Insert these alert rows (sorted, so that two sweeps wait for each other in the
    same order), leaving out those another sweep holds already; returns the
    (certificate id, threshold, skipped) of the rows this one inserted. PostgreSQL gets
    them as three arrays (a statement of a few parameters, not thousands)."""
    returned = (CertificateAlert.certificate_id, CertificateAlert.threshold, CertificateAlert.skipped)
    dialect = transactions.dialect()
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY, insert

        rows = func.unnest(*[bindparam(name, [row[name] for row in values], type_=ARRAY(kind))
                             for name, kind in (("certificate_id", Integer), ("threshold", Integer),
                                                ("skipped", Boolean))]).table_valued(
            "certificate_id", "threshold", "skipped").render_derived()
        statement = insert(CertificateAlert).from_select(
            ["certificate_id", "threshold", "skipped", "sent_on"],
            select(rows.c.certificate_id, rows.c.threshold, rows.c.skipped,
                   literal(values[0]["sent_on"], DateTime)))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        statement = insert(CertificateAlert).values(values)
    else:  # pragma: no cover - the two databases Guichet runs on
        raise RuntimeError(f"no upsert for {dialect}")
    return db.session.execute(statement.on_conflict_do_nothing(index_elements=["certificate_id", "threshold"])
                              .returning(*returned)).all()


def sweep_alerts(today=None, batch_size=1000) -> int:
    """Periodic job: send the expiry alerts due today (see the module's docstring), in
    batches of certificates, a few queries each, committed one by one. Returns the
    number of (certificate, threshold) alerts sent."""
    today = today or local_today()
    levels = thresholds()
    first = levels[0]
    nearest = case(*[(Certificate.expires_on <= crossed_on(level, today), level) for level in reversed(levels)])
    oldest = today - timedelta(days=soon_days())
    alerted = exists().where(CertificateAlert.certificate_id == Certificate.id, CertificateAlert.threshold <= nearest)
    due = (select(Certificate.id, nearest)
           .where(Certificate.expires_on <= crossed_on(levels[0], today), Certificate.expires_on > oldest,
                  ~newer_exists(), ~alerted)
           .order_by(Certificate.id).limit(batch_size))
    sent, after = 0, 0
    while True:
        transactions.serialise()  # SQLite: one sweep's batch at a time; PostgreSQL: the constraint decides
        rows = db.session.execute(due.where(Certificate.id > after)).all()
        if not rows:
            db.session.commit()
            return sent
        after = rows[-1][0]
        now = utcnow()
        values = sorted(({"certificate_id": certificate_id, "threshold": level, "skipped": level != threshold,
                          "sent_on": now}
                         for certificate_id, threshold in rows for level in levels if level >= threshold),
                        key=lambda row: (row["certificate_id"], row["threshold"]))
        won = [(certificate_id, threshold) for certificate_id, threshold, skipped in _insert_alerts(values)
               if not skipped]
        if won:
            _mail_alerts(won, first)
        db.session.commit()
        sent += len(won)


def _mail_alerts(won, first) -> None:
    """One letter per (certificate, threshold) won, to its operator's readers."""
    threshold_of = dict(won)
    certificates = db.session.execute(
        select(Certificate.id, Certificate.organisation_id, Certificate.label, Certificate.environment,
               Certificate.expires_on, EService.name).join(EService, EService.id == Certificate.eservice_id)
        .where(Certificate.id.in_(list(threshold_of))).order_by(Certificate.id)).all()
    readers = readers_by_operator(row.organisation_id for row in certificates)
    notifications.notify_each(
        notifications.Letter(readers.get(row.organisation_id, []), _template(threshold_of[row.id], first),
                             {**_mail_context(row.label, row.name, row.environment, row.expires_on),
                              "threshold": threshold_of[row.id]}, certificate_link(row.id))
        for row in certificates if readers.get(row.organisation_id))


#: The sweep, every morning at 07:00 (app/platform/schedule.py registers it).
PERIODIC_JOBS = [{"func": sweep_alerts, "queue_name": jobs.DEFAULT_QUEUE, "cron": "0 7 * * *"}]
