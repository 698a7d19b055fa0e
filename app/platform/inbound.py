"""Replies by mail: an answer to a notification mail becomes what its author would
have written on the page.

A desk gives each person its mails go to a reply address (`reply_address`), put in
the mail's Reply-To by `notifications.notify(..., reply_to=...)`:

    ticket+<object id>.<person id>.<signature>@INBOUND_MAIL_DOMAIN

The signature is an HMAC of the kind, the object and the person under a key derived
from SECRET_KEY, so nobody makes an address for another object or person. The MTA of
INBOUND_MAIL_DOMAIN relays those addresses to `flask inbound-mail`, an SMTP endpoint
(aiosmtpd) that:

* refuses (550) a recipient that is not a valid reply address: unknown kind, wrong
  domain, forged or altered signature — before the message is even sent;
* ignores (250, nothing written) automatic answers (out-of-office, bounces);
* refuses (550) a message whose From is not the person the address was given to,
  or that the desk's rule refuses (a closed ticket, someone who may no longer
  comment), with the rule's reason, which the MTA returns to the sender;
* otherwise hands the text of the answer, quoted text and signature removed
  (mail-parser-reply), to the handler the desk registered for its kind
  (`register_reply_handler`), as the person, and commits what it wrote — the same
  rule as the web, so the same notifications go out.
"""
from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import logging
import re
import unicodedata
from dataclasses import dataclass
from email import policy
from email.utils import getaddresses, parseaddr
from html import unescape
from typing import Callable, Optional

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_appbuilder.security.sqla.models import User
from flask_babel import force_locale, gettext
from mailparser_reply import EmailReplyParser

from ..extensions import db
from . import audit, notifications
from .refusals import Refused

log = logging.getLogger(__name__)

#: {kind: handler(object_id, person, reply)}: a handler writes what the reply adds, or
#: raises Refused with the reason the sender is told.
REPLY_HANDLERS: dict[str, Callable] = {}
REPLY_LANGUAGES = ["fr", "en"]  # the quoting conventions the parser looks for
_LOCAL_PART = re.compile(r"^(?P<kind>[a-z]+)\+(?P<object>\d{1,18})\.(?P<person>\d{1,18})\.(?P<mac>[a-z2-7]{26})$")
_AUTOMATIC = {"bulk", "junk", "list", "auto_reply"}


class MailRefused(Refused):
    """A mail the endpoint does not take; `code` is the SMTP reply's."""

    def __init__(self, message, code="550 5.7.1"):
        super().__init__(None, message)
        self.code = code


def register_reply_handler(kind: str, handler: Callable) -> None:
    REPLY_HANDLERS[kind] = handler


# ---------------------------------------------------------------------------
# Reply addresses
# ---------------------------------------------------------------------------


def _signature(kind, object_id, person_id) -> str:
    key = hashlib.sha256(b"guichet.reply-address\x00" + current_app.config["SECRET_KEY"].encode()).digest()
    digest = hmac.new(key, f"{kind}:{object_id}:{person_id}".encode(), hashlib.sha256).digest()[:16]
    # Base32 in lower case: MTAs may change the case of a local part.
    return base64.b32encode(digest).decode().rstrip("=").lower()


def reply_address(kind, object_id, person_id) -> Optional[str]:
    """The address where `person_id`'s answer about `object_id` goes; None when replies
    by mail are off (no INBOUND_MAIL_DOMAIN)."""
    domain = current_app.config.get("INBOUND_MAIL_DOMAIN")
    if not domain or person_id is None:
        return None
    return f"{kind}+{object_id}.{person_id}.{_signature(kind, object_id, person_id)}@{domain}"


@dataclass(frozen=True)
class ReplyAddress:
    kind: str
    object_id: int
    person_id: int


def read_reply_address(address: str) -> Optional[ReplyAddress]:
    """What a reply address stands for, if it is one of ours and its signature holds."""
    local, _, domain = (address or "").strip().strip("<>").rpartition("@")
    expected = (current_app.config.get("INBOUND_MAIL_DOMAIN") or "").lower()
    match = _LOCAL_PART.match(local.lower())
    if not expected or domain.lower() != expected or match is None or match["kind"] not in REPLY_HANDLERS:
        return None
    kind, object_id, person_id = match["kind"], int(match["object"]), int(match["person"])
    if not hmac.compare_digest(match["mac"], _signature(kind, object_id, person_id)):
        return None
    return ReplyAddress(kind, object_id, person_id)


# ---------------------------------------------------------------------------
# Reading a reply
# ---------------------------------------------------------------------------


@dataclass
class Reply:
    sender: str  # the From address
    subject: str
    text: str  # the answer itself: no quoted text, no signature


def _plain_text(message) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content()
    if body.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style).*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = unescape(re.sub(r"<[^>]+>", "", content))
    return content


def answer_text(text: str) -> str:
    """The new text of an answer: quoted text and the signature removed."""
    parsed = EmailReplyParser(languages=REPLY_LANGUAGES).read(text.replace("\r\n", "\n"))
    if not parsed.replies:
        return text.strip()
    first = parsed.replies[0]
    return (first.body or first.content or "").strip()


def is_automatic(message) -> bool:
    """An out-of-office answer, a bounce or a list's mail: nobody wrote it."""
    submitted = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    return (submitted != "no" or precedence in _AUTOMATIC or message.get("X-Autoreply") is not None
            or message.get("X-Autorespond") is not None or message.get_content_type() == "multipart/report")


def deliver(recipient: str, content: bytes) -> str:
    """Take one mail for one reply address (inside an app context): run the desk's
    handler and commit, or raise MailRefused (nothing written). Returns what the
    SMTP reply says."""
    address = read_reply_address(recipient)
    if address is None:
        raise MailRefused("No such reply address.", "550 5.1.1")
    message = email.message_from_bytes(content, policy=policy.default)
    if is_automatic(message):
        return "250 2.6.0 Automatic message ignored"
    person = db.session.get(User, address.person_id)
    if person is None or not person.active:
        raise MailRefused("No such reply address.", "550 5.1.1")
    senders = [mail.lower() for _, mail in getaddresses(message.get_all("From", []))]
    with force_locale(notifications.user_locale(person.id)):
        if senders != [(person.email or "").lower()]:
            raise MailRefused(gettext("This reply address was given to another person: answer from "
                                      "the address our mail was sent to."))
        text = answer_text(_plain_text(message))
        if not text:
            raise MailRefused(gettext("Your answer is empty: write it above the quoted message."), "550 5.6.0")
        reply = Reply(sender=parseaddr(message.get("From", ""))[1], subject=str(message.get("Subject", "")),
                      text=text)
        with audit.acting_as(person.id):
            try:
                REPLY_HANDLERS[address.kind](address.object_id, person, reply)
                db.session.commit()
            except Refused as refusal:
                db.session.rollback()
                raise MailRefused(refusal.message) from None
            except Exception:
                db.session.rollback()
                raise
    return "250 2.0.0 Added"


# ---------------------------------------------------------------------------
# The SMTP endpoint
# ---------------------------------------------------------------------------


def _smtp_text(text: str) -> str:
    """A reason as an SMTP reply carries it: one line of ASCII."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.split())[:400]


class InboundHandler:
    """aiosmtpd's handler: one reply address per message (the MTA sends each
    recipient again), checked at RCPT; the message is taken at DATA."""

    def __init__(self, app):
        self.app = app

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if envelope.rcpt_tos:
            return "452 4.5.3 One recipient per message"
        with self.app.app_context():
            if read_reply_address(address) is None:
                return "550 5.1.1 No such reply address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._deliver, envelope.rcpt_tos[0], envelope.original_content
                                          or envelope.content)

    def _deliver(self, recipient, content):
        with self.app.app_context():
            try:
                answer = deliver(recipient, content)
            except MailRefused as refusal:
                log.info("inbound mail to %s refused: %s", recipient, refusal.message)
                return f"{refusal.code} {_smtp_text(refusal.message)}"
            except Exception:
                log.exception("inbound mail to %s failed", recipient)
                return "451 4.3.0 Temporary failure, try again later"
        log.info("inbound mail to %s: %s", recipient, answer)
        return answer


def controller(app, host="127.0.0.1", port=8025):
    """An aiosmtpd Controller serving replies for `app` (start() it, stop() it)."""
    from aiosmtpd.controller import Controller

    return Controller(InboundHandler(app), hostname=host, port=port,
                      data_size_limit=app.config["INBOUND_MAIL_MAX_BYTES"],
                      server_hostname=app.config.get("INBOUND_MAIL_DOMAIN") or host)


@click.command("inbound-mail")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
@with_appcontext
def inbound_mail_command(host, port):
    """Serve the reply addresses over SMTP, for the MTA of INBOUND_MAIL_DOMAIN to relay to."""
    import threading

    app = current_app._get_current_object()
    if not app.config.get("INBOUND_MAIL_DOMAIN"):
        raise click.UsageError("INBOUND_MAIL_DOMAIN is not set: mails carry no reply address.")
    server = controller(app, host, port)
    server.start()
    click.echo(f"Taking replies for @{app.config['INBOUND_MAIL_DOMAIN']} on {host}:{port} (Ctrl+C stops).")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def init_app(app):
    app.cli.add_command(inbound_mail_command)
