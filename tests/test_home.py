"""The home page: a tile per desk one may use; a person with a single desk lands on it."""
import html
import re

from flask import url_for

from app.desks import DESKS


def test_a_pupil_opens_help_on_new_request(login_as):
    """A pupil has two desks (help, and the events every account may book): a tile each;
    help opens on "new request"."""
    page = login_as("student").get("/").get_data(as_text=True)
    assert 'href="/helprequests/home"' in page and 'href="/events/home"' in page
    assert login_as("student").get("/helprequests/home").headers["Location"].endswith("/helprequests/new")


def test_a_referent_lands_on_the_request_list(login_as):
    client = login_as("referent")
    assert client.get("/").headers["Location"].endswith("/helprequests/home")
    assert client.get("/helprequests/home").headers["Location"].endswith("/helprequests/list/")


def test_someone_with_several_desks_gets_one_tile_each(app, login_as):
    page = login_as("admin").get("/").get_data(as_text=True)
    assert "Vos guichets" in page
    for desk in ("Aide et support", "/helprequests/home"):
        assert desk in page
    tiles = [(href, html.unescape(label)) for href, label in re.findall(
        r'<div class="panel-heading"><a href="([^"]+)">.*?<strong>(.*?)</strong>', page, re.DOTALL)]
    with app.test_request_context():
        expected = [(url_for(desk.home), str(desk.label)) for desk in DESKS]
    for href, label in expected:  # each desk of DESKS once: its label, opening its home
        assert (href, label) in tiles, (href, label, tiles)
        assert [h for h, _ in tiles].count(href) == 1, (href, tiles)
        assert [name for _, name in tiles].count(label) == 1, (label, tiles)
    assert len(tiles) == len(DESKS), tiles  # and no other tile


def test_anonymous_visitors_see_the_sign_in(app):
    page = app.test_client().get("/").get_data(as_text=True)
    assert "/login/" in page
