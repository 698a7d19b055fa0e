"""Web basics: the security headers on every response, no GET that changes state."""
import re

import pytest

from app import create_app

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


def csp_of(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("path, status", [
    ("/login/", 200),  # a page, signed out
    ("/bookings/list/", 302),  # a redirect to sign in
    ("/static/appbuilder/js/ab.js", 200),  # a static file
    ("/no/such/page", 404),  # an error page
    ("/api/v1/helprequest/", 401),  # the API
])
def test_every_response_carries_the_security_headers(app, path, status):
    response = app.test_client().get(path)
    assert response.status_code == status
    for header in SECURITY_HEADERS:
        assert response.headers.get(header), f"{path}: no {header}"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = csp_of(response)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    # Scripts: the app's own files and the request's nonce, nothing inline otherwise.
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "Strict-Transport-Security" not in response.headers  # PUBLIC_URL is http here


def test_a_page_whose_address_holds_a_token_keeps_its_stricter_referrer_policy(app):
    response = app.test_client().get("/password/set/unknown-token")
    assert response.status_code == 404
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"]


def test_a_signed_in_page_gives_its_inline_scripts_the_nonce_of_its_policy(login_as):
    response = login_as("creator").get("/bookings/list/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    html = response.get_data(as_text=True)
    inline = [tag for tag in re.findall(r"<script\b[^>]*>", html) if " src=" not in tag]
    assert inline and all(f'nonce="{nonce}"' in tag for tag in inline), inline
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"
    assert "javascript:" not in html
    second = login_as("creator").get("/bookings/list/").headers["Content-Security-Policy"]
    assert f"'nonce-{nonce}'" not in second  # one nonce per response


def test_hsts_only_when_public_url_is_https(app):
    behind_tls = create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
        "SERVER_NAME": "guichet.example", "SECRET_KEY": app.config["SECRET_KEY"],
        "PUBLIC_URL": "https://guichet.example", "TRUSTED_PROXIES": 1,
    })
    client = behind_tls.test_client()
    response = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200  # no redirect: TLS is the proxy's
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Over plain http (e.g. a health check inside the network): served, without HSTS.
    plain = client.get("/login/")
    assert plain.status_code == 200 and "Strict-Transport-Security" not in plain.headers
    # The embedded default and the test app, on http: never HSTS, never a redirect.
    response = app.test_client().get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200 and "Strict-Transport-Security" not in response.headers


# ---------------------------------------------------------------------------
# No GET changes state: signing out and opening a notification are POSTs
# ---------------------------------------------------------------------------


def signed_in(client):
    return client.get("/users/userinfo/").status_code == 200


def test_a_get_to_the_logout_address_does_not_sign_out(app, login_as):
    client = login_as("creator")
    page = client.get("/logout/")
    assert page.status_code == 200  # it asks, with the button
    assert re.search(r'<form method="post" action="/logout/"', page.get_data(as_text=True))
    assert signed_in(client)
    # The navbar signs out with a form too: no link to /logout/ anywhere.
    navbar = client.get("/bookings/list/").get_data(as_text=True)
    assert 'href="/logout/"' not in navbar
    assert re.search(r'<form method="post" action="/logout/" class="guichet-logout">', navbar)


def test_signing_out_is_a_post_with_its_csrf_token(app, login_as, monkeypatch):
    client = login_as("creator")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/logout/").status_code == 400  # from another site: no token
    assert signed_in(client)
    page = client.get("/logout/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/logout/", data={"csrf_token": token})
    assert response.status_code == 302
    assert not signed_in(client)
    assert client.get("/logout/").status_code == 302  # signed out: nothing to confirm


def test_opening_a_notification_is_a_post(app, login_as, monkeypatch):
    from app.extensions import db
    from app.models import Notification
    from app.platform import notifications

    from .helpers import user

    monkeypatch.setitem(app.config, "REDIS_URL", None)
    with app.test_request_context():
        [item] = notifications.notify([user("creator")], "notification", {"title": "Salle Rotonde libérée",
                                      "message": "…"}, link="/rooms/list/", mail=False).notifications
        db.session.commit()
        pk = item.id

    def read_on():
        with app.app_context():
            return db.session.get(Notification, pk).read_on

    client = login_as("creator")
    navbar = client.get("/bookings/list/").get_data(as_text=True)
    assert f'<form method="post" action="/notifications/open/{pk}"' in navbar
    assert f'href="/notifications/open/{pk}"' not in navbar
    assert client.get(f"/notifications/open/{pk}").status_code == 405
    show = client.get(f"/notifications/show/{pk}")
    assert show.status_code == 200 and f'action="/notifications/open/{pk}"' in show.get_data(as_text=True)
    assert read_on() is None  # neither GET marked it read
    response = client.post(f"/notifications/open/{pk}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/rooms/list/")
    assert read_on() is not None


def test_static_files_are_linked_with_their_version_and_kept_by_browsers(login_as, tmp_path):
    """A page's scripts and styles are asked for once: their links carry the files'
    version and their answers are kept a year; a file named without it (a font a style
    sheet names) is kept an hour; a changed file is a new version, so a new address."""
    from flask import url_for

    from app.platform import web

    page = login_as("vnoc").get("/bookings/list/").get_data(as_text=True)
    links = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert links and all(re.search(r"[?&]v=\w+", link) for link in links), links
    client = login_as("vnoc")
    kept = client.get(links[0])
    assert kept.status_code == 200 and kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    font = client.get("/static/appbuilder/css/webfonts/fa-solid-900.woff2")
    assert font.status_code == 200 and font.headers["Cache-Control"] == "public, max-age=3600"
    # A page of the release before asks with the old version: kept an hour only.
    assert client.get(links[0].split("?")[0] + "?v=old").headers["Cache-Control"] == "public, max-age=3600"

    app = client.application
    before = web.static_version(app)
    with app.test_request_context():
        assert url_for("static", filename="js/chart.js").endswith(f"?v={before}")
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "static" / "js" / "chart.js").write_text("// another release")
    app.static_folder, folder = str(tmp_path / "static"), app.static_folder
    try:
        assert web.static_version(app) != before
    finally:
        app.static_folder = folder
