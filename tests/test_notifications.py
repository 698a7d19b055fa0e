"""Notifications and mail jobs with the real services: Redis, an RQ worker process
(`flask worker`) on the test database, and an SMTP server (aiosmtpd).

Redis is REDIS_URL's server (default 127.0.0.1:6379), database 13; the tests fail if
it cannot be reached. Queues get a name of their own per run (JOB_QUEUE_PREFIX), whose
keys are deleted afterwards: the database is not flushed, so that two runs at once
(two checkouts, CI) never take each other's jobs. The worker retries after 1 s
(JOB_RETRY_INTERVALS) so that the SMTP outage and the final failure take seconds.
"""
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from redis import Redis
from sqlalchemy import select

from app.extensions import db
from app.models import MailState, Notification, Organisation, OutboxMail, UserPreference
from app.platform import jobs, notifications
from app.platform.audit import acting_as
from config import BASE_DIR

from . import job_helpers
from .helpers import PREFIX, RETRIES, login, queues_empty, user, wait_for, workers

@pytest.fixture()
def languages(app):
    """Set demo users' mail languages; put them back afterwards."""
    with app.app_context():
        before = {p.user_id: p.locale for p in db.session.query(UserPreference)}

    def set_language(username, locale):
        with app.app_context():
            notifications.set_user_locale(user(username).id, locale)
            db.session.commit()

    yield set_language
    with app.app_context():
        db.session.query(UserPreference).delete()
        for user_id, locale in before.items():
            db.session.add(UserPreference(user_id=user_id, locale=locale))
        db.session.commit()


def mail_row(app, mail_id):
    with app.app_context():
        row = db.session.get(OutboxMail, mail_id)
        db.session.expunge(row)
        return row


def notify_and_commit(app, recipients, template="test", **kwargs):
    with app.test_request_context():
        result = notifications.notify(recipients, template, **kwargs)
        db.session.commit()
        return [mail.id for mail in result.mails]


def users(app, *usernames):
    with app.app_context():
        found = [user(name) for name in usernames]
        for account in found:
            db.session.expunge(account)
        return found


# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------


def test_a_mail_is_delivered_in_each_recipients_language_with_its_ics(on_redis, smtp, languages):
    app = on_redis
    languages("creator", "en")
    languages("user", "fr")
    creator, user = users(app, "creator", "user")
    start = datetime(2026, 3, 2, 14, 0)
    with app.app_context():
        ics = notifications.ics_attachment("Comité de pilotage", start, start + timedelta(hours=1),
                                           uid="booking-00042@guichet", location="Salle Lumière")
    english_id, french_id = notify_and_commit(app, [creator, user], attachments=[ics])

    for mail_id in (english_id, french_id):
        wait_for(lambda: mail_row(app, mail_id).state is MailState.sent, what=f"mail {mail_id}")
    english, french = smtp.inbox.for_outbox(english_id), smtp.inbox.for_outbox(french_id)
    assert len(english) == 1 and len(french) == 1
    assert english[0]["To"] == "creator@guichet.example"
    assert english[0]["Subject"] == "[Guichet] Test message"
    assert "Hello Sophie Lambert," in english[0].get_body(("plain",)).get_content()
    assert french[0]["To"] == "user@guichet.example"
    assert french[0]["Subject"] == "[Guichet] Message de test"
    assert "Bonjour Léa Moreau," in french[0].get_body(("plain",)).get_content()

    attachment = next(english[0].iter_attachments())
    assert attachment.get_filename() == "invitation.ics"
    assert attachment.get_content_type() == "text/calendar"
    event = Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
    assert str(event["uid"]) == "booking-00042@guichet"
    assert str(event["summary"]) == "Comité de pilotage"
    assert event.decoded("dtstart") == datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # 14:00 in Paris
    assert event["dtstart"].params["TZID"] == "Europe/Paris"

    row = mail_row(app, english_id)
    assert row.attempts == 1 and row.sent_on is not None and row.last_error is None
    assert row.locale == "en"


def test_a_request_that_mails_does_not_wait_for_smtp(on_redis, smtp):
    """The admin's "send me a test mail": the request only queues; the worker sends."""
    app = on_redis
    client = login(app.test_client(), "admin")
    smtp.stop()  # were the request to send, it would fail or hang
    try:
        response = client.post("/outbox/send_test")
        assert response.status_code == 302
        with app.app_context():
            mail = db.session.scalars(select(OutboxMail).order_by(OutboxMail.id.desc())).first()
            assert mail.recipient == "admin@guichet.example" and mail.template == "test"
            mail_id = mail.id
        wait_for(lambda: mail_row(app, mail_id).attempts >= 1, what="a first attempt")
        assert mail_row(app, mail_id).state is MailState.queued
    finally:
        smtp.start()
    wait_for(lambda: mail_row(app, mail_id).state is MailState.sent, what="the retry")
    assert len(smtp.inbox.for_outbox(mail_id)) == 1


# ---------------------------------------------------------------------------
# SMTP down, retries, failure, resend: never lost, never twice, every state shown
# ---------------------------------------------------------------------------


def outbox_page(client, mail_id):
    """The outbox grid's row of one mail (as the admin sees it), as text."""
    html = client.get("/outbox/list/?psize_OutboxView=100").get_data(as_text=True)
    marker = f'/outbox/show/{mail_id}"'
    assert marker in html, f"mail {mail_id} is not in the outbox grid"
    row = html[html.index(marker):]
    return row[: row.index("</tr>")]


def test_smtp_down_the_mail_is_retried_then_delivered_exactly_once(on_redis, smtp):
    app = on_redis
    admin = login(app.test_client(), "admin")
    smtp.stop()
    try:
        (mail_id,) = notify_and_commit(app, ["guichet-desk@example.org"])
        # While the server is down: attempts are recorded, the mail stays queued.
        wait_for(lambda: mail_row(app, mail_id).attempts >= 2, what="two failed attempts")
        row = mail_row(app, mail_id)
        assert row.state is MailState.queued
        assert "ConnectionRefusedError" in row.last_error
        assert not smtp.inbox.for_outbox(mail_id)
        grid = outbox_page(admin, mail_id)
        assert "guichet-desk@example.org" in grid and "En attente" in grid and "ConnectionRefusedError" in grid
    finally:
        smtp.start()
    wait_for(lambda: mail_row(app, mail_id).state is MailState.sent, what="delivery once SMTP is back")
    time.sleep(2.5)  # any late duplicate would arrive by now
    assert len(smtp.inbox.for_outbox(mail_id)) == 1
    row = mail_row(app, mail_id)
    assert row.attempts >= 3 and row.sent_on is not None
    assert "Envoyé" in outbox_page(admin, mail_id)


def test_a_mail_refused_until_the_last_retry_is_failed_then_resent_once(on_redis, smtp):
    app = on_redis
    admin = login(app.test_client(), "admin")
    address = "closed-mailbox@example.org"
    smtp.inbox.reject.add(address)
    (mail_id,) = notify_and_commit(app, [address])
    wait_for(lambda: mail_row(app, mail_id).state is MailState.failed, what="the last retry")
    row = mail_row(app, mail_id)
    assert row.attempts == 6 and "550" in row.last_error
    grid = outbox_page(admin, mail_id)
    assert "Échec" in grid and "<td>6</td>" in grid.replace(" ", "").replace("\n", "")

    # The mailbox is back: the admin resends from the grid, it is delivered once.
    smtp.inbox.reject.discard(address)
    response = admin.post("/outbox/action_post", data={"action": "resend", "rowid": [mail_id]})
    assert response.status_code == 302
    wait_for(lambda: mail_row(app, mail_id).state is MailState.sent, what="the resent mail")
    assert len(smtp.inbox.for_outbox(mail_id)) == 1
    assert mail_row(app, mail_id).attempts == 7

    # Resending a sent mail sends a copy (a new outbox row); the original is not sent again.
    admin.post(f"/outbox/action/resend/{mail_id}")
    with app.app_context():
        copy = db.session.scalars(select(OutboxMail).where(OutboxMail.recipient == address)
                                  .order_by(OutboxMail.id.desc())).first()
        copy_id = copy.id
    assert copy_id != mail_id
    wait_for(lambda: mail_row(app, copy_id).state is MailState.sent, what="the copy")
    assert len(smtp.inbox.for_outbox(mail_id)) == 1 and len(smtp.inbox.for_outbox(copy_id)) == 1


def test_a_mail_enqueued_twice_is_sent_once(on_redis, smtp):
    app = on_redis
    (mail_id,) = notify_and_commit(app, ["twice@example.org"])
    with app.app_context():
        jobs.enqueue_job(notifications.send_mail, (mail_id,), queue=jobs.MAIL_QUEUE)
        jobs.enqueue_job(notifications.send_mail, (mail_id,), queue=jobs.MAIL_QUEUE)
    wait_for(lambda: mail_row(app, mail_id).state is MailState.sent)
    connection = Redis.from_url(app.config["REDIS_URL"])
    wait_for(lambda: queues_empty(connection),
             what="the queue to drain")
    time.sleep(0.5)
    assert len(smtp.inbox.for_outbox(mail_id)) == 1
    assert mail_row(app, mail_id).attempts == 1


def test_two_workers_never_send_one_mail_twice(app, on_redis, smtp, redis_url, monkeypatch):
    """Two workers race over the same 40 mails (PostgreSQL's row lock)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the row lock (FOR UPDATE SKIP LOCKED) needs PostgreSQL; SQLite runs jobs in-process")
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_url,
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port), JOB_RETRY_INTERVALS=RETRIES,
               JOB_QUEUE_PREFIX=PREFIX, RATELIMIT_STORAGE_URI="memory://", FLASK_APP="run.py")
    second = subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=BASE_DIR, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = Redis.from_url(redis_url)
        wait_for(lambda: workers(connection) >= 2, what="the second worker")
        monkeypatch.setitem(app.config, "REDIS_URL", None)  # queued in the outbox, no job yet
        monkeypatch.setitem(app.config, "MAIL_SERVER", None)
        ids = notify_and_commit(app, [f"race-{n}@example.org" for n in range(40)])
        monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
        with app.app_context():
            # Both workers go through the same mails at the same time...
            for _ in range(2):
                jobs.enqueue_job(notifications.send_mails, (ids,), queue=jobs.MAIL_QUEUE)
            # ... and then each mail's two single jobs side by side: both workers get one.
            for mail_id in ids:
                for _ in range(2):
                    jobs.enqueue_job(notifications.send_mail, (mail_id,), queue=jobs.MAIL_QUEUE)
        wait_for(lambda: all(mail_row(app, i).state is MailState.sent for i in ids), what="40 mails")
        wait_for(lambda: queues_empty(connection),
                 what="the queue to drain")
        time.sleep(1)
        assert [len(smtp.inbox.for_outbox(i)) for i in ids] == [1] * len(ids)
    finally:
        second.terminate()
        second.wait(10)


# ---------------------------------------------------------------------------
# Jobs on the worker are audited
# ---------------------------------------------------------------------------


def test_a_worker_job_writes_audited_rows_as_the_user_who_enqueued_it(on_redis):
    app = on_redis
    name = "Jobs: audited on the worker"
    with app.app_context():
        referent = user("referent")
        referent_id = referent.id
        with acting_as(referent_id):
            jobs.enqueue(job_helpers.create_organisation, name)

    def created():
        with app.app_context():
            return db.session.query(Organisation).filter_by(name=name).first() is not None

    wait_for(created, what="the job")
    with app.app_context():
        row = db.session.query(Organisation).filter_by(name=name).one()
        assert row.created_by_id == referent_id and row.changed_by_id == referent_id
        db.session.delete(row)
        db.session.commit()


# ---------------------------------------------------------------------------
# Without Redis: kept in the outbox, sent once MAIL_SERVER is set
# ---------------------------------------------------------------------------


def test_without_redis_mails_are_kept_then_sent_in_process(app, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    (kept_id,) = notify_and_commit(app, ["kept@example.org"])
    row = mail_row(app, kept_id)
    assert row.state is MailState.queued and row.attempts == 0  # kept, not lost

    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp.port)
    result = app.test_cli_runner().invoke(args=["send-outbox"])
    assert result.exit_code == 0, result.output
    assert mail_row(app, kept_id).state is MailState.sent
    assert len(smtp.inbox.for_outbox(kept_id)) == 1

    (direct_id,) = notify_and_commit(app, ["direct@example.org"])  # sent right after the commit
    assert mail_row(app, direct_id).state is MailState.sent
    assert len(smtp.inbox.for_outbox(direct_id)) == 1


def test_stale_queued_mails_are_queued_again_by_the_periodic_sweep(app, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    (mail_id,) = notify_and_commit(app, ["lost-job@example.org"])
    with app.app_context():
        db.session.get(OutboxMail, mail_id).changed_on = datetime(2020, 1, 1)
        db.session.commit()
        monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
        monkeypatch.setitem(app.config, "MAIL_PORT", smtp.port)
        assert notifications.requeue_stale_mails() >= 1
    assert mail_row(app, mail_id).state is MailState.sent
    assert len(smtp.inbox.for_outbox(mail_id)) == 1


# ---------------------------------------------------------------------------
# The feed
# ---------------------------------------------------------------------------


def unread_badge(html):
    marker = 'class="badge guichet-unread">'
    if marker not in html:
        return 0
    return int(html[html.index(marker) + len(marker):].split("<", 1)[0])


def test_the_feed_shows_ones_own_notifications_and_the_unread_count(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    creator, user = users(app, "creator", "user")
    with app.test_request_context():
        notifications.notify([creator], "notification", {"title": "Réservation 00042 validée", "message": "…"},
                             link="/organisations/list/", mail=False)
        notifications.notify([user], "notification", {"title": "Demande 17 : nouvelle réponse", "message": "…"},
                             mail=False)
        db.session.commit()
        mine = db.session.scalars(select(Notification).where(Notification.user_id == creator.id)).all()
        theirs = db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all()
        unread = sum(1 for n in mine if n.read_on is None)
        newest = max(mine, key=lambda n: n.id)
    assert newest.title == "[Guichet] Réservation 00042 validée"

    client = login(app.test_client(), "creator")
    page = client.get("/notifications/list/").get_data(as_text=True)
    for item in sorted(mine, key=lambda n: n.id, reverse=True)[:25]:  # the first page, newest first
        assert f'/notifications/show/{item.id}"' in page
    for item in theirs:
        assert f'/notifications/show/{item.id}"' not in page
        assert client.get(f"/notifications/show/{item.id}").status_code == 404
        assert client.post(f"/notifications/open/{item.id}").status_code == 404
    assert "Réservation 00042 validée" in page and "Demande 17" not in page
    assert unread >= 1 and unread_badge(page) == unread

    # Opening a notification follows its link and marks it read.
    response = client.post(f"/notifications/open/{newest.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/organisations/list/")
    assert unread_badge(client.get("/notifications/list/").get_data(as_text=True)) == unread - 1

    # "Mark all as read" clears the count, of this person only.
    client.post("/notifications/read_all")
    assert unread_badge(client.get("/notifications/list/").get_data(as_text=True)) == 0
    with app.app_context():
        assert db.session.query(Notification).filter(Notification.user_id == user.id,
                                                     Notification.read_on.is_(None)).count() >= 1

    # Someone else's notification cannot be marked read.
    other = theirs[0].id
    assert client.post(f"/notifications/action/mark_read/{other}").status_code == 404


def test_the_outbox_is_the_admins_alone(app, login_as):
    assert login_as("admin").get("/outbox/list/").status_code == 200
    assert login_as("creator").get("/outbox/list/").status_code in (302, 403)


# ---------------------------------------------------------------------------
# The language of mails follows the language a person chooses
# ---------------------------------------------------------------------------


def test_the_language_switch_is_remembered_for_mails(app, languages, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    client = login(app.test_client(), "lead")
    lead, = users(app, "lead")
    client.get("/lang/en")
    with app.app_context():
        assert notifications.user_locale(lead.id) == "en"
    (mail_id,) = notify_and_commit(app, [lead], feed=False)
    assert mail_row(app, mail_id).subject == "[Guichet] Test message"

    # Chosen before signing in, it is remembered at sign-in; and used at the next one.
    anonymous = app.test_client()
    anonymous.get("/lang/fr")
    login(anonymous, "lead")
    with app.app_context():
        assert notifications.user_locale(lead.id) == "fr"
    client.get("/lang/en")
    fresh = login(app.test_client(), "lead")
    assert "Search" in fresh.get("/projects/list/").get_data(as_text=True)
    client.get("/lang/fr")


def test_ics_attachment_changes_and_cancellations(app):
    with app.app_context():
        start = datetime(2026, 7, 1, 9, 0)
        name, content_type, data = notifications.ics_attachment(
            "Visio", start, start + timedelta(minutes=30), uid="booking-7@guichet", sequence=2,
            cancelled=True, attendees=["a@example.org"])
    calendar = Calendar.from_ical(data)
    event = calendar.walk("VEVENT")[0]
    assert (name, content_type) == ("invitation.ics", "text/calendar; charset=utf-8; method=CANCEL")
    assert str(calendar["method"]) == "CANCEL" and str(event["status"]) == "CANCELLED"
    assert int(event["sequence"]) == 2
    assert event.decoded("dtstart") == datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)  # summer time
