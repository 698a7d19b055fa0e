"""Desk E's TMF645 Service Qualification API as a client uses it: a bearer token, a
place (address, building id, point in either projection, line number), one item per
building and offer — qualified, unqualified with the reason, or alternate — the
entitlement checked (403 JSON), a limit per account (429 JSON), every bad body a 400
naming its field, and the operation in the OpenAPI document."""
import uuid

import pytest
from sqlalchemy import delete, select, update

from app.demo.operator import buildings as demo
from app.extensions import db
from app.models import BuildingLine, EService, Entitlement, Offer

from .helpers import BearerClient, login, user

URL = "/api/v1/operator/serviceQualification"
SEED_SITE = {"@type": "GeographicSite", "id": demo.SEED_IMB}
OFFERS = ["just-fibre", "ftth-access-pm", "optimum-pm", "core-ethernet-lan", "copper-access"]


@pytest.fixture(scope="module")
def opuser(app):
    return BearerClient(app, "opuser")


def results(answer) -> dict:
    """{offer code: (result, [reason labels])} of an answer about one building."""
    return {item["service"]["serviceSpecification"]["id"]: (
        item["qualificationResult"], [reason["label"] for reason in item.get("eligibilityUnavailabilityReason", [])])
        for item in answer["serviceQualificationItem"]}


def places(answer) -> list:
    return list(dict.fromkeys(item["service"]["place"][0]["id"] for item in answer["serviceQualificationItem"]
                              if "place" in item["service"]))


def test_a_building_id_qualifies_each_offer_with_its_reason(opuser):
    response = opuser.post(URL, json={"place": [SEED_SITE], "externalId": "cmd-42"})
    assert response.status_code == 201, response.json
    answer = response.json
    assert answer["state"] == "done" and answer["@type"] == "CheckServiceQualification"
    assert answer["qualificationResult"] == "qualified" and answer["externalId"] == "cmd-42"
    assert answer["place"] == [SEED_SITE] and uuid.UUID(answer["id"])
    assert answer["checkServiceQualificationDate"].endswith("Z")
    assert results(answer) == {
        "just-fibre": ("qualified", []), "ftth-access-pm": ("qualified", []),
        "optimum-pm": ("unqualified", ["moins de 12 logements (1)"]),
        "core-ethernet-lan": ("unqualified", ["commune BUSSY-ST-GEORGES (INSEE 77058) hors de la zone de l'offre"]),
        "copper-access": ("unqualified", ["aucune ligne existante dans l'immeuble"]),
    }
    item = answer["serviceQualificationItem"][0]
    assert item["state"] == "done" and item["service"]["serviceSpecification"]["name"] == "Just Fibre"
    place = item["service"]["place"][0]
    assert place["id"] == demo.SEED_IMB and place["connectable"] is True
    assert place["name"] == "6 RUE ETIENNE GANNERON, 77600 BUSSY-ST-GEORGES"
    assert place["href"].endswith("/operator/eligibility/building/" + place["href"].rsplit("/", 1)[1])


@pytest.mark.parametrize("place", [
    {"@type": "GeographicAddress", "streetNr": "6", "streetType": "r", "streetName": "Étienne Ganneron",
     "postcode": "77600", "city": "Bussy-Saint-Georges"},
    {"@type": "GeographicAddress", "streetNr": 6, "streetName": "rue etienne ganneron", "city": "BUSSY-ST-GEORGES"},
    {"@type": "GeographicAddress", "fullAddress": "6 R ETIENNE GANNERON 77600 BUSSY ST GEORGES"},
    {"@type": "GeographicLocation", "geometryType": "point", "spatialRef": "EPSG:2154",
     "geometry": [{"x": 678771.23, "y": 6860548.07}], "radius": 5},
    {"@type": "GeographicLocation", "spatialRef": "EPSG:4326", "geometry": [{"x": "2.7107420", "y": "48.8446291"}],
     "radius": "5"},
])
def test_every_kind_of_place_finds_the_seed_s_building(opuser, place):
    response = opuser.post(URL, json={"place": place})
    assert response.status_code == 201, response.json
    assert places(response.json) == [demo.SEED_IMB]


def test_a_point_answers_the_buildings_around_nearest_first_with_their_distance(opuser):
    answer = opuser.post(URL, json={"place": {"@type": "GeographicLocation", "geometry": [
        {"x": 678771.23, "y": 6860548.07}], "radius": 80}}).json
    found = places(answer)
    assert found[0] == demo.SEED_IMB and len(found) > 1
    distances = list(dict.fromkeys((item["service"]["place"][0]["id"], item["service"]["place"][0]["distance"])
                                   for item in answer["serviceQualificationItem"]))
    assert [d for _, d in distances] == sorted(d for _, d in distances) and distances[-1][1] <= 80
    assert len(answer["serviceQualificationItem"]) == len(found) * len(OFFERS)
    assert len({item["id"] for item in answer["serviceQualificationItem"]}) == len(answer["serviceQualificationItem"])


def test_a_line_number_finds_its_building(app, opuser):
    with app.app_context():
        line = db.session.query(BuildingLine).order_by(BuildingLine.id).first()
        number, imb = line.line_number, line.building.imb_id
    answer = opuser.post(URL, json={"place": {"@type": "LineRef", "id": number}}).json
    assert places(answer) == [imb]


def test_an_offer_asked_for_is_alternate_when_others_qualify(opuser):
    asked = {"place": SEED_SITE, "serviceQualificationItem": [
        {"id": "a", "service": {"serviceSpecification": {"id": "optimum-pm"}}},
        {"id": "b", "service": {"serviceSpecification": {"name": "Just Fibre"}}}]}
    answer = opuser.post(URL, json=asked).json
    first, second = answer["serviceQualificationItem"]
    assert (first["id"], first["qualificationResult"], second["id"], second["qualificationResult"]) == (
        "a", "alternate", "b", "qualified")
    assert [p["alternateService"]["serviceSpecification"]["id"] for p in first["alternateServiceProposal"]] == [
        "just-fibre", "ftth-access-pm"]
    assert first["eligibilityUnavailabilityReason"] == [{"code": "min_dwellings", "label": "moins de 12 logements (1)"}]
    answer = opuser.post(URL, json={**asked, "serviceQualificationItem": asked["serviceQualificationItem"][:1]}).json
    assert answer["qualificationResult"] == "alternate"
    plain = opuser.post(URL, json={**asked, "provideAlternative": False,
                                   "provideUnavailabilityReasonIndicator": False}).json
    first = plain["serviceQualificationItem"][0]
    assert first["qualificationResult"] == "unqualified"
    assert "alternateServiceProposal" not in first and "eligibilityUnavailabilityReason" not in first


def test_a_place_without_building_is_unqualified_for_every_offer(opuser):
    answer = opuser.post(URL, json={"place": {"@type": "GeographicSite", "id": "IMB/99999/X/FFFF"}}).json
    assert answer["qualificationResult"] == "unqualified"
    assert [item["service"]["serviceSpecification"]["id"] for item in answer["serviceQualificationItem"]] == OFFERS
    assert {reason["code"] for item in answer["serviceQualificationItem"]
            for reason in item["eligibilityUnavailabilityReason"]} == {"place_not_found"}


@pytest.mark.parametrize("body, field", [
    ({}, "place"),
    ({"place": None}, "place"),
    ({"place": "IMB/77058/X/0218"}, "place"),
    ({"place": []}, "place"),
    ({"place": [SEED_SITE, SEED_SITE]}, "place"),
    ({"place": [7]}, "place[0]"),
    ({"place": {"id": demo.SEED_IMB}}, "place.@type"),
    ({"place": {"@type": "Planet"}}, "place.@type"),
    ({"place": {"@type": ["GeographicSite"]}}, "place.@type"),
    ({"place": {"@type": "GeographicSite"}}, "place.id"),
    ({"place": {"@type": "GeographicSite", "id": {"a": 1}}}, "place.id"),
    ({"place": {"@type": "GeographicSite", "id": "IMB 'x' or 1=1"}}, "place.id"),
    ({"place": [{"@type": "GeographicSite", "id": True}]}, "place[0].id"),
    ({"place": {"@type": "LineRef", "id": "01-60-%%"}}, "place.id"),
    ({"place": {"@type": "GeographicAddress"}}, "place.streetName"),
    ({"place": {"@type": "GeographicAddress", "streetName": ["rue"]}}, "place.streetName"),
    ({"place": {"@type": "GeographicAddress", "streetName": "x" * 300}}, "place.streetName"),
    ({"place": {"@type": "GeographicAddress", "fullAddress": "6 de la"}}, "place.fullAddress"),
    ({"place": {"@type": "GeographicAddress", "streetName": "rue", "city": 3.5}}, "place.city"),
    ({"place": {"@type": "GeographicLocation"}}, "place.geometry"),
    ({"place": {"@type": "GeographicLocation", "geometry": {"x": 1}}}, "place.geometry"),
    ({"place": {"@type": "GeographicLocation", "geometry": [[1, 2]]}}, "place.geometry[0]"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"y": 6860548}]}}, "place.geometry[0].x"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"x": True, "y": 1}]}}, "place.geometry[0].x"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"x": 678771, "y": "abc"}]}}, "place.geometry[0].y"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"x": 1e308, "y": 6860548}]}}, "place.geometry[0].x"),
    ({"place": {"@type": "GeographicLocation", "spatialRef": "EPSG:4326", "geometry": [{"x": 2.7, "y": 91}]}},
     "place.geometry[0].y"),
    ({"place": {"@type": "GeographicLocation", "spatialRef": "EPSG:3857", "geometry": [{"x": 1, "y": 1}]}},
     "place.spatialRef"),
    ({"place": {"@type": "GeographicLocation", "spatialRef": 2154, "geometry": [{"x": 1, "y": 1}]}},
     "place.spatialRef"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"x": 678771, "y": 6860548}], "radius": 9999}},
     "place.radius"),
    ({"place": {"@type": "GeographicLocation", "geometry": [{"x": 678771, "y": 6860548}], "radius": [1]}},
     "place.radius"),
    ({"place": SEED_SITE, "serviceQualificationItem": {"id": 1}}, "serviceQualificationItem"),
    ({"place": SEED_SITE, "serviceQualificationItem": ["x"]}, "serviceQualificationItem[0]"),
    ({"place": SEED_SITE, "serviceQualificationItem": [{}]}, "serviceQualificationItem[0].service.serviceSpecification"),
    ({"place": SEED_SITE, "serviceQualificationItem": [{"service": []}]}, "serviceQualificationItem[0].service"),
    ({"place": SEED_SITE, "serviceQualificationItem": [{"service": {"serviceSpecification": {"id": "adsl-2000"}}}]},
     "serviceQualificationItem[0].service.serviceSpecification.id"),
    ({"place": SEED_SITE, "provideAlternative": "yes"}, "provideAlternative"),
    ({"place": SEED_SITE, "externalId": ["a"]}, "externalId"),
])
def test_a_bad_body_is_a_400_naming_its_field(opuser, body, field):
    response = opuser.post(URL, json=body)
    assert response.status_code == 400, (body, response.status_code, response.json)
    assert list(response.json["message"]) == [field], response.json
    assert response.json["message"][field][0]


@pytest.mark.parametrize("data, content_type", [
    ("[1, 2]", "application/json"), ('"place"', "application/json"), ("{not json", "application/json"),
    ("place=IMB", "application/x-www-form-urlencoded"), ("", "application/json"), ("null", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(opuser, data, content_type):
    response = opuser.post(URL, data=data, headers={"Content-Type": content_type})
    assert response.status_code == 400 and response.json["message"] == {
        "_schema": ["Le corps de la requête doit être un objet JSON."]}


def test_the_entitlement_is_checked_with_a_token_and_with_a_session(app):
    refused = BearerClient(app, "opsav").post(URL, json={"place": SEED_SITE})
    assert refused.status_code == 403 and "Eligibilit" in refused.json["message"]
    session = login(app.test_client(), "opsav").post(URL, json={"place": SEED_SITE})
    assert session.status_code == 403 and session.is_json
    assert login(app.test_client(), "opuser").post(URL, json={"place": SEED_SITE}).status_code == 201
    assert BearerClient(app, "user").post(URL, json={"place": SEED_SITE}).status_code == 403
    assert app.test_client().post(URL, json={"place": SEED_SITE}).status_code == 401


def test_an_entitlement_taken_back_by_a_bulk_delete_is_refused_on_the_next_call(app, opuser):
    """Entitlements are kept a few seconds per process; a write in this process, even
    a bulk DELETE that no ORM flush sees, forgets them at once."""
    assert opuser.post(URL, json={"place": SEED_SITE}).status_code == 201
    with app.app_context():
        person_id = user("opuser").id
        eligibility = db.session.scalar(select(EService.id).filter_by(code="eligibility"))
        kept = [(row.organisation_id, row.granted_by_id) for row in db.session.scalars(
            select(Entitlement).filter_by(user_id=person_id, eservice_id=eligibility))]
        db.session.execute(delete(Entitlement).where(Entitlement.user_id == person_id,
                                                     Entitlement.eservice_id == eligibility))
        db.session.commit()
    try:
        assert opuser.post(URL, json={"place": SEED_SITE}).status_code == 403
    finally:
        with app.app_context():
            db.session.add_all(Entitlement(user_id=person_id, organisation_id=organisation,
                                           eservice_id=eligibility, granted_by_id=granted_by)
                               for organisation, granted_by in kept)
            db.session.commit()
    assert opuser.post(URL, json={"place": SEED_SITE}).status_code == 201


def test_an_offer_renamed_is_in_the_next_answer(app, opuser):
    def names():
        answer = opuser.post(URL, json={"place": SEED_SITE}).json
        return {item["service"]["serviceSpecification"]["name"] for item in answer["serviceQualificationItem"]}

    assert "Just Fibre" in names()
    with app.app_context():
        offer = db.session.scalar(select(Offer).filter_by(code="just-fibre"))
        offer.name = "Just Fibre Pro"
        db.session.commit()
    try:
        assert "Just Fibre Pro" in names() and "Just Fibre" not in names()
    finally:
        with app.app_context():
            db.session.execute(update(Offer).where(Offer.code == "just-fibre").values(name="Just Fibre"))
            db.session.commit()
    assert "Just Fibre" in names()


def test_calls_beyond_the_account_s_limit_are_a_429(app, monkeypatch):
    monkeypatch.setitem(app.config, "ELIGIBILITY_API_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "RATELIMIT_KEY_PREFIX", f"test-{uuid.uuid4().hex}-")  # counts of its own
    client, other = BearerClient(app, "opuser"), BearerClient(app, "opadmin")
    assert [client.post(URL, json={"place": SEED_SITE}).status_code for _ in range(3)] == [201] * 3
    refused = client.post(URL, json={"place": SEED_SITE})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json["message"].startswith("Trop de demandes d'éligibilité pour votre compte")
    assert other.post(URL, json={"place": SEED_SITE}).status_code == 201  # the limit is per account


def test_the_operation_is_in_the_openapi_document(app):
    document = BearerClient(app, "admin").get("/api/v1/_openapi").json
    operation = document["paths"]["/api/v1/operator/serviceQualification"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["place"] and "serviceQualificationItem" in schema["properties"]
    assert {"201", "400", "401", "403", "429"} <= set(operation["responses"])
    item = operation["responses"]["201"]["content"]["application/json"]["schema"]["properties"][
        "serviceQualificationItem"]["items"]["properties"]
    assert item["qualificationResult"]["enum"] == ["qualified", "alternate", "unqualified"]
    assert "eligibilityUnavailabilityReason" in item
