"""Limits on attempts that a guesser repeats and an office does not: failed sign-ins
(per account and per client address), "forgot password" requests and refused
password links.

Only what can be guessed is counted: forty people signing in correctly from one
office address never meet a limit, while the eleventh wrong password for one account
is refused, and so is a guesser trying many accounts from one address. The counts
live in RATELIMIT_STORAGE_URI (Redis when REDIS_URL is set, so every web worker and
machine shares them; memory with the embedded default's single process), in moving
windows from the `limits` library. The client address is the request's, read behind
TRUSTED_PROXIES reverse proxies (create_app wraps the app in Werkzeug's ProxyFix).
"""
from flask import current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

#: kind: the setting holding its limit ("10 per 15 minutes").
LIMITS = {
    "sign_in_account": "LOGIN_FAILURES_PER_ACCOUNT",
    "sign_in_address": "LOGIN_FAILURES_PER_ADDRESS",
    "reset_account": "PASSWORD_RESET_PER_ACCOUNT",
    "reset_address": "PASSWORD_RESET_PER_ADDRESS",
    "link_address": "PASSWORD_LINK_FAILURES_PER_ADDRESS",
}


def _limiter():
    state = current_app.extensions.get("guichet_attempts")
    if state is None:
        storage = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"])
        state = current_app.extensions["guichet_attempts"] = MovingWindowRateLimiter(storage)
    return state


def _key(value) -> str:
    return str(value or "").strip().lower()


def client_address() -> str:
    return request.remote_addr or "unknown"


def _checks(**keys):
    """[(limit, kind, key)] for keys given by kind."""
    return [(parse(current_app.config[LIMITS[kind]]), kind, _key(key)) for kind, key in keys.items()]


def exhausted(**keys) -> bool:
    """Whether any of these counts has reached its limit (`sign_in_account="lea"`...)."""
    if not current_app.config["ATTEMPT_LIMITS_ENABLED"]:
        return False
    limiter = _limiter()
    return any(not limiter.test(limit, kind, key) for limit, kind, key in _checks(**keys))


def count(**keys) -> None:
    """Count one attempt against each of these."""
    if not current_app.config["ATTEMPT_LIMITS_ENABLED"]:
        return
    limiter = _limiter()
    for limit, kind, key in _checks(**keys):
        limiter.hit(limit, kind, key)
