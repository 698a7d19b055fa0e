"""Desk A, visio booking: a member organisation's people book its rooms and keep its
equipment; the VNOC (visio network operations centre) sees every booking,
validates or refuses it and connects participants."""
from sqlalchemy import select

from ..models import Booking, BookingOccurrence, BookingParticipant, Equipment, Room
from ..security import (
    API_READ,
    BOOKER,
    EXPORT,
    READ,
    VNOC,
    Viewer,
    by_organisation,
    grant,
    grants,
    scope,
    sees_every_row,
)

BOOKING = (
    grants("BookingView", READ + EXPORT + ("cancel", "can_report", "can_home"))
    + grants("BookingWizard", ("can_book", "can_equipment"))
    + grants("EquipmentView", READ + EXPORT + ("can_add", "can_edit", "can_delete"))
    + grants("RoomView", READ + EXPORT + ("can_calendar", "can_calendar_events", "can_freebusy"))
    + grants("BookingApi", API_READ + ("can_transition",)) + grants("EquipmentApi", API_READ)
    + grants("RoomApi", API_READ)
    + grants("Visio", ("menu_access",)) + grants("BookSession", ("menu_access",))
    + grants("Bookings", ("menu_access",)) + grants("Equipment", ("menu_access",))
    + grants("Rooms", ("menu_access",)) + grants("UsageReport", ("menu_access",))
    + grants("FreeBusy", ("menu_access",))
)
VNOC_DESK = (
    grants("BookingView", ("validate", "refuse", "can_queue", "can_connections", "can_connection"))
    + grants("RoomView", ("can_add", "can_edit", "can_feed"))
    + grants("VnocQueue", ("menu_access",)) + grants("TodayConnections", ("menu_access",))
)
grant(BOOKER, BOOKING)
grant(VNOC, BOOKING + VNOC_DESK)

# Rows of the viewer's organisations; the VNOC sees them all.
bookings_of_viewer = by_organisation(Booking.organisation_id, sees_all=(VNOC,))


def of_visible_bookings(column):
    def rule(viewer: Viewer):
        criterion = bookings_of_viewer(viewer)
        return None if criterion is None else column.in_(select(Booking.id).where(criterion))

    return rule


scope(Room, by_organisation(Room.organisation_id, sees_all=(VNOC,)))
scope(Equipment, by_organisation(Equipment.organisation_id, sees_all=(VNOC,)))
scope(Booking, bookings_of_viewer)
scope(BookingParticipant, of_visible_bookings(BookingParticipant.booking_id))
scope(BookingOccurrence, of_visible_bookings(BookingOccurrence.booking_id))


def is_vnoc(user) -> bool:
    """The VNOC (and Admin): those whose scope is every booking. They may book sooner
    and outside service hours, validate, refuse and connect participants."""
    return sees_every_row(user, Booking)
