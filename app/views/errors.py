"""Error pages in the app's layout and the reader's language, with a way back; JSON
`{"message": ...}` for the REST API. A 500 also rolls the request's transaction back."""
import logging

from flask import current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db

log = logging.getLogger(__name__)

PAGES = {
    400: (_l("Bad request"), _l("The request could not be understood: check what was typed, then try again.")),
    403: (_l("Access denied"), _l("You may not open this page.")),
    404: (_l("Page not found"), _l("This page does not exist, or you may not see it.")),
    405: (_l("Not allowed"), _l("This page cannot be opened this way.")),
    413: (_l("Too large"), _l("What was sent is too large: send smaller or fewer files.")),
    500: (_l("Something went wrong"),
          _l("An error occurred on our side; it has been recorded. Please try again in a moment.")),
}


def _same_site_referrer():
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else None


def _answer(code, description=None):
    title, message = PAGES.get(code, PAGES[500 if code >= 500 else 400])
    if request.path.startswith("/api/"):
        return jsonify(message=str(description or message)), code
    if "user" not in g:  # refused before FAB set g.user (an id in the URL no table holds): the layout reads it
        g.user = current_user
    try:
        appbuilder = current_app.appbuilder
        return render_template("guichet/error.html", appbuilder=appbuilder, base_template=appbuilder.base_template,
                               code=code, title=title, message=message, back=_same_site_referrer()), code
    except Exception:  # the layout itself failed (e.g. the database is down): plain text
        log.exception("could not render the error page")
        return f"{code} {title}. {message}", code, {"Content-Type": "text/plain; charset=utf-8"}


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400 or error.code in (401,):
        return error
    return _answer(error.code)


def _unexpected(error):
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return _http_error(error)
    db.session.rollback()
    log.exception("unexpected error on %s %s", request.method, request.path, exc_info=error)
    return _answer(500)


def install(app):
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
