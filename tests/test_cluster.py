"""Several machines behave as one (DESIGN §8): two gunicorn instances, two RQ workers and
two `flask cron` schedulers, separate processes on one database and one Redis, as the
README's "Scale out" starts them. A person moves from one instance to the other at any
request, as a load balancer sends them."""
import os
import re
import signal
import uuid
from time import sleep
from urllib.parse import urlsplit

import pytest
from redis import Redis

from .cluster_schedule import TICKS
from .helpers import (
    DEMO_PASSWORD,
    PREFIX,
    RETRIES,
    HttpClient,
    Processes,
    free_port,
    member,
    user,
    wait_for,
    workers,
)

METRICS_TOKEN = uuid.uuid4().hex
SIGN_IN_LIMIT = 3  # failed sign-ins per account, counted across the instances


@pytest.fixture(scope="module")
def cluster(app, redis_url, smtp, tmp_path_factory):
    """(url of instance 1, url of instance 2, the processes). Instance 1 runs two gunicorn
    workers whose metrics are added up (PROMETHEUS_MULTIPROC_DIR)."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_url,
               SECRET_KEY=app.config["SECRET_KEY"], PUBLIC_URL=app.config["PUBLIC_URL"],
               JOB_QUEUE_PREFIX=PREFIX, JOB_RETRY_INTERVALS=RETRIES, RATELIMIT_STORAGE_URI=redis_url,
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port),
               EXPORTS_ROOT=str(tmp_path_factory.mktemp("exports")), EXPORT_ASYNC_ROWS="1",
               ATTEMPT_LIMITS_ENABLED="true", LOGIN_FAILURES_PER_ACCOUNT=f"{SIGN_IN_LIMIT} per 15 minutes",
               METRICS_TOKEN=METRICS_TOKEN, FLASK_APP="run.py")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    processes = Processes()
    urls = []
    try:
        for number, (gunicorn_workers, extra) in enumerate(
                [(2, {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics"))}), (1, {})], 1):
            port = free_port()
            processes.start(f"web{number}", ["gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
                                             str(gunicorn_workers), "--threads", "4", "--no-control-socket",
                                             "--graceful-timeout", "2", "run:app"], {**env, **extra})
            urls.append(f"http://127.0.0.1:{port}")
        for number in (1, 2):
            processes.start(f"worker{number}", ["flask", "worker"], env)
            processes.start(f"cron{number}", ["flask", "cron", "--schedule", "tests.cluster_schedule"], env)
        for number, url in enumerate(urls, 1):
            processes.wait_until(f"web{number}", lambda: _answers(url))
        connection = Redis.from_url(redis_url)
        processes.wait_until("worker1", lambda: workers(connection) == 2)
        yield urls[0], urls[1], processes
    finally:
        processes.stop()
        Redis.from_url(redis_url).delete(PREFIX + TICKS)


def _answers(url):
    try:
        return HttpClient().open(f"{url}/healthz")[0] == 200
    except OSError:  # not listening yet
        return False


def _sign_in(client, url, username, password=DEMO_PASSWORD):
    token = client.csrf_token(f"{url}/login/")
    return client.open(f"{url}/login/", data={"username": username, "password": password, "csrf_token": token})


def _path(location):
    return urlsplit(location).path


def test_a_session_made_on_one_instance_is_valid_on_the_other(cluster):
    one, two, _ = cluster
    client = HttpClient()
    status, headers, _ = _sign_in(client, one, "admin")
    assert status == 302 and "/login" not in headers["Location"]
    status, _, page = client.open(f"{two}/outbox/list/")
    assert status == 200 and 'action="/logout/"' in page
    assert HttpClient().open(f"{two}/outbox/list/")[0] == 302  # without the cookie: to the login page


def test_a_token_from_one_instance_is_valid_on_the_other(cluster):
    one, two, _ = cluster
    status, _, body = HttpClient().open(f"{one}/api/v1/security/login", json_body={
        "username": "admin", "password": DEMO_PASSWORD, "provider": "db"})
    assert status == 200
    token = re.search(r'"access_token":\s*"([^"]+)"', body).group(1)
    assert HttpClient().open(f"{two}/api/v1/organisation/", headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert HttpClient().open(f"{two}/api/v1/organisation/")[0] == 401


def test_failed_sign_ins_are_counted_across_the_instances(app, cluster, redis_url):
    one, two, _ = cluster
    username = f"cluster-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        member(username, "Rectorat de l'académie de Lyon")
    client = HttpClient()
    try:
        # Two failures on instance 1, one on instance 2: neither alone has seen three.
        for url in (one, two, one):
            status, headers, _ = _sign_in(client, url, username, "wrong-password1")
            assert status == 302 and _path(headers["Location"]) == "/login/"
        for url in (one, two):
            assert _sign_in(client, url, username)[0] == 429
        assert HttpClient().open(f"{two}/api/v1/security/login", json_body={
            "username": username, "password": DEMO_PASSWORD, "provider": "db"})[0] == 429
        assert _sign_in(HttpClient(), two, "admin")[0] == 302  # another account signs in
    finally:
        connection = Redis.from_url(redis_url)
        keys = list(connection.scan_iter(f"*{username}*"))
        if keys:
            connection.delete(*keys)


def test_each_mail_is_sent_once_by_two_workers(app, cluster, smtp):
    one, two, _ = cluster
    client = HttpClient()
    _sign_in(client, one, "admin")
    smtp.inbox.messages.clear()
    sent = 6
    for number in range(sent):
        url = (one, two)[number % 2]
        token = client.csrf_token(f"{url}/outbox/list/")
        assert client.open(f"{url}/outbox/send_test", data={"csrf_token": token})[0] == 302
    wait_for(lambda: len(smtp.inbox.messages) >= sent, what="the mails")
    sleep(1)  # a second copy of any would have come by now
    outbox_ids = [message["X-Guichet-Outbox"] for _, message in smtp.inbox.messages]
    assert len(outbox_ids) == len(set(outbox_ids)) == sent
    with app.app_context():
        address = user("admin").email
    assert all(recipients == [address] for recipients, _ in smtp.inbox.messages)


def test_an_export_started_on_one_instance_is_downloaded_from_the_other(app, cluster, login_as):
    one, two, _ = cluster
    client = HttpClient()
    _sign_in(client, one, "admin")
    query = "_oc_OrganisationView=name&_od_OrganisationView=asc"
    status, headers, _ = client.open(f"{one}/organisations/export/csv?{query}")
    assert status == 302 and "/exports/" in headers["Location"]
    location = _path(headers["Location"])

    def ready():
        status = client.open(f"{two}{location}/status")[2]
        assert '"failed"' not in status
        return '"ready"' in status and re.search(r'"download":\s*"([^"]+)"', status).group(1)

    download = wait_for(ready, what="the export")
    status, headers, body = client.open(f"{two}{download}")
    assert status == 200 and headers["Content-Disposition"].startswith("attachment")
    streamed = login_as("admin").get(f"/organisations/export/csv?{query}").get_data(as_text=True)
    assert body == streamed


def test_metrics_add_up_the_workers_of_an_instance_and_read_the_queues(cluster):
    one, _, _ = cluster
    client = HttpClient()
    authorised = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.open(f"{one}/metrics")[0] == 401

    def healthz_count():
        status, _, text = client.open(f"{one}/metrics", headers=authorised)
        assert status == 200
        match = re.search(r'^guichet_http_requests_total\{endpoint="health.healthz",status="200"\} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0, text

    before, _ = healthz_count()
    for _ in range(20):  # answered by either of the instance's two processes
        assert client.open(f"{one}/healthz")[0] == 200
    after, text = healthz_count()
    assert after - before == 20
    assert re.search(r'^guichet_rq_workers\{queue="mail"\} 2\.0$', text, re.M)
    assert re.search(r'^guichet_rq_queued_jobs\{queue="default"\} \d', text, re.M)
    assert re.search(r'^guichet_rq_failed_jobs\{queue="mail"\} \d', text, re.M)
    assert client.open(f"{one}/readyz")[2].replace(" ", "").replace("\n", "") == '{"database":"ok","redis":"ok"}'


def test_a_periodic_job_fires_once_per_run_with_two_schedulers_and_on_when_one_dies(app, cluster, redis_url):
    _, _, processes = cluster
    connection = Redis.from_url(redis_url)

    def ticks():
        return sorted(float(value) for value in connection.lrange(PREFIX + TICKS, 0, -1))

    wait_for(lambda: len(ticks()) >= 4, what="four runs of the periodic job")
    both = ticks()
    gaps = [later - earlier for earlier, later in zip(both, both[1:])]
    assert all(0.5 < gap < 2.5 for gap in gaps), f"runs {gaps} s apart: twice, or skipped"
    processes.started["cron1"][0].send_signal(signal.SIGKILL)  # dies without a word
    count = len(both)
    wait_for(lambda: len(ticks()) >= count + 3, what="three runs after the first scheduler died")
    after = [moment for moment in ticks() if moment > both[-1]]
    gaps = [later - earlier for earlier, later in zip([both[-1], *after], after)]
    assert all(0.5 < gap < 2.5 for gap in gaps), f"runs {gaps} s apart after the failover"
