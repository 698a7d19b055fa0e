"""The security headers every response carries (flask-talisman, one per app).

* **CSP.** Scripts from the app's own static files only, and inline `<script>` blocks
  that carry the request's nonce (`csp_nonce()`, which FAB's templates already call
  through `baselib.get_nonce()`); no inline event handler, no `javascript:` URL, no
  eval. Styles may stay inline: FAB's widgets and the calendar write style attributes
  and `<style>` elements (a nonce in style-src would turn 'unsafe-inline' off, so
  there is none). Nothing from another origin: the app works on a closed network;
  a map's tile server (MAP_TILE_URL), when one is set, is allowed for images only.
  Web Workers come from the app's files or from `blob:` URLs its own scripts made (the
  QR scanner's decoder builds its worker so).
* **Framing.** `frame-ancestors 'none'` and `X-Frame-Options: DENY`: no page is meant
  to be shown inside another site's frame (clickjacking).
* **nosniff** and **Referrer-Policy: same-origin**: a file is what its type says, and
  no address leaves for another site; a page whose address holds a secret token sets
  its own, stricter, policy (no-referrer) and keeps it.
* **HSTS** only when PUBLIC_URL is https, on requests that came over https (directly or
  through TRUSTED_PROXIES). The app itself never redirects to https: the embedded
  default and the tests are served over http, and TLS is the reverse proxy's job.
* **Static files** (the app's and FAB's) are linked with the version of the files
  served (`?v=`, added to every `url_for` of a static endpoint) and kept by browsers
  for a year under that address: a page no longer asks again for its twenty scripts,
  styles and fonts (a 304 each) on every visit, and a new release is a new address.
  Files named without it (fonts and images a style sheet names) are kept an hour.
"""
import hashlib
import os
from importlib.metadata import version
from urllib.parse import urlsplit

from flask import request, url_for
from flask_talisman import Talisman

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HSTS_MAX_AGE = 365 * 24 * 3600


class _Talisman(Talisman):
    def _set_referrer_policy_headers(self, headers):
        """A page that chose a stricter policy keeps it (one whose address holds a token)."""
        headers.setdefault("Referrer-Policy", self.referrer_policy)


def _origin(url) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def _tile_origin(template) -> str:
    """The origin of a tile URL template; its `{s}` subdomains as a CSP wildcard."""
    return _origin((template or "").replace("{s}.", "*.").replace("{s}", "*"))


STATIC_VERSIONED_MAX_AGE = 365 * 24 * 3600
STATIC_MAX_AGE = 3600


def static_version(app) -> str:
    """A short token that changes when the served static files may have: FAB's version
    and the names, sizes and modification times of the app's own static files."""
    digest = hashlib.sha1(version("flask-appbuilder").encode())
    for folder, _, names in sorted(os.walk(app.static_folder)):
        for name in sorted(names):
            stat = os.stat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:10]


def _is_static(endpoint) -> bool:
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def install_static_cache(app) -> None:
    """Static links carry `?v=<static_version>`; their answers are kept by browsers."""
    token = static_version(app)

    @app.url_defaults
    def version_static_links(endpoint, values):
        if _is_static(endpoint) and "filename" in values:
            values.setdefault("v", token)

    links = {}

    def static_url(endpoint, filename) -> str:
        """url_for(endpoint, filename=…) made once per file and URL root: every page
        links some twenty static files."""
        key = (endpoint, filename, request.script_root)
        link = links.get(key)
        if link is None:
            link = links[key] = url_for(endpoint, filename=filename)
        return link

    app.jinja_env.globals["static_url"] = static_url

    @app.after_request
    def keep_static_files(response):
        if _is_static(request.endpoint) and response.status_code in (200, 304):
            versioned = request.args.get("v") == token
            response.cache_control.public = True
            response.cache_control.no_cache = None
            response.cache_control.max_age = STATIC_VERSIONED_MAX_AGE if versioned else STATIC_MAX_AGE
            if versioned:
                response.cache_control.immutable = True
        return response


def install(app) -> None:
    """Add the headers to every response of `app` (after settings.settle). Forms post to
    the app itself, and to the payment gateway a payment button posts to (PAYPAL_URL)."""
    https = app.config["PUBLIC_URL"].lower().startswith("https://")
    policy = dict(CONTENT_SECURITY_POLICY)
    gateway = _origin(app.config.get("PAYPAL_URL"))
    if gateway:
        policy["form-action"] = f"'self' {gateway}"
    tiles = _tile_origin(app.config.get("MAP_TILE_URL"))
    if tiles:
        policy["img-src"] = f"{policy['img-src']} {tiles}"
    app.extensions["talisman"] = _Talisman(
        app,
        force_https=False,
        strict_transport_security=https,
        strict_transport_security_max_age=HSTS_MAX_AGE,
        strict_transport_security_include_subdomains=False,
        frame_options="DENY",
        content_security_policy=policy,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="same-origin",
        permissions_policy="browsing-topics=()",
        # The cookie flags are settings.settle's (Secure when PUBLIC_URL is https).
        session_cookie_secure=False,
        session_cookie_http_only=True,
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
    install_static_cache(app)
