"""The periodic job of tests/test_cluster.py (`flask cron --schedule tests.cluster_schedule`):
every second, it records when the scheduler enqueued it."""
from rq import cron, get_current_job

from app.platform import jobs

TICKS = "cron-ticks"  # a list on Redis, under the run's JOB_QUEUE_PREFIX


def tick():
    jobs.redis_connection().rpush(jobs.queue_name(TICKS), get_current_job().enqueued_at.timestamp())


cron.register(tick, queue_name=jobs.DEFAULT_QUEUE, interval=1)
