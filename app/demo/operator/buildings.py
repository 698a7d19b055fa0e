"""Desk E's buildings and offers: about 2,000 buildings in five communes (Bussy-Saint-
Georges and Lagny-sur-Marne, where the seed's building is, and three of the demo
operators' region), their structures and a few existing lines, and five offers
with their eligibility rules. Pseudo-random but the same at every load (one seed),
written in bulk: the demo data is loaded at the start of every test session.

`generate()` is also what bench/operator_desk.py loads a million buildings with.
"""
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert, select

from ...extensions import db
from ...models import Building, BuildingLine, BuildingState, BuildingStructure, EligibilityRule, Offer
from ...platform import clock
from ...rules.operator import eligibility as rules

SEED_IMB = "IMB/77058/X/0218"
SEED = {  # the seed's "Détails de l'immeuble"
    "imb_id": SEED_IMB, "state": BuildingState.available, "oi_code": "F1", "building_name": None,
    "extra_info": None, "street_number": 6, "number_suffix": None, "street_name": "RUE ETIENNE GANNERON",
    "postcode": "77600", "commune": "BUSSY-ST-GEORGES", "insee_code": "77058", "rivoli_code": "0361",
    "x_l93": 678771.23, "y_l93": 6860548.07, "dwellings": 1, "access_acceptance_from": date(2019, 3, 6),
    "access_supply_from": date(2019, 3, 6),
}
SEED_STRUCTURE = {"floor": None, "pm_ref": "FI-77058-000B", "pmt_ref": "PT 001113", "pbo_ref": "PT 002053",
                  "pbo_type": "CH:EN CHAMBRE", "location_type": "PME", "patching_type": "OC",
                  "works_nature": "SOUTERRAIN", "pm_prdm_link": "77243LAG_FI-77058-000B", "ftth_premises": None}

# code, name, technology, [(rule kind, value)]
OFFERS = [
    ("just-fibre", "Just Fibre", "fibre", [("building_state", "available"), ("access_open", "")]),
    ("ftth-access-pm", "FTTH Accès PM", "fibre", [("building_state", "available"), ("requires_pm", "")]),
    ("optimum-pm", "Optimum PM", "fibre", [("building_state", "available"), ("requires_pm", ""),
                                           ("min_dwellings", "12")]),
    ("core-ethernet-lan", "Core Ethernet LAN", "fibre", [("building_state", "available,deploying"),
                                                         ("insee_prefix", "69,73")]),
    ("copper-access", "Accès cuivre (dégroupage)", "copper", [("requires_line", "")]),
]


@dataclass
class Commune:
    """A commune as the generator builds it: streets around a centre (Lambert-93)."""

    name: str  # as the reference data writes it (BUSSY-ST-GEORGES)
    postcode: str
    insee: str
    centre: tuple  # Lambert-93 X, Y
    streets: list  # [(street name, RIVOLI code)], or with where its number 1 stands (X, Y)
    nro: str  # the optical node its PM link to (the PM–PRDM link's prefix)
    line_prefix: str  # the first digits of its line numbers


COMMUNES = [
    Commune("BUSSY-ST-GEORGES", "77600", "77058", (678700.0, 6860400.0), [
        ("RUE ETIENNE GANNERON", "0361", (678735.0, 6860530.0)), ("BOULEVARD THIBAUD DE CHAMPAGNE", "0420"),
        ("AVENUE DU GENERAL DE GAULLE", "0180"), ("RUE JEAN MONNET", "0245"), ("AVENUE DE L'EUROPE", "0150"),
        ("RUE DE LA FONTAINE", "0190"), ("BOULEVARD DE LAGNY", "0410"), ("RUE SAINTE-MARGUERITE", "0372"),
        ("PLACE DE LA RESISTANCE", "0330"), ("ALLEE DES CERISIERS", "0012"), ("RUE DU CHATEAU D'EAU", "0095"),
        ("IMPASSE DES VIGNES", "0222"), ("RUE JEAN JAURES", "0247"), ("AVENUE CHARLES DE GAULLE", "0087"),
        ("CHEMIN DES PRES", "0070"), ("RUE DES JARDINS", "0250"), ("AVENUE ANDRE MALRAUX", "0140"),
        ("RUE DU BOIS DE LA GRANGE", "0060"), ("PLACE SAINT-JEAN", "0335"), ("COURS DU LAC", "0100"),
    ], "77243LAG", "0160"),
    Commune("LAGNY-SUR-MARNE", "77400", "77243", (678930.0, 6863740.0), [
        ("RUE DU DOCTEUR NAUDIER", "0262"), ("QUAI DE LA GOURDINE", "0601"), ("RUE SAINT-DENIS", "0431"),
        ("AVENUE DU GENERAL LECLERC", "0188"), ("PLACE DE LA FONTAINE", "0327"), ("RUE ALPHONSE LE DUC", "0020"),
        ("BOULEVARD DU MARECHAL GALLIENI", "0405"), ("RUE DES MARCHES", "0276"), ("RUE VACHERESSE", "0470"),
        ("AVENUE DE LA REPUBLIQUE", "0155"), ("RUE DE CHESSY", "0072"), ("RUE DU CHEMIN DE FER", "0074"),
        ("IMPASSE DU MOULIN", "0228"), ("RUE PASTEUR", "0300"), ("ALLEE DES TILLEULS", "0016"),
        ("RUE JEAN MERMOZ", "0246"), ("RUE DE THORIGNY", "0452"), ("CHEMIN DU CORNILLON", "0066"),
        ("RUE VOLTAIRE", "0480"), ("AVENUE FOCH", "0163"),
    ], "77243LAG", "0164"),
    Commune("VENISSIEUX", "69200", "69259", (846700.0, 6512630.0), [
        ("AVENUE JEAN JAURES", "0390"), ("BOULEVARD LAURENT GERIN", "0515"), ("RUE GAMBETTA", "1350"),
        ("AVENUE DE LA REPUBLIQUE", "0360"), ("RUE PAUL BERT", "2200"), ("RUE LOUIS JOUVET", "1800"),
        ("AVENUE MARCEL HOUEL", "0410"), ("RUE ETIENNE DOLET", "1120"), ("PLACE LENINE", "2030"),
        ("RUE DU DOCTEUR GEORGES LEVY", "1030"), ("BOULEVARD AMBROISE CROIZAT", "0500"),
        ("RUE EDOUARD HERRIOT", "1110"), ("AVENUE D'OULLINS", "0380"), ("RUE DES MINGUETTES", "2010"),
        ("CHEMIN DU GRAND BOIS", "0830"), ("RUE ANATOLE FRANCE", "0150"), ("IMPASSE DES ROSIERS", "1620"),
        ("RUE VICTOR HUGO", "2840"), ("ALLEE DU PARC", "0070"), ("RUE DE LA PAIX", "2170"),
    ], "69259VEN", "0472"),
    Commune("VILLEURBANNE", "69100", "69266", (846880.0, 6520900.0), [
        ("COURS EMILE ZOLA", "0690"), ("AVENUE HENRI BARBUSSE", "0410"), ("RUE FRANCIS DE PRESSENSE", "1340"),
        ("BOULEVARD DU ONZE NOVEMBRE 1918", "0530"), ("RUE DU 4 AOUT 1789", "2010"), ("COURS TOLSTOI", "0720"),
        ("AVENUE ROGER SALENGRO", "0460"), ("RUE ANATOLE FRANCE", "1060"), ("PLACE JULES GRANDCLEMENT", "2250"),
        ("RUE PAUL VERLAINE", "2110"), ("RUE DE LA REPUBLIQUE", "2190"), ("RUE LEON BLUM", "1680"),
        ("AVENUE GALLINE", "0420"), ("RUE FLACHET", "1320"), ("RUE DU DOCTEUR DOLARD", "1220"),
        ("IMPASSE SAINT-JULIEN", "1510"), ("RUE BOURGCHANIN", "1090"), ("RUE OCTAVIE", "2020"),
        ("CHEMIN DES BALMES", "0860"), ("RUE MAURICE FLANDIN", "1730"),
    ], "69266VIL", "0478"),
    Commune("CHAMBERY", "73000", "73065", (927550.0, 6500330.0), [
        ("RUE DE BOIGNE", "0420"), ("PLACE SAINT-LEGER", "1480"), ("AVENUE DU COMTE VERT", "0160"),
        ("BOULEVARD DE LA COLONNE", "0510"), ("RUE CROIX D'OR", "0690"), ("QUAI DE LA RIZE", "1330"),
        ("AVENUE DES ANDES", "0110"), ("RUE DE LA REPUBLIQUE", "1390"), ("RUE SAINTE-BARBE", "1495"),
        ("FAUBOURG MONTMELIAN", "0880"), ("CHEMIN DES MONTAGNES RUSSES", "0590"), ("RUE JEAN-PIERRE VEYRAT", "1040"),
        ("AVENUE DE LYON", "0190"), ("RUE DU LARZAC", "1080"), ("ALLEE DES PEUPLIERS", "0035"),
        ("RUE DU DOCTEUR JULLIAND", "0770"), ("IMPASSE DES CHARMETTES", "0960"), ("RUE DE LA GARE", "0910"),
        ("AVENUE DE BASSENS", "0140"), ("RUE DENFERT-ROCHEREAU", "0750"),
    ], "73065CHY", "0479"),
]
NUMBERS_PER_STREET = 20  # 5 communes × 20 streets × 20 numbers: 2,000 buildings
STATES = [(BuildingState.available, 62), (BuildingState.deploying, 14), (BuildingState.signed, 8),
          (BuildingState.target, 12), (BuildingState.abandoned, 4)]
OI_CODES = [("F1", 60), ("S1", 25), ("A1", 15)]
PBO_TYPES = ["CH:EN CHAMBRE", "AP:APPUI", "FA:FACADE", "IM:IMMEUBLE"]
LOCATIONS = ["PME", "PMI"]
PATCHINGS = ["OC", "OD"]
WORKS = ["SOUTERRAIN", "AERIEN", "FACADE", "IMMEUBLE"]
EXTRA_INFO = ["Accès par le parking", "Digicode au portail", "Local technique au sous-sol",
              "Gardien sur place le matin"]


def _weighted(rng, choices):
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


def generate(communes, numbers_per_street, rng, today, skip=()):
    """Yield (building, structures, lines) as dicts of column values for every number of
    every street of `communes`: houses and blocks of flats, states mixed, the fibre's
    structure where it is deployed, a line in about one building in twelve. The
    addresses in `skip`, (INSEE, street, number), are left out (the seed's is written
    as the seed has it)."""
    serial = 0
    for commune in communes:
        cx, cy = commune.centre
        for street_index, (street, rivoli, *anchor) in enumerate(commune.streets):
            street_key = rules.normalise(f"{street} {commune.postcode} {commune.name}")
            x0, y0 = anchor[0] if anchor else (cx + rng.uniform(-900, 900), cy + rng.uniform(-900, 900))
            angle = rng.uniform(0, math.pi)
            dx, dy = math.cos(angle), math.sin(angle)
            pm = f"FI-{commune.insee}-{(street_index // 3):04X}"
            for number in range(1, numbers_per_street + 1):
                serial += 1
                if (commune.insee, street, number) in skip:
                    continue
                imb = f"IMB/{commune.insee}/{'XCS'[serial % 3]}/{serial:04X}"
                suffix = "BIS" if rng.random() < 0.04 else ("TER" if rng.random() < 0.01 else None)
                side = 1 if number % 2 else -1
                along = (number // 2) * 14.0
                x = x0 + dx * along - dy * 9.0 * side + rng.uniform(-1.5, 1.5)
                y = y0 + dy * along + dx * 9.0 * side + rng.uniform(-1.5, 1.5)
                state = _weighted(rng, STATES)
                dwellings = 1 if rng.random() < 0.55 else (rng.randint(2, 20) if rng.random() < 0.67
                                                           else rng.randint(21, 150))
                acceptance = supply = None
                if state in (BuildingState.available, BuildingState.deploying):
                    acceptance = date(2017, 1, 2) + timedelta(days=rng.randint(0, 2900))
                    supply = acceptance + timedelta(days=rng.randint(0, 30))
                    if state == BuildingState.available and rng.random() < 0.03:
                        supply = today + timedelta(days=rng.randint(5, 40))  # opening soon
                    if state == BuildingState.deploying:
                        acceptance, supply = today + timedelta(days=rng.randint(30, 300)), None
                building = {
                    "imb_id": imb, "state": state, "oi_code": _weighted(rng, OI_CODES),
                    "building_name": f"BAT {'ABCD'[rng.randint(0, 3)]}" if dwellings > 20 else None,
                    "extra_info": rng.choice(EXTRA_INFO) if rng.random() < 0.05 else None,
                    "street_number": number, "number_suffix": suffix, "street_name": street,
                    "postcode": commune.postcode, "commune": commune.name, "insee_code": commune.insee,
                    "rivoli_code": rivoli, "x_l93": round(x, 2), "y_l93": round(y, 2), "dwellings": dwellings,
                    "access_acceptance_from": acceptance, "access_supply_from": supply,
                    # As rules.address_key writes it (the street's words normalised once per street).
                    "address_key": " ".join(part for part in (str(number), suffix, street_key) if part),
                }
                structures = []
                if state in (BuildingState.available, BuildingState.deploying):
                    floors = [None] if dwellings < 21 else ["RDC", "1", "2"][:rng.randint(1, 3)]
                    for floor in floors:
                        structures.append({
                            "floor": floor, "pm_ref": pm, "pmt_ref": f"PT {rng.randint(1, 999999):06d}",
                            "pbo_ref": f"PT {rng.randint(1, 999999):06d}",
                            "pbo_type": PBO_TYPES[0] if dwellings == 1 else rng.choice(PBO_TYPES),
                            "location_type": rng.choice(LOCATIONS), "patching_type": rng.choice(PATCHINGS),
                            "works_nature": rng.choice(WORKS), "pm_prdm_link": f"{commune.nro}_{pm}",
                            "ftth_premises": dwellings if dwellings > 1 else None})
                lines = []
                if rng.random() < 0.08:
                    for index in range(rng.randint(1, 3)):
                        lines.append({"line_number": f"{commune.line_prefix}{serial:05d}{index}",
                                      "floor": None if dwellings == 1 else str(rng.randint(0, 5)),
                                      "active": rng.random() < 0.9})
                yield building, structures, lines


def with_wgs84(buildings) -> list:
    """The buildings with their WGS84 coordinates, converted in one call (pyproj)."""
    longitudes, latitudes = rules.to_wgs84([b["x_l93"] for b in buildings], [b["y_l93"] for b in buildings])
    for building, longitude, latitude in zip(buildings, longitudes, latitudes):
        building["longitude"], building["latitude"] = round(longitude, 7), round(latitude, 7)
    return buildings


def _offers():
    made = 0
    for position, (code, name, technology, conditions) in enumerate(OFFERS):
        if db.session.query(Offer.id).filter_by(code=code).first():
            continue
        offer = Offer(code=code, name=name, technology=technology, position=position)
        offer.rules = [EligibilityRule(kind=kind, value=value, position=index)
                       for index, (kind, value) in enumerate(conditions)]
        db.session.add(offer)
        made += 1
    return made


def _insert(generated):
    """Write the buildings, then their structures and lines (by the ids just given)."""
    buildings = with_wgs84([building for building, _, _ in generated])
    db.session.execute(insert(Building), buildings)
    ids = dict(db.session.execute(select(Building.imb_id, Building.id).where(
        Building.imb_id.in_([building["imb_id"] for building in buildings]))).all())
    structures = [{**row, "building_id": ids[building["imb_id"]]} for building, rows, _ in generated for row in rows]
    lines = [{**row, "building_id": ids[building["imb_id"]]} for building, _, rows in generated for row in rows]
    if structures:
        db.session.execute(insert(BuildingStructure), structures)
    if lines:
        db.session.execute(insert(BuildingLine), lines)
    return len(buildings), len(structures), len(lines)


def load():
    offers = _offers()
    if db.session.query(Building.id).filter_by(imb_id=SEED_IMB).first():
        db.session.commit()
        yield f"desk E: {offers} offers (buildings already there)"
        return
    seed = {**SEED, "address_key": rules.address_key(SEED["street_number"], SEED["number_suffix"],
                                                     SEED["street_name"], SEED["postcode"], SEED["commune"])}
    generated = [(seed, [SEED_STRUCTURE], [])]
    generated += generate(COMMUNES, NUMBERS_PER_STREET, random.Random(77058), clock.local_today(),
                          skip={(SEED["insee_code"], SEED["street_name"], SEED["street_number"])})
    count, structures, lines = _insert(generated)
    db.session.commit()
    yield f"desk E: {offers} offers, {count} buildings with {structures} structure rows and {lines} lines"
