"""Every periodic job of Guichet, declared here and nowhere else.

`flask cron` (RQ's CronScheduler; run exactly one, next to the workers) loads this
module and enqueues each job on its schedule; a worker (`flask worker`) runs it in
an app context. `cron` fields are minute, hour, day of month, month, day of week,
in the machine's local time; `interval` is in seconds.

Desks add their jobs below (reminders, certificate expiry alerts...), e.g.
    cron.register(certificates.send_expiry_alerts, queue_name="default", cron="0 7 * * *")
"""
from rq import cron

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
