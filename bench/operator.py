"""Desk E, operator e-services benchmark.

    .venv/bin/python bench/operator.py [--part all|certificates] [--certificates N] [--database-url URL]

Builds the schema in its own PostgreSQL database (default `guichet_bench_operator`,
created if missing, emptied; never `test`) with `flask db upgrade` and the demo data.

Part `certificates`: `--certificates` certificates (default 100,000) of 2,000
operators, each with its OperatorAdmin and one account ticked for "Mes certificats
numériques": 25 e-service × environment pairs per operator, each with a current
certificate (expiring between 60 days ago and a year ahead) and the one it renewed, a
year older. Then the alert sweep (`app.rules.operator.certificates.sweep_alerts`),
as the daily job runs it: once (`cert_sweep_s`), again the same morning
(`cert_second_sweep_s`, nothing left to send), and a week later twice at once, in
two threads (`cert_concurrent_sweep_s`, the slower of the two). Prints
`cert_alerts_sent` (alerts of the first sweep), `cert_mails` (their mails, one per
reader), `cert_alerts_week_later`, and `cert_duplicate_alerts`: the (certificate,
threshold) pairs sent more than once, counted in the alert table and in the outbox
(mails beyond one per reader of each alert sent), which must be 0.
"""
from __future__ import annotations

import os
import sys

# This file is named after its desk, like the standard library's `operator` module,
# which Python would find here first: its folder leaves the path until the standard
# one is loaded, then comes back for `common`.
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [path for path in sys.path if os.path.abspath(path or os.curdir) != BENCH]
import operator  # noqa: E402,F401

sys.path[:0] = [BENCH, os.path.dirname(BENCH)]

import argparse  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time as clock  # noqa: E402
from datetime import timedelta  # noqa: E402

import common  # noqa: E402

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_operator"
OPERATORS, PAIRS = 2000, 25


def ensure_database(url):
    """The benchmark's own database, emptied."""
    common.ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(url):
    from flask_migrate import upgrade

    from app import cli, create_app, demo
    from app.extensions import db

    app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "MAIL_SERVER": None, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 4, "max_overflow": 0}})
    with app.app_context():
        upgrade()
        cli.sync_roles()
        for _ in demo.load():
            pass
        db.session.commit()
    return app


# ---------------------------------------------------------------------------
# Certificates and their alert sweep
# ---------------------------------------------------------------------------


def load_certificates(app, total, seed=14):
    """The operators, their readers and `total` certificates, written with Core inserts."""
    from flask_appbuilder.security.sqla.models import User, assoc_user_role

    from app.access.operator import CERTIFICATES
    from app.extensions import db
    from app.models import (Certificate, Entitlement, EService, Membership, OperatorSubscription, Organisation,
                            OrganisationKind, utcnow)
    from app.platform.clock import local_today
    from app.security import OPERATOR_ADMIN, OPERATOR_USER

    rng = random.Random(seed)
    operators = max(1, min(OPERATORS, total // (2 * PAIRS)))
    per_operator = total // operators
    with app.app_context():
        sm = app.appbuilder.sm
        now, today = utcnow(), local_today()
        services = db.session.execute(select(EService.id, EService.code).order_by(EService.position)).all()
        readable = next(s.id for s in services if s.code == CERTIFICATES)
        pairs = [(s.id, env) for s in services if s.code != CERTIFICATES for env in ("production", "non_production")]
        session = db.session
        session.execute(insert(Organisation), [
            {"name": f"Opérateur banc {n:04d}", "kind": OrganisationKind.operator, "city": "Lyon", "active": True,
             "created_on": now, "changed_on": now} for n in range(operators)])
        org_ids = session.scalars(select(Organisation.id).where(Organisation.name.like("Opérateur banc %"))
                                  .order_by(Organisation.id)).all()
        session.execute(insert(OperatorSubscription), [
            {"organisation_id": org, "eservice_id": service.id, "created_on": now, "changed_on": now}
            for org in org_ids for service in services])
        session.execute(insert(User), [
            {"first_name": "Banc", "last_name": f"{kind} {n}", "username": f"banc-{kind}-{n}", "password": "x",
             "email": f"banc-{kind}-{n}@guichet.example", "active": True, "created_on": now, "changed_on": now}
            for n in range(operators) for kind in ("admin", "reader")])
        users = dict(session.execute(select(User.username, User.id).where(User.username.like("banc-%"))).all())
        admin_role, user_role = sm.find_role(OPERATOR_ADMIN).id, sm.find_role(OPERATOR_USER).id
        session.execute(insert(assoc_user_role), [
            {"user_id": users[f"banc-{kind}-{n}"], "role_id": role}
            for n in range(operators) for kind, role in (("admin", admin_role), ("reader", user_role))])
        session.execute(insert(Membership), [
            {"user_id": users[f"banc-{kind}-{n}"], "organisation_id": org_ids[n], "created_on": now,
             "changed_on": now} for n in range(operators) for kind in ("admin", "reader")])
        session.execute(insert(Entitlement), [
            {"user_id": users[f"banc-reader-{n}"], "organisation_id": org_ids[n], "eservice_id": readable,
             "granted_on": now} for n in range(operators)])
        rows = []
        for n, org in enumerate(org_ids):
            for service_id, environment in rng.sample(pairs, min(len(pairs), per_operator // 2)):
                expires = today + timedelta(days=rng.randint(-60, 365))
                for generation, ends in (("old", expires - timedelta(days=365)), ("current", expires)):
                    rows.append({"organisation_id": org, "eservice_id": service_id, "environment": environment,
                                 "label": f"{n:04d}_{service_id}_{environment[:4]}_{generation}",
                                 "published_on": ends - timedelta(days=400), "expires_on": ends,
                                 "fingerprint": f"{rng.getrandbits(256):064X}", "created_on": now, "changed_on": now})
        for start in range(0, len(rows), 10000):
            session.execute(insert(Certificate), rows[start:start + 10000])
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
        return len(rows), operators


ALERT_TEMPLATES = ["operator/certificate_alert", "operator/certificate_reminder", "operator/certificate_expired"]


def duplicates(app):
    """Alerts sent twice: (certificate, threshold) pairs with two rows in the alert
    table, and mails in the outbox beyond one per reader of each alert sent."""
    from app.extensions import db
    from app.models import Certificate, CertificateAlert, OutboxMail
    from app.rules.operator.certificates import readers_by_operator

    with app.app_context():
        in_table = db.session.scalar(select(func.count()).select_from(
            select(CertificateAlert.certificate_id).group_by(CertificateAlert.certificate_id,
                                                            CertificateAlert.threshold)
            .having(func.count() > 1).subquery()))
        sent = db.session.execute(
            select(Certificate.organisation_id, func.count()).join(
                CertificateAlert, CertificateAlert.certificate_id == Certificate.id)
            .where(CertificateAlert.skipped.is_(False)).group_by(Certificate.organisation_id)).all()
        readers = readers_by_operator(org for org, _ in sent)
        expected = sum(alerts * len(readers.get(org, [])) for org, alerts in sent)
        mails = db.session.scalar(select(func.count()).where(OutboxMail.template.in_(ALERT_TEMPLATES)))
        return in_table + max(0, mails - expected)


def mail_count(app):
    from app.extensions import db
    from app.models import OutboxMail

    with app.app_context():
        return db.session.scalar(select(func.count()).where(OutboxMail.template.in_(ALERT_TEMPLATES)))


def timed_sweep(app, today, results=None):
    from app.rules.operator.certificates import sweep_alerts

    with app.app_context():
        began = clock.perf_counter()
        sent = sweep_alerts(today=today)
        elapsed = clock.perf_counter() - began
    if results is not None:
        results.append((elapsed, sent))
    return elapsed, sent


def certificates_bench(app, args):
    from app.platform.clock import local_today

    with app.app_context():
        today = local_today()
    began = clock.perf_counter()
    total, operators = load_certificates(app, args.certificates)
    print(f"cert_certificates: {total} ({operators} operators, 2 readers each)")
    print(f"cert_load_s: {clock.perf_counter() - began:.1f}")
    first_s, first = timed_sweep(app, today)
    second_s, second = timed_sweep(app, today)
    mails = mail_count(app)
    print(f"cert_sweep_s: {first_s:.2f}")
    print(f"cert_alerts_sent: {first}")
    print(f"cert_mails: {mails}")
    print(f"cert_second_sweep_s: {second_s:.2f}")
    print(f"cert_second_sweep_sent: {second}")
    results = []
    threads = [threading.Thread(target=timed_sweep, args=(app, today + timedelta(days=7), results))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"cert_concurrent_sweep_s: {max(elapsed for elapsed, _ in results):.2f}")
    print(f"cert_alerts_week_later: {sum(sent for _, sent in results)} "
          f"({' + '.join(str(sent) for _, sent in results)} by the two sweeps)")
    print(f"cert_duplicate_alerts: {duplicates(app)}")


#: The bench's parts, in the order `--part all` runs them.
PARTS = {"certificates": certificates_bench}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=100000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--part", choices=("all",) + tuple(PARTS), default="all")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/operator.py runs on PostgreSQL")
    ensure_database(args.database_url)
    app = build(args.database_url)
    for name, part in PARTS.items():
        if args.part in ("all", name):
            part(app, args)


if __name__ == "__main__":
    main()
