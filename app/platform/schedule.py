"""Every periodic job of Guichet: the platform's, declared here, and each desk's, declared
by the desk as `PERIODIC_JOBS` in its rules module (app/desks.py), registered here.

`flask cron` (RQ's CronScheduler, workers.ClusterCronScheduler: run two for failover,
each run still fires once) loads this module and enqueues each job on its schedule;
a worker (`flask worker`) runs it in an app context. `cron` fields are minute, hour,
day of month, month, day of week, in the machine's local time; `interval` is in
seconds (runs at its multiples since the epoch).

A desk's `PERIODIC_JOBS` is a list of `cron.register` keyword arguments, e.g.
    PERIODIC_JOBS = [{"func": send_reminders, "queue_name": jobs.DEFAULT_QUEUE, "cron": "0 10 * * *"}]
"""
from rq import cron

from ..desks import modules
from .exports import sweep_exports
from .files import remove_stale_pending
from .jobs import DEFAULT_QUEUE, MAIL_QUEUE
from .notifications import requeue_stale_mails

# Mails whose job was lost (Redis flushed, Redis down at commit time) are queued again.
cron.register(requeue_stale_mails, queue_name=MAIL_QUEUE, cron="*/10 * * * *")
# Large exports are kept EXPORT_KEEP_HOURS, then their files are deleted.
cron.register(sweep_exports, queue_name=DEFAULT_QUEUE, cron="17 * * * *")
# Files kept across a refused form that was never sent again.
cron.register(remove_stale_pending, queue_name=DEFAULT_QUEUE, cron="47 * * * *")

for _rules in modules("rules"):
    for _job in getattr(_rules, "PERIODIC_JOBS", ()):
        cron.register(**_job)
