"""Desk E, operator e-services benchmark (not `bench/operator.py`: a file of that name
in bench/ would be the standard library's `operator` for every benchmark run there).

    .venv/bin/python bench/operator_desk.py [--part all|eligibility|certificates|slots|dashboard|orders|aftersales]
                                       [--buildings N] [--requests R] [--clients C] [--certificates N]
                                       [--slot-days D] [--appointments N] [--orders N] [--order-requests N]
                                       [--diagnostics N] [--database-url URL] [--skip-load]

Part `eligibility`: builds the schema in its own PostgreSQL database (default
`guichet_bench_operator`, created if missing, emptied; never `test`) with `flask db
upgrade` and the demo data, then loads `--buildings` more buildings (default
1,000,000) in 400 communes spread over mainland France — the demo's generator
(app/demo/operator/buildings.py: streets of houses and blocks of flats, states
mixed, structures where the fibre is deployed, a line in one building in twelve),
written with COPY, the trigram, coordinate and street indexes built afterwards.
Prints `buildings`, `structures`, `lines` and `load_s` (generation, COPY, indexes
and ANALYZE); `--skip-load` measures on the database a previous run left.

Then the app is served as `make run` serves it (gunicorn, 2 processes of 4 threads,
Redis off, ELIGIBILITY_API_RATE_LIMIT raised for the bench's one account) and `--clients`
threads (default 2), each with a bearer token of `opuser` and a kept-alive
connection, ask `POST /api/v1/operator/serviceQualification` `--requests` times
(default 1,000) for each kind of place, about buildings drawn at random among all:
its IMB id (in lower case one time in three); its address typed as people type it
(abbreviations, accents dropped or not, `b`/`bis`, with the postcode or the
commune); a point a few metres from it, in Lambert-93 or WGS84, 50 m around. Prints
for each kind `eligibility_by_<kind>_ms_p50` / `_p95` (the answer as the client waits
for it, the JSON read), `eligibility_by_<kind>_found_first` (answers whose first
building is the one drawn) and `eligibility_errors` (answers other than 201).

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

Part `slots` (e-RDV): 100 technicians' zones (the départements), each with one
building and a capacity calendar of `--slot-days` days (default 60; both half-days,
10 to 25 slots each), filled by about `--appointments` appointments (default 200,000;
5 % cancelled, some slots full), written with COPY (`slot_load_s`). Then `--clients`
API clients of `opuser` ask `POST /api/v1/operator/appointment/searchTimeSlot`
`--requests` times (after 50 to warm up): a zone at random, a window of 3 to 18 days
within [D+8, D+26], a preferred day or moment one time in four. Prints
`slot_search_ms_p50` / `_p95` (target p95 < 50), `slot_search_without_free_slot` and
`slot_search_errors` (answers other than 201).

Part `dashboard`: `--orders` orders (default 1,000,000; those a previous run left
count) of 100 operators, as many each (Fibre Rhône Télécom one of them), every type and state,
written with COPY then VACUUM ANALYZE. Prints `dashboard_index_only` (the dashboard's
GROUP BY for that operator read from its index alone, EXPLAIN says), then, the app
served as above, `--requests` GETs of the dashboard page ("Tableau de bord") as
`opuser` (an OperatorUser of Fibre Rhône Télécom, signed in through the login form):
`dashboard_ms_p50` / `_p95` (target p95 < 30) and `dashboard_orders_counted`; and
the same as `ops` (the wholesale back office, who counts every order):
`dashboard_wholesale_ms_p50` / `_p95`.

Part `orders`: `--order-requests` validated e-RDV appointments at the seed's building,
then as many creation orders through TMF622 (`POST /api/v1/operator/productOrder`,
with the wizard's checks) from `--clients` threads with `opuser`'s bearer token:
`order_create_ms_p50` / `_p95` and `order_create_errors`.

Part `aftersales`: on the demo's accesses, `--requests` diagnostics through the network
simulator (`diagnostic_run_ms_p50` / `_p95`, a global test recorded and committed) and
as many incident filings with forcing, their latest diagnostics attached and the mail
to the filer queued (`incident_file_ms_p50` / `_p95`); then `--diagnostics` results
(default 200,000) older than 48 hours, written in bulk, and the periodic sweep that
deletes them (`diagnostic_sweep_s`, `diagnostic_swept`).

Part `grid` (`--part grid`, not in `all`): the orders grid (/operator/orders/) over
`--grid-rows` orders (default 1,000,000) in its own database (default
`guichet_bench_operator_grid`, kept between runs once it holds them), written with COPY:
100 operators, the demo's Fibre Rhône Télécom holding a tenth, every type and state,
over three years, on the demo's buildings. Timed as `ops` (the wholesale back office:
every order) and as `opuser` (an OperatorUser of Fibre Rhône Télécom: its orders):
first page, deep page, filtered (failed), sorted (ordered on, latest first), keyword
(the operator's reference contains a name): `operator_grid_<viewer>_<case>_ms_p50` /
`_p95`; then opuser's CSV export, `operator_grid_csv_rows_per_s`.
"""
from __future__ import annotations

import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from itertools import islice  # noqa: E402

ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)

import common  # noqa: E402
from events import LiveServer, build, percentile  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_operator"
URL = "/api/v1/operator/serviceQualification"
OPERATORS, PAIRS = 2000, 25  # the certificates part: operators, e-service × environment pairs each

# ---------------------------------------------------------------------------
# A million buildings: communes of streets, as the demo's
# ---------------------------------------------------------------------------

ROOTS = ["Saint-Martin", "Villeneuve", "Montigny", "Beaumont", "Fontaine", "Champagne", "Bellevue", "Castelnau",
         "Lavaur", "Mirebeau", "Rochefort", "Chateauneuf", "Bourg", "Neuville", "Valence", "Marcilly", "Clermont",
         "Pont", "Mont", "Roche", "Vernon", "Brignais", "Chambon", "Lussac", "Sainte-Croix", "Aubigny", "Aurillac",
         "Bellegarde", "Charmes", "Crécy", "Domérat", "Écully", "Fleury", "Gisors", "Heyrieux", "Issoire",
         "Jarnac", "Lamballe", "Meyzieu", "Nérac"]
QUALIFIERS = ["", "-sur-Loire", "-en-Bresse", "-le-Château", "-les-Bains", "-sur-Mer", "-la-Forêt", "-d'Azergues",
              "-sous-Bois", "-le-Vieux"]
TYPES = ["RUE"] * 10 + ["AVENUE"] * 3 + ["BOULEVARD"] * 2 + ["CHEMIN", "IMPASSE", "ALLEE", "PLACE", "ROUTE",
                                                            "QUAI", "COURS"]
NAMES = ["VICTOR HUGO", "JEAN JAURES", "PASTEUR", "DE LA REPUBLIQUE", "DU GENERAL DE GAULLE", "GAMBETTA",
         "JULES FERRY", "DE LA GARE", "DE L'EGLISE", "DU MOULIN", "DES ECOLES", "DE LA MAIRIE", "VOLTAIRE",
         "ANATOLE FRANCE", "DU 8 MAI 1945", "DU 11 NOVEMBRE", "SAINT-MICHEL", "SAINTE-ANNE", "DES LILAS",
         "DES ACACIAS", "DU CHATEAU", "DE LA PAIX", "EMILE ZOLA", "LOUIS PASTEUR", "DU MARECHAL FOCH",
         "GEORGES CLEMENCEAU", "JEAN MOULIN", "DES TILLEULS", "DU STADE", "DE LA LIBERATION", "DES PRES",
         "DE LA FONTAINE", "PAUL BERT", "ARISTIDE BRIAND", "CHARLES DE GAULLE", "DU PRESIDENT WILSON",
         "DES CERISIERS", "DU PARC", "DE LA LIBERTE", "ALSACE-LORRAINE", "DES VIGNES", "DU BOIS", "DES JARDINS",
         "MARCEL PAGNOL", "ALBERT CAMUS", "DU DOCTEUR SCHWEITZER", "DES ROSIERS", "SAINT-JEAN", "DU COMMERCE",
         "DE LA RESISTANCE", "FRANCOIS MITTERRAND", "JEAN MERMOZ", "DES PEUPLIERS", "DE BELLEVUE",
         "DU CHAMP DE FOIRE", "DES FORGES", "LECLERC", "DU LAVOIR", "DE LA POSTE", "DES CHENES"]
DEPARTMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20]


def bench_communes(count, streets, rng):
    """`count` communes (INSEE, postcode, streets with RIVOLI codes) across mainland France."""
    from app.demo.operator.buildings import Commune

    names, communes = set(), []
    while len(communes) < count:
        name = (rng.choice(ROOTS) + rng.choice(QUALIFIERS)).upper()
        if name in names:
            name = f"{name}-{len(communes)}"
        names.add(name)
        department = DEPARTMENTS[len(communes) % len(DEPARTMENTS)]
        insee = f"{department}{100 + len(communes) // len(DEPARTMENTS):03d}"
        centre = (rng.uniform(250_000, 1_050_000), rng.uniform(6_250_000, 7_050_000))
        chosen = rng.sample([(kind, name) for kind in dict.fromkeys(TYPES) for name in NAMES], streets)
        street_list = [(f"{kind} {street}", f"{index:04d}") for index, (kind, street) in enumerate(chosen)]
        communes.append(Commune(name, f"{department}{rng.randint(0, 99):02d}0", insee, centre, street_list,
                                f"{insee}NRO", "09" + department))
    return communes


BUILDING_COLUMNS = ("id", "imb_id", "state", "oi_code", "building_name", "extra_info", "street_number",
                    "number_suffix", "street_name", "postcode", "commune", "insee_code", "rivoli_code", "address_key",
                    "x_l93", "y_l93", "longitude", "latitude", "dwellings", "access_acceptance_from",
                    "access_supply_from")
STRUCTURE_COLUMNS = ("building_id", "floor", "pm_ref", "pmt_ref", "pbo_ref", "pbo_type", "location_type",
                     "patching_type", "works_nature", "pm_prdm_link", "ftth_premises")
LINE_COLUMNS = ("building_id", "line_number", "floor", "active")
#: Built after the rows are in: faster than kept up to date row by row.
LATE_INDEXES = ("ix_building_address_key_trgm", "ix_building_l93", "ix_building_street")


def load_buildings(url, count):
    """COPY `count` generated buildings, their structures and lines; then the indexes."""
    import psycopg

    from app.demo.operator.buildings import generate, with_wgs84

    rng = random.Random(2154)
    communes_count, streets = 400, 50
    per_street = -(-count // (communes_count * streets))
    began = time.perf_counter()
    totals = {"buildings": 0, "structures": 0, "lines": 0}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        definitions = dict(connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'building' AND indexname = ANY(%s)",
            (list(LATE_INDEXES),)).fetchall())
        for name in definitions:
            connection.execute(f"DROP INDEX {name}")
        next_id = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM building").fetchone()[0]
        rows = generate(bench_communes(communes_count, streets, rng), per_street, rng, date.today())
        with connection.cursor() as cursor:
            while chunk := list(islice(rows, 50_000 if totals["buildings"] + 50_000 <= count
                                       else count - totals["buildings"])):
                with_wgs84([building for building, _, _ in chunk])
                with cursor.copy(f"COPY building ({', '.join(BUILDING_COLUMNS)}) FROM STDIN") as copy:
                    for offset, (building, _, _) in enumerate(chunk):
                        building["id"], building["state"] = next_id + offset, building["state"].value
                        copy.write_row([building[name] for name in BUILDING_COLUMNS])
                with cursor.copy(f"COPY building_structure ({', '.join(STRUCTURE_COLUMNS)}) FROM STDIN") as copy:
                    for building, structures, _ in chunk:
                        for row in structures:
                            copy.write_row([building["id"]] + [row[name] for name in STRUCTURE_COLUMNS[1:]])
                            totals["structures"] += 1
                with cursor.copy(f"COPY building_line ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
                    for building, _, lines in chunk:
                        for row in lines:
                            copy.write_row([building["id"]] + [row[name] for name in LINE_COLUMNS[1:]])
                            totals["lines"] += 1
                next_id += len(chunk)
                totals["buildings"] += len(chunk)
        copied = time.perf_counter()
        connection.execute("SET maintenance_work_mem = '512MB'")
        for definition in definitions.values():
            connection.execute(definition)
        for table in ("building", "building_structure", "building_line"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE building")
        connection.execute("VACUUM ANALYZE building_structure")
        connection.execute("VACUUM ANALYZE building_line")
    done = time.perf_counter()
    return totals, copied - began, done - copied


# ---------------------------------------------------------------------------
# Places as an API client sends them, about buildings drawn at random
# ---------------------------------------------------------------------------

SHORT = {"AVENUE": "av.", "BOULEVARD": "bd", "SAINT": "St", "SAINTE": "Ste", "CHEMIN": "chem.", "IMPASSE": "imp.",
         "ALLEE": "all.", "PLACE": "pl.", "ROUTE": "rte"}
ACCENTED = {"ETIENNE": "Étienne", "GENERAL": "Général", "MARECHAL": "Maréchal", "EGLISE": "Église",
            "PRES": "Prés", "CHENES": "Chênes", "LIBERATION": "Libération", "REPUBLIQUE": "République",
            "RESISTANCE": "Résistance", "PRESIDENT": "Président", "ECOLES": "Écoles", "CHATEAU": "Château"}


def typed_address(rng, row):
    """An address as a person types it: case, abbreviations, accents, suffix, postcode or commune."""
    number, suffix, street, postcode, commune = row
    words = []
    for word in street.replace("-", " - ").split():
        if word in SHORT and rng.random() < 0.5:
            words.append(SHORT[word])
        elif word in ACCENTED and rng.random() < 0.5:
            words.append(ACCENTED[word])
        else:
            words.append(word.lower() if rng.random() < 0.5 else word.title())
    text = " ".join(words).replace(" - ", "-")
    if suffix:
        number = f"{number}{rng.choice(['b', ' bis', 'B'])}" if suffix == "BIS" else f"{number} {suffix.lower()}"
    town = commune.title().replace("Saint-", rng.choice(["St-", "Saint-"]))
    where = rng.choice([f"{postcode} {town}", town, f"{postcode}"])
    return f"{number}, {text}, {where}" if rng.random() < 0.5 else f"{number} {text} {where}"


def draw(url, requests):
    """`requests` buildings drawn at random (ids uniform over the table), with what
    each kind of place needs."""
    import psycopg

    rng = random.Random(4326)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        low, high = connection.execute("SELECT min(id), max(id) FROM building").fetchone()
        ids = rng.sample(range(low, high + 1), min(high - low + 1, requests * 3))
        rows = connection.execute(
            "SELECT id, imb_id, street_number, number_suffix, street_name, postcode, commune, x_l93, y_l93, "
            "longitude, latitude FROM building WHERE id = ANY(%s)", (ids,)).fetchall()
    rng.shuffle(rows)
    rows = rows[:requests * 3]
    by_id = [({"place": {"@type": "GeographicSite", "id": imb.lower() if rng.random() < 0.33 else imb}}, imb)
             for _, imb, *_ in rows[:requests]]
    by_address = [({"place": {"@type": "GeographicAddress",
                              "fullAddress": typed_address(rng, (number, suffix, street, postcode, commune))}}, imb)
                  for _, imb, number, suffix, street, postcode, commune, *_ in rows[requests:2 * requests]]
    by_point = []
    for _, imb, *_, x, y, longitude, latitude in rows[2 * requests:]:
        if rng.random() < 0.5:
            place = {"@type": "GeographicLocation", "spatialRef": "EPSG:2154",
                     "geometry": [{"x": round(x + rng.uniform(-1, 1), 2), "y": round(y + rng.uniform(-1, 1), 2)}]}
        else:
            place = {"@type": "GeographicLocation", "spatialRef": "EPSG:4326",
                     "geometry": [{"x": round(longitude, 7), "y": round(latitude, 7)}]}
        by_point.append(({"place": {**place, "radius": 50}}, imb))
    return {"id": by_id, "address": by_address, "point": by_point}


def ask(server, token, work, clients):
    """Send each (body, expected IMB) of `work` from `clients` threads; returns
    [(ms, status, first building's IMB)]."""
    import http.client

    queue = list(work)
    lock = threading.Lock()
    results = []

    def client():
        connection = server.connection()
        headers = {"Authorization": f"Bearer {token}"}
        mine = []
        while True:
            with lock:
                if not queue:
                    break
                body, expected = queue.pop()
            began = time.perf_counter()
            try:
                status, answer = server.request("POST", URL, body, headers, connection)
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                connection = server.connection()
                status, answer = server.request("POST", URL, body, headers, connection)
            elapsed = (time.perf_counter() - began) * 1000
            first = None
            if status == 201 and isinstance(answer, dict):
                service = answer["serviceQualificationItem"][0]["service"]
                first = service["place"][0]["id"] if "place" in service else None
            mine.append((elapsed, status, first == expected))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def eligibility_bench(app, args):
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()
    if not args.skip_load:
        totals, copy_s, index_s = load_buildings(args.database_url, args.buildings)
        print(f"buildings: {totals['buildings']} (and the demo's 2,000)")
        print(f"structures: {totals['structures']}")
        print(f"lines: {totals['lines']}")
        print(f"load_s: {copy_s + index_s:.0f} (generate and COPY {copy_s:.0f}, indexes and ANALYZE {index_s:.0f})")
    work = draw(args.database_url, args.requests)
    os.environ["ELIGIBILITY_API_RATE_LIMIT"] = "1000000 per minute"  # one account asks everything
    server = LiveServer(args.database_url, args.processes, args.threads)
    errors, failed = 0, False
    try:
        status, answer = server.request("POST", "/api/v1/security/login", {
            "username": "opuser", "password": "demo1234", "provider": "db"})
        assert status == 200, answer
        token = answer["access_token"]
        warm = [item for items in work.values() for item in items[:30]]
        ask(server, token, warm, args.clients)  # the workers' imports, connections, caches
        print(f"eligibility_clients: {args.clients} (server: {args.processes} processes x {args.threads} threads)")
        for kind, items in work.items():
            results = ask(server, token, items, args.clients)
            timings = sorted(ms for ms, _, _ in results)
            errors += sum(1 for _, status, _ in results if status != 201)
            print(f"eligibility_by_{kind}_ms_p50: {statistics.median(timings):.1f}")
            print(f"eligibility_by_{kind}_ms_p95: {percentile(timings, 95):.1f}")
            print(f"eligibility_by_{kind}_found_first: {sum(1 for *_, ok in results if ok)} / {len(results)}")
        print(f"eligibility_errors: {errors}")
    except BaseException:
        failed = True
        raise
    finally:
        server.stop(show_log=failed or errors > 0)


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
        began = time.perf_counter()
        sent = sweep_alerts(today=today)
        elapsed = time.perf_counter() - began
    if results is not None:
        results.append((elapsed, sent))
    return elapsed, sent


def sweep_app(url):
    """The app as the daily job runs it, without Redis or SMTP: the sweep's mails stay
    in the outbox, where they are counted."""
    from app import create_app

    return create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                       "MAIL_SERVER": None, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 4, "max_overflow": 0}})


def certificates_bench(app, args):
    from app.platform.clock import local_today

    app = sweep_app(args.database_url)

    with app.app_context():
        today = local_today()
    began = time.perf_counter()
    total, operators = load_certificates(app, args.certificates)
    print(f"cert_certificates: {total} ({operators} operators, 2 readers each)")
    print(f"cert_load_s: {time.perf_counter() - began:.1f}")
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


# ---------------------------------------------------------------------------
# e-RDV: free slots over a national capacity calendar
# ---------------------------------------------------------------------------

SLOT_URL = "/api/v1/operator/appointment/searchTimeSlot"
SLOT_ZONES = DEPARTMENTS + ["2A", "2B", "971", "972", "973", "974"]  # 100 zones


def load_slots(app, days, appointments, seed=646):
    """One building per zone (INSEE <zone>001 or 97x01, street B001, number 1), the
    capacity calendar of every zone for `days` days from today (both half-days, 10 to
    25 technicians' slots each) and about `appointments` appointments filling it (5 %
    cancelled), written with COPY; the bench's rows of a previous run replaced."""
    import psycopg

    from app.demo.operator.accounts import FIBRE
    from app.extensions import db
    from app.models import Organisation
    from app.platform.clock import local_today

    rng = random.Random(seed)
    with app.app_context():
        today = local_today()
        operator_id = db.session.scalar(select(Organisation.id).where(Organisation.name == FIBRE))
        url = db.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    began = time.perf_counter()
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM appointment WHERE reference LIKE 'BENCH-%%'")
        connection.execute("DELETE FROM technician_capacity WHERE zone = ANY(%s)", (SLOT_ZONES,))
        connection.execute("DELETE FROM building WHERE imb_id LIKE 'IMB/BENCH/%%'")
        with connection.cursor().copy(
                "COPY building (imb_id, state, street_number, street_name, postcode, commune, insee_code, "
                "rivoli_code, address_key, x_l93, y_l93, longitude, latitude, dwellings) FROM STDIN") as copy:
            for zone in SLOT_ZONES:
                copy.write_row((f"IMB/BENCH/{zone}", "available", 1, "RUE DU BANC D'ESSAI", f"{zone[:2]}000",
                                f"BANC {zone}", slot_insee(zone), "B001", f"1 rue du banc d essai {zone}",
                                650000.0, 6860000.0, 2.5, 48.8, 1))
        buildings = dict(connection.execute(
            "SELECT insee_code, id FROM building WHERE imb_id LIKE 'IMB/BENCH/%%'").fetchall())
        slots = [(zone, today + timedelta(days=offset), period, rng.randint(10, 25))
                 for zone in SLOT_ZONES for offset in range(days) for period in ("morning", "afternoon")]
        fill = appointments / sum(capacity for *_, capacity in slots)
        number, now = 0, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        with connection.cursor().copy("COPY technician_capacity (zone, day, period, slots) FROM STDIN") as copy:
            for row in slots:
                copy.write_row(row)
        with connection.cursor().copy(
                "COPY appointment (reference, organisation_id, building_id, street_number, rivoli_code, insee_code, "
                "product, operation_type, appointment_type, window_start, window_end, zone, slot_date, slot_period, "
                "state, created_on, changed_on) FROM STDIN") as copy:
            for zone, day, period, capacity in slots:
                insee = slot_insee(zone)
                for _ in range(min(capacity, round(capacity * fill * rng.uniform(0.6, 1.4)))):
                    number += 1
                    state = "cancelled" if rng.random() < 0.05 else "validated"
                    copy.write_row((f"BENCH-{number:07d}", operator_id, buildings[insee], 1, "B001", insee,
                                    "just_fibre", "building", "standard", day, day, zone, day, period, state, now,
                                    now))
        connection.execute("ANALYZE appointment")
        connection.execute("ANALYZE technician_capacity")
    return len(slots), number, time.perf_counter() - began


def slot_insee(zone) -> str:
    """The bench's commune of a zone: 01001…, 2A001, 97101 overseas."""
    return f"{zone}01" if len(zone) == 3 else f"{zone}001"


def slot_requests(app, requests, seed=8):
    """`requests` searchTimeSlot bodies: a zone drawn at random, a window within
    [D+8, D+26] of 3 to 18 days (both ends working days), a preferred day or moment
    one time in four."""
    from app.rules.operator import appointments as rules

    rng = random.Random(seed)
    with app.app_context():
        first, last = rules.bounds()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    days = [day for day in days if rules.is_working_day(day)]
    work = []
    for _ in range(requests):
        zone = rng.choice(SLOT_ZONES)
        start = rng.choice(days[:-2])
        end = rng.choice([day for day in days if 3 <= (day - start).days <= 18] or [days[-1]])
        body = {"relatedPlace": {"streetNr": "1", "rivoliCode": "B001", "inseeCode": slot_insee(zone)},
                "product": "just_fibre", "operationType": "building",
                "requestedTimeSlot": {"validFor": {"startDateTime": start.isoformat(), "endDateTime": end.isoformat()}}}
        if rng.random() < 0.25:
            body["preferredMoment"] = rng.choice(["morning", "afternoon"])
        if rng.random() < 0.25:
            body["preferredDay"] = rng.choice(["monday", "tuesday", "wednesday", "thursday", "friday"])
        work.append(body)
    return work


def slots_bench(app, args):
    from app.extensions import db

    if not args.skip_load:
        capacity, appointments, load_s = load_slots(app, args.slot_days, args.appointments)
        print(f"slot_zones: {len(SLOT_ZONES)}")
        print(f"slot_capacity_rows: {capacity}")
        print(f"slot_appointments: {appointments}")
        print(f"slot_load_s: {load_s:.1f}")
    work = slot_requests(app, args.requests)
    with app.app_context():
        db.engine.dispose()
    server = LiveServer(args.database_url, args.processes, args.threads)
    failed, timings, errors, empty = False, [], 0, 0
    try:
        status, answer = server.request("POST", "/api/v1/security/login", {
            "username": "opuser", "password": "demo1234", "provider": "db"})
        assert status == 200, answer
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        queue, lock = [(False, body) for body in work[:50]] + [(True, body) for body in work], threading.Lock()

        def client():
            nonlocal errors, empty
            connection = server.connection()
            while True:
                with lock:
                    if not queue:
                        break
                    counted, body = queue.pop()
                began = time.perf_counter()
                status, answer = server.request("POST", SLOT_URL, body, headers, connection)
                elapsed = (time.perf_counter() - began) * 1000
                if counted:
                    with lock:
                        timings.append(elapsed)
                        errors += status != 201
                        empty += status == 201 and not answer["availableTimeSlot"]

        queue.reverse()  # pop() takes the warm-up first
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        timings.sort()
        print(f"slot_search_clients: {args.clients} (server: {args.processes} processes x {args.threads} threads)")
        print(f"slot_search_ms_p50: {statistics.median(timings):.1f}")
        print(f"slot_search_ms_p95: {percentile(timings, 95):.1f}")
        print(f"slot_search_without_free_slot: {empty} / {len(timings)}")
        print(f"slot_search_errors: {errors}")
    except BaseException:
        failed = True
        raise
    finally:
        server.stop(show_log=failed or errors > 0)


# ---------------------------------------------------------------------------
# e-Just Fibre: the dashboard over a million orders, and orders through TMF622
# ---------------------------------------------------------------------------

ORDER_COLUMNS = ("reference", "operator_reference", "organisation_id", "order_type", "state", "building_id",
                 "offer_id", "gtr_option", "delivery_to_installation", "created_on", "changed_on")
ORDER_OPERATORS = 100  # the million orders' operators, the demo's Fibre Rhône Télécom one of them
FIBRE = "Fibre Rhône Télécom"


def load_orders(url, count, seed=622):
    """COPY `count` orders spread evenly over ORDER_OPERATORS operators (Fibre Rhône
    Télécom, the bench's OperatorUser's, one of them), every type and state of the
    dashboard, on the demo's buildings; then VACUUM ANALYZE, so that the dashboard's
    GROUP BY is an index-only scan. Returns (orders, seconds)."""
    import psycopg

    from app.rules.operator.orders import ORDER_TYPE_STATES

    rng = random.Random(seed)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    began = time.perf_counter()
    cells = [(kind.value, state.value) for kind, states in ORDER_TYPE_STATES.items() for state in states]
    weights = [30 if kind == "creation" else 5 for kind, _ in cells]
    with psycopg.connect(plain) as connection:
        fibre = connection.execute("SELECT id FROM organisation WHERE name = %s", (FIBRE,)).fetchone()[0]
        others = [row[0] for row in connection.execute(
            "SELECT id FROM organisation WHERE name LIKE %s ORDER BY id", ("Bench operator %",)).fetchall()]
        for number in range(len(others), ORDER_OPERATORS - 1):
            others.append(connection.execute(
                "INSERT INTO organisation (name, kind, city, active, created_on, changed_on) "
                "VALUES (%s, 'operator', 'Lyon', true, now(), now()) RETURNING id",
                (f"Bench operator {number:03d}",)).fetchone()[0])
        operators = [fibre, *others]
        buildings = [row[0] for row in connection.execute("SELECT id FROM building ORDER BY id LIMIT 2000")]
        offer = connection.execute("SELECT id FROM offer WHERE code = 'just-fibre'").fetchone()[0]
        first = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM operator_order").fetchone()[0]
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY operator_order ({', '.join(ORDER_COLUMNS)}) FROM STDIN") as copy:
                for offset in range(count):
                    kind, state = rng.choices(cells, weights)[0]
                    operator = operators[offset % len(operators)]
                    copy.write_row((f"BN{first + offset:010d}", f"B-{offset}", operator, kind, state,
                                    buildings[offset % len(buildings)], offer, offset % 3 == 0, True, now, now))
        connection.execute("SELECT setval(pg_get_serial_sequence('operator_order', 'id'), "
                           "(SELECT max(id) FROM operator_order))")
        connection.commit()
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE operator_order")
    return count, time.perf_counter() - began


def dashboard_plan(url, operator_ids):
    """The dashboard query's plan as PostgreSQL runs it for those operators."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(
            "EXPLAIN SELECT order_type, state, count(*) FROM operator_order WHERE organisation_id = ANY(%s) "
            "GROUP BY order_type, state", (list(operator_ids),)).fetchall()
    return "\n".join(row[0] for row in rows)


def timed_pages(server, path, headers, requests):
    """GET `path` `requests` times on one kept-alive connection: sorted ms and the last page."""
    connection, timings, page = server.connection(), [], ""
    for _ in range(requests):
        began = time.perf_counter()
        status, page = server.request("GET", path, None, headers, connection)
        timings.append((time.perf_counter() - began) * 1000)
        assert status == 200, (status, str(page)[:500])
    connection.close()
    return sorted(timings), page


def dashboard_bench(app, args):
    import re

    from events import sign_in

    from app.extensions import db
    from app.models import Order, Organisation

    with app.app_context():
        fibre = db.session.query(Organisation.id).filter_by(name=FIBRE).scalar()
        have = db.session.query(func.count(Order.id)).scalar()
        db.engine.dispose()
    if have < args.orders:
        loaded, seconds = load_orders(args.database_url, args.orders - have)
        print(f"orders_loaded: {loaded} (COPY and VACUUM ANALYZE in {seconds:.0f} s)")
    with app.app_context():
        total = db.session.query(func.count(Order.id)).scalar()
        mine = db.session.query(func.count(Order.id)).filter(Order.organisation_id == fibre).scalar()
        db.engine.dispose()
    print(f"orders: {total} ({mine} of the OperatorUser's operator)")
    plan = dashboard_plan(args.database_url, [fibre])
    print(f"dashboard_index_only: {'yes' if 'Index Only Scan' in plan else 'no'}")
    server = LiveServer(args.database_url, args.processes, args.threads)
    failed = False
    try:
        path = "/operator/orders/dashboard"
        for username, key in (("opuser", "dashboard"), ("ops", "dashboard_wholesale")):
            headers = sign_in(server, "session", username)
            timed_pages(server, path, headers, 20)  # the workers' imports, connections, caches
            timings, page = timed_pages(server, path, headers, args.requests)
            counts = sum(int(number) for number in re.findall(r'class="orders-count"[^>]*>(\d+)<', page))
            print(f"{key}_ms_p50: {statistics.median(timings):.1f}")
            print(f"{key}_ms_p95: {percentile(timings, 95):.1f}")
            print(f"{key}_orders_counted: {counts}")
    except BaseException:
        failed = True
        raise
    finally:
        server.stop(show_log=failed)


def order_appointments(app, count):
    """`count` validated e-RDV appointments of Fibre Rhône Télécom at the seed's building,
    one per order to create (an appointment carries one order)."""
    from app.demo.operator.buildings import SEED_IMB
    from app.extensions import db
    from app.models import Appointment, Building, Organisation

    tag = f"RDV-B{int(time.time()) % 100000:05d}"
    with app.app_context():
        fibre = db.session.query(Organisation.id).filter_by(name=FIBRE).scalar()
        building = db.session.query(Building).filter_by(imb_id=SEED_IMB).one()
        day = date.today() + timedelta(days=12)
        db.session.execute(insert(Appointment), [{
            "reference": f"{tag}-{number:06d}", "organisation_id": fibre, "building_id": building.id,
            "street_number": building.street_number, "rivoli_code": building.rivoli_code, "insee_code": building.insee_code,
            "product": "just_fibre", "operation_type": "short", "appointment_type": "standard",
            "window_start": day, "window_end": day + timedelta(days=5), "zone": "77", "slot_date": day,
            "slot_period": "morning", "state": "validated"} for number in range(count)])
        db.session.commit()
        db.engine.dispose()
    return [f"{tag}-{number:06d}" for number in range(count)]


def orders_bench(app, args):
    from app.demo.operator.buildings import SEED_IMB

    references = order_appointments(app, args.order_requests + 20)
    server = LiveServer(args.database_url, args.processes, args.threads)
    failed, errors = False, 0
    try:
        status, answer = server.request("POST", "/api/v1/security/login", {
            "username": "opuser", "password": "demo1234", "provider": "db"})
        assert status == 200, answer
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        queue, lock, timings = list(enumerate(references)), threading.Lock(), []

        def body(number, reference):
            return {"externalId": f"BENCH-{number:06d}", "productOrderItem": [{
                "productOffering": {"id": "just-fibre"}, "gtrOption": number % 2 == 0,
                "appointment": {"id": reference}, "product": {"place": [{"id": SEED_IMB}]}}]}

        def client(results):
            connection = server.connection()
            while True:
                with lock:
                    if not queue:
                        break
                    number, reference = queue.pop()
                began = time.perf_counter()
                status, _ = server.request("POST", "/api/v1/operator/productOrder", body(number, reference), headers,
                                           connection)
                results.append(((time.perf_counter() - began) * 1000, status))
            connection.close()

        warm = []
        queue, rest = queue[:20], queue[20:]
        client(warm)
        queue = rest
        results = []
        threads = [threading.Thread(target=client, args=(results,)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        timings = sorted(ms for ms, _ in results)
        errors = sum(1 for _, status in results if status != 201)
        print(f"order_create_clients: {args.clients}")
        print(f"order_create_ms_p50: {statistics.median(timings):.1f}")
        print(f"order_create_ms_p95: {percentile(timings, 95):.1f}")
        print(f"order_create_errors: {errors} / {len(results)}")
    except BaseException:
        failed = True
        raise
    finally:
        server.stop(show_log=failed or errors > 0)


def aftersales_bench(app, args):
    from flask import g

    from app.extensions import db
    from app.models import Access, Diagnostic, DiagnosticKind, DiagnosticState, utcnow
    from app.rules.operator import diagnostics, incidents

    form = {"faulty_service": "MB FTTH Internet profil 07", "filer_name": "BENCH", "filer_phone": "0437447211",
            "customer_phone": "0478000000", "customer_mobile": "0612000000", "lunch_hours": "12:00/14:00",
            "appointment_needed": "no", "prelocalised_at_customer": "no", "box_power_led": "green_steady",
            "box_dsl_led": "off", "ont_power_led": "green_steady", "ont_pon_led": "off",
            "fault_nature": "interrupted", "ever_worked": "yes", "faults": ["internet"], "forced": "yes",
            "forcing_reason": "bench"}
    with app.test_request_context():
        g.user = app.appbuilder.sm.find_user(username="opsav")
        accesses = db.session.query(Access).filter(Access.active.is_(True)).all()
        runs, filings = [], []
        for index in range(args.requests):
            access = accesses[index % len(accesses)]
            began = time.perf_counter()
            diagnostics.run(g.user, access, "global")
            db.session.commit()
            runs.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            incidents.file(g.user, access, form)
            db.session.commit()
            filings.append((time.perf_counter() - began) * 1000)
        for name, values in (("diagnostic_run", runs), ("incident_file", filings)):
            values.sort()
            print(f"{name}_ms_p50: {percentile(values, 50):.1f}")
            print(f"{name}_ms_p95: {percentile(values, 95):.1f}")
        old = utcnow() - timedelta(hours=72)
        rows = ({"number": f"B{n:012d}", "access_id": accesses[n % len(accesses)].id,
                 "organisation_id": accesses[n % len(accesses)].organisation_id, "kind": DiagnosticKind.delc,
                 "provider": "simulation", "sent_on": old, "updated_on": old, "state": DiagnosticState.done,
                 "result_code": "OK", "service_type": "FTTHMB1P"} for n in range(args.diagnostics))
        while batch := list(islice(rows, 10000)):
            db.session.execute(insert(Diagnostic), batch)
        db.session.commit()
        began = time.perf_counter()
        swept = diagnostics.sweep()
        print(f"diagnostic_sweep_s: {time.perf_counter() - began:.2f}")
        print(f"diagnostic_swept: {swept}")


GRID_URL = "postgresql://postgres@127.0.0.1:5432/guichet_bench_operator_grid"
GRID_COLUMNS = ("id", *ORDER_COLUMNS)
CUSTOMERS = ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
             "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER"]
GRID_KEYWORD = "FOURNIER"  # one operator reference in twenty


def grid_rows(url, count, seed=505):
    """`count` orders of 100 operators (Fibre Rhône Télécom a tenth), on the demo's
    buildings, weighted as the dashboard's (inputs read before COPY holds the table)."""
    from app.rules.operator.orders import ORDER_TYPE_STATES

    rng = random.Random(seed)
    fibre = common.scalar(url, "SELECT id FROM organisation WHERE name = %s", FIBRE)
    others = common.bench_organisations(url, "operator", 99, "Bench operator")
    buildings = common.scalar(url, "SELECT array_agg(id) FROM (SELECT id FROM building ORDER BY id LIMIT 2000) b")
    offer = common.scalar(url, "SELECT id FROM offer WHERE code = 'just-fibre'")
    first = common.scalar(url, "SELECT coalesce(max(id), 0) + 1 FROM operator_order")
    cells = [(kind.value, state.value) for kind, states in ORDER_TYPE_STATES.items() for state in states]
    weights = [30 if kind == "creation" else 5 for kind, _ in cells]
    now = int(time.time())

    def row(number):
        kind, state = rng.choices(cells, weights)[0]
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - rng.randrange(3 * 365 * 86400)))
        return (number, f"JG{number:08d}", f"{rng.choice(CUSTOMERS)}-{number}",
                fibre if rng.random() < 0.1 else rng.choice(others), kind, state, rng.choice(buildings), offer,
                rng.random() < 0.3, True, created, created)

    return (row(first + offset) for offset in range(count))


def grid_bench(args):
    url = args.grid_database_url
    app, total = common.grid_rows_loaded(url, "operator_order", GRID_COLUMNS,
                                         lambda app: grid_rows(url, args.grid_rows), args.grid_rows, "operator")
    fibre = common.scalar(url, "SELECT count(*) FROM operator_order r JOIN organisation o ON o.id = r.organisation_id "
                               "WHERE o.name = %s", FIBRE)
    keyword = common.filter_arg(app, "OrderView", "operator_reference", "FilterContains")
    common.time_grid(app, "operator_grid", "/operator/orders", {"ops": ("ops", total), "opuser": ("opuser", fibre)}, {
        "first": "",
        "deep": lambda page: f"page_OrderView={page}",
        "filtered": "_flt_0_state=failed",
        "sorted": "_oc_OrderView=created_on&_od_OrderView=desc",
        "keyword": f"{keyword}={GRID_KEYWORD}",
    })
    common.time_csv_export(app, "operator_grid", "/operator/orders", "opuser")


#: The bench's parts, in the order `--part all` runs them.
PARTS = {"eligibility": eligibility_bench, "certificates": certificates_bench, "slots": slots_bench,
         "dashboard": dashboard_bench, "orders": orders_bench, "aftersales": aftersales_bench}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "grid") + tuple(PARTS), default="all")
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000, help="requests for each kind of place")
    parser.add_argument("--clients", type=int, default=2, help="API clients asking at once")
    parser.add_argument("--processes", type=int, default=2, help="worker processes, as `make run` serves with")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--certificates", type=int, default=100000)
    parser.add_argument("--slot-days", type=int, default=60, help="days of every zone's capacity calendar")
    parser.add_argument("--appointments", type=int, default=200000, help="appointments filling it")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders the dashboard counts")
    parser.add_argument("--order-requests", type=int, default=500, help="orders created through the API")
    parser.add_argument("--diagnostics", type=int, default=200000, help="old results for the sweep")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--skip-load", action="store_true",
                        help="measure on the database as the last run left it (its buildings loaded)")
    parser.add_argument("--grid-rows", type=int, default=1_000_000)
    parser.add_argument("--grid-database-url", default=GRID_URL)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/operator_desk.py runs on PostgreSQL")
    if args.part == "grid":
        return grid_bench(args)
    if args.skip_load:
        from app import create_app

        app = create_app({**common.APP_SETTINGS, "SQLALCHEMY_DATABASE_URI": args.database_url})
    else:
        common.empty_database(args.database_url)
        app = build(args.database_url, args.threads)
    for name, part in PARTS.items():
        if args.part in ("all", name):
            part(app, args)


if __name__ == "__main__":
    main()
