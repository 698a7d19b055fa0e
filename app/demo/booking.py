"""Desk A's demo data: two member organisations' rooms, equipment and bookings in
every state (the current week's among them, and a weekly series with a skipped date
and a date cancelled alone), their bookers (`creator`, `creator2`) and the VNOC (`vnoc`)."""
from datetime import datetime, timedelta

from flask import current_app

from ..extensions import db
from ..platform.clock import to_utc
from ..models import (
    Booking,
    BookingKind,
    BookingOccurrence,
    BookingParticipant,
    BookingState,
    Equipment,
    EquipmentKind,
    Recurrence,
    Room,
    RoomKind,
    WorkflowEvent,
    utcnow,
)
from ..rules import booking as rules
from ..security import BOOKER, VNOC
from .platform import domain, ensure_account, organisation

# login, role, first name, last name, organisation
ACCOUNTS = [
    ("vnoc", VNOC, "Julien", "Mercier", "Rectorat de l'académie de Lyon"),
    ("creator", BOOKER, "Sophie", "Lambert", "Rectorat de l'académie de Lyon"),
    ("creator2", BOOKER, "Antoine", "Vidal", "Université Grenoble Alpes"),
]

BOOKING_ORGANISATIONS = {
    "Rectorat de l'académie de Lyon": {
        "creator": "creator",
        "rooms": [("Salle Rotonde", "visio", 12), ("Salle du Conseil", "visio", 24), ("Audioconf 1", "audio", 40)],
        "equipment": [
            ("DSDEN du Rhône — salle 204", "ip", "Marc Dubois", "marc.dubois@ac-lyon.example", "04 72 80 61 20", "10.69.4.21", ""),
            ("Lycée Ampère — kit visio", "ip", "Anne Petit", "anne.petit@ac-lyon.example", "04 78 42 10 33", "10.69.12.8", ""),
            ("Inspection de l'Ain", "isdn", "Paul Garnier", "paul.garnier@ac-lyon.example", "04 74 45 59 00", "", ""),
            ("Portable de Sophie Lambert", "mobile", "Sophie Lambert", "creator@guichet.example", "06 12 34 56 78", "", ""),
        ],
        "sessions": ["Réunion des proviseurs", "Comité de pilotage numérique", "Formation ENT",
                     "Point hebdomadaire DANE", "Commission d'affectation", "Conseil pédagogique"],
    },
    "Université Grenoble Alpes": {
        "creator": "creator2",
        "rooms": [("Amphi Weil — visio", "visio", 80), ("Salle du conseil UGA", "visio", 20), ("Audioconf UGA", "audio", 30)],
        "equipment": [
            ("IUT de Valence — salle B12", "ip", "Élodie Martin", "elodie.martin@uga.example", "04 75 41 88 00", "10.38.2.14", ""),
            ("Campus de Chambéry", "ip", "Yann Leroy", "yann.leroy@uga.example", "04 79 75 85 85", "10.73.1.5", ""),
            ("Pont MCU national", "ip", "Support Renater", "support@renater.example", "01 53 94 20 30", "193.49.159.10", "4412"),
            ("Tablette de Luc Besson", "mobile", "Luc Besson", "luc.besson@uga.example", "06 98 76 54 32", "", ""),
        ],
        "sessions": ["Conseil d'administration", "Soutenance de thèse", "Réunion des doyens",
                     "Séminaire de laboratoire", "Jury de master", "Comité de direction"],
    },
}
# (day offset from today, start, minutes, state): past sessions held or cancelled,
# coming ones pending or validated; today's are validated (today's connections).
BOOKING_PLAN = [
    (-19, "09:00", 90, "validated"), (-18, "14:00", 120, "validated"), (-15, "10:00", 60, "cancelled"),
    (-12, "09:30", 120, "validated"), (-11, "15:00", 60, "refused"), (-8, "11:00", 60, "validated"),
    (-5, "09:00", 180, "validated"), (-4, "14:30", 90, "validated"), (-1, "10:00", 60, "validated"),
    (0, "10:00", 90, "validated"), (0, "14:00", 60, "validated"), (1, "09:00", 60, "pending"),
    (2, "10:30", 90, "validated"), (3, "14:00", 120, "pending"), (6, "09:00", 60, "refused"),
    (8, "11:00", 60, "cancelled"), (9, "14:00", 90, "pending"), (13, "09:30", 120, "validated"),
    (16, "15:00", 60, "pending"), (20, "10:00", 60, "validated"),
]
# The current week, so that the free/busy grid shows something whatever today is:
# (weekday, room index, start, minutes); past days validated, coming ones pending or
# validated. A slot a plan above already holds is left out.
WEEK_PLAN = [(0, 0, "08:30", 60), (0, 1, "11:00", 90), (1, 2, "09:00", 120), (1, 0, "15:30", 90),
             (2, 1, "08:30", 90), (2, 0, "13:30", 60), (3, 2, "10:30", 60), (3, 1, "16:00", 90),
             (4, 0, "09:30", 120), (4, 2, "14:00", 60)]
# The weekly series of each organisation skips its third date (an EXDATE); the
# Rectorat's has its second date cancelled alone.
SERIES_SKIPPED, SERIES_CANCELLED = 2, 1
# The transition that led each demo booking to its state (its history shows it).
DEMO_TRANSITIONS = {BookingState.validated: "validate", BookingState.refused: "refuse",
                    BookingState.cancelled: "cancel"}
ORGANISERS = [("Hélène Brun", "helene.brun@{domain}.example", "04 72 80 60 00"),
              ("Jacques Morel", "jacques.morel@{domain}.example", "04 72 80 60 01"),
              ("Camille Faure", "camille.faure@{domain}.example", "04 76 51 46 00")]


def load():
    """Rooms, equipment and a few weeks of bookings of two member organisations, in every state."""
    for login, role, first, last, org in ACCOUNTS:
        ensure_account(login, role, first, last, [org])


    sm = current_app.appbuilder.sm
    vnoc = sm.find_user(username="vnoc")
    today = rules.local_now().date()
    pad = rules.buffer()
    created = 0
    for org_name, spec in BOOKING_ORGANISATIONS.items():
        org = organisation(org_name)
        creator = sm.find_user(username=spec["creator"])
        rooms = []
        for name, kind, capacity in spec["rooms"]:
            room = db.session.query(Room).filter_by(organisation_id=org.id, name=name).first()
            if room is None:
                room = Room(organisation_id=org.id, name=name, kind=RoomKind(kind), capacity=capacity, active=True)
                db.session.add(room)
            rooms.append(room)
        equipment = []
        for name, kind, contact, email, phone, ip, bridge in spec["equipment"]:
            item = db.session.query(Equipment).filter_by(organisation_id=org.id, name=name).first()
            if item is None:
                item = Equipment(organisation_id=org.id, name=name, kind=EquipmentKind(kind), contact_name=contact,
                                 email=email, phone=phone, ip_address=ip or None, bridge_id=bridge or None)
                db.session.add(item)
            equipment.append(item)
        db.session.flush()
        if db.session.query(Booking).filter_by(organisation_id=org.id).first():
            continue
        mail_domain = domain(org_name)
        monday = today - timedelta(days=today.weekday())
        plans = [(index, (offset, clock, minutes, state), index % len(rooms))
                 for index, (offset, clock, minutes, state) in enumerate(BOOKING_PLAN)]
        plans.append((len(BOOKING_PLAN), (7, "16:00", 60, "validated"), len(BOOKING_PLAN) % len(rooms)))
        for position, (weekday, room_index, clock, minutes) in enumerate(WEEK_PLAN):
            offset = (monday - today).days + weekday
            state = "validated" if offset <= 0 or position % 3 else "pending"
            plans.append((len(BOOKING_PLAN) + 1 + position, (offset, clock, minutes, state), room_index))
        for index, (offset, clock, minutes, state), room_index in plans:
            room = rooms[room_index]
            start = datetime.combine(today + timedelta(days=offset), datetime.strptime(clock, "%H:%M").time())
            end = start + timedelta(minutes=minutes)
            organiser = ORGANISERS[index % len(ORGANISERS)]
            recurring = index == len(BOOKING_PLAN)
            times = rules.occurrence_times(start, end, "weekly" if recurring else None, count=4 if recurring else None)
            if rules.conflicts([room.id], times):
                continue
            state = BookingState(state)
            # Requested (created) three days before the session, but never later than
            # now: no history is dated in the future, nor before its booking.
            requested = utcnow() - timedelta(minutes=(20 if index % 2 else 75)) if state is BookingState.pending \
                else min(to_utc(start) - timedelta(days=3), utcnow() - timedelta(hours=2, minutes=index))
            booking = Booking(
                organisation_id=org.id, creator_id=creator.id, created_by_id=creator.id, created_on=requested,
                kind=BookingKind.audio if room.kind is RoomKind.audio else BookingKind.visio,
                session_name=spec["sessions"][index % len(spec["sessions"])],
                organiser_name=organiser[0], organiser_email=organiser[1].format(domain=mail_domain),
                organiser_phone=organiser[2], start_at=start, end_at=end, state=state, requested_on=requested,
                recurrence=Recurrence.weekly if recurring else None, recurrence_count=4 if recurring else None,
                connection_id=f"70{1500 + index}" if state is BookingState.validated else None,
                connection_url=(f"https://visio.{mail_domain}.example/{1500 + index}"
                                if state is BookingState.validated else None),
                notes="Prévoir un micro supplémentaire." if index % 5 == 0 else None,
            )
            booking.rooms = [room]
            for position, item in enumerate(equipment[index % 3: index % 3 + 2]):
                booking.participants.append(BookingParticipant(
                    equipment=item, name=item.name, kind=item.kind, contact_name=item.contact_name, email=item.email,
                    phone=item.phone, ip_address=item.ip_address, bridge_id=item.bridge_id,
                    vnoc_connects=item.kind is EquipmentKind.ip and position == 0))
            cancelled_alone = None
            for position, (s, e) in enumerate(times):
                if recurring and position == SERIES_SKIPPED:
                    continue
                cancelled = recurring and position == SERIES_CANCELLED and org_name == ACCOUNTS[0][4]
                occurrence = BookingOccurrence(
                    room=room, start_at=s, end_at=e, blocked_from=s - pad, blocked_until=e + pad, planned_start=s,
                    active=state in rules.HOLDING_STATES and not cancelled,
                    cancelled_on=utcnow() - timedelta(hours=1) if cancelled else None)
                booking.occurrences.append(occurrence)
                cancelled_alone = occurrence if cancelled else cancelled_alone
            db.session.add(booking)
            db.session.flush()
            booking.reference = f"{booking.id:05d}"
            if state is not BookingState.pending:
                db.session.add(WorkflowEvent(
                    object_type=Booking.__tablename__, object_id=booking.id, transition=DEMO_TRANSITIONS[state],
                    from_state=BookingState.pending.value, to_state=state.value,
                    actor_id=(creator if state is BookingState.cancelled else vnoc).id,
                    comment="Salle indisponible ce jour-là, rappel effectué." if state is BookingState.refused else None,
                    happened_on=min(requested + timedelta(minutes=25), utcnow())))
            if cancelled_alone is not None:
                db.session.add(WorkflowEvent(
                    object_type=Booking.__tablename__, object_id=booking.id, transition="cancel_occurrence",
                    from_state=state.value, to_state=state.value, actor_id=creator.id,
                    comment="Jour férié dans l'académie.", happened_on=cancelled_alone.cancelled_on,
                    changes=[["sessions", cancelled_alone.start_at.strftime("%d/%m/%Y %H:%M"), "annulée"]]))
            created += 1
    db.session.commit()
    yield f"visio booking: {created} bookings"
