"""The RQ worker and the periodic jobs' scheduler, for `flask worker` and `flask cron`
(app/platform/jobs.py): apart from jobs.py so that only those processes import RQ.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from rq import SimpleWorker
from rq.cron import CronScheduler
from rq.utils import now

from . import audit


class GuichetWorker(SimpleWorker):
    """An RQ worker running each job in an app context, as the user who enqueued it.

    Jobs run in the worker's own process, one after the other (no fork per job):
    they are short, and the app, its connection pools and templates are built once
    per process. `flask worker` hands it its app; `rq worker -w
    app.platform.workers.GuichetWorker` works too and builds the app with create_app().
    """

    app = None

    def perform_job(self, job, queue, execution):
        app = self.app or worker_app()
        with app.app_context(), audit.acting_as((job.meta or {}).get("acting_user_id")):
            return super().perform_job(job, queue, execution)


_app = None


def worker_app():
    """The app of a worker process, built once."""
    global _app
    if _app is None:
        from .. import create_app

        _app = create_app()
    return _app


CRON_CLAIM_TTL = 24 * 3600  # seconds a run's claim is kept: longer than any scheduler lags


class ClusterCronScheduler(CronScheduler):
    """RQ's CronScheduler, made to fire each run once per cluster, however many run.

    Every scheduler computes the same moments for a job (its cron expression's, or, for
    an `interval` job, the multiples of the interval since the epoch, instead of RQ's
    "now, then every interval from now"), and before enqueuing a run claims it in Redis:
    `SET NX` on the job and the run's moment. The first to claim enqueues it; the others
    move on to the next moment. So a second `flask cron` is a hot standby, with no
    election and no takeover delay: whichever is alive at a moment fires it. The
    machines' clocks and time zones (cron fields are local time) must agree.
    """

    def __init__(self, connection, prefix="", **kwargs):
        super().__init__(connection, **kwargs)
        self.prefix = prefix

    def load_config_from_file(self, config_path):
        super().load_config_from_file(config_path)
        moment = now()
        for job in self.get_jobs():
            job.queue_name = self.prefix + job.queue_name
            if job.interval:
                job.set_enqueue_time(self._interval_moment(job, moment))

    @staticmethod
    def _interval_moment(job, moment):
        """The last multiple of the job's interval since the epoch, at or before `moment`."""
        return datetime.fromtimestamp(moment.timestamp() // job.interval * job.interval, timezone.utc)

    def claim(self, job, moment) -> bool:
        """Whether this scheduler is the first to fire `job`'s run of `moment`. A job is
        its function, arguments, queue and schedule (several may share a name)."""
        spec = job.to_dict()
        identity = hashlib.sha1(json.dumps(
            [spec.get(name) for name in ("func_name", "args", "kwargs", "queue_name", "interval", "cron")],
        ).encode()).hexdigest()[:12]
        key = f"rq:cron_claim:{self.prefix}{job.name}:{identity}:{int(moment.timestamp())}"
        return bool(self.connection.set(key, self.name, nx=True, ex=CRON_CLAIM_TTL))

    def enqueue_jobs(self):
        moment = now()
        enqueued = []
        for job in self.get_jobs():
            if not job.should_run():
                continue
            if self.claim(job, job.next_enqueue_time):
                job.enqueue(self.connection)
                enqueued.append(job)
            job.set_enqueue_time(self._interval_moment(job, moment) if job.interval else moment)
        return enqueued
