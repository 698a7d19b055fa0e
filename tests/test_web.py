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
