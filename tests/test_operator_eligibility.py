"""Desk E, eligibility: addresses normalised once for the keys and the searches, the
four searches, each offer's verdict and reason, the screens behind the
`eligibility` entitlement (both ways), the building sheet as the seed's "Détails de
l'immeuble" with its export, and the map under the app's CSP."""
import csv
import io
import re
from datetime import timedelta

import pytest
from flask import Flask
from openpyxl import load_workbook

from app.demo.operator import buildings as demo
from app.extensions import db
from app.models import Building, BuildingLine, BuildingState, EligibilityRule, Offer
from app.platform import clock, web
from app.rules.operator import eligibility as rules
from app.security import OPERATOR_ADMIN, OPERATOR_USER, viewer_for

from .helpers import member, user

SEED_ADDRESS = "6 rue Étienne Ganneron, 77600 Bussy-Saint-Georges"


def seed_id(app):
    with app.app_context():
        return db.session.query(Building.id).filter_by(imb_id=demo.SEED_IMB).scalar()


def found_imbs(found):
    return [item.building.imb_id for item in found]


def viewer(username="opuser"):
    return viewer_for(user(username))


def postgresql():
    return db.session.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------------------
# Addresses, normalised: one rule for the keys and the searches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed, key", [
    ("6 rue Étienne Ganneron", "6 RUE ETIENNE GANNERON"),
    ("6, R. ETIENNE-GANNERON", "6 RUE ETIENNE GANNERON"),
    ("12 bis bd St-Michel", "12 BIS BOULEVARD SAINT MICHEL"),
    ("12B Boulevard Saint Michel", "12 BIS BOULEVARD SAINT MICHEL"),
    ("12 b, bld st michel", "12 BIS BOULEVARD SAINT MICHEL"),
    ("3ter av. du Gal Leclerc", "3 TER AVENUE GENERAL LECLERC"),
    ("3 T avenue du général Leclerc", "3 TER AVENUE GENERAL LECLERC"),
    ("7 quater pl. de l'Église", "7 QUATER PLACE EGLISE"),
    ("1 chem. des Prés", "1 CHEMIN PRES"),
    ("2 imp. des Vignes", "2 IMPASSE VIGNES"),
    ("4 all. des Cerisiers", "4 ALLEE CERISIERS"),
    ("9 rte de Lyon", "9 ROUTE LYON"),
    ("BUSSY-ST-GEORGES", "BUSSY SAINT GEORGES"),
    ("Bussy-Saint-Georges", "BUSSY SAINT GEORGES"),
    ("Ste-Marguerite", "SAINTE MARGUERITE"),
    ("Rue du 8 Mai 1945", "RUE 8 MAI 1945"),
    ("  Œuvre   d’Orient ", "OEUVRE ORIENT"),
])
def test_an_address_is_normalised_as_the_keys_are_written(typed, key):
    assert rules.normalise(typed) == key


def test_the_key_of_the_seed_s_building_is_the_rule_s():
    assert rules.address_key(6, None, "RUE ETIENNE GANNERON", "77600", "BUSSY-ST-GEORGES") == (
        "6 RUE ETIENNE GANNERON 77600 BUSSY SAINT GEORGES")
    typed = rules.read_address("6 bis, rue Étienne Ganneron 77600 Bussy-St-Georges")
    assert (typed.number, typed.suffix, typed.postcode) == (6, "BIS", "77600")
    assert typed.words == ["RUE", "ETIENNE", "GANNERON", "BUSSY", "SAINT", "GEORGES"]


def test_every_demo_building_keeps_its_key_and_both_projections(app):
    with app.app_context():
        rows = db.session.query(Building).all()
        assert len(rows) == 2000
        for building in rows:
            assert building.address_key == rules.address_key(
                building.street_number, building.number_suffix, building.street_name, building.postcode,
                building.commune), building.imb_id
        sample = rows[::97]
        longitudes, latitudes = rules.to_wgs84([b.x_l93 for b in sample], [b.y_l93 for b in sample])
        for building, longitude, latitude in zip(sample, longitudes, latitudes):
            assert abs(building.longitude - longitude) < 1e-6 and abs(building.latitude - latitude) < 1e-6
        states = {b.state for b in rows}
        assert states == set(BuildingState)
        assert len({b.commune for b in rows}) == 5


def test_the_seed_s_building_is_as_the_seed_shows_it(app):
    with app.app_context():
        building = db.session.query(Building).filter_by(imb_id="IMB/77058/X/0218").one()
        assert (building.state, building.oi_code, building.insee_code, building.rivoli_code) == (
            BuildingState.available, "F1", "77058", "0361")
        assert (building.x_l93, building.y_l93, building.dwellings) == (678771.23, 6860548.07, 1)
        assert (building.street_number, building.street_name, building.commune) == (
            6, "RUE ETIENNE GANNERON", "BUSSY-ST-GEORGES")
        assert building.access_acceptance_from.isoformat() == building.access_supply_from.isoformat() == "2019-03-06"
        assert abs(building.longitude - 2.71074) < 1e-4 and abs(building.latitude - 48.84463) < 1e-4
        [structure] = building.structures
        assert (structure.pm_ref, structure.pmt_ref, structure.pbo_ref, structure.pbo_type, structure.location_type,
                structure.patching_type, structure.works_nature, structure.pm_prdm_link) == (
            "FI-77058-000B", "PT 001113", "PT 002053", "CH:EN CHAMBRE", "PME", "OC", "SOUTERRAIN",
            "77243LAG_FI-77058-000B")
        assert building.lines == []


# ---------------------------------------------------------------------------
# The four searches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    SEED_ADDRESS, "6 R ETIENNE GANNERON BUSSY-ST-GEORGES", "6, rue etienne ganneron", "6 rue Etienne Ganneron 77600",
    "6 RUE ÉTIENNE GANNERON, BUSSY SAINT GEORGES", "6 Ganneron",
])
def test_the_seed_s_address_finds_its_building_first(app, typed):
    with app.test_request_context():
        assert found_imbs(rules.by_address(viewer(), typed, 20)) == ["IMB/77058/X/0218"]


def test_a_number_suffix_finds_that_building_and_not_its_neighbour(app):
    with app.test_request_context():
        bis = db.session.query(Building).filter_by(number_suffix="BIS").order_by(Building.id).first()
        number, street, commune = bis.street_number, bis.street_name.title(), bis.commune.title()
        assert found_imbs(rules.by_address(viewer(), f"{number}b {street} {commune}", 20)) == [bis.imb_id]
        assert found_imbs(rules.by_address(viewer(), f"{number} bis, {street} {commune}", 20)) == [bis.imb_id]


def test_a_number_the_street_lacks_gives_the_street_s_nearest_numbers(app):
    with app.test_request_context():
        found = rules.by_address(viewer(), "99 rue Etienne Ganneron Bussy-Saint-Georges", 5)
        assert [item.building.street_number for item in found] == [20, 19, 18, 17, 16]


def test_a_misspelt_address_is_found_by_trigrams_on_postgresql(app):
    with app.test_request_context():
        if not postgresql():
            pytest.skip("the misspelt address's search is PostgreSQL's (pg_trgm); SQLite matches words only")
        found = rules.by_address(viewer(), "6 rue Etiene Ganeron Bussy", 20)
        assert found_imbs(found)[0] == "IMB/77058/X/0218"


def test_by_building_id_case_and_spaces_aside(app):
    with app.test_request_context():
        assert found_imbs(rules.by_building_id(viewer(), " imb/77058/x/0218 ")) == ["IMB/77058/X/0218"]
        assert rules.by_building_id(viewer(), "IMB/99999/X/0000") == []


def test_by_line_number(app):
    with app.test_request_context():
        line = db.session.query(BuildingLine).order_by(BuildingLine.id).first()
        typed = " ".join(re.findall("..", line.line_number))  # as people write it: 01 60 00 ...
        assert found_imbs(rules.by_line(viewer(), typed)) == [line.building.imb_id]
        assert rules.by_line(viewer(), "0999999999") == []


@pytest.mark.parametrize("projection, x, y", [("lambert93", "678771,23", "6860548.07"),
                                              ("wgs84", "2.7107420", "48.8446291")])
def test_by_coordinates_in_either_projection_nearest_first(app, projection, x, y):
    with app.test_request_context():
        x93, y93 = rules.point_in_lambert93(x, y, projection)
        found = rules.by_point(viewer(), x93, y93, 80.0, 20)
        assert found_imbs(found)[0] == "IMB/77058/X/0218" and found[0].distance < 0.5
        distances = [item.distance for item in found]
        assert distances == sorted(distances) and max(distances) <= 80 and len(found) > 1
        for item in found:
            exact = ((item.building.x_l93 - x93) ** 2 + (item.building.y_l93 - y93) ** 2) ** 0.5
            assert abs(exact - item.distance) < 0.1


@pytest.mark.parametrize("call, field, message", [
    (lambda: rules.by_address(None, "", 20), "address", "Adresse : ce champ est obligatoire."),
    (lambda: rules.by_address(None, "6 de la", 20), "address", "Adresse : saisissez au moins le nom de la voie"),
    (lambda: rules.by_address(None, "rue " * 60, 20), "address", "Adresse : 200 caractères au plus"),
    (lambda: rules.by_building_id(None, "IMB 77058 'x'"), "building_id", "Identifiant d'immeuble : jusqu'à 30"),
    (lambda: rules.by_line(None, "01-60-ab-%"), "line_number", "Numéro de ligne : jusqu'à 20 lettres"),
    (lambda: rules.point_in_lambert93("abc", "1", "lambert93"), "x", "X : un nombre est attendu."),
    (lambda: rules.point_in_lambert93("678771", "nan", "lambert93"), "y", "Y : un nombre est attendu."),
    (lambda: rules.point_in_lambert93("1e400", "1", "lambert93"), "x", "X : un nombre est attendu."),
    (lambda: rules.point_in_lambert93("2000000", "6860548", "lambert93"), "x", "X : une valeur entre"),
    (lambda: rules.point_in_lambert93("2.7", "98", "wgs84"), "y", "Latitude : une valeur entre 41,15 et 51,56"),
    (lambda: rules.point_in_lambert93("2.7", "48.8", "utm"), "projection", "Projection : choisissez"),
    (lambda: rules.read_radius("5000"), "radius", "Rayon : une valeur entre 1 et 2000"),
])
def test_a_search_it_cannot_run_is_refused_naming_the_field(app, call, field, message):
    with app.test_request_context():
        with pytest.raises(rules.EligibilityRefused) as refused:
            call()
        assert refused.value.field == field and message in refused.value.message


# ---------------------------------------------------------------------------
# Offers: each verdict and its reason
# ---------------------------------------------------------------------------


def verdicts_of(building):
    return {verdict.offer.code: [reason.message for reason in verdict.reasons]
            for verdict in rules.verdicts(building, rules.offers())}


def test_the_seed_s_building_verdicts_and_reasons(app):
    with app.test_request_context():
        building = db.session.query(Building).filter_by(imb_id=demo.SEED_IMB).one()
        assert rules.is_connectable(building)
        assert verdicts_of(building) == {
            "just-fibre": [], "ftth-access-pm": [], "optimum-pm": ["moins de 12 logements (1)"],
            "core-ethernet-lan": ["commune BUSSY-ST-GEORGES (INSEE 77058) hors de la zone de l'offre"],
            "copper-access": ["aucune ligne existante dans l'immeuble"],
        }


def test_a_target_building_is_not_connectable_and_says_its_state(app):
    with app.test_request_context():
        building = db.session.query(Building).filter_by(state=BuildingState.target).order_by(Building.id).first()
        assert not rules.is_connectable(building)
        assert "immeuble non raccordable : état Cible" in verdicts_of(building)["just-fibre"]


def test_an_access_supplied_later_a_line_and_an_unknown_rule(app):
    with app.test_request_context():
        building = db.session.query(Building).filter_by(imb_id=demo.SEED_IMB).one()
        building.access_supply_from = clock.local_today() + timedelta(days=10)
        building.lines.append(BuildingLine(line_number="0160999999", active=True))
        copper = db.session.query(Offer).filter_by(code="copper-access").one()
        copper.rules.append(EligibilityRule(kind="moon_phase", value="full", position=9))
        db.session.flush()
        try:
            verdicts = verdicts_of(building)
            assert verdicts["just-fibre"] == [
                f"fourniture d'accès à partir du {building.access_supply_from:%d/%m/%Y}"]
            assert verdicts["copper-access"] == ["condition moon_phase inconnue : non éligible"]
        finally:
            db.session.rollback()


# ---------------------------------------------------------------------------
# The screens, behind the entitlement
# ---------------------------------------------------------------------------


def test_the_screens_open_to_the_entitled_only(app, login_as):
    pk = seed_id(app)
    for username in ("opuser", "opadmin", "admin"):
        client = login_as(username)
        assert client.get("/operator/eligibility/").status_code == 200, username
        assert client.get(f"/operator/eligibility/building/{pk}").status_code == 200, username
    opsav = login_as("opsav")  # an OperatorUser whose admin did not tick Eligibilité
    assert opsav.get("/operator/eligibility/").status_code == 403
    assert opsav.get(f"/operator/eligibility/building/{pk}").status_code == 403
    assert opsav.get(f"/operator/eligibility/building/{pk}/export/csv").status_code == 403
    assert login_as("user").get("/operator/eligibility/").status_code in (302, 403)
    assert app.test_client().get("/operator/eligibility/").status_code == 302


def test_the_menu_and_the_home_link_the_search_for_the_entitled(login_as):
    entitled = login_as("opuser").get("/operator/").get_data(as_text=True)
    assert 'href="/operator/eligibility/"' in entitled
    assert entitled.count('href="/operator/eligibility/"') == 2  # the menu and the e-service's link
    assert 'href="/operator/eligibility/"' not in login_as("opsav").get("/operator/").get_data(as_text=True)


def test_another_operator_s_accounts_search_the_same_buildings_once_ticked(app, login_as):
    with app.app_context():
        member("alpesadmin", "Alpes Connect", OPERATOR_ADMIN)
        member("alpesuser", "Alpes Connect", OPERATOR_USER)
    pk = seed_id(app)
    assert "IMB/77058/X/0218" in login_as("alpesadmin").get(
        f"/operator/eligibility/building/{pk}").get_data(as_text=True)
    assert login_as("alpesuser").get(f"/operator/eligibility/building/{pk}").status_code == 403


def test_the_search_page_shows_each_offer_s_verdict_and_the_map(login_as):
    page = login_as("opuser").get("/operator/eligibility/", query_string={
        "mode": "address", "address": SEED_ADDRESS}).get_data(as_text=True)
    assert "1 immeuble trouvé" in page and "IMB/77058/X/0218" in page and "RACCORDABLE" in page
    assert "moins de 12 logements (1)" in page and "aucune ligne existante dans l&#39;immeuble" in page
    markers = re.search(r'data-markers="([^"]*)"', page).group(1)
    assert "IMB/77058/X/0218" in markers and "&#34;connectable&#34;: true" in markers
    assert 'data-tiles=""' in page and "fond uni, avec une échelle" in page
    assert "/static/vendor/leaflet/leaflet.js" in page and "/static/js/eligibility-map.js" in page


@pytest.mark.parametrize("args, shown", [
    ({"mode": "point", "x": "2.7107420", "y": "48.8446291", "projection": "wgs84", "radius": "30"},
     "IMB/77058/X/0218"),
    ({"mode": "building", "building_id": "imb/77058/x/0218"}, "1 immeuble trouvé"),
    ({"mode": "line", "line_number": "0999999999"}, "Aucun immeuble trouvé"),
    ({"mode": "address", "address": "12 rue des Licornes Bleues"}, "0 immeuble trouvé"),
])
def test_each_way_of_searching_answers_on_the_page(login_as, args, shown):
    response = login_as("opuser").get("/operator/eligibility/", query_string=args)
    assert response.status_code == 200 and shown in response.get_data(as_text=True)


NASTY = ["", " ", "x" * 5000, "%", "_%_", "'; DROP TABLE building; --", "1e400", "nan", "-inf", "0x1F", "🙂" * 50,
         "IMB/../../etc", "<script>alert(1)</script>", "１２３", "\u202e", "9" * 40, "-0", "1,2,3"]


@pytest.mark.parametrize("mode, name", [("address", "address"), ("building", "building_id"), ("line", "line_number"),
                                        ("point", "x"), ("point", "y"), ("point", "radius"), ("point", "projection"),
                                        ("nonsense", "address")])
def test_no_input_gives_a_server_error(login_as, mode, name):
    client = login_as("opuser")
    base = {"x": "678771.23", "y": "6860548.07", "projection": "lambert93"}
    for value in NASTY:
        response = client.get("/operator/eligibility/", query_string={**base, "mode": mode, name: value})
        assert response.status_code == 200, (name, value, response.status_code)
        page = response.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page


def test_a_refusal_is_shown_on_its_field(login_as):
    page = login_as("opuser").get("/operator/eligibility/", query_string={
        "mode": "point", "x": "678771.23", "y": "abc", "projection": "lambert93"}).get_data(as_text=True)
    assert 'id="y-error">Y : un nombre est attendu.' in page and 'aria-invalid="true"' in page


def test_the_building_sheet_is_laid_out_as_the_seed_s(app, login_as):
    page = login_as("opuser").get(f"/operator/eligibility/building/{seed_id(app)}").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    for expected in ("Détails de l'immeuble : IMB/77058/X/0218", "RACCORDABLE", "État de l'immeuble : Mis à disposition",
                     "Code de l'OI : F1", "Bâtiment : _NA_", "Informations supplémentaires : _NA_",
                     "Coordonnée X : 678771.23", "Coordonnée Y : 6860548.07", "Type de projection : RGF93",
                     "Code INSEE de l'immeuble : 77058", "Code RIVOLI de l'immeuble : 0361",
                     "Nb logements immeuble : 1", "Date début acceptation d'accès : 06/03/2019",
                     "Date début fourniture accès : 06/03/2019", "Commune : BUSSY-ST-GEORGES",
                     "Voie : 6 RUE ETIENNE GANNERON", "Structure d'immeuble", "Étage Ref PM Ref PMT Ref PBO Type PBO "
                     "Type emplacement Type brassage Nature des travaux Identifiant lien PM-PRDM Nombre locaux FTTH",
                     "FI-77058-000B PT 001113 PT 002053 CH:EN CHAMBRE PME OC SOUTERRAIN 77243LAG_FI-77058-000B",
                     "Ligne(s) existante(s) (0)", "Exporter en CSV", "Exporter en XLSX"):
        assert expected.replace("'", "&#39;") in text or expected in text, expected
    assert login_as("opuser").get("/operator/eligibility/building/999999999").status_code == 404


def test_the_building_sheet_exports_as_csv_and_xlsx(app, login_as):
    client = login_as("opuser")
    pk = seed_id(app)
    response = client.get(f"/operator/eligibility/building/{pk}/export/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="imb-77058-x-0218-' in response.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    values = dict(zip(header, row))
    assert values["Identifiant de l'immeuble"] == "IMB/77058/X/0218" and values["Raccordable"] == "Oui"
    assert values["Ref PM"] == "FI-77058-000B" and values["Identifiant lien PM-PRDM"] == "77243LAG_FI-77058-000B"
    assert values["Voie"] == "6 RUE ETIENNE GANNERON" and values["Coordonnée X"] == "678771.23"
    response = client.get(f"/operator/eligibility/building/{pk}/export/xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == header and rows[1][0] == "IMB/77058/X/0218"
    assert client.get(f"/operator/eligibility/building/{pk}/export/pdf").status_code == 404


def test_a_tile_server_is_allowed_for_images_only_when_set(app, login_as, monkeypatch):
    def policy(settings):
        probe = Flask("probe")
        probe.config.update(PUBLIC_URL="http://localhost", SESSION_COOKIE_SAMESITE="Lax", **settings)
        web.install(probe)
        probe.add_url_rule("/", "home", lambda: "ok")
        return probe.test_client().get("/").headers["Content-Security-Policy"]

    assert "tile" not in policy({})
    with_tiles = policy({"MAP_TILE_URL": "https://{s}.tile.example.org/{z}/{x}/{y}.png"})
    img = next(part for part in with_tiles.split(";") if part.strip().startswith("img-src"))
    assert "https://*.tile.example.org" in img and with_tiles.count("tile.example.org") == 1
    monkeypatch.setitem(app.config, "MAP_TILE_URL", "https://tile.example.org/{z}/{x}/{y}.png")
    page = login_as("opuser").get("/operator/eligibility/", query_string={
        "mode": "building", "building_id": demo.SEED_IMB}).get_data(as_text=True)
    assert 'data-tiles="https://tile.example.org/{z}/{x}/{y}.png"' in page and "fond uni" not in page


# ---------------------------------------------------------------------------
# In a browser: the seed's address, its building sheet, the map (CSP on)
# ---------------------------------------------------------------------------


def test_a_search_by_the_seed_s_address_shows_the_building_sheet(browser_login, phone_login, live_url):
    for page in (browser_login("opuser"), phone_login("opuser")):
        page.goto(f"{live_url}/operator/")
        page.click("a[href='/operator/eligibility/'] >> nth=-1")
        page.fill("#address", SEED_ADDRESS)
        page.click(".eligibility-form button[type=submit]")
        page.locator("#eligibility-map path.leaflet-interactive").first.wait_for()
        assert page.locator(".leaflet-control-scale").count() == 1
        assert page.locator(".leaflet-control-zoom-in").get_attribute("aria-label") == "Zoom avant"
        page.click("a:has-text('IMB/77058/X/0218')")
        page.wait_for_url("**/operator/eligibility/building/*")
        assert "Détails de l'immeuble : IMB/77058/X/0218" in page.inner_text("h1")
        assert page.locator(".building-sheet-head .eligibility-connectable").inner_text() == "RACCORDABLE"
        page.locator("#eligibility-map path.leaflet-interactive").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
