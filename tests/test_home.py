"""The home page: a tile per desk one may use; a person with a single desk lands on it."""


def test_a_pupil_lands_on_new_request(login_as):
    response = login_as("student").get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/helprequests/home")
    assert login_as("student").get("/helprequests/home").headers["Location"].endswith("/helprequests/new")


def test_a_referent_lands_on_the_request_list(login_as):
    client = login_as("referent")
    assert client.get("/").headers["Location"].endswith("/helprequests/home")
    assert client.get("/helprequests/home").headers["Location"].endswith("/helprequests/list/")


def test_someone_with_several_desks_gets_one_tile_each(login_as):
    page = login_as("admin").get("/").get_data(as_text=True)
    assert "Vos guichets" in page
    for desk in ("Aide et support", "/helprequests/home"):
        assert desk in page


def test_anonymous_visitors_see_the_sign_in(app):
    page = app.test_client().get("/").get_data(as_text=True)
    assert "/login/" in page
