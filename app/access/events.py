"""Desk D, event ticketing: buyers see the events their visibility lets them see and
their own places; an event's admins see it, its configuration and its places at the
level granted to them (to the person, a FAB group they are in, or the board of an
association they sit on); the creator of an event holds "manage" by a grant."""
from flask_appbuilder.security.sqla.models import User, assoc_user_group
from sqlalchemy import and_, false, or_, select

from ..extensions import db
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
    return select(AssociationMembership.association_id).where(
        AssociationMembership.user_id == viewer.user_id, AssociationMembership.board_member.is_(True))


def granted_to(viewer: Viewer):
    """Active grants that reach the viewer: theirs, their groups', their boards'."""
    if not viewer.user_id:
        return false()
    groups = select(assoc_user_group.c.group_id).where(assoc_user_group.c.user_id == viewer.user_id)
    return and_(EventAdminGrant.revoked_on.is_(None), or_(
        EventAdminGrant.user_id == viewer.user_id, EventAdminGrant.group_id.in_(groups),
        EventAdminGrant.board_id.in_(boards_of(viewer))))


def administered(viewer: Viewer, level: AdminLevel = AdminLevel.view):
    """The ids of the events the viewer holds `level` (or higher) on."""
    return select(EventAdminGrant.event_id).where(granted_to(viewer), EventAdminGrant.level.in_(LEVELS_FROM[level]))


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


def level_of(user, event):
    """The highest level a person holds on an event (Admin: manage), or None."""
    if user is None or event is None or getattr(event, "id", None) is None:
        return None
    if is_admin(user):
        return AdminLevel.manage
    viewer = viewer_of(user)
    levels = db.session.scalars(select(EventAdminGrant.level).where(
        EventAdminGrant.event_id == event.id, granted_to(viewer))).all()
    return max(levels, key=lambda level: level.rank, default=None)


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
