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
same history, which `history()` reads back for the timeline; a change's row says
what it changed (`changes`: field, old → new).

Of people firing on one row at once, exactly one wins. A request loads its row
before it decides to act, so what it read may be stale by the time it writes:
two VNOC operators both read "pending" and both validate, or one validates while
the other refuses and releases the rooms. So `fire()`:

1. locks the row and reads it again (`app.platform.transactions.lock`: FOR UPDATE
   on PostgreSQL, the database's write lock on SQLite), so that the checks and
   guards see the row as the winner left it (an escalation keeps the state but
   not `escalated`) and the others wait for the winner's commit;
2. checks, then changes the state with a compare-and-set
   (`UPDATE ... SET state = target WHERE id = :id AND state = :what_was_read`),
   which changes nothing if anyone changed the state without the lock;
3. only then writes the history row and runs the side effects (mails, rooms
   released, escalation fields): the loser never reaches them.

The loser's refusal says who did what and when, from the history (`already()`):
"Julien Mercier a déjà validé cette réservation le 01/12/2026 à 10:03."
A change of state that is not a declared transition (a booking's modification)
goes through the same compare-and-set (`move()`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from flask_babel import format_date, format_time, gettext
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Audited, WorkflowEvent, utcnow
from ..security import ADMIN, role_names
from . import audit, transactions
from .refusals import Refused


class TransitionRefused(Refused):
    """A transition that may not be fired; the message says why, for the user."""


@dataclass(frozen=True)
class OnBehalf:
    """A service firing for a person (a payment gateway confirming their payment): the
    history names the person (`id`, None for nobody); whether the service may fire is
    the caller's decision, the source states, the comment and the guards still hold."""

    id: Optional[int]


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
    # notify(item, event) -> (recipients, template, context[, link[, options]]) or None,
    # options being more keyword arguments of notifications.notify (reply_to...)
    notify: Optional[Callable] = None
    icon: str = "fa-arrow-right"
    confirmation: object = None
    # What someone did, as the end of "Julien Mercier already ... on <day> at <time>"
    # (the loser's refusal): e.g. _l("validated this booking").
    done: object = None
    # An endpoint (taking `pk`) that asks before firing: the detail page links to it
    # instead of firing at once (a confirmation, a choice of what to cancel).
    page: Optional[str] = None


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
    # How the history names the fields a change changed ({field: label}).
    field_labels: dict = field(default_factory=dict)
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

    def change_lines(self, event) -> list:
        """What a change changed, as (field label, old, new) for the timeline."""
        return [(str(self.field_labels.get(name, name)), old, new) for name, old, new in event.changes or ()]

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
            message = gettext("“%(action)s” is not possible from the state “%(state)s”.",
                              action=transition.label, state=self.state_label(state))
            return TransitionRefused(None, " ".join(filter(None, [message, self.already(item)])))
        roles = role_names(user)
        may = isinstance(user, OnBehalf) or ADMIN in roles or roles.intersection(transition.roles) or (
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

    def done_message(self, name) -> str:
        """What the person is told once their transition went through: "Vous avez validé
        cette réservation." (from its `done`), else the action's name."""
        transition = self.transition(name)
        if transition.done:
            return gettext("You have %(done)s.", done=transition.done)
        return gettext("Done: %(action)s.", action=transition.label)

    def nothing_offered(self, item) -> str:
        """Why a row offers no action to this person: its state is final, or what can
        happen from it is for others."""
        state = self.state_label(self.state_of(item))
        if self.state_of(item) in self.final_states or not any(
                self.state_of(item) in t.sources for t in self.transitions):
            return gettext("No action: “%(state)s” is final, nothing can change any more.", state=state)
        return gettext("No action for you: what can happen from “%(state)s” is for other people.", state=state)

    def available(self, item, user) -> list:
        """The transitions `user` could fire on `item` now (a comment may still be asked)."""
        state = self.state_of(item)
        return [t for t in self.transitions
                if state in t.sources and self.refusal(item, t.name, user, comment="-") is None]

    def lock(self, item):
        """`item` read again and kept from changing by anyone else until the commit
        (see the module's docstring); returns it."""
        return transactions.lock(item)

    def check(self, item, name, user, comment=""):
        """Lock `item`, then raise the refusal of `name`, if any: what a caller runs
        before writing what goes with the transition (its attachment), so that the
        one who lost a race writes nothing."""
        self.lock(item)
        refusal = self.refusal(item, name, user, comment)
        if refusal is not None:
            raise refusal

    def fire(self, item, name, user, comment="", attachment=None) -> WorkflowEvent:
        """Fire a transition or raise TransitionRefused, leaving everything as it was.

        Exactly one of several people firing at once wins (the module's docstring);
        notifications, and whatever a desk's `fire()` does after this one returns,
        happen for the winner only."""
        self.check(item, name, user, comment)
        transition = self._by_name[name]
        event = self.move(item, name, user, transition.target, comment, attachment)
        if transition.notify is not None:
            message = transition.notify(item, event)
            if message:
                from . import notifications

                recipients, template, context, *rest = message
                options = rest[1] if len(rest) > 1 else {}
                notifications.notify(recipients, template, context, link=rest[0] if rest else None, **options)
        return event

    def move(self, item, kind, user, target, comment=None, attachment=None, changes=None) -> WorkflowEvent:
        """Set the state of `item` to `target` if it is still what was read (the
        compare-and-set), and write the history row `kind`; else raise
        TransitionRefused saying who changed it. `fire()` calls it after its checks;
        a desk calls it (after `lock()`) for a change of state that is not a declared
        transition."""
        model = type(item)
        source = self.state_of(item)
        values = {self.state_attribute: target}
        author = audit.author_id()
        if isinstance(item, Audited) and author is not None:
            values["changed_by_id"] = author
        changed = db.session.execute(
            update(model).where(model.id == item.id, getattr(model, self.state_attribute) == source)
            .values(values).execution_options(synchronize_session=False)).rowcount
        if changed != 1:
            db.session.refresh(item)
            label = self._by_name[kind].label if kind in self._by_name else self.event_labels.get(kind, kind)
            message = gettext("“%(action)s” is not possible from the state “%(state)s”.",
                              action=label, state=self.state_label(self.state_of(item)))
            raise TransitionRefused(None, " ".join(filter(None, [message, self.already(item)])))
        set_committed_value(item, self.state_attribute, target)
        if isinstance(item, Audited):
            db.session.expire(item, ["changed_on", "changed_by_id"])
        return self.record(item, kind, user, comment, attachment, from_state=source, to_state=target,
                           changes=changes)

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
            except Refused as refusal:
                db.session.rollback()
                refused.append((item, str(refusal)))
        return fired, refused

    def last_change(self, item, kinds=None) -> Optional[WorkflowEvent]:
        """The latest history row of `item` that changed its state, or the latest of
        the events `kinds` (names) when given."""
        query = db.session.query(WorkflowEvent).filter_by(object_type=self.object_type, object_id=item.id)
        if kinds:
            query = query.filter(WorkflowEvent.transition.in_(list(kinds)))
        else:
            query = query.filter(WorkflowEvent.from_state != WorkflowEvent.to_state)
        return query.order_by(WorkflowEvent.happened_on.desc(), WorkflowEvent.id.desc()).first()

    def already(self, item, kinds=None) -> str:
        """Who did what to `item`, and when: "Julien Mercier already validated this
        booking on 01/12/2026 at 10:03." for its last change of state (or the last
        of the events `kinds`), from the history; "" if the history has none."""
        event = self.last_change(item, kinds)
        if event is None:
            return ""
        actor = event.actor.get_full_name() if event.actor is not None else gettext("Someone")
        # A UTC moment: Flask-Babel shows it in TIMEZONE (app.platform.clock).
        day, moment = format_date(event.happened_on, "short"), format_time(event.happened_on, "short")
        transition = self._by_name.get(event.transition)
        if transition is not None and transition.done:
            return gettext("%(actor)s already %(done)s on %(day)s at %(time)s.",
                           actor=actor, done=transition.done, day=day, time=moment)
        return gettext("Already done by %(actor)s on %(day)s at %(time)s: “%(event)s”.",
                       actor=actor, day=day, time=moment, event=self.event_label(event))

    def record(self, item, kind, user, comment=None, attachment=None, from_state=None,
               to_state=None, changes=None) -> WorkflowEvent:
        """Write a history row of `item`: a transition, or an event `kind` that keeps
        the state (a comment, a change) unless `from_state`/`to_state` say otherwise.

        `changes`: what a change changed, [(field, old, new)] with the values as
        people read them (text); `field_labels` names the fields. A model with an
        `event_count` column counts its history there (in SQL: concurrent events add up)."""
        state = self.state_of(item)
        event = WorkflowEvent(
            object_type=self.object_type, object_id=item.id, transition=kind,
            from_state=(from_state or state).value, to_state=(to_state or state).value,
            comment=(comment or "").strip() or None, actor_id=getattr(user, "id", None),
            attachment_id=getattr(attachment, "id", None), happened_on=utcnow(),
            changes=[[str(name), str(old), str(new)] for name, old, new in changes] if changes else None,
        )
        db.session.add(event)
        if "event_count" in type(item).__mapper__.columns:
            item.event_count = type(item).event_count + 1
        db.session.flush()
        return event

    def history(self, item) -> list:
        return (db.session.query(WorkflowEvent)
                .filter_by(object_type=self.object_type, object_id=item.id)
                .order_by(WorkflowEvent.happened_on, WorkflowEvent.id).all())
