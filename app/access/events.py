"""Desk D, event ticketing: buyers see the events their visibility lets them see and
their own places; an event's admins see it, its configuration and its places at the
level granted to them (to the person, a FAB group they are in, or the board of an
association they sit on); the creator of an event holds "manage" by a grant."""
import functools

from flask_appbuilder.security.sqla.models import User, assoc_user_group
from sqlalchemy import and_, bindparam, event as orm_event, false, or_, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..platform.recent import RecentAnswers
from ..models import (
    AdminLevel,
    Association,
    AssociationMembership,
    CheckIn,
    Event,
    EventAdminGrant,
    EventVisibility,
    ExtraInfo,
    ExtraInfoAnswer,
    Option,
    OptionGroup,
    Payment,
    PersonProfile,
    Reservation,
    School,
    TicketType,
)
from ..security import API_READ, EVENT_ADMIN, EXPORT, READ, USER, Viewer, grant, grants, is_admin, scope, viewer_of
from .platform import payment_scope

# Buyers: the events list and page, the booking form, their places.
BUY = (
    grants("EventView", READ + ("can_home", "can_book", "can_places", "can_drop", "can_answer", "can_ticket"))
    + grants("EventApi", API_READ) + grants("TicketTypeApi", API_READ)
    + grants("ReservationApi", API_READ + ("can_post", "can_delete"))
    + grants("Events", ("menu_access",)) + grants("EventList", ("menu_access",))
    + grants("MyPlaces", ("menu_access",))
    + grants("PaymentGatewayView", ("can_pay",))
)
# Organisers: events they create or were granted, their configuration and places
# (each action checks the level on the event itself, app/rules/events.py).
ORGANISE = (
    grants("EventView", EXPORT + ("can_add", "can_edit", "cancel", "can_configure"))
    + grants("TicketTypeView", READ + EXPORT + ("can_add", "can_edit", "can_delete"))
    + grants("ReservationView", READ + EXPORT + ("mark_paid", "oppose", "can_validate_item", "validate_items",
                                                 "can_give", "delete_prereservations"))
    + grants("ReservationApi", ("can_transition", "can_give", "can_validate_item"))
    + grants("EventApi", ("can_cancel",)) + grants("TicketTypeApi", ("can_post", "can_put", "can_delete"))
    + grants("TicketTypes", ("menu_access",)) + grants("Reservations", ("menu_access",))
    + grants("PaymentAccountView", READ + EXPORT + ("can_add",)) + grants("PaymentView", READ + EXPORT)
    + grants("Payments", ("menu_access",)) + grants("PaymentAccounts", ("menu_access",))
    + grants("PaymentList", ("menu_access",))
)
grant((USER, EVENT_ADMIN), BUY)
grant(EVENT_ADMIN, ORGANISE)

LEVELS_FROM = {level: [other for other in AdminLevel if other.rank >= level.rank] for level in AdminLevel}


def boards_of(viewer: Viewer):
    """The associations whose board the viewer sits on."""
    return _boards_of(viewer.user_id)


def _boards_of(user_id):
    return select(AssociationMembership.association_id).where(
        AssociationMembership.user_id == user_id, AssociationMembership.board_member.is_(True))


def granted_to(viewer: Viewer):
    """Active grants that reach the viewer: theirs, their groups', their boards'."""
    if not viewer.user_id:
        return false()
    return _grants_reaching(viewer.user_id)


def _grants_reaching(user_id):
    """`granted_to` a person's id (a value, or a bind parameter in a statement built once)."""
    groups = select(assoc_user_group.c.group_id).where(assoc_user_group.c.user_id == user_id)
    return and_(EventAdminGrant.revoked_on.is_(None), or_(
        EventAdminGrant.user_id == user_id, EventAdminGrant.group_id.in_(groups),
        EventAdminGrant.board_id.in_(_boards_of(user_id))))


def administered(viewer: Viewer, level: AdminLevel = AdminLevel.view) -> tuple:
    """The ids of the events the viewer holds `level` (or higher) on, in order: a list
    the scopes compare with (`event_id IN (...)`), so the database sees how few rows
    they let through, and reads them by the event's index, instead of a subquery over
    the grants evaluated against each row. Read once per few seconds (every page of
    an organiser asks it), forgotten on writes to the tables it reads."""
    if not viewer.user_id:
        return ()
    return _RECENT_ADMINISTERED.get((viewer.user_id, level), lambda: tuple(db.session.scalars(
        select(EventAdminGrant.event_id).where(_grants_reaching(viewer.user_id),
                                               EventAdminGrant.level.in_(LEVELS_FROM[level]))
        .distinct().order_by(EventAdminGrant.event_id))))


#: Each person's administered events by level (`administered`): the grants, and what
#: removes grants by a cascade (an event, a group deleted), or reaches a person by them.
_RECENT_ADMINISTERED = RecentAnswers((EventAdminGrant.__tablename__, assoc_user_group.name, "ab_group",
                                      AssociationMembership.__tablename__, Event.__tablename__))


def visible_events(viewer: Viewer):
    """What the visibility lets the viewer see, what they administer, where they hold a place."""
    if not viewer.user_id:
        return Event.visibility == EventVisibility.public
    school = select(PersonProfile.school_id).where(PersonProfile.user_id == viewer.user_id).scalar_subquery()
    of_my_school = select(Association.id).where(Association.school_id == school)
    my_associations = select(AssociationMembership.association_id).where(
        AssociationMembership.user_id == viewer.user_id)
    mine = select(Reservation.event_id).where(or_(Reservation.holder_id == viewer.user_id,
                                                  Reservation.sponsor_id == viewer.user_id))
    return or_(
        Event.visibility.in_([EventVisibility.public, EventVisibility.unlisted]),
        and_(Event.visibility == EventVisibility.school, Event.association_id.in_(of_my_school)),
        and_(Event.visibility == EventVisibility.association, Event.association_id.in_(my_associations)),
        Event.id.in_(administered(viewer)),
        Event.id.in_(mine),
    )


def _visible_event_ids(viewer):
    return select(Event.id).where(visible_events(viewer))


def _visible_ticket_type_ids(viewer):
    return select(TicketType.id).where(TicketType.event_id.in_(_visible_event_ids(viewer)))


def visible_reservations(viewer: Viewer):
    """One's own places (and one's guests'), and the places of the events one administers."""
    if not viewer.user_id:
        return false()
    # NULL-safe (a guest's place has no holder, one's own no sponsor): its negation is exact.
    return or_(and_(Reservation.holder_id.isnot(None), Reservation.holder_id == viewer.user_id),
               and_(Reservation.sponsor_id.isnot(None), Reservation.sponsor_id == viewer.user_id),
               Reservation.event_id.in_(administered(viewer)))


def visible_memberships(viewer: Viewer):
    """One's own; a board's members for the board; an association's for its organisation's members."""
    if not viewer.user_id:
        return false()
    criteria = [AssociationMembership.user_id == viewer.user_id,
                AssociationMembership.association_id.in_(boards_of(viewer))]
    if viewer.organisation_ids:
        criteria.append(AssociationMembership.association_id.in_(
            select(Association.id).where(Association.organisation_id.in_(viewer.organisation_ids))))
    return or_(*criteria)


def visible_associations(viewer: Viewer):
    """The associations one belongs to, as a tenant or as a member."""
    if not viewer.user_id:
        return false()
    mine = Association.id.in_(select(AssociationMembership.association_id)
                              .where(AssociationMembership.user_id == viewer.user_id))
    if not viewer.organisation_ids:
        return mine
    return or_(mine, Association.organisation_id.in_(viewer.organisation_ids))


scope(Event, visible_events)
scope(TicketType, lambda viewer: TicketType.event_id.in_(_visible_event_ids(viewer)))
scope(Option, lambda viewer: Option.ticket_type_id.in_(_visible_ticket_type_ids(viewer)))
scope(OptionGroup, lambda viewer: OptionGroup.ticket_type_id.in_(_visible_ticket_type_ids(viewer)))
scope(ExtraInfo, lambda viewer: ExtraInfo.ticket_type_id.in_(_visible_ticket_type_ids(viewer)))
scope(Reservation, visible_reservations)
scope(ExtraInfoAnswer, lambda viewer: ExtraInfoAnswer.reservation_id.in_(
    select(Reservation.id).where(visible_reservations(viewer))))
scope(EventAdminGrant, lambda viewer: EventAdminGrant.event_id.in_(administered(viewer))
      if viewer.user_id else false())
scope(Association, visible_associations)
scope(AssociationMembership, visible_memberships)
scope(PersonProfile, lambda viewer: PersonProfile.user_id == viewer.user_id if viewer.user_id else false())
scope(School, lambda viewer: None)  # the list of schools is no secret


def _highest(levels):
    return max((level for level in levels if level is not None), key=lambda level: level.rank, default=None)


def level_of(user, event):
    """The highest level a person holds on an event (Admin: manage), or None."""
    if user is None or event is None or getattr(event, "id", None) is None:
        return None
    if is_admin(user):
        return AdminLevel.manage
    person_id = viewer_of(user).user_id
    if not person_id:
        return None
    session = db.session
    read = session.info.pop(READ_LEVEL, None)
    if read is not None and read[0] == (person_id, event.id) and not (session.new or session.dirty or session.deleted):
        return read[1]
    return _highest(session.scalars(_level_statements()[0], {"event_id": event.id, "user_id": person_id}))


@functools.cache
def _level_statements():
    """(the levels a person holds on an event; the event with them), built once: a door
    asks for every scan, and building these statements costs more than running them."""
    user_id, event_id = bindparam("user_id"), bindparam("event_id")
    levels = select(EventAdminGrant.level).where(EventAdminGrant.event_id == event_id, _grants_reaching(user_id))
    event_with_levels = (select(Event, EventAdminGrant.level).where(Event.id == event_id).outerjoin(
        EventAdminGrant, and_(EventAdminGrant.event_id == Event.id, _grants_reaching(user_id))))
    return levels, event_with_levels


def staffed_event(user, event_id):
    """The event `event_id` if the person sees it (None: there is none they see), read
    with the levels they hold on it in one query; the next `level_of` of that person on
    it (the rule's check that the view calls at once) is answered from that read.

    An admin of an event sees it (`visible_events`), so the visibility rule is evaluated
    only for someone who holds no level on it — whom the door's rules refuse anyway."""
    person_id = viewer_of(user).user_id
    if not person_id:
        return None
    if is_admin(user):
        return db.session.get(Event, event_id)
    rows = db.session.execute(_level_statements()[1], {"event_id": event_id, "user_id": person_id}).all()
    if not rows:
        return None
    event, held = rows[0][0], _highest(level for _, level in rows)
    if held is None and not sees_event(user, event):
        return None
    db.session.info[READ_LEVEL] = ((person_id, event.id), held)
    return event


#: session.info's key for the level `staffed_event` read: used once, by the next
#: `level_of`, and forgotten as soon as the session writes or its transaction ends.
READ_LEVEL = "guichet_event_level"


def _forget_read_level(session, *_):
    session.info.pop(READ_LEVEL, None)


for _moment in ("after_flush", "after_commit", "after_rollback"):
    if not orm_event.contains(Session, _moment, _forget_read_level):
        orm_event.listen(Session, _moment, _forget_read_level)


def holds(user, event, level: AdminLevel) -> bool:
    """Whether a person holds `level` (or higher) on an event."""
    held = level_of(user, event)
    return held is not None and held.rank >= level.rank


def sees_event(user, event) -> bool:
    """The Python face of `visible_events` on one event; a public or unlisted event is
    seen by all without a query (the shotgun's buyers ask it at once)."""
    if event.visibility is EventVisibility.public or is_admin(user):
        return True
    if event.visibility is EventVisibility.unlisted and getattr(user, "id", None):
        return True
    viewer = viewer_of(user)
    return db.session.query(Event.id).filter(Event.id == event.id, visible_events(viewer)).first() is not None


def is_board_member(user, association) -> bool:
    return db.session.query(AssociationMembership.id).filter_by(
        user_id=user.id, association_id=association.id, board_member=True).first() is not None


# Payments of places (app.platform.payments): seen by whoever sees the place.
payment_scope(Reservation.__tablename__, lambda viewer: Payment.payable_id.in_(
    select(Reservation.id).where(visible_reservations(viewer))))


def organisers(event, level: AdminLevel = AdminLevel.validate) -> list:
    """The people holding `level` (or higher) on an event by a grant: to them, to a group
    they are in, or to a board they sit on."""
    grants_held = select(EventAdminGrant).where(EventAdminGrant.event_id == event.id,
                                                EventAdminGrant.revoked_on.is_(None),
                                                EventAdminGrant.level.in_(LEVELS_FROM[level]))
    user_ids = set()
    for row in db.session.scalars(grants_held):
        if row.user_id:
            user_ids.add(row.user_id)
        elif row.group_id:
            user_ids.update(db.session.scalars(select(assoc_user_group.c.user_id)
                                               .where(assoc_user_group.c.group_id == row.group_id)))
        elif row.board_id:
            user_ids.update(db.session.scalars(select(AssociationMembership.user_id).where(
                AssociationMembership.association_id == row.board_id, AssociationMembership.board_member.is_(True))))
    if not user_ids:
        return []
    return db.session.scalars(select(User).where(User.id.in_(user_ids), User.active.is_(True))
                              .order_by(User.id)).all()


# -- Check-in: the scanner page and its API (each call checks the check-in level on the
# event itself, app/rules/events.py); the entries are seen by the event's admins.
grant(EVENT_ADMIN, grants("CheckInView", ("can_checkin",)) + grants("CheckInApi", API_READ + ("can_post",)))
scope(CheckIn, lambda viewer: CheckIn.event_id.in_(administered(viewer)) if viewer.user_id else false())
