"""Notifications for every desk: a feed entry per person and mails through the outbox.

    notify([booking.creator, organiser_mail, "vnoc@example.org"], "booking/created",
           {"booking": booking}, link=f"/bookings/show/{booking.id}",
           attachments=[ics_attachment(...)])

Call it inside your transaction: it adds one `Notification` per user (their feed) and
one `OutboxMail` per address, rendered from `app/templates/mail/<template>.subject.txt`
and `<template>.txt` (and `<template>.html` if present; a desk's templates are under
`mail/<desk>/`, e.g. "booking/created") in each recipient's language, and enqueues the sending jobs (one per MAIL_BATCH_SIZE mails) for after the commit.
If the transaction rolls back, nothing is kept or sent. Context values may be lazy
strings (`lazy_gettext`): they are translated in each recipient's language.

The sending job (`send_mails`) locks each outbox row, never sends a row twice, records
attempts and the last error, raises so that RQ retries it with backoff, and marks a
mail failed after the last retry. Admins resend from the outbox grid.
"""
from __future__ import annotations

import smtplib
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from types import SimpleNamespace
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import click
import flask_mail
from flask import current_app
from flask.cli import with_appcontext
from flask_appbuilder.security.sqla.models import User
from flask_babel import force_locale
from jinja2 import TemplateNotFound, meta
from sqlalchemy import func, select, update

from ..extensions import db
from ..models import (
    MailState,
    Notification,
    OutboxAttachment,
    OutboxMail,
    UserPreference,
    utcnow,
)
from . import audit, jobs

Notified = namedtuple("Notified", "notifications mails")


# ---------------------------------------------------------------------------
# Each person's language
# ---------------------------------------------------------------------------


def default_locale() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def locales_for(user_ids) -> dict:
    """{user id: the language of their mails}, for every id (default locale if none saved)."""
    user_ids = {uid for uid in user_ids if uid is not None}
    languages = current_app.config["LANGUAGES"]
    saved = {}
    if user_ids:
        saved = dict(db.session.execute(
            select(UserPreference.user_id, UserPreference.locale)
            .where(UserPreference.user_id.in_(user_ids))
        ).all())
    fallback = default_locale()
    return {uid: saved.get(uid) if saved.get(uid) in languages else fallback for uid in user_ids}


def user_locale(user_id) -> str:
    return locales_for([user_id]).get(user_id, default_locale())


def set_user_locale(user_id, locale) -> None:
    """Remember a person's language (the caller commits)."""
    if locale not in current_app.config["LANGUAGES"]:
        raise ValueError(f"unknown locale {locale!r}")
    preference = db.session.get(UserPreference, user_id)
    if preference is None:
        db.session.add(UserPreference(user_id=user_id, locale=locale))
    elif preference.locale != locale:
        preference.locale = locale


def saved_locale(user_id):
    """The language a person chose, or None."""
    preference = db.session.get(UserPreference, user_id)
    return preference.locale if preference else None


# ---------------------------------------------------------------------------
# notify()
# ---------------------------------------------------------------------------


# Secret links (a set-password link...) never rest in the outbox, where admins read the
# mails: a mail's body holds MASKED_TOKEN in their place, and the sending job asks the
# kind's issuer for a fresh token, which goes only into the message sent. So a resend
# sends a fresh link too.
MASKED_TOKEN = "lien-masque"
SECRET_LINKS: dict = {}


def register_secret_link(kind, issue):
    """`issue(user_id)` -> the secret token to put where a mail of `kind` says MASKED_TOKEN."""
    SECRET_LINKS[kind] = issue


def notify(recipients, template, context=None, *, link=None, attachments=(), feed=True, mail=True,
           secret_link=None, reply_to=None):
    """Notify people: a feed entry for each user, a mail for each user and address.

    `recipients`: FAB users and plain addresses (a desk mailbox, an organiser), in any
    mix; duplicates and empty values are dropped, an address of a listed user is that
    user. `link`: a path or URL of the object concerned. `attachments`: tuples
    (filename, content type, bytes), e.g. `ics_attachment(...)`. `secret_link`: the kind
    (see `register_secret_link`) of the secret link the mail holds masked.
    `reply_to(user)`: the address a user's answer goes to (a signed reply address,
    app.platform.inbound), or None. Returns the notifications and outbox mails added
    to the session.
    """
    return notify_each([Letter(recipients, template, context, link)], attachments=attachments, feed=feed,
                       mail=mail, secret_link=secret_link, reply_to=reply_to)


Letter = namedtuple("Letter", "recipients template context link", defaults=(None, None))


def notify_each(letters, *, attachments=(), feed=True, mail=True, secret_link=None, reply_to=None):
    """`notify` for many letters at once (`Letter(recipients, template, context, link)`,
    a periodic job's batch): the same feed entries and mails as one `notify` per letter,
    with one look-up of the addresses' users and of everyone's language, one flush and
    one enqueueing for them all."""
    letters = [(*_split(letter.recipients), letter) for letter in letters]
    lowered = {address.lower() for _, addresses, _ in letters for address in addresses}
    known = {}
    if lowered:
        # An address that is a user's is that user's, in their language.
        known = {user.email.lower(): user for user in db.session.scalars(
            select(User).where(func.lower(User.email).in_(list(lowered))))}
    for users, addresses, _ in letters:
        for address in list(addresses):
            user = known.get(address.lower())
            if user is not None:
                addresses.remove(address)
                users.setdefault(user.id, user)
    locales = locales_for({uid for users, _, _ in letters for uid in users})
    fallback = default_locale()
    attachments = [_attachment(item) for item in attachments]
    app_name = current_app.config.get("APP_NAME", "Guichet")
    notifications, mails = [], []
    for users, addresses, letter in letters:
        template, link = letter.template, letter.link
        absolute_link = absolute_url(link) if link else None
        base_context = dict(letter.context or {})
        recipients_by_locale = {}
        for user in users.values():
            recipients_by_locale.setdefault(locales[user.id], []).append((user, user.email))
        if mail:
            for address in addresses:
                recipients_by_locale.setdefault(fallback, []).append((None, address))
        names = [f"mail/{template}.subject.txt", f"mail/{template}.txt", f"mail/{template}.html"]
        personal = [_uses_recipient(name) for name in names]
        for locale, people in recipients_by_locale.items():
            rendered = [None, None, None]
            with force_locale(locale):
                for user, address in people:
                    ctx = {**base_context, "recipient": user, "link": absolute_link, "app_name": app_name}
                    # Each part is rendered once per language unless it addresses its reader.
                    for index, name in enumerate(names):
                        if rendered[index] is None or personal[index]:
                            rendered[index] = _render(name, ctx, optional=index == 2) or ""
                    subject = " ".join(rendered[0].split())[:255]
                    body, html = rendered[1], rendered[2] or None
                    if feed and user is not None:
                        notifications.append(Notification(
                            user_id=user.id, template=template, title=subject, link=link))
                    if mail and address:
                        mails.append(OutboxMail(
                            recipient=address, user_id=user.id if user else None, locale=locale,
                            template=template, subject=subject, body=body,
                            html=html, state=MailState.queued, attempts=0, secret_link=secret_link,
                            reply_to=reply_to(user) if reply_to is not None and user is not None else None,
                            attachments=[OutboxAttachment(filename=n, content_type=t, data=d)
                                         for n, t, d in attachments],
                        ))
    db.session.add_all(notifications + mails)
    if mails:
        db.session.flush()
        enqueue_sending([item.id for item in mails])
    return Notified(notifications, mails)


def _split(recipients):
    users, addresses = {}, []
    if recipients is None or isinstance(recipients, (str, User)):
        recipients = [recipients]
    for item in recipients:
        if not item:
            continue
        if isinstance(item, str):
            address = item.strip()
            if address and address.lower() not in {a.lower() for a in addresses}:
                addresses.append(address)
        elif getattr(item, "id", None) is not None and hasattr(item, "email"):
            users.setdefault(item.id, item)
        else:
            raise TypeError(f"not a user or an address: {item!r}")
    return users, addresses


def _attachment(item):
    filename, content_type, data = item
    if isinstance(data, str):
        data = data.encode("utf-8")
    return str(filename), str(content_type), bytes(data)


_optional_missing = set()
_recipient_use = {}


def _uses_recipient(name) -> bool:
    """Whether a mail template (or one it includes) reads `recipient`; cached per name."""
    if name not in _recipient_use:
        env = current_app.jinja_env
        try:
            source = env.loader.get_source(env, name)[0]
        except TemplateNotFound:
            _recipient_use[name] = False
            return False
        parsed = env.parse(source)
        used = "recipient" in meta.find_undeclared_variables(parsed)
        included = [ref for ref in meta.find_referenced_templates(parsed) if ref]
        _recipient_use[name] = used or any(_uses_recipient(ref) for ref in included)
    return _recipient_use[name]


def _render(name, context, optional=False):
    if optional and name in _optional_missing:
        return None
    try:
        template = current_app.jinja_env.get_template(name)
    except TemplateNotFound:
        if optional:
            _optional_missing.add(name)
            return None
        raise
    return template.render(**context)


def absolute_url(link) -> str:
    """A link as a mail needs it: absolute, on PUBLIC_URL, never on the request's Host
    (which anyone sending a request may set)."""
    return urljoin(current_app.config["PUBLIC_URL"].rstrip("/") + "/", link)


# ---------------------------------------------------------------------------
# The feed
# ---------------------------------------------------------------------------


def mark_read(notifications) -> int:
    """Mark notifications read (the caller commits); returns how many were unread."""
    changed = 0
    for item in notifications:
        if item.read_on is None:
            item.read_on = utcnow()
            changed += 1
    return changed


def mark_all_read(user_id) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_on.is_(None))
        .values(read_on=utcnow())
    )
    return result.rowcount or 0


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------


class _Connection(flask_mail.Connection):
    """Flask-Mail's SMTP connection with a timeout (a hung server must not hold a
    worker) and a quiet close after a failed send."""

    def configure_host(self):
        state = self.mail
        factory = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = factory(state.server, state.port, timeout=current_app.config.get("MAIL_TIMEOUT", 10))
        host.set_debuglevel(int(state.debug))
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host

    def __exit__(self, exc_type, exc_value, tb):
        if self.host is not None:
            try:
                self.host.quit()
            except Exception:
                self.host.close()


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


class _Message(flask_mail.Message):
    """Flask-Mail's message, serialised with the compat32 policy: the same bytes for our
    (already encoded) headers, twice as fast as `policy.SMTP`."""

    def as_bytes(self):
        return self._message().as_bytes(policy=_SMTP_COMPAT32)


_SMTP_COMPAT32 = email_policy.compat32.clone(linesep="\r\n")


def _unsealed(mail):
    """The mail as it is sent: its secret link issued now (see MASKED_TOKEN)."""
    if mail.secret_link:
        token = SECRET_LINKS[mail.secret_link](mail.user_id)
        mail.body = mail.body.replace(MASKED_TOKEN, token)
        mail.html = mail.html.replace(MASKED_TOKEN, token) if mail.html else mail.html
    return mail


def _message(mail):
    message = _Message(
        subject=mail.subject, recipients=[mail.recipient], body=mail.body, html=mail.html,
        sender=current_app.config.get("MAIL_DEFAULT_SENDER"), reply_to=mail.reply_to,
        extra_headers={"Auto-Submitted": "auto-generated", "X-Guichet-Outbox": str(mail.id)},
    )
    for attachment in mail.attachments:
        message.attach(attachment.filename, attachment.content_type, attachment.data)
    return message


def _connect():
    """An open SMTP connection (Flask-Mail's, with a timeout); raises if the server is unreachable."""
    connection = _Connection(flask_mail.Mail().init_mail(current_app.config, current_app.debug, False))
    return connection.__enter__()


def _close(connection):
    if connection is not None:
        connection.__exit__(None, None, None)


class MailNotSent(Exception):
    """Some mails of a sending job failed: RQ retries the job (the sent ones are skipped)."""


# The sending loop reads and writes outbox rows with plain SQL statements (no ORM
# objects): it runs once per mail, and the ORM's bookkeeping would be most of its cost.
_MAILS = OutboxMail.__table__
_ATTACHMENTS = OutboxAttachment.__table__


def _lock(mail_id):
    """The outbox mail (with its attachments), locked for this transaction, if it is
    still to send; else None.

    FOR UPDATE SKIP LOCKED on PostgreSQL: a mail another worker is sending is skipped,
    and once it is sent its state says so. (SQLite ignores the lock: it runs jobs in
    one process.)"""
    rows = db.session.execute(
        select(_MAILS.c.id, _MAILS.c.recipient, _MAILS.c.subject, _MAILS.c.body, _MAILS.c.html,
               _MAILS.c.state, _MAILS.c.user_id, _MAILS.c.secret_link, _MAILS.c.reply_to, _ATTACHMENTS.c.filename, _ATTACHMENTS.c.content_type, _ATTACHMENTS.c.data)
        .select_from(_MAILS.outerjoin(_ATTACHMENTS, _ATTACHMENTS.c.mail_id == _MAILS.c.id))
        .where(_MAILS.c.id == mail_id)
        .order_by(_ATTACHMENTS.c.id)
        .with_for_update(skip_locked=True, of=_MAILS)
    ).all()
    if not rows or rows[0].state is not MailState.queued:
        db.session.rollback()
        return None
    first = rows[0]
    return SimpleNamespace(
        id=first.id, recipient=first.recipient, subject=first.subject, body=first.body, html=first.html,
        user_id=first.user_id, secret_link=first.secret_link, reply_to=first.reply_to,
        attachments=[SimpleNamespace(filename=r.filename, content_type=r.content_type, data=r.data)
                     for r in rows if r.filename is not None],
    )


def _record(mail_id, **values):
    """Write how sending went, and commit (which releases the row)."""
    author = audit.author_id()  # as `Audited` rows: the acting user, if any
    if author is not None:
        values["changed_by_id"] = author
    db.session.execute(
        update(_MAILS).where(_MAILS.c.id == mail_id)
        .values(attempts=_MAILS.c.attempts + 1, changed_on=utcnow(), **values)
    )
    db.session.commit()


def _sent(mail):
    _record(mail.id, state=MailState.sent, sent_on=utcnow())


def _failed(mail, error, final):
    values = {"last_error": f"{type(error).__name__}: {error}"[:2000]}
    if final:
        values["state"] = MailState.failed
    _record(mail.id, **values)


def send_mails(mail_ids):
    """The job: send these outbox mails, each at most once, over one SMTP connection.

    Each mail is locked, sent and committed on its own (attempts, last error, state).
    If some fail, the job raises and RQ runs it again after a delay: the mails sent
    meanwhile are skipped. On the last attempt a failing mail is marked failed.
    Without MAIL_SERVER the mails stay queued in the outbox.
    """
    if not mail_configured():
        return {"kept": len(mail_ids)}
    final = jobs.last_attempt()
    sent, skipped, errors = 0, 0, []
    connection = None
    try:
        for position, mail_id in enumerate(mail_ids):
            mail = _lock(mail_id)
            if mail is None:
                skipped += 1
                continue
            try:
                if connection is None:
                    connection = _connect()
            except Exception as error:  # the server is unreachable: no use trying the others now
                _failed(mail, error, final)
                for other_id in mail_ids[position + 1:]:
                    other = _lock(other_id)
                    if other is not None:
                        _failed(other, error, final)
                errors.append(error)
                break
            try:
                connection.send(_message(_unsealed(mail)))
            except Exception as error:
                _failed(mail, error, final)
                errors.append(error)
                if isinstance(error, (smtplib.SMTPServerDisconnected, OSError)):
                    _close(connection)
                    connection = None
                continue
            _sent(mail)
            sent += 1
    finally:
        try:
            _close(connection)
        finally:
            db.session.rollback()
    if errors:
        raise MailNotSent(f"{len(errors)} of {len(mail_ids)} mail(s) not sent; "
                          f"first error: {type(errors[0]).__name__}: {errors[0]}")
    return {"sent": sent, "skipped": skipped}


def send_mail(mail_id):
    """The job for one mail (see `send_mails`)."""
    return send_mails([mail_id])


def enqueue_sending(mail_ids):
    """Queue the sending of outbox mails, in batches of MAIL_BATCH_SIZE, after the commit."""
    mail_ids = list(mail_ids)
    size = max(1, current_app.config.get("MAIL_BATCH_SIZE", 50))
    for start in range(0, len(mail_ids), size):
        jobs.enqueue_job(send_mails, (mail_ids[start:start + size],), queue=jobs.MAIL_QUEUE)


def resend(mails) -> int:
    """Send outbox mails again (the caller commits).

    A queued or failed mail is queued again (its attempts go on counting); a sent
    mail is copied into a new queued mail, so the outbox keeps both.
    """
    ids = []
    for mail in mails:
        if mail.state is MailState.sent:
            mail = OutboxMail(
                recipient=mail.recipient, user_id=mail.user_id, locale=mail.locale,
                template=mail.template, subject=mail.subject, body=mail.body, html=mail.html,
                state=MailState.queued, attempts=0, secret_link=mail.secret_link, reply_to=mail.reply_to,
                attachments=[OutboxAttachment(filename=a.filename, content_type=a.content_type, data=a.data)
                             for a in mail.attachments],
            )
            db.session.add(mail)
        else:
            mail.state = MailState.queued
            mail.changed_on = utcnow()
        db.session.flush()
        ids.append(mail.id)
    enqueue_sending(ids)
    return len(ids)


def stale_after() -> timedelta:
    seconds = current_app.config.get("OUTBOX_STALE_AFTER") or (
        sum(current_app.config["JOB_RETRY_INTERVALS"]) + 600)
    return timedelta(seconds=seconds)


def requeue_stale_mails(limit=1000) -> int:
    """Periodic job: queue again the queued mails nobody touched for a while (their job
    was lost: Redis flushed, enqueued while Redis was down...). Never sends twice:
    `send_mails` skips a mail already sent."""
    if not mail_configured():
        return 0
    before = utcnow() - stale_after()
    stale = db.session.scalars(
        select(OutboxMail)
        .where(OutboxMail.state == MailState.queued, OutboxMail.changed_on < before)
        .order_by(OutboxMail.id).limit(limit)
    ).all()
    count = resend(stale)
    db.session.commit()
    return count


# ---------------------------------------------------------------------------
# .ics attachments
# ---------------------------------------------------------------------------


def _local(moment):
    """`moment` in TIMEZONE (naive datetimes are local times), so that the .ics says
    TZID=Europe/Paris: a weekly 10:00 stays at 10:00 across the change of summer time."""
    zone = ZoneInfo(current_app.config.get("TIMEZONE", "Europe/Paris"))
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def ics_attachment(summary, start, end, *, uid=None, description=None, location=None, url=None,
                   organizer=None, attendees=(), sequence=0, cancelled=False,
                   filename="invitation.ics", recurrence=None, exdates=(), overrides=(),
                   recurrence_id=None, last_start=None):
    """An iCalendar (.ics) attachment tuple for `notify(..., attachments=[...])`.

    `uid` identifies the event across mails: give the same one (e.g.
    "booking-00123@guichet") with a higher `sequence` for a change, and
    `cancelled=True` to cancel it. Naive datetimes are in TIMEZONE (written with
    its TZID and VTIMEZONE).

    A series: `recurrence` is its RRULE as a dict of RFC 5545 parts ({"freq":
    "weekly", "count": 4}, {"freq": "daily", "byday": ["MO", ...], "until": a
    datetime}); `exdates` the starts of the rule's dates that do not happen
    (skipped, cancelled); `overrides` the dates that happen otherwise, as
    (recurrence_id, start, end, location) with recurrence_id the start the rule
    gives them. `recurrence_id` with `cancelled=True` cancels that one occurrence
    (start and end: that occurrence's) and leaves the rest of the series.
    `last_start`: the start of a series' last date, which the VTIMEZONE's changes of
    summer time must reach (a series by count names none).
    """
    from icalendar import Calendar, Event  # here: most processes never write a calendar

    method = "CANCEL" if cancelled else "REQUEST"
    calendar = Calendar()
    calendar.add("prodid", "-//Guichet//Guichet//FR")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    uid = uid or f"{uuid.uuid4()}@guichet"
    stamp = datetime.now(timezone.utc)

    def event_of(event_start, event_end, event_location, instance=None):
        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", stamp)
        if instance is not None:
            event.add("recurrence-id", _local(instance))
        event.add("dtstart", _local(event_start))
        event.add("dtend", _local(event_end))
        event.add("summary", str(summary))
        event.add("sequence", int(sequence))
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        if description:
            event.add("description", str(description))
        if event_location:
            event.add("location", str(event_location))
        if url:
            event.add("url", absolute_url(url))
        if organizer:
            event.add("organizer", _address(organizer))
        for attendee in attendees:
            event.add("attendee", _address(attendee), encode=0)
        return event

    moments = [start, end] + ([last_start] if last_start is not None else [])
    if recurrence_id is not None:
        calendar.add_component(event_of(start, end, location, recurrence_id))
    else:
        master = event_of(start, end, location)
        if recurrence:
            rule = dict(recurrence)
            if rule.get("until") is not None:
                # With a TZID start, RFC 5545 wants UNTIL in UTC.
                rule["until"] = _local(rule["until"]).astimezone(timezone.utc)
                moments.append(rule["until"])
            master.add("rrule", rule)
            if exdates:
                master.add("exdate", [_local(moment) for moment in sorted(exdates)])
        calendar.add_component(master)
        if recurrence and not cancelled:
            for instance, other_start, other_end, other_location in overrides:
                calendar.add_component(event_of(other_start, other_end, other_location, instance))
                moments += [other_start, other_end]
    _add_timezone(calendar, moments)
    content_type = f"text/calendar; charset=utf-8; method={method}"
    return filename, content_type, calendar.to_ical()


@dataclass(frozen=True)
class FeedEvent:
    """One event of an iCalendar feed (`ics_feed`); naive datetimes are in TIMEZONE."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    location: str = ""
    url: str = ""
    tentative: bool = False


def ics_feed(name, events) -> bytes:
    """An iCalendar feed (a calendar application subscribes to its URL): `events`
    (FeedEvent), tentative ones marked so, times with their TZID."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Guichet//Guichet//FR")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", str(name))
    stamp = datetime.now(timezone.utc)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", _local(item.start))
        event.add("dtend", _local(item.end))
        event.add("summary", str(item.summary))
        event.add("status", "TENTATIVE" if item.tentative else "CONFIRMED")
        if item.location:
            event.add("location", str(item.location))
        if item.url:
            event.add("url", absolute_url(item.url))
        calendar.add_component(event)
    if events:
        _add_timezone(calendar, [moment for e in events for moment in (e.start, e.end)])
    return calendar.to_ical()


def _add_timezone(calendar, moments):
    """The VTIMEZONE of TIMEZONE, listing its changes of summer time from a year before
    the first moment to a year after the last (each change is a line: a calendar of a
    few dates stays small)."""
    first = min(_local(m) for m in moments).date()
    last = max(_local(m) for m in moments).date()
    calendar.add_missing_timezones(first_date=first - timedelta(days=366), last_date=last + timedelta(days=366))


def _address(person):
    from icalendar import vCalAddress

    if isinstance(person, str):
        return vCalAddress(f"mailto:{person}")
    address = vCalAddress(f"mailto:{person.email}")
    name = person.get_full_name() if hasattr(person, "get_full_name") else None
    if name:
        address.params["cn"] = name
    return address


# ---------------------------------------------------------------------------
# Commands and set-up
# ---------------------------------------------------------------------------


@click.command("send-outbox")
@with_appcontext
def send_outbox_command():
    """Send every queued mail of the outbox (e.g. once MAIL_SERVER is set)."""
    if not mail_configured():
        raise click.UsageError("MAIL_SERVER is not set: mails stay in the outbox.")
    queued = db.session.scalars(
        select(OutboxMail).where(OutboxMail.state == MailState.queued).order_by(OutboxMail.id)
    ).all()
    count = resend(queued)
    db.session.commit()
    click.echo(f"{count} queued mail(s) sent or handed to the workers.")


def init_app(app):
    flask_mail.Mail(app)
    app.cli.add_command(send_outbox_command)
