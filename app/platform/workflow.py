"""One small workflow engine for every desk.

A desk declares its states (a LabelledEnum held by a `state_column`) and its
transitions once::

    BOOKING_WORKFLOW = Workflow(Booking, states=BookingState, transitions=[
        Transition("validate", _l("Validate"), sources=(BookingState.pending,),
                   target=BookingState.validated, roles=(VNOC,)),
    ])

`fire()` checks the source state, who may fire, the comment and the guards
before touching anything, so a refused transition changes nothing; a legal one
sets the state, writes a `WorkflowEvent` (when, who, from, to, comment,
attachment) and hands the notification to `app.platform.notifications`.
`record()` writes the events that keep the state (a comment, a change) in the
same history, which `history()` reads back for the timeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from flask_babel import gettext

from ..extensions import db
from ..models import WorkflowEvent, utcnow
from ..security import ADMIN, role_names
from .refusals import Refused


class TransitionRefused(Refused):
    """A transition that may not be fired; the message says why, for the user."""


@dataclass(frozen=True)
class Transition:
    name: str
    label: object
    sources: tuple
    target: str
    roles: tuple = ()
    # who else may fire it, e.g. the declarant of a ticket: allowed(user, item) -> bool
    allowed: Optional[Callable] = None
    # guard(item, user, comment) -> a refusal message, or None
    guards: tuple = ()
    comment_required: bool = False
    # notify(item, event) -> (recipients, template, context[, link]) or None
    notify: Optional[Callable] = None
    icon: str = "fa-arrow-right"
    confirmation: object = None


@dataclass
class Workflow:
    model: type
    states: type  # the LabelledEnum of its states
    transitions: list
    state_attribute: str = "state"
    final_states: tuple = ()
    # How the history names the events that are not transitions (a comment, a change),
    # and the transitions whose button label does not read as a past event.
    event_labels: dict = field(default_factory=dict)
    _by_name: dict = field(init=False, repr=False)

    def __post_init__(self):
        self._by_name = {t.name: t for t in self.transitions}
        for transition in self.transitions:
            unknown = {transition.target, *transition.sources} - set(self.states)
            if unknown:
                raise ValueError(f"{transition.name}: unknown states {unknown}")

    @property
    def object_type(self) -> str:
        return self.model.__tablename__

    def state_of(self, item):
        return getattr(item, self.state_attribute)

    def state_label(self, state) -> str:
        """The label of a state, given as a member or as the code a history row keeps."""
        return str(state if isinstance(state, self.states) else self.states(state))

    def event_label(self, event) -> str:
        """What a history row says happened."""
        label = self.event_labels.get(event.transition)
        if label is None and event.transition in self._by_name:
            label = self._by_name[event.transition].label
        return str(label) if label is not None else event.transition

    def timeline_label(self, event):
        """What the timeline prints before the state change: the event's label, unless
        the state change says it all (a transition without a label of its own)."""
        if event.transition in self.event_labels or event.from_state == event.to_state:
            return self.event_label(event)
        return None

    def transition(self, name) -> Transition:
        try:
            return self._by_name[name]
        except KeyError:
            raise TransitionRefused(None, gettext("Unknown action “%(name)s”.", name=name)) from None

    def refusal(self, item, name, user, comment="") -> Optional[TransitionRefused]:
        """Why `user` may not fire `name` on `item` now, or None if they may."""
        transition = self.transition(name)
        state = self.state_of(item)
        if state not in transition.sources:
            return TransitionRefused(None, gettext("“%(action)s” is not possible from the state “%(state)s”.",
                                                   action=transition.label, state=self.state_label(state)))
        roles = role_names(user)
        may = ADMIN in roles or roles.intersection(transition.roles) or (
            transition.allowed is not None and transition.allowed(user, item))
        if not may:
            return TransitionRefused(None, gettext("You may not “%(action)s” this record.", action=transition.label))
        if transition.comment_required and not (comment or "").strip():
            return TransitionRefused("comment", gettext("Comment: a comment is required to “%(action)s”.",
                                                        action=transition.label))
        for guard in transition.guards:
            message = guard(item, user, comment)
            if message:
                return TransitionRefused(None, message)
        return None

    def available(self, item, user) -> list:
        """The transitions `user` could fire on `item` now (a comment may still be asked)."""
        return [t for t in self.transitions
                if self.refusal(item, t.name, user, comment="-") is None]

    def fire(self, item, name, user, comment="", attachment=None) -> WorkflowEvent:
        """Fire a transition or raise TransitionRefused, leaving everything as it was."""
        refusal = self.refusal(item, name, user, comment)
        if refusal is not None:
            raise refusal
        transition = self._by_name[name]
        event = self.record(item, name, user, comment, attachment, from_state=self.state_of(item),
                            to_state=transition.target)
        setattr(item, self.state_attribute, transition.target)
        db.session.flush()
        if transition.notify is not None:
            message = transition.notify(item, event)
            if message:
                from . import notifications

                recipients, template, context, *link = message
                notifications.notify(recipients, template, context, link=link[0] if link else None)
        return event

    def fire_many(self, items, name, user, comment=""):
        """Fire on each item on its own: (fired items, [(item, refusal message)]).

        Each success is committed by itself, so one refusal never undoes another row.
        """
        fired, refused = [], []
        for item in items:
            try:
                self.fire(item, name, user, comment)
                db.session.commit()
                fired.append(item)
            except TransitionRefused as refusal:
                db.session.rollback()
                refused.append((item, str(refusal)))
        return fired, refused

    def record(self, item, kind, user, comment=None, attachment=None, from_state=None,
               to_state=None) -> WorkflowEvent:
        """Write a history row of `item`: a transition, or an event `kind` that keeps
        the state (a comment, a change) unless `from_state`/`to_state` say otherwise."""
        state = self.state_of(item)
        event = WorkflowEvent(
            object_type=self.object_type, object_id=item.id, transition=kind,
            from_state=(from_state or state).value, to_state=(to_state or state).value,
            comment=(comment or "").strip() or None, actor_id=getattr(user, "id", None),
            attachment_id=getattr(attachment, "id", None), happened_on=utcnow(),
        )
        db.session.add(event)
        db.session.flush()
        return event

    def history(self, item) -> list:
        return (db.session.query(WorkflowEvent)
                .filter_by(object_type=self.object_type, object_id=item.id)
                .order_by(WorkflowEvent.happened_on, WorkflowEvent.id).all())
