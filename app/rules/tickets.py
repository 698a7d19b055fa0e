"""Desk B, client-project ticketing — the decisions: who may do what, the 9-state
workflow, the mails, and the lists the client screens show (the "extranet": the
pages a vendor's clients use); for the vendor's staff, assignment to a chosen agent,
the queues (mine, unassigned, waiting for the client, overdue), internal notes,
canned answers and replies by mail. Plain functions over models, no HTTP.
"""
from __future__ import annotations

import re
import secrets
import string
from urllib.parse import urlsplit
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import and_, case, false, func, or_, select, text

from ..extensions import db
from ..models import (
    CannedAnswer,
    DelegationAction,
    DelegationLog,
    Membership,
    Project,
    ProjectPhase,
    ProjectViewer,
    PROJECT_TICKET_SEARCH_TEXT,
    StoredFile,
    ProjectTicket,
    ProjectTicketComment,
    ProjectTicketPriority,
    ProjectTicketState,
    WorkflowEvent,
    utcnow,
)
from ..access.tickets import (
    VENDOR_ROLES,
    is_client_colleague,
    is_vendor_staff,
    may_file_on,
    may_see_project,
    open_to_new_tickets,
    sees_ticket,
)
from ..platform import clock, files, inbound, notifications
from ..platform.refusals import Refused
from ..platform.workflow import Transition, TransitionRefused, Workflow
from ..security import ApproximateCount, apply_scope, current_viewer, is_admin

REFERENCE_ALPHABET = string.ascii_uppercase + string.digits
REFERENCE_LENGTH = 7
REFERENCE_ATTEMPTS = 20
MAX_ATTACHMENTS = 5
CONTEXT_REQUIRED = (ProjectTicketPriority.high, ProjectTicketPriority.blocking)
TITLE_MAX = 200
PAGE_URL_MAX = ProjectTicket.page_url.type.length
#: A ticket links the page it is about; other schemes (javascript:, data:) would run in the reader's browser.
WEB_SCHEMES = ("http", "https")


class TicketRefused(Refused):
    """A ticket, comment or list change that is refused; the message names the field."""


# ---------------------------------------------------------------------------
# Who is who on a ticket
# ---------------------------------------------------------------------------


def is_client_party(user, ticket) -> bool:
    """The ticket's declarant or the project's client lead."""
    return user.id in (ticket.declarant_id, ticket.project.client_lead_id)


def _vendor(user, ticket) -> bool:
    return is_vendor_staff(user, ticket.project)


def may_answer(user, ticket) -> bool:
    """Who answers a ticket on the client's side: its declarant and the client project
    lead, and, while it waits for information from the client, any person of the
    client company who sees it (a colleague, the follower)."""
    return is_client_party(user, ticket) or (
        ticket.state is ProjectTicketState.waiting_client and is_client_colleague(user, ticket))


# ---------------------------------------------------------------------------
# Mails
# ---------------------------------------------------------------------------


def ticket_link(ticket) -> str:
    return f"/extranet/ticket/{ticket.reference}"


def phase_contact(project):
    """The setup contact while the project is set up, the support mailbox once in operation."""
    return project.setup_contact if project.phase is ProjectPhase.setup else project.support_mailbox


def creation_recipients(ticket) -> list:
    project = ticket.project
    people = [ticket.declarant, project.vendor_lead]
    if project.client_lead_id and project.client_lead_id != ticket.declarant_id:
        people.append(project.client_lead)
    return people + [informed_follower(ticket), phase_contact(project)]


def informed_follower(ticket):
    """The follower, while they may see the project: a visibility list set after they were
    chosen stops their mails and feed entries."""
    follower = ticket.follower
    return follower if follower is not None and may_see_project(follower, ticket.project) else None


def client_recipients(ticket) -> list:
    return [ticket.declarant, ticket.project.client_lead, informed_follower(ticket)]


def vendor_recipients(ticket) -> list:
    return [ticket.project.vendor_lead, ticket.assignee or phase_contact(ticket.project)]


def _context(ticket, event=None) -> dict:
    return {"ticket": ticket, "project": ticket.project, "state": ticket.state,
            "comment": event.comment if event is not None else None,
            "actor": event.actor if event is not None else None,
            "ticket_url": notifications.absolute_url(ticket_link(ticket)),
            "replies_by_mail": bool(current_app.config.get("INBOUND_MAIL_DOMAIN"))}


# Reply addresses (app.platform.inbound): ticket+<ticket id>.<person id>.<signature>@...
# adds a comment; an answer to an internal note's mail adds an internal note.
REPLY_KIND, NOTE_REPLY_KIND = "ticket", "ticketnote"


def _mail_options(ticket, kind=REPLY_KIND) -> dict:
    """Each person a ticket's mail goes to may answer it by mail (app.platform.inbound)."""
    return {"reply_to": lambda user: inbound.reply_address(kind, ticket.id, user.id)}


def notify_ticket(recipients, template, ticket, event=None, reply_kind=REPLY_KIND, **context):
    """A ticket's mail and feed entry, with each person's reply address."""
    return notifications.notify(recipients, template, {**_context(ticket, event), **context},
                                link=ticket_link(ticket), **_mail_options(ticket, reply_kind))


def _mail(template, recipients):
    def notify(ticket, event):
        return recipients(ticket), template, _context(ticket, event), ticket_link(ticket), _mail_options(ticket)

    return notify


def _on_assign(ticket, event):
    """Taking a ticket: whoever assigns it becomes its assignee unless one was chosen."""
    if ticket.assignee_id is None:
        ticket.assignee_id = event.actor_id
        db.session.flush()
    db.session.refresh(ticket, ["assignee"])
    return (client_recipients(ticket) + [ticket.assignee], "tickets/assigned", _context(ticket, event),
            ticket_link(ticket), _mail_options(ticket))


def _on_close(ticket, event):
    ticket.closed_on = event.happened_on
    return (client_recipients(ticket) + vendor_recipients(ticket), "tickets/closed",
            _context(ticket, event), ticket_link(ticket), _mail_options(ticket))


# ---------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------

NEW, ASSIGNED, IN_PROGRESS = ProjectTicketState.new, ProjectTicketState.assigned, ProjectTicketState.in_progress
WAITING_RD, WAITING_CLIENT = ProjectTicketState.waiting_rd, ProjectTicketState.waiting_client
LEAD_FOLLOWUP, RETURNED = ProjectTicketState.lead_followup, ProjectTicketState.returned
PROCESSED, CLOSED = ProjectTicketState.processed, ProjectTicketState.closed
OPEN_STATES = tuple(state for state in ProjectTicketState if state is not CLOSED)

TICKET_WORKFLOW = Workflow(
    ProjectTicket,
    states=ProjectTicketState,
    final_states=(CLOSED,),
    transitions=[
        Transition("assign", _l("Assign"), (NEW, RETURNED), ASSIGNED,
                   allowed=_vendor, notify=_on_assign, icon="fa-user", done=_l("assigned this ticket")),
        Transition("start", _l("Start processing"),
                   (ASSIGNED, WAITING_RD, WAITING_CLIENT, LEAD_FOLLOWUP, RETURNED), IN_PROGRESS,
                   allowed=_vendor, icon="fa-play", done=_l("started processing this ticket")),
        Transition("wait_rd", _l("Wait for R&D"), (ASSIGNED, IN_PROGRESS, LEAD_FOLLOWUP, RETURNED), WAITING_RD,
                   allowed=_vendor, icon="fa-flask", done=_l("put this ticket on hold for R&D")),
        Transition("ask_client", _l("Ask the client for information"),
                   (NEW, ASSIGNED, IN_PROGRESS, WAITING_RD, LEAD_FOLLOWUP, RETURNED), WAITING_CLIENT,
                   allowed=_vendor, comment_required=True,
                   notify=_mail("tickets/waiting_client", client_recipients), icon="fa-question",
                   done=_l("asked the client for information on this ticket")),
        Transition("lead_followup", _l("Hand to the project lead"),
                   (NEW, ASSIGNED, IN_PROGRESS, WAITING_RD, WAITING_CLIENT, RETURNED), LEAD_FOLLOWUP,
                   allowed=_vendor, icon="fa-handshake-o", done=_l("handed this ticket to the project lead")),
        Transition("process", _l("Mark as processed"),
                   (NEW, ASSIGNED, IN_PROGRESS, WAITING_RD, LEAD_FOLLOWUP, RETURNED), PROCESSED,
                   allowed=_vendor, notify=_mail("tickets/processed", client_recipients), icon="fa-check",
                   done=_l("marked this ticket as processed")),
        Transition("send_back", _l("Return the ticket"), (PROCESSED, WAITING_CLIENT), RETURNED,
                   allowed=may_answer, comment_required=True,
                   notify=_mail("tickets/returned", vendor_recipients), icon="fa-reply",
                   done=_l("returned this ticket")),
        Transition("close", _l("Close the ticket"), OPEN_STATES, CLOSED,
                   allowed=is_client_party, notify=_on_close, icon="fa-lock", done=_l("closed this ticket")),
    ],
    event_labels={"reassign": _l("Reassigned")},
)
#: The transitions that answer the client: the overdue clock stops (assigning does not).
ANSWERS = tuple(name for name in ("start", "wait_rd", "ask_client", "lead_followup", "process"))


def closed_refusal(ticket) -> Optional[TicketRefused]:
    """Closed is final: nothing changes on a closed ticket, a new ticket is the way on."""
    if ticket.state is CLOSED:
        return TicketRefused(None, gettext("This ticket is closed and can no longer be changed: "
                                           "to tell us something new, please open a new ticket."))
    return None


def _check_transition(ticket, name, user, comment):
    """Lock the ticket, read it again, and raise the refusal of `name`, if any."""
    TICKET_WORKFLOW.lock(ticket)
    closed = closed_refusal(ticket)
    if closed:
        closed = " ".join(filter(None, [closed.message, TICKET_WORKFLOW.already(ticket)]))
    refusal = TransitionRefused(None, closed) if closed else TICKET_WORKFLOW.refusal(ticket, name, user, comment)
    if refusal is not None:
        raise refusal


def _attachment(ticket, user, upload=None, pending=()):
    """The one file of a message: a pending upload of the author, or a new upload."""
    kept = files.pending_of(user, pending)
    if kept:
        return files.claim_pending(kept[:1], ticket)[0]
    return files.save_upload(upload, ticket, user) if upload is not None and upload.filename else None


def fire(ticket, name, user, comment="", upload=None, pending=()):
    """Fire a transition with its comment and optional attachment (a new `upload`, or
    one of the author's `pending` uploads), or raise a Refused (TicketRefused,
    TransitionRefused, FileRefused) leaving everything as it was.

    The ticket is locked and read again first (`Workflow.lock`): of two people acting
    at once, the one who lost is refused before writing the attachment."""
    _check_transition(ticket, name, user, comment)
    event = TICKET_WORKFLOW.fire(ticket, name, user, comment, _attachment(ticket, user, upload, pending))
    if name in ANSWERS:
        ticket.awaiting_vendor_since = None
    elif name == "send_back" and ticket.awaiting_vendor_since is None:
        ticket.awaiting_vendor_since = event.happened_on
    return event


def available(ticket, user) -> list:
    return [] if closed_refusal(ticket) else TICKET_WORKFLOW.available(ticket, user)


# ---------------------------------------------------------------------------
# Assignment to a chosen agent
# ---------------------------------------------------------------------------


def assignable_agents(project) -> list:
    """Who a ticket of the project may be assigned to: the staff (ProjectLead,
    VendorAgent) of the vendor running it, and its vendor project lead."""
    staff = (db.session.query(User).join(Membership, Membership.user_id == User.id)
             .filter(Membership.organisation_id == project.vendor_id, User.active.is_(True),
                     User.roles.any(Role.name.in_(VENDOR_ROLES))).all())
    people = {person.id: person for person in staff}
    if project.vendor_lead is not None and project.vendor_lead.active:
        people.setdefault(project.vendor_lead_id, project.vendor_lead)
    return sorted(people.values(), key=lambda person: (person.last_name or "", person.first_name or ""))


def may_assign(user, ticket) -> bool:
    return ticket.state is not CLOSED and (is_admin(user) or _vendor(user, ticket))


def assign(ticket, actor, assignee, comment="", pending=()):
    """Give the ticket to `assignee`, one of `assignable_agents`: from New or Returned
    through the "assign" transition (the state becomes Assigned), later as a
    reassignment that keeps the state. The assignee is mailed. Raises a Refused,
    changing nothing."""
    TICKET_WORKFLOW.lock(ticket)
    refusal = closed_refusal(ticket)
    if refusal is not None:
        raise refusal
    if not may_assign(actor, ticket):
        raise TransitionRefused(None, gettext("You may not “%(action)s” this record.",
                                              action=TICKET_WORKFLOW.transition("assign").label))
    if assignee is None or assignee.id not in {person.id for person in assignable_agents(ticket.project)}:
        raise TicketRefused("assignee", gettext("Assignee: choose an agent of the project."))
    if ticket.state in TICKET_WORKFLOW.transition("assign").sources:
        _check_transition(ticket, "assign", actor, comment)  # refused before anything is written
        ticket.assignee_id = assignee.id
        return fire(ticket, "assign", actor, comment, pending=pending)
    if ticket.assignee_id == assignee.id:
        raise TicketRefused("assignee", gettext("Assignee: the ticket is already assigned to %(name)s.",
                                                name=assignee))
    ticket.assignee_id = assignee.id
    db.session.flush()
    db.session.refresh(ticket, ["assignee"])
    event = TICKET_WORKFLOW.record(ticket, "reassign", actor, comment, _attachment(ticket, actor, None, pending))
    notify_ticket([assignee], "tickets/assigned", ticket, event)
    return event


# ---------------------------------------------------------------------------
# Creating a ticket, comments, attachments
# ---------------------------------------------------------------------------


def new_reference(generate=None) -> str:
    """7 random upper-case letters and digits, unused so far (drawn again on a collision)."""
    generate = generate or (lambda: "".join(secrets.choice(REFERENCE_ALPHABET)
                                            for _ in range(REFERENCE_LENGTH)))
    for _ in range(REFERENCE_ATTEMPTS):
        reference = generate()
        if not db.session.scalar(select(func.count()).select_from(ProjectTicket).where(ProjectTicket.reference == reference)):
            return reference
    raise RuntimeError("no free ticket reference after %d attempts" % REFERENCE_ATTEMPTS)


def may_create(user, project) -> bool:
    return is_admin(user) or may_file_on(user, project)


def priority_refusal(priority, context) -> Optional[TicketRefused]:
    if priority in CONTEXT_REQUIRED and not (context or "").strip():
        return TicketRefused("priority_context", gettext(
            "Priority context: required for the priority “%(priority)s”.", priority=priority))
    return None


@dataclass
class TicketDraft:
    title: str = ""
    description: str = ""
    page_url: str = ""
    priority: str = ""
    priority_context: str = ""
    follower_id: Optional[int] = None


def keep_uploads(user, uploads, field="attachments") -> list:
    """Files sent with a form, kept as `user`'s pending uploads until the form is
    accepted (app.platform.files); raises FileRefused naming the field."""
    return [files.keep_pending(upload, user, gettext("Attachments"), field=field)
            for upload in uploads if upload is not None and upload.filename]


def pending_uploads(user, file_ids) -> list:
    """The person's files kept from a refused form, among `file_ids`."""
    return files.pending_of(user, file_ids)


def create_ticket(project, declarant, draft: TicketDraft, uploads=(), reference=None, pending=()) -> ProjectTicket:
    """A new ticket (state New) with its attachments (new `uploads` and the declarant's
    `pending` uploads), and the creation mail; or raise TicketRefused (nothing is kept)
    naming the field."""
    if project is None:
        raise TicketRefused("project", gettext("Project: choose a project."))
    if not may_create(declarant, project):
        raise TicketRefused("project", gettext("Project: you may not create a ticket on this project."))
    title = (draft.title or "").strip()
    if not title:
        raise TicketRefused("title", gettext("Subject: this field is required."))
    if "\n" in title or len(title) > TITLE_MAX:
        raise TicketRefused("title", gettext("Subject: one line of at most %(max)d characters.", max=TITLE_MAX))
    try:
        priority = ProjectTicketPriority(draft.priority)
    except ValueError:
        raise TicketRefused("priority", gettext("Priority: choose a priority.")) from None
    refusal = priority_refusal(priority, draft.priority_context)
    if refusal is not None:
        raise refusal
    page_url = (draft.page_url or "").strip()
    if page_url and (urlsplit(page_url).scheme.lower() not in WEB_SCHEMES or not urlsplit(page_url).netloc):
        raise TicketRefused("page_url", gettext("Page URL: an address starting with http:// or https://."))
    if len(page_url) > PAGE_URL_MAX:
        raise TicketRefused("page_url", gettext("Page URL: at most %(max)d characters.", max=PAGE_URL_MAX))
    follower = None
    if draft.follower_id:
        follower = next((u for u in follower_candidates(project) if u.id == draft.follower_id), None)
        if follower is None:
            raise TicketRefused("follower", gettext(
                "Follower: choose a person of the client company who may see this project."))
    uploads = [u for u in uploads if u is not None and u.filename]
    kept = files.pending_of(declarant, pending)
    if len(uploads) + len(kept) > MAX_ATTACHMENTS:
        raise TicketRefused("attachments", gettext("Attachments: at most %(max)d files.", max=MAX_ATTACHMENTS))
    now = utcnow()
    ticket = ProjectTicket(
        reference=reference or new_reference(), project=project, organisation_id=project.organisation_id,
        title=title, description=(draft.description or "").strip() or None,
        page_url=page_url or None, priority=priority,
        priority_context=(draft.priority_context or "").strip() or None,
        state=ProjectTicketState.new, declarant=declarant, follower=follower,
        created_on=now, awaiting_vendor_since=now,
    )
    db.session.add(ticket)
    db.session.flush()
    files.claim_pending(kept, ticket)
    for upload in uploads:
        files.save_upload(upload, ticket, declarant, gettext("Attachments"), field="attachments")
    notify_ticket(creation_recipients(ticket), "tickets/created", ticket)
    return ticket


def attachments(ticket) -> list:
    """The ticket's own files (not those of its comments and transitions)."""
    of_messages = select(WorkflowEvent.attachment_id).where(
        WorkflowEvent.object_type == ProjectTicket.__tablename__, WorkflowEvent.object_id == ticket.id,
        WorkflowEvent.attachment_id.is_not(None))
    of_comments = select(ProjectTicketComment.attachment_id).where(
        ProjectTicketComment.ticket_id == ticket.id, ProjectTicketComment.attachment_id.is_not(None))
    return (db.session.query(StoredFile)
            .filter(StoredFile.owner_type == ProjectTicket.__tablename__, StoredFile.owner_id == ticket.id,
                    StoredFile.id.not_in(of_messages), StoredFile.id.not_in(of_comments))
            .order_by(StoredFile.id).all())


def add_attachments(ticket, user, uploads) -> list:
    """Add files to a ticket (up to MAX_ATTACHMENTS in all)."""
    refusal = closed_refusal(ticket)
    if refusal is not None:
        raise refusal
    if not (is_admin(user) or is_vendor_staff(user, ticket.project) or is_client_party(user, ticket)):
        raise TicketRefused("attachments", gettext("Attachments: you may not add files to this ticket."))
    uploads = [u for u in uploads if u is not None and u.filename]
    if len(attachments(ticket)) + len(uploads) > MAX_ATTACHMENTS:
        raise TicketRefused("attachments", gettext("Attachments: at most %(max)d files.", max=MAX_ATTACHMENTS))
    return [files.save_upload(upload, ticket, user, gettext("Attachments"), field="attachments")
            for upload in uploads]


def comment_refusal(user, ticket) -> Optional[TicketRefused]:
    """Why `user` may not comment on the ticket now, or None if they may: the vendor's
    staff and the client party always (until it is closed), a colleague of the client
    company who sees it while it waits for the client's information."""
    refusal = closed_refusal(ticket)
    if refusal is not None:
        return refusal
    if is_admin(user) or _vendor(user, ticket) or may_answer(user, ticket):
        return None
    if is_client_colleague(user, ticket):
        leads = ", ".join(str(person) for person in dict.fromkeys(filter(None, [ticket.declarant,
                                                                                 ticket.project.client_lead])))
        return TicketRefused(None, gettext(
            "Only %(people)s comment on this ticket while we work on it: you may answer it "
            "when it waits for information from your company.", people=leads))
    return TicketRefused(None, gettext("Comment: you may not comment on this ticket."))


def may_comment(user, ticket) -> bool:
    return comment_refusal(user, ticket) is None


def may_write_notes(user, ticket) -> bool:
    """Internal notes are the vendor's staff's (and Admin's)."""
    return ticket.state is not CLOSED and (is_admin(user) or _vendor(user, ticket))


def add_comment(ticket, user, text, upload=None, internal=False, pending=()) -> ProjectTicketComment:
    """A comment (mailed to the ticket's people but its author) or, `internal`, a note
    for the vendor's staff only; with an optional file (a new `upload` or one of the
    author's `pending` uploads). Raises TicketRefused (or FileRefused), writing nothing."""
    refusal = comment_refusal(user, ticket)
    if refusal is not None:
        raise refusal
    if internal and not may_write_notes(user, ticket):
        raise TicketRefused("internal", gettext("Internal note: only the vendor's staff write internal notes."))
    if not (text or "").strip():
        raise TicketRefused("comment", gettext("Comment: this field is required."))
    comment = ProjectTicketComment(ticket=ticket, state=ticket.state, author_id=user.id, text=text.strip(),
                                   internal=bool(internal), created_on=utcnow())
    db.session.add(comment)
    db.session.flush()
    # A note's file is the note's: its row scope keeps it from the client too.
    comment.attachment = _attachment(comment if internal else ticket, user, upload, pending)
    db.session.flush()
    vendor_side = _vendor(user, ticket) or is_admin(user)
    if internal:
        recipients = [person for person in vendor_recipients(ticket) if getattr(person, "id", None) != user.id]
        notify_ticket(recipients, "tickets/internal_note", ticket, reply_kind=NOTE_REPLY_KIND,
                      comment=comment.text, actor=user)
        return comment
    if vendor_side:
        ticket.awaiting_vendor_since = None
    elif ticket.awaiting_vendor_since is None:
        ticket.awaiting_vendor_since = comment.created_on
    recipients = [person for person in client_recipients(ticket) + vendor_recipients(ticket)
                  if getattr(person, "id", None) != user.id]
    notify_ticket(recipients, "tickets/commented", ticket, comment=comment.text, actor=user)
    return comment


def reply_by_mail(ticket_id, person, reply, internal=False) -> ProjectTicketComment:
    """An answer to a ticket's mail (app.platform.inbound): a comment (or, answering an
    internal note, a note) of its author, by the same rule as on the page, if they
    still see the ticket."""
    ticket = db.session.get(ProjectTicket, ticket_id)
    if ticket is None or not (is_admin(person) or sees_ticket(person, ticket)):
        raise TicketRefused(None, gettext("This ticket does not exist or you may no longer see it."))
    TICKET_WORKFLOW.lock(ticket)
    return add_comment(ticket, person, reply.text, internal=internal)


inbound.register_reply_handler(REPLY_KIND, reply_by_mail)
inbound.register_reply_handler(NOTE_REPLY_KIND, lambda ticket_id, person, reply: reply_by_mail(
    ticket_id, person, reply, internal=True))


# ---------------------------------------------------------------------------
# Canned answers
# ---------------------------------------------------------------------------

PLACEHOLDERS = {
    "client_name": _l("the declarant's name"),
    "ticket_reference": _l("the ticket's reference"),
    "ticket_title": _l("the ticket's subject"),
    "project_name": _l("the project's name"),
    "agent_name": _l("your name"),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholder_refusal(body) -> Optional[TicketRefused]:
    """A canned answer may only use the known placeholders."""
    unknown = sorted({name for name in _PLACEHOLDER.findall(body or "") if name not in PLACEHOLDERS})
    if unknown:
        return TicketRefused("body", gettext(
            "Text: unknown placeholder(s) %(unknown)s; use %(known)s.",
            unknown=", ".join("{%s}" % name for name in unknown),
            known=", ".join("{%s}" % name for name in PLACEHOLDERS)))
    return None


def canned_answers(ticket) -> list:
    """The canned answers of the vendor running the ticket's project (in the viewer's scope)."""
    return (apply_scope(db.session.query(CannedAnswer), CannedAnswer)
            .filter(CannedAnswer.vendor_id == ticket.project.vendor_id).order_by(CannedAnswer.title).all())


def fill_placeholders(body, ticket, agent) -> str:
    values = {"client_name": ticket.declarant.get_full_name() if ticket.declarant else "",
              "ticket_reference": ticket.reference, "ticket_title": ticket.title,
              "project_name": ticket.project.name,
              "agent_name": agent.get_full_name() if agent is not None else ""}
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), body or "")


def canned_text(ticket, user, answer_id) -> str:
    """The text of a canned answer for this ticket, placeholders filled; "" if the
    person may not use it."""
    if not may_write_notes(user, ticket):
        return ""
    answer = next((a for a in canned_answers(ticket) if a.id == answer_id), None)
    return fill_placeholders(answer.body, ticket, user) if answer is not None else ""


@dataclass
class HistoryEntry:
    when: datetime
    state: ProjectTicketState
    author: object
    text: Optional[str]
    attachment: object
    internal: bool = False
    event: Optional[str] = None  # what happened, for an event that keeps the state


def visible_comments(ticket):
    """The ticket's comments the viewer may read (internal notes: the vendor's staff)."""
    return (apply_scope(db.session.query(ProjectTicketComment), ProjectTicketComment)
            .filter(ProjectTicketComment.ticket_id == ticket.id))


def history(ticket) -> list:
    """Comments and transitions, newest first; each with the state it left the ticket
    in. Internal notes only for those who may read them (their row scope)."""
    entries = [HistoryEntry(c.created_on, c.state, c.author, c.text, c.attachment, c.internal)
               for c in visible_comments(ticket)]
    entries += [HistoryEntry(e.happened_on, ProjectTicketState(e.to_state), e.actor, e.comment, e.attachment,
                             event=TICKET_WORKFLOW.timeline_label(e))
                for e in TICKET_WORKFLOW.history(ticket)]
    return sorted(entries, key=lambda entry: entry.when, reverse=True)


def check_edit(ticket) -> None:
    """A back-office edit: nothing changes on a closed ticket; High/Blocking keep a context."""
    refusal = closed_refusal(ticket) or priority_refusal(ticket.priority, ticket.priority_context)
    if refusal is not None:
        raise refusal


# ---------------------------------------------------------------------------
# What the client screens list
# ---------------------------------------------------------------------------

TO_COMPLETE = (ProjectTicketState.waiting_client,)
TO_CLOSE = (ProjectTicketState.processed,)
IN_PROGRESS = tuple(s for s in ProjectTicketState if s not in TO_COMPLETE + TO_CLOSE + (ProjectTicketState.closed,))


def visible_projects():
    return apply_scope(db.session.query(Project), Project).order_by(Project.name)


def projects_open_to_new_tickets():
    """The visible projects the signed-in person may file a ticket on."""
    viewer = current_viewer()
    projects = visible_projects()
    return projects if viewer is None or viewer.is_admin else projects.filter(open_to_new_tickets(viewer))


def visible_tickets():
    return apply_scope(db.session.query(ProjectTicket), ProjectTicket)


def project_counts(project_ids) -> dict:
    """{project id: (to complete, to close, in progress)} in one query."""
    if not project_ids:
        return {}
    rows = db.session.execute(
        select(ProjectTicket.project_id,
               func.count(case((ProjectTicket.state.in_(TO_COMPLETE), 1))),
               func.count(case((ProjectTicket.state.in_(TO_CLOSE), 1))),
               func.count(case((ProjectTicket.state.in_(IN_PROGRESS), 1))))
        .where(ProjectTicket.project_id.in_(list(project_ids)))
        .group_by(ProjectTicket.project_id)).all()
    counts = {pid: (0, 0, 0) for pid in project_ids}
    counts.update({row[0]: tuple(row[1:]) for row in rows})
    return counts


def project_sections(project, today: Optional[date] = None) -> dict:
    """The open tickets of the project page, section by section (each ticket in one);
    "today" is the reader's local day."""
    start = clock.start_of_local_day(today)
    tickets = (visible_tickets().filter(ProjectTicket.project_id == project.id, ProjectTicket.state != ProjectTicketState.closed)
               .order_by(ProjectTicket.created_on.desc(), ProjectTicket.id.desc()).all())
    sections = {"today": [], "to_complete": [], "to_close": [], "in_progress": []}
    for ticket in tickets:
        if ticket.state is ProjectTicketState.new and ticket.created_on >= start:
            sections["today"].append(ticket)
        elif ticket.state in TO_COMPLETE:
            sections["to_complete"].append(ticket)
        elif ticket.state in TO_CLOSE:
            sections["to_close"].append(ticket)
        else:
            sections["in_progress"].append(ticket)
    return sections


def last_comments(tickets) -> dict:
    """{ticket id: (when, text)} of the latest message of each ticket."""
    ids = [t.id for t in tickets]
    if not ids:
        return {}
    latest = {}
    rows = db.session.execute(select(ProjectTicketComment.ticket_id, ProjectTicketComment.created_on, ProjectTicketComment.text)
                              .where(ProjectTicketComment.ticket_id.in_(ids), ProjectTicketComment.internal.is_(False)))
    rows = list(rows) + list(db.session.execute(
        select(WorkflowEvent.object_id, WorkflowEvent.happened_on, WorkflowEvent.comment)
        .where(WorkflowEvent.object_type == ProjectTicket.__tablename__, WorkflowEvent.object_id.in_(ids),
               WorkflowEvent.comment.is_not(None))))
    for ticket_id, when, comment in rows:
        if ticket_id not in latest or when > latest[ticket_id][0]:
            latest[ticket_id] = (when, comment)
    return latest


# The closed-ticket search: each word must be in the subject or the description
# (case-insensitive substring) or be the reference. It shows how many tickets match
# exactly up to a limit, then "more than N" (like the grids); the pager always offers
# the next page while there are more (GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT, as the grids).
MAX_KEYWORDS = 8
# pg_trgm finds a '%word%' pattern through its index only if the word holds 3 letters
# or digits in a row; shorter words are matched while reading the project's tickets.
_TRIGRAM_RUN = re.compile(r"[^\W_]{3}")


def keyword_criteria(keywords: str) -> list:
    """Each word must be in the title or the description, or be the reference.

    The title and description are searched as one text (TICKET_SEARCH_TEXT), which
    on PostgreSQL has a trigram index per project over the closed tickets. A word
    too short for trigrams is written so that no trigram index can be chosen for it
    (a trigram index scan for it would read the whole index): lower(text) LIKE
    lower(word), which is what ILIKE does, on PostgreSQL (UTF-8) as on SQLite."""
    criteria = []
    for word in (keywords or "").split()[:MAX_KEYWORDS]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if _TRIGRAM_RUN.search(word):
            in_text = PROJECT_TICKET_SEARCH_TEXT.ilike(pattern, escape="\\")
        else:
            in_text = func.lower(PROJECT_TICKET_SEARCH_TEXT).like(func.lower(pattern), escape="\\")
        criteria.append(or_(in_text, ProjectTicket.reference == word.upper()[:REFERENCE_LENGTH]))
    return criteria


def _plan_for_these_words():
    """On PostgreSQL, plan the search's queries for the words searched, not once for
    any words: psycopg prepares a query run 5 times and PostgreSQL may then keep a
    generic plan, which cannot tell a common word (read the page in order) from a
    rare one (use the trigram index). For the rest of this transaction only."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def capped_page(query, order, page, page_size):
    """(count, rows) of one page of tickets: the count exact up to GRID_EXACT_COUNT_LIMIT
    (always covering the next page), beyond it an ApproximateCount, as in the grids."""
    offset = page * page_size
    limit = max(current_app.config["GRID_EXACT_COUNT_LIMIT"], offset + 2 * page_size)
    capped = query.with_entities(ProjectTicket.id).order_by(None).limit(limit + 1).subquery()
    count = db.session.scalar(select(func.count()).select_from(capped))
    rows = query.order_by(*order).offset(offset).limit(page_size).all() if count > offset else []
    return (ApproximateCount(limit, estimated=False) if count > limit else count), rows


def closed_tickets(project_id, keywords="", page=0, page_size=10):
    """(count, tickets) of a project's closed tickets matching the keywords, latest
    closed first. The count is exact up to a limit (GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT with
    keywords, the grids' GRID_EXACT_COUNT_LIMIT without) that always covers the next
    page; beyond it, an ApproximateCount ("more than N"), as in the grids."""
    closed = visible_tickets().filter(ProjectTicket.project_id == project_id, ProjectTicket.state == ProjectTicketState.closed)
    order = (ProjectTicket.closed_on.desc(), ProjectTicket.id.desc())
    offset = page * page_size
    criteria = keyword_criteria(keywords)
    if not criteria:
        return capped_page(closed, order, page, page_size)  # both read in ix_ticket_project_closed
    _plan_for_these_words()
    matching = closed.filter(*criteria)
    limit = max(current_app.config["GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT"], offset + 2 * page_size)
    # Up to limit + 1 matches, in any order: on PostgreSQL one scan of the project's
    # trigram index (ix_ticket_closed_search), then that many rows at most, where an
    # exact count would recheck every match of a common word.
    ids = [row.id for row in matching.with_entities(ProjectTicket.id).order_by(None).limit(limit + 1)]
    if len(ids) > limit:
        # Many matches: reading the project's closed tickets in order soon finds the page.
        rows = matching.order_by(*order).offset(offset).limit(page_size).all()
        return ApproximateCount(limit, estimated=False), rows
    # Every match is known: the page is ordered among them.
    rows = (closed.filter(ProjectTicket.id.in_(ids)).order_by(*order).offset(offset).limit(page_size).all()
            if len(ids) > offset else [])
    return len(ids), rows


def my_tickets(user, page=0, page_size=50):
    """(count, tickets) of one page of the tickets the person declared or follows,
    across projects, open ones first, the count capped as the grids cap theirs."""
    mine = visible_tickets().filter(or_(ProjectTicket.declarant_id == user.id, ProjectTicket.follower_id == user.id))
    return capped_page(mine, ((ProjectTicket.state == ProjectTicketState.closed), ProjectTicket.created_on.desc(),
                              ProjectTicket.id.desc()), page, page_size)


# ---------------------------------------------------------------------------
# The visibility list (the client project lead's)
# ---------------------------------------------------------------------------

VISIBILITY_RIGHT = "project_visibility"


def may_manage_visibility(user, project) -> bool:
    return is_admin(user) or user.id == project.client_lead_id


def company_people(project) -> list:
    """The people of the project's client company (candidates for the visibility list)."""
    from flask_appbuilder.security.sqla.models import User

    return (db.session.query(User).join(Membership, Membership.user_id == User.id)
            .filter(Membership.organisation_id == project.organisation_id, User.active.is_(True))
            .order_by(User.last_name, User.first_name).all())


def follower_candidates(project) -> list:
    """Who may follow a ticket of the project: its client company's people who may see
    it (a visibility list hides the project, its tickets and their mails from the rest)."""
    return [person for person in company_people(project) if may_see_project(person, project)]


def _log_visibility(actor, action, project, user):
    db.session.add(DelegationLog(actor_id=actor.id, action=action, right=VISIBILITY_RIGHT,
                                 grantee_id=user.id, organisation_id=project.organisation_id,
                                 object_type=Project.__tablename__, object_id=project.id))


def add_viewer(project, actor, user) -> ProjectViewer:
    if not may_manage_visibility(actor, project):
        raise TicketRefused(None, gettext("Visibility: only the client project lead manages this list."))
    if user is None or user.id not in {p.id for p in company_people(project)}:
        raise TicketRefused("user", gettext("Person: choose a person of the client company."))
    if any(v.user_id == user.id for v in project.viewers):
        raise TicketRefused("user", gettext("Person: already on the list."))
    viewer = ProjectViewer(project=project, user=user)
    db.session.add(viewer)
    _log_visibility(actor, DelegationAction.grant, project, user)
    db.session.flush()
    return viewer


def remove_viewer(project, actor, viewer) -> None:
    if not may_manage_visibility(actor, project):
        raise TicketRefused(None, gettext("Visibility: only the client project lead manages this list."))
    if viewer is None or viewer.project_id != project.id:
        raise TicketRefused("user", gettext("Person: not on the list."))
    _log_visibility(actor, DelegationAction.revoke, project, viewer.user)
    db.session.delete(viewer)
    db.session.flush()


# ---------------------------------------------------------------------------
# The vendor staff's queues
# ---------------------------------------------------------------------------

QUEUES = {
    "mine": _l("My tickets"),
    "unassigned": _l("Unassigned"),
    "waiting_client": _l("Waiting for the client"),
    "overdue": _l("Overdue"),
}
QUEUE_PAGE_SIZE = 50


def response_hours() -> dict:
    """{priority: hours} within which the vendor answers the client (TICKET_RESPONSE_HOURS)."""
    configured = current_app.config["TICKET_RESPONSE_HOURS"]
    return {priority: configured[priority.value] for priority in ProjectTicketPriority
            if priority.value in configured}


def overdue_criterion(now=None):
    """Open tickets whose client has waited longer than the response time of their priority."""
    now = now or utcnow()
    late = [and_(ProjectTicket.priority == priority, ProjectTicket.awaiting_vendor_since < now - timedelta(hours=hours))
            for priority, hours in response_hours().items()]
    if not late:
        return false()
    return and_(ProjectTicket.state != CLOSED, ProjectTicket.awaiting_vendor_since.is_not(None), or_(*late))


def response_due(ticket) -> Optional[datetime]:
    """When the vendor's answer is due (naive UTC), or None if nobody waits for it."""
    hours = response_hours().get(ticket.priority)
    if ticket.awaiting_vendor_since is None or hours is None or ticket.state is CLOSED:
        return None
    return ticket.awaiting_vendor_since + timedelta(hours=hours)


def queue_criterion(name, user, now=None):
    if name == "mine":
        return and_(ProjectTicket.assignee_id == user.id, ProjectTicket.state != CLOSED)
    if name == "unassigned":
        return and_(ProjectTicket.assignee_id.is_(None), ProjectTicket.state != CLOSED)
    if name == "waiting_client":
        return ProjectTicket.state == WAITING_CLIENT
    if name == "overdue":
        return overdue_criterion(now)
    raise KeyError(name)


def queue_counts(user, now=None) -> dict:
    """{queue: number of tickets} in the person's row scope, in one query."""
    scoped = visible_tickets().order_by(None).with_entities(
        *[func.count(case((queue_criterion(name, user, now), 1))) for name in QUEUES])
    return dict(zip(QUEUES, scoped.one()))


def queue_tickets(name, user, now=None, page=0, page_size=QUEUE_PAGE_SIZE):
    """(count, tickets) of a queue in the person's row scope: the most urgent first
    (the longest wait, then the highest priority), a page at a time."""
    query = visible_tickets().filter(queue_criterion(name, user, now))
    urgency = case(*[(ProjectTicket.priority == p, rank)
                     for rank, p in enumerate(reversed(list(ProjectTicketPriority)))])
    tickets = (query.order_by(ProjectTicket.awaiting_vendor_since.is_(None), ProjectTicket.awaiting_vendor_since,
                              urgency, ProjectTicket.created_on, ProjectTicket.id)
               .offset(page * page_size).limit(page_size).all())
    return query.order_by(None).count(), tickets


def assign_many(tickets, actor, assignee):
    """Assign each ticket on its own (a bulk action): (assigned, [(ticket, reason)])."""
    done, refused = [], []
    for ticket in tickets:
        try:
            assign(ticket, actor, assignee)
            db.session.commit()
            done.append(ticket)
        except Refused as refusal:
            db.session.rollback()
            refused.append((ticket, refusal.message))
    return done, refused
