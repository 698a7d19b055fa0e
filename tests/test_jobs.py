"""Jobs without Redis (the embedded default): they run in-process after the commit,
in a session of their own, as the user who enqueued them; a rollback drops them.
Periodic jobs are declared once, for RQ's cron scheduler.

Jobs on Redis with a real worker are in test_notifications.py.
"""
import pytest

from app.extensions import db
from app.models import Organisation, OrganisationKind
from app.platform import jobs
from app.platform.audit import acting_as

from . import job_helpers
from .helpers import user


@pytest.fixture()
def in_process(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    job_helpers.CALLS.clear()
    names = []
    yield names
    with app.app_context():
        db.session.query(Organisation).filter(Organisation.name.in_(names)).delete(synchronize_session=False)
        db.session.commit()


def test_a_job_runs_after_the_commit_never_inside_the_transaction(app, in_process):
    name = "Jobs: after the commit"
    in_process.append(name)
    with app.app_context():
        db.session.add(Organisation(name=name, kind=OrganisationKind.member))
        job_id = jobs.enqueue(job_helpers.record, name)
        db.session.flush()
        assert job_id and job_helpers.CALLS == []  # not while the transaction is open
        db.session.commit()
        # It ran once, in its own session, and saw the committed row.
        assert job_helpers.CALLS == [(name, True)]


def test_a_rolled_back_transaction_drops_its_jobs(app, in_process):
    name = "Jobs: rolled back"
    with app.app_context():
        db.session.add(Organisation(name=name, kind=OrganisationKind.member))
        jobs.enqueue(job_helpers.record, name)
        db.session.rollback()
        db.session.commit()
    assert job_helpers.CALLS == []


def test_a_job_enqueued_with_nothing_written_runs_at_once(app, in_process):
    with app.app_context():
        db.session.query(Organisation).first()  # a read opens a transaction, writes nothing
        jobs.enqueue(job_helpers.record, "nothing written")
        assert job_helpers.CALLS == [("nothing written", False)]


def test_a_job_writes_audited_rows_as_the_user_who_enqueued_it(app, in_process):
    name = "Jobs: audited in-process"
    in_process.append(name)
    with app.app_context():
        creator = user("creator")
        with acting_as(creator.id):
            jobs.enqueue(job_helpers.create_organisation, name)
        row = db.session.query(Organisation).filter_by(name=name).one()
        assert row.created_by_id == creator.id and row.changed_by_id == creator.id


def test_a_failing_job_does_not_break_the_callers_commit(app, in_process):
    name = "Jobs: caller survives"
    in_process.append(name)
    with app.app_context():
        db.session.add(Organisation(name=name, kind=OrganisationKind.member))
        jobs.enqueue(job_helpers.create_organisation, name)  # duplicate name: the job fails
        db.session.commit()
        assert db.session.query(Organisation).filter_by(name=name).count() == 1


def test_periodic_jobs_are_declared_for_rqs_cron_scheduler():
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis())  # no command is sent by loading
    scheduler.load_config_from_file("app.platform.schedule")
    declared = {job.func_name: job for job in scheduler.get_jobs()}
    sweep = declared["app.platform.notifications.requeue_stale_mails"]
    assert sweep.queue_name == jobs.MAIL_QUEUE and sweep.cron
