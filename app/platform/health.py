"""What a load balancer and an orchestrator ask each web process, without signing in.

* `/healthz`: the process answers (200, a few bytes). It touches neither the database
  nor Redis, so that a database outage does not make every web process look dead and
  get restarted in a loop.
* `/readyz`: the process can serve: the database answers `SELECT 1` and, with
  REDIS_URL, Redis answers PING. 200 when both do, else 503 with what is down
  (`{"database": "ok", "redis": "down"}`); the error itself is logged, never shown.
  Take a process out of the balancer's rotation while it answers 503.

Both are GETs of plain routes, outside FAB (no menu entry, no permission) and outside
the CSRF checks (they change nothing).
"""
import logging
from functools import lru_cache

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ..extensions import db

log = logging.getLogger(__name__)

#: Seconds Redis may take to connect and answer before it counts as down.
REDIS_TIMEOUT = 2

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}


@lru_cache(maxsize=8)
def _redis(url):
    """A client of its own, with short timeouts: a probe must answer, even when Redis does not."""
    from redis import Redis  # here: without REDIS_URL no process needs it

    return Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def _database_answers():
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _redis_answers():
    _redis(current_app.config["REDIS_URL"]).ping()


def checks():
    """{name: check()} of what this process needs to serve."""
    needed = {"database": _database_answers}
    if current_app.config.get("REDIS_URL"):
        needed["redis"] = _redis_answers
    return needed


@blueprint.get("/readyz")
def readyz():
    states = {}
    for name, check in checks().items():
        try:
            check()
            states[name] = "ok"
        except Exception as error:
            log.warning("readiness: %s is down: %s", name, error)
            states[name] = "down"
    ready = all(state == "ok" for state in states.values())
    response = jsonify(states)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.register_blueprint(blueprint)
