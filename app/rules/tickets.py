"""Desk B, client-project ticketing — the decisions: who may do what, the 9-state
workflow, the mails, and the lists the client screens show (the "extranet": the
pages a vendor's clients use). Plain functions over models, no HTTP.
"""
from __future__ import annotations

import re
import secrets
import string
from urllib.parse import urlsplit
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Optional

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import case, func, or_, select, text

from ..extensions import db
from ..models import (
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
from ..access.tickets import is_vendor_staff, may_file_on, may_see_project, open_to_new_tickets
from ..platform import files, notifications
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
            "ticket_url": notifications.absolute_url(ticket_link(ticket))}


def _mail(template, recipients):
    def notify(ticket, event):
        return recipients(ticket), template, _context(ticket, event), ticket_link(ticket)

    return notify


def _on_assign(ticket, event):
    """Taking a ticket: whoever assigns it becomes its assignee unless one was chosen."""
    if ticket.assignee_id is None:
        ticket.assignee_id = event.actor_id
        db.session.flush()
        db.session.refresh(ticket, ["assignee"])
    return (client_recipients(ticket) + [ticket.assignee], "tickets/assigned", _context(ticket, event),
            ticket_link(ticket))


def _on_close(ticket, event):
    ticket.closed_on = event.happened_on
    return (client_recipients(ticket) + vendor_recipients(ticket), "tickets/closed",
            _context(ticket, event), ticket_link(ticket))


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
                   allowed=is_client_party, comment_required=True,
                   notify=_mail("tickets/returned", vendor_recipients), icon="fa-reply",
                   done=_l("returned this ticket")),
        Transition("close", _l("Close the ticket"), OPEN_STATES, CLOSED,
                   allowed=is_client_party, notify=_on_close, icon="fa-lock", done=_l("closed this ticket")),
    ],
)


def closed_refusal(ticket) -> Optional[TicketRefused]:
    """Closed is final: nothing changes on a closed ticket, a new ticket is the way on."""
    if ticket.state is CLOSED:
        return TicketRefused(None, gettext("This ticket is closed and can no longer be changed: "
                                           "to tell us something new, please open a new ticket."))
    return None


def fire(ticket, name, user, comment="", upload=None):
    """Fire a transition with its comment and optional attachment, or raise a
    Refused (TicketRefused, TransitionRefused, FileRefused) leaving everything as it was.

    The ticket is locked and read again first (`Workflow.lock`): of two people acting
    at once, the one who lost is refused before writing the attachment."""
    TICKET_WORKFLOW.lock(ticket)
    closed = closed_refusal(ticket)
    if closed:
        closed = " ".join(filter(None, [closed.message, TICKET_WORKFLOW.already(ticket)]))
    refusal = TransitionRefused(None, closed) if closed else TICKET_WORKFLOW.refusal(ticket, name, user, comment)
    if refusal is not None:
        raise refusal
    attachment = files.save_upload(upload, ticket, user) if upload is not None and upload.filename else None
    return TICKET_WORKFLOW.fire(ticket, name, user, comment, attachment)


def available(ticket, user) -> list:
    return [] if closed_refusal(ticket) else TICKET_WORKFLOW.available(ticket, user)


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


def create_ticket(project, declarant, draft: TicketDraft, uploads=(), reference=None) -> ProjectTicket:
    """A new ticket (state New) with its attachments, and the creation mail; or raise
    TicketRefused (nothing is kept) naming the field."""
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
            raise TicketRefused("follower", gettext("Follower: choose a person of the client company who may see this project."))
    uploads = [u for u in uploads if u is not None and u.filename]
    if len(uploads) > MAX_ATTACHMENTS:
        raise TicketRefused("attachments", gettext("Attachments: at most %(max)d files.", max=MAX_ATTACHMENTS))
    ticket = ProjectTicket(
        reference=reference or new_reference(), project=project, organisation_id=project.organisation_id,
        title=title, description=(draft.description or "").strip() or None,
        page_url=page_url or None, priority=priority,
        priority_context=(draft.priority_context or "").strip() or None,
        state=ProjectTicketState.new, declarant=declarant, follower=follower,
    )
    db.session.add(ticket)
    db.session.flush()
    for upload in uploads:
        files.save_upload(upload, ticket, declarant, gettext("Attachments"), field="attachments")
    notifications.notify(creation_recipients(ticket), "tickets/created", _context(ticket),
                         link=ticket_link(ticket))
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


def may_comment(user, ticket) -> bool:
    return ticket.state is not ProjectTicketState.closed and (
        is_admin(user) or is_vendor_staff(user, ticket.project) or is_client_party(user, ticket))


def add_comment(ticket, user, text, upload=None) -> ProjectTicketComment:
    refusal = closed_refusal(ticket)
    if refusal is not None:
        raise refusal
    if not may_comment(user, ticket):
        raise TicketRefused(None, gettext("Comment: you may not comment on this ticket."))
    if not (text or "").strip():
        raise TicketRefused("comment", gettext("Comment: this field is required."))
    attachment = files.save_upload(upload, ticket, user) if upload is not None and upload.filename else None
    comment = ProjectTicketComment(ticket=ticket, state=ticket.state, author_id=user.id, text=text.strip(),
                            attachment=attachment, created_on=utcnow())
    db.session.add(comment)
    db.session.flush()
    return comment


@dataclass
class HistoryEntry:
    when: datetime
    state: ProjectTicketState
    author: object
    text: Optional[str]
    attachment: object


def history(ticket) -> list:
    """Comments and transitions, newest first; each with the state it left the ticket in."""
    entries = [HistoryEntry(c.created_on, c.state, c.author, c.text, c.attachment)
               for c in db.session.query(ProjectTicketComment).filter_by(ticket_id=ticket.id)]
    entries += [HistoryEntry(e.happened_on, ProjectTicketState(e.to_state), e.actor, e.comment, e.attachment)
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
    """The open tickets of the project page, section by section (each ticket in one)."""
    today = today or utcnow().date()
    start = datetime.combine(today, time.min)
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
                              .where(ProjectTicketComment.ticket_id.in_(ids)))
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
        # Both read in ix_ticket_project_closed, the count up to the grids' limit.
        limit = max(current_app.config["GRID_EXACT_COUNT_LIMIT"], offset + 2 * page_size)
        capped = closed.with_entities(ProjectTicket.id).order_by(None).limit(limit + 1).subquery()
        count = db.session.scalar(select(func.count()).select_from(capped))
        rows = closed.order_by(*order).offset(offset).limit(page_size).all() if count > offset else []
        return (ApproximateCount(limit, estimated=False) if count > limit else count), rows
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


def my_tickets(user):
    """Tickets the person declared or follows, across projects, open ones first."""
    return (visible_tickets()
            .filter(or_(ProjectTicket.declarant_id == user.id, ProjectTicket.follower_id == user.id))
            .order_by((ProjectTicket.state == ProjectTicketState.closed), ProjectTicket.created_on.desc()).all())


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
