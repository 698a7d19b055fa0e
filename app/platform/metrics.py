"""Prometheus metrics at `/metrics` (prometheus_client), for the operators.

* Requests answered, by endpoint (the Flask endpoint, `unmatched` for a URL no route
  has: a bounded set of labels, whatever the URLs) and status, and their durations
  (a histogram by endpoint, up to the response's headers: a streamed download's body
  is not counted): `guichet_http_requests_total`, `guichet_http_request_duration_seconds`.
  Two request hooks, 3 to 5 µs a request.
* RQ, read from Redis at scrape time (with REDIS_URL): jobs waiting in each queue,
  jobs given up in each queue's FailedJobRegistry, workers serving each queue.

`/metrics` answers only a request carrying `Authorization: Bearer <METRICS_TOKEN>`
(Prometheus: `authorization: {credentials_file: ...}`); without METRICS_TOKEN it does
not exist (404) and requests are not measured.

Under gunicorn each worker process counts on its own: set PROMETHEUS_MULTIPROC_DIR
(an empty folder, emptied again before each start of gunicorn) and every process
writes its counts there, which `/metrics` adds up, whichever process answers it.
"""
import hmac
import logging
import os
from time import perf_counter

from flask import Blueprint, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from . import jobs

log = logging.getLogger(__name__)

REQUESTS = Counter("guichet_http_requests", "Requests answered, by endpoint and status.", ["endpoint", "status"])
DURATION = Histogram("guichet_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                     ["endpoint"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))

blueprint = Blueprint("metrics", __name__)


def _started():
    g.metrics_started = perf_counter()


_series = {}  # (endpoint, status): its histogram and counter, looked up once


def _answered(response):
    started = g.pop("metrics_started", None)
    if started is not None:
        key = (request.endpoint or "unmatched", response.status_code)
        series = _series.get(key)
        if series is None:
            series = _series[key] = (DURATION.labels(key[0]), REQUESTS.labels(key[0], str(key[1])))
        series[0].observe(perf_counter() - started)
        series[1].inc()
    return response


class _Queues:
    """The RQ queues' figures, read when scraped."""

    def collect(self):
        from rq import Worker  # here: only scraped with REDIS_URL

        connection = jobs.redis_connection()
        queued = GaugeMetricFamily("guichet_rq_queued_jobs", "Jobs waiting in each RQ queue.", labels=["queue"])
        failed = GaugeMetricFamily("guichet_rq_failed_jobs",
                                   "Jobs in each queue's failed registry (given up after their retries).",
                                   labels=["queue"])
        workers = GaugeMetricFamily("guichet_rq_workers", "RQ workers serving each queue.", labels=["queue"])
        for name in jobs.QUEUES:
            queue = jobs.get_queue(name, connection)
            queued.add_metric([name], queue.count)
            failed.add_metric([name], queue.failed_job_registry.get_job_count(cleanup=False))
            workers.add_metric([name], Worker.count(connection=connection, queue=queue))
        return [queued, failed, workers]


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if jobs.uses_redis():
        queues = CollectorRegistry(auto_describe=False)
        queues.register(_Queues())
        try:
            text += generate_latest(queues)
        except Exception as error:  # the request figures still answer with Redis down
            log.warning("metrics: the RQ queues could not be read: %s", error)
    return text


@blueprint.get("/metrics")
def metrics():
    expected = f"Bearer {current_app.config['METRICS_TOKEN']}".encode()
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
        abort(401)
    return Response(_exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app) -> None:
    """Measure every request and serve `/metrics`, when METRICS_TOKEN is set; the hooks
    go first, so that the time of the other hooks is counted too."""
    if not app.config.get("METRICS_TOKEN"):
        return
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request_funcs.setdefault(None, []).insert(0, _answered)
    app.register_blueprint(blueprint)
