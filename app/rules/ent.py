"""Desk C, ENT help and support — the decisions on help requests. ENT: espace
numérique de travail, a school's online workspace.

A workspace user files a request to the referents of one of their establishments;
referents answer (comments), change its status, or transmit it to the support desk
of the establishment; the desk's answers come back on the request. Every step is
an event of the request (a `WorkflowEvent`), and notifies the people concerned in
their feed (and by mail).
"""
from __future__ import annotations

from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext, lazy_gettext as _l, lazy_pgettext
from sqlalchemy import select

from ..extensions import db
from ..models import (
    EntApplication,
    EntEstablishment,
    EntProfile,
    EntUserProfile,
    HelpRequest,
    HelpRequestStatus,
    Membership,
    Organisation,
    OrganisationKind,
    SupportState,
    WorkflowEvent,
)
from ..access.ent import is_desk_agent_of, is_referent_of, is_requester
from ..platform import files, notifications
from ..platform.refusals import Refused
from ..platform.workflow import Transition, TransitionRefused, Workflow
from ..security import ENT_REFERENT, ENT_SUPPORT, is_admin, role_names

SUBJECT_MAX = 200

# Events that are not status changes (the status stays as it was).
CREATED, COMMENT, SUPPORT_ANSWER = "create", "comment", "support_answer"


class RequestRefused(Refused):
    """A request, comment or answer that is refused; the message names the field."""


# ---------------------------------------------------------------------------
# Who is who
# ---------------------------------------------------------------------------


def landing(user, may_file: bool) -> str:
    """Where the desk opens: referents, the support desk and Admin on the request list;
    those who may file a request on "new request"."""
    works_requests = is_admin(user) or role_names(user) & {ENT_REFERENT, ENT_SUPPORT}
    return "HelpRequestView.new" if may_file and not works_requests else "HelpRequestView.list"


def _people(role_name, organisation_id) -> list:
    """Active users holding a role and belonging to an organisation."""
    if organisation_id is None:
        return []
    return db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == organisation_id, User.active.is_(True),
               User.roles.any(Role.name == role_name))
        .order_by(User.id)
    ).all()


def referents_of(organisation_id) -> list:
    return _people(ENT_REFERENT, organisation_id)


def desk_agents_of(organisation_id) -> list:
    return _people(ENT_SUPPORT, organisation_id)


def establishments_of(user) -> list:
    """The establishments a person belongs to, by name."""
    return db.session.scalars(
        select(Organisation).join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user.id, Organisation.kind == OrganisationKind.establishment,
               Organisation.active.is_(True))
        .order_by(Organisation.name)
    ).all()


def profile_of(user):
    row = db.session.get(EntUserProfile, user.id)
    return row.profile if row else None


def active_applications() -> list:
    return db.session.scalars(
        select(EntApplication).where(EntApplication.active.is_(True)).order_by(EntApplication.name)
    ).all()


def _link(item) -> str:
    return f"/helprequests/show/{item.id}"


# ---------------------------------------------------------------------------
# Filing a request
# ---------------------------------------------------------------------------


def create_request(user, *, application_id, subject, description, organisation_id=None,
                   profile=None, uploads=()) -> HelpRequest:
    """File a request (the caller commits) or raise RequestRefused / FileRefused.

    The establishment is asked only of people who belong to several; the profile
    only of people whose profile is not known yet.
    """
    establishments = establishments_of(user)
    if not establishments:
        raise RequestRefused("establishment", gettext("Establishment: you belong to no establishment."))
    if len(establishments) == 1 and not organisation_id:
        organisation_id = establishments[0].id
    if not organisation_id:
        raise RequestRefused("establishment", gettext("Establishment: choose the establishment concerned."))
    if int(organisation_id) not in {org.id for org in establishments}:
        raise RequestRefused("establishment", gettext("Establishment: you do not belong to this establishment."))
    application = db.session.get(EntApplication, int(application_id)) if application_id else None
    if application is None or not application.active:
        raise RequestRefused("application", gettext("Application: choose the application concerned."))
    subject, description = (subject or "").strip(), (description or "").strip()
    if not subject:
        raise RequestRefused("subject", gettext("Subject: a subject is required."))
    if len(subject) > SUBJECT_MAX:
        raise RequestRefused("subject", gettext("Subject: at most %(num)d characters.", num=SUBJECT_MAX))
    if not description:
        raise RequestRefused("description", gettext("Description: describe your question or problem."))
    known = profile_of(user)
    if known is None:
        try:
            known = EntProfile(profile)
        except ValueError:
            raise RequestRefused("profile", gettext("Profile: choose your profile.")) from None
        db.session.add(EntUserProfile(user_id=user.id, profile=known))
    item = HelpRequest(organisation_id=int(organisation_id), application=application, subject=subject,
                       description=description, status=HelpRequestStatus.new, requester_id=user.id,
                       requester_profile=known)
    db.session.add(item)
    db.session.flush()
    event = REQUEST_WORKFLOW.record(item, CREATED, user)
    for upload in uploads:
        if upload and upload.filename:
            stored = files.save_upload(upload, item, user, gettext("Attachments"), field="attachments")
            if event.attachment_id is None:
                event.attachment_id = stored.id
    notifications.notify(referents_of(item.organisation_id), "ent/request_created",
                         {"request": item, "requester": user}, link=_link(item))
    return item


# ---------------------------------------------------------------------------
# Status changes and escalation (the workflow)
# ---------------------------------------------------------------------------


def _notify_change(item, event):
    """A referent's change → the requester; the requester's → the referents; the
    support desk's → both (the referents follow what support does with their requests)."""
    actor = db.session.get(User, event.actor_id) if event.actor_id else None
    if actor is not None and actor.id == item.requester_id:
        recipients = referents_of(item.organisation_id)
    elif actor is not None and is_desk_agent_of(actor, item):
        recipients = [item.requester, *referents_of(item.organisation_id)]
    else:
        recipients = [item.requester]
    context = {"request": item, "actor": actor, "action": REQUEST_WORKFLOW.event_label(event),
               "status": item.status, "comment": event.comment}
    return recipients, "ent/request_changed", context, _link(item)


def _notify_escalation(item, event):
    """The requester learns it went to support; the desk's agents get the request."""
    actor = db.session.get(User, event.actor_id) if event.actor_id else None
    desk = support_desk_for(item)
    recipients = [item.requester, *desk_agents_of(desk.id)]
    return (recipients, "ent/request_escalated",
            {"request": item, "actor": actor, "comment": event.comment, "desk": desk,
             "reference": support_reference_for(item)}, _link(item))


def _not_escalated(item, user, comment):
    """Escalation keeps the status, so its compare-and-set cannot tell a second one:
    this guard does, on the row as the engine re-read it under its lock."""
    if item.escalated:
        message = gettext("Support: this request was already transmitted (reference %(ref)s).",
                          ref=item.support_reference)
        return " ".join(filter(None, [message, REQUEST_WORKFLOW.already(item, ("escalate",))]))
    return None


def _has_support_desk(item, user, comment):
    if support_desk_for(item) is None:
        return gettext("Support: %(establishment)s has no support desk to transmit to.",
                       establishment=item.organisation)
    return None


def support_desk_for(item):
    settings = db.session.scalar(
        select(EntEstablishment).where(EntEstablishment.organisation_id == item.organisation_id))
    return settings.support_desk if settings is not None else None


def _referent(user, item):
    return is_referent_of(user, item)


def _referent_or_desk(user, item):
    return is_referent_of(user, item) or is_desk_agent_of(user, item)


def _referent_or_requester(user, item):
    return is_referent_of(user, item) or is_requester(user, item)


def support_reference_for(item) -> str:
    return f"SUP-{item.id:06d}"


class RequestWorkflow(Workflow):
    """The engine, plus what escalation does besides the status: the support-side
    record (desk, reference, state), written with the event, by the winner only
    (the engine's fire() raises for the others)."""

    def fire(self, item, name, user, comment="", attachment=None):
        event = super().fire(item, name, user, comment, attachment)
        if name == "escalate":
            item.escalated_on = event.happened_on
            item.support_desk_id = support_desk_for(item).id
            item.support_reference = support_reference_for(item)
            item.support_state = SupportState.transmitted
            db.session.flush()
        elif name == "resolve" and item.escalated and is_desk_agent_of(user, item):
            item.support_state = SupportState.resolved
            db.session.flush()
        return event


NEW, OPEN, RESOLVED, CLOSED = (HelpRequestStatus.new, HelpRequestStatus.open, HelpRequestStatus.resolved,
                                HelpRequestStatus.closed)
REQUEST_WORKFLOW = RequestWorkflow(
    HelpRequest,
    states=HelpRequestStatus,
    state_attribute="status",
    transitions=[
        Transition("open", _l("Open"), (NEW,), OPEN,
                   allowed=_referent, notify=_notify_change, icon="fa-folder-open",
                   done=_l("opened this request")),
        Transition("resolve", _l("Mark resolved"), (NEW, OPEN), RESOLVED,
                   allowed=_referent_or_desk, notify=_notify_change, icon="fa-check",
                   done=_l("marked this request resolved")),
        Transition("close", _l("Close"), (NEW, OPEN, RESOLVED), CLOSED,
                   allowed=_referent_or_requester, notify=_notify_change, icon="fa-lock",
                   done=_l("closed this request")),
        Transition("reopen", _l("Reopen"), (RESOLVED, CLOSED), OPEN,
                   allowed=_referent_or_requester, notify=_notify_change, icon="fa-undo",
                   done=_l("reopened this request")),
        Transition("escalate", _l("Transmit to support"), (NEW, OPEN), OPEN,
                   allowed=_referent, guards=(_not_escalated, _has_support_desk),
                   notify=_notify_escalation, icon="fa-share",
                   confirmation=_l("Transmit the selected requests to the support desk?"),
                   done=_l("transmitted this request to support")),
    ],
    event_labels={
        CREATED: _l("Request filed"),
        COMMENT: _l("Comment"),
        SUPPORT_ANSWER: _l("Support answer"),
        "open": _l("Opened"),
        # A change of status reads as the status itself (one word per state).
        "resolve": lazy_pgettext("help request status", "Resolved"),
        "close": lazy_pgettext("help request status", "Closed"),
        "reopen": _l("Reopened"),
        "escalate": _l("Transmitted to support"),
    },
)


def escalate(item, user, comment="") -> WorkflowEvent:
    """Transmit to support (from New or Open), or raise TransitionRefused."""
    return REQUEST_WORKFLOW.fire(item, "escalate", user, comment)


# ---------------------------------------------------------------------------
# Comments and support answers
# ---------------------------------------------------------------------------


def _record_message(item, user, kind, comment, upload, label) -> WorkflowEvent:
    """A comment or an answer: its text is required, its attachment optional."""
    text = (comment or "").strip()
    if not text:
        raise RequestRefused("comment", gettext("%(field)s: a text is required.", field=label))
    attachment = files.save_upload(upload, item, user) if upload and upload.filename else None
    return REQUEST_WORKFLOW.record(item, kind, user, text, attachment)


def may_comment(user, item) -> bool:
    """The requester, the establishment's referents and Admin, until the request is closed."""
    return item.status is not CLOSED and (is_requester(user, item) or is_referent_of(user, item)
                                          or is_admin(user))


def may_answer(user, item) -> bool:
    return is_desk_agent_of(user, item) or (is_admin(user) and item.escalated)


def add_comment(item, user, comment, upload=None) -> WorkflowEvent:
    """A comment of the requester (→ the referents) or of a referent (→ the requester)."""
    if item.status is CLOSED:
        raise RequestRefused("comment", gettext("Comment: the request is closed; reopen it first."))
    if not may_comment(user, item):
        raise RequestRefused("comment", gettext("Comment: you may not comment on this request."))
    event = _record_message(item, user, COMMENT, comment, upload, gettext("Comment"))
    if is_requester(user, item):
        recipients = referents_of(item.organisation_id)
    else:
        recipients = [item.requester]
    notifications.notify(recipients, "ent/request_comment",
                         {"request": item, "actor": user, "comment": event.comment}, link=_link(item))
    return event


def support_answer(item, user, comment, upload=None) -> WorkflowEvent:
    """The support desk's answer on an escalated request → the requester and the referents."""
    if not item.escalated:
        raise RequestRefused("comment", gettext("Answer: this request was not transmitted to support."))
    if not may_answer(user, item):
        raise RequestRefused("comment", gettext("Answer: only the support desk of this request may answer."))
    event = _record_message(item, user, SUPPORT_ANSWER, comment, upload, gettext("Answer"))
    item.support_state = SupportState.answered
    notifications.notify([item.requester, *referents_of(item.organisation_id)], "ent/support_answer",
                         {"request": item, "actor": user, "comment": event.comment}, link=_link(item))
    return event


# ---------------------------------------------------------------------------
# The request page's one reply box: a message and/or a status change
# ---------------------------------------------------------------------------

#: Transmitting to support is the referents' own button (DESIGN §5), not a status.
OWN_BUTTONS = ("escalate",)


def reply_choices(item, user) -> list:
    """The status changes a reply of `user` may carry on `item` now."""
    return [t for t in REQUEST_WORKFLOW.available(item, user) if t.name not in OWN_BUTTONS]


def may_reply(user, item) -> bool:
    return may_comment(user, item) or may_answer(user, item) or bool(reply_choices(item, user))


def reply(item, user, message, upload=None, then=None) -> WorkflowEvent:
    """What the reply box sends, all of it or nothing: the message (the support desk's
    answer, or a comment) and, when `then` names one, a status change. A status change
    alone needs no message; with one, the change carries it (one event)."""
    text = (message or "").strip()
    if then and then not in {t.name for t in reply_choices(item, user)}:
        try:
            refusal = None if then in OWN_BUTTONS else REQUEST_WORKFLOW.refusal(item, then, user, "-")
        except TransitionRefused as unknown:
            refusal = unknown
        reason = refusal.message if refusal else gettext("choose one of the offered changes.")
        raise RequestRefused("then", gettext("Status: %(reason)s", reason=reason))
    if is_desk_agent_of(user, item):
        event = support_answer(item, user, message, upload) if text or not then else None
        return REQUEST_WORKFLOW.fire(item, then, user) if then else event
    if not then:
        return add_comment(item, user, message, upload)
    REQUEST_WORKFLOW.check(item, then, user, text)  # the loser of a race writes no file
    attachment = files.save_upload(upload, item, user) if upload and upload.filename else None
    return REQUEST_WORKFLOW.fire(item, then, user, text, attachment)


def events_of(item) -> list:
    return REQUEST_WORKFLOW.history(item)
