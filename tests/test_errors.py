"""Error pages: in the app's layout and the reader's language, with a way back; the API
answers JSON. Nothing of Werkzeug's raw English pages reaches anyone."""
import pytest

from app import create_app


@pytest.fixture(scope="module")
def failing_app(app):
    """A second app on the same database with a page that fails (a bug) and one that
    refuses (403)."""
    from flask import abort, current_app

    def add_pages(appbuilder):
        def broken():
            raise RuntimeError("a bug")

        current_app.add_url_rule("/broken", "broken", broken)
        current_app.add_url_rule("/forbidden", "forbidden", lambda: abort(403))

    return create_app(dict(app.config, TESTING=False), register_more=add_pages)


def test_a_missing_page_is_french_in_the_layout_with_a_way_back(login_as):
    client = login_as("referent")
    page = client.get("/nowhere", headers={"Referer": "http://localhost/helprequests/list/"})
    text = page.get_data(as_text=True)
    assert page.status_code == 404
    assert "Page introuvable" in text and "erreur 404" in text and "Not Found" not in text
    assert 'href="http://localhost/helprequests/list/"' in text and "Retour à l'accueil" in text
    assert "Se déconnecter" in text  # the app's own layout and menu


def test_an_id_no_table_holds_is_a_missing_page_in_the_layout(login_as):
    """Refused before the request's set-up (app.platform.inputs reads the URL first)."""
    page = login_as("vnoc").get("/bookings/show/99999999999")
    text = page.get_data(as_text=True)
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert "Page introuvable" in text and "Se déconnecter" in text


def test_error_pages_follow_the_language_switch(login_as):
    client = login_as("user")
    client.get("/lang/en")
    text = client.get("/nowhere").get_data(as_text=True)
    assert "Page not found" in text and "Back to the home page" in text
    client.get("/lang/fr")


def test_a_failure_is_a_french_page_and_the_api_answers_json(failing_app):
    client = failing_app.test_client()
    page = client.get("/broken")
    assert page.status_code == 500
    text = page.get_data(as_text=True)
    assert "Une erreur est survenue de notre côté" in text and "Internal Server Error" not in text
    assert "a bug" not in text
    forbidden = client.get("/forbidden")
    assert forbidden.status_code == 403 and "Accès refusé" in forbidden.get_data(as_text=True)
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404 and response.json == {"message": "Cette page n'existe pas, ou vous "
                                                                        "ne pouvez pas la voir."}
