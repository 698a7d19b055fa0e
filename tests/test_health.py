"""What the load balancer and Prometheus ask (app/platform/health.py, metrics.py)."""
import re
import socket
import time

import pytest

from app import create_app

from .helpers import free_port

TOKEN = "a-metrics-token-for-the-tests"


@pytest.fixture(scope="module")
def cut_off(app):
    """An app whose database and Redis are closed ports, with METRICS_TOKEN set."""
    return create_app({
        "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SECRET_KEY": app.config["SECRET_KEY"], "PUBLIC_URL": "http://localhost", "METRICS_TOKEN": TOKEN,
    })


def test_ready_when_the_database_and_redis_answer(app):
    response = app.test_client().get("/readyz")
    expected = {"database": "ok", **({"redis": "ok"} if app.config.get("REDIS_URL") else {})}
    assert response.status_code == 200 and response.json == expected


def test_not_ready_naming_redis_when_redis_is_unreachable(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json == {"database": "ok", "redis": "down"}


def test_alive_while_the_database_and_redis_are_down(cut_off):
    client = cut_off.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.data == b"ok\n"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json == {"database": "down", "redis": "down"}


def test_not_ready_within_the_connect_timeout_when_the_database_host_does_not_answer(app):
    """A host that takes the TCP connection and never answers (a hung server, a
    firewall's black hole): /readyz says 503 after DATABASE_CONNECT_TIMEOUT, it does
    not hang for the system's TCP timeout."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the connect timeout is PostgreSQL's")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes each connection; nobody ever answers it
        port = silent.getsockname()[1]
        hung = create_app({
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/none",
            "DATABASE_CONNECT_TIMEOUT": 1,
            "SECRET_KEY": app.config["SECRET_KEY"], "PUBLIC_URL": "http://localhost",
        })
        started = time.monotonic()
        response = hung.test_client().get("/readyz")
        waited = time.monotonic() - started
    assert response.status_code == 503 and response.json["database"] == "down"
    assert 0.9 < waited < 5


def test_the_probes_need_no_sign_in_and_are_in_no_menu(app, login_as):
    assert app.test_client().get("/healthz").status_code == 200
    page = login_as("admin").get("/").get_data(as_text=True)
    assert "/healthz" not in page and "/readyz" not in page and "/metrics" not in page


def _requests_counted(client, endpoint, status):
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    match = re.search(rf'^guichet_http_requests_total\{{endpoint="{endpoint}",status="{status}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_each_request_by_endpoint_and_status(cut_off):
    client = cut_off.test_client()
    healthz, unmatched = _requests_counted(client, "health.healthz", 200), _requests_counted(client, "unmatched", 404)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    assert _requests_counted(client, "health.healthz", 200) == healthz + 2
    assert _requests_counted(client, "unmatched", 404) == unmatched + 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert 'guichet_http_request_duration_seconds_count{endpoint="health.healthz"}' in text


def test_metrics_need_the_token_and_exist_only_with_one(app, cut_off):
    client = cut_off.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert app.test_client().get("/metrics").status_code == 404  # no METRICS_TOKEN
