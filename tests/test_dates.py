"""Dates as people read them: UTC moments (created_on, history, feed) in Europe/Paris,
local wall-clock times (a session's start) as they were typed, both in the reader's
locale, in grids, detail pages, history, the extranet and exports."""
import csv
import io
import re
from datetime import datetime

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.models import (
    Booking,
    Notification,
    ProjectTicket,
    ProjectTicketComment,
    ProjectTicketState,
    WorkflowEvent,
)
from flask_appbuilder.security.sqla.models import User

MOMENT = datetime(2026, 7, 1, 12, 0)  # UTC; 14:00 in Paris (summer time)
WINTER = datetime(2026, 12, 2, 23, 30)  # UTC; 00:30 the next day in Paris
SHOWN = {"fr": "01/07/2026 14:00", "en": "7/1/26, 2:00\u202fPM"}
REFERENCE = "TZ0701A"


def _csv(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True)[1:]), delimiter=";"))


def _sheet(response):
    return [list(row) for row in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)]


@pytest.fixture()
def summer_ticket(app):
    """A ticket created, commented and assigned at MOMENT, and a feed entry of that moment."""
    with app.app_context():
        model = db.session.query(ProjectTicket).order_by(ProjectTicket.id).first()
        admin = db.session.query(User).filter_by(username="admin").one()
        ticket = ProjectTicket(reference=REFERENCE, project_id=model.project_id, title="Fuseau horaire",
                               organisation_id=model.organisation_id, declarant_id=model.declarant_id,
                               state=ProjectTicketState.assigned, created_on=MOMENT, changed_on=MOMENT)
        db.session.add(ticket)
        db.session.flush()
        comment = ProjectTicketComment(ticket_id=ticket.id, created_on=MOMENT, state=ticket.state,
                                       author_id=admin.id, text="Commentaire estival")
        event = WorkflowEvent(object_type=ProjectTicket.__tablename__, object_id=ticket.id, transition="assign",
                              from_state="new", to_state="assigned", actor_id=admin.id, happened_on=WINTER)
        feed = Notification(user_id=admin.id, template="test", title="Notification estivale", created_on=MOMENT,
                            changed_on=MOMENT)
        db.session.add_all([comment, event, feed])
        db.session.commit()
        rows = (ticket.id, comment.id, event.id, feed.id)
    yield rows[0]
    with app.app_context():
        db.session.query(Notification).filter_by(id=rows[3]).delete()
        db.session.query(WorkflowEvent).filter_by(id=rows[2]).delete()
        db.session.query(ProjectTicketComment).filter_by(id=rows[1]).delete()
        db.session.query(ProjectTicket).filter_by(id=rows[0]).delete()
        db.session.commit()


def _equal_to(app, grid, column, value, kind="FilterEqual"):
    """The query string of a grid's filter "`column` equal to `value`" (or another `kind`)."""
    view = next(v for v in app.appbuilder.baseviews if getattr(v, "route_base", None) == grid
                and hasattr(v, "_filters"))
    position = [type(f).__name__ for f in view._filters.get_search_filters()[column]].index(kind)
    return f"_flt_{position}_{column}={value}"


def _ticket_grid(app, client, fmt=None):
    path = f"/tickets/export/{fmt}" if fmt else "/tickets/list/"
    return client.get(f"{path}?{_equal_to(app, '/tickets', 'reference', REFERENCE)}")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_utc_moment_is_shown_in_paris_time_in_the_readers_format(app, speaking, summer_ticket, language):
    client = speaking("admin", language)
    grid = _ticket_grid(app, client).get_data(as_text=True)
    assert REFERENCE in grid and SHOWN[language] in grid
    show = client.get(f"/tickets/show/{summer_ticket}").get_data(as_text=True)
    assert SHOWN[language] in show  # created on
    timeline = show[show.index("guichet-history"):]
    assert {"fr": "03/12/2026 00:30", "en": "12/3/26, 12:30\u202fAM"}[language] in timeline
    extranet = client.get(f"/extranet/ticket/{REFERENCE}").get_data(as_text=True)
    declared = re.search(r'<th>[^<]*</th><td>[^<]*— ([^<]*)</td>', extranet).group(1)
    assert declared == SHOWN[language]
    history = extranet[extranet.index("Commentaire estival") - 400:]
    assert SHOWN[language] in history
    feed = client.get("/notifications/list/").get_data(as_text=True)
    assert SHOWN[language] in feed[feed.index("Notification estivale") - 2000:]


@pytest.mark.parametrize("typed, found", [("2026-07-01 13:30:00", True), ("2026-07-01 14:30:00", False)])
def test_a_grid_filter_reads_the_typed_time_in_paris_time(app, login_as, summer_ticket, typed, found):
    """Created after 13:30 (Paris): the ticket created at 14:00 Paris (12:00 UTC) is found."""
    query = "&".join([_equal_to(app, "/tickets", "reference", REFERENCE),
                      _equal_to(app, "/tickets", "created_on", typed, "FilterGreater")])
    rows = _csv(login_as("admin").get(f"/tickets/export/csv?{query}"))
    assert (len(rows) == 2) is found


def test_exports_write_utc_moments_in_paris_time(app, login_as, summer_ticket):
    client = login_as("admin")
    rows = _csv(_ticket_grid(app, client, "csv"))
    header = "Créé le"
    assert "UTC" not in " ".join(rows[0])
    cells = dict(zip(rows[0], rows[1]))
    assert cells[header] == "2026-07-01 14:00"
    sheet = _sheet(_ticket_grid(app, client, "xlsx"))
    assert dict(zip(sheet[0], sheet[1]))[header] == datetime(2026, 7, 1, 14, 0)


def test_the_slow_export_path_writes_the_same_moments(app, login_as, summer_ticket, monkeypatch):
    """A grid column that is a Python property makes the export read whole objects:
    its moments are converted the same way."""
    from app.platform import exports

    client = login_as("admin")
    fast_csv, fast_sheet = _csv(_ticket_grid(app, client, "csv")), _sheet(_ticket_grid(app, client, "xlsx"))
    monkeypatch.setattr(exports, "_sql_columns", lambda datamodel, query, names: (None, None))
    assert _csv(_ticket_grid(app, client, "csv")) == fast_csv
    assert _sheet(_ticket_grid(app, client, "xlsx")) == fast_sheet
    assert datetime(2026, 7, 1, 14, 0) in fast_sheet[1]


def _a_booking(app):
    with app.app_context():
        booking = db.session.query(Booking).order_by(Booking.id).first()
        return booking.id, booking.reference, booking.start_at, booking.end_at


@pytest.mark.parametrize("slow", [False, True])
def test_a_local_booking_time_is_shown_as_it_was_typed(app, login_as, speaking, monkeypatch, slow):
    from app.platform import exports

    if slow:
        monkeypatch.setattr(exports, "_sql_columns", lambda datamodel, query, names: (None, None))
    pk, reference, start, end = _a_booking(app)
    query = _equal_to(app, "/bookings", "reference", reference)
    client = login_as("vnoc")
    grid = client.get(f"/bookings/list/?{query}").get_data(as_text=True)
    assert start.strftime("%d/%m/%Y %H:%M") in grid and end.strftime("%d/%m/%Y %H:%M") in grid
    show = client.get(f"/bookings/show/{pk}").get_data(as_text=True)
    assert start.strftime("%d/%m/%Y %H:%M") in show
    rows = _csv(client.get(f"/bookings/export/csv?{query}"))
    assert start.strftime("%Y-%m-%d %H:%M") in rows[1] and end.strftime("%Y-%m-%d %H:%M") in rows[1]
    sheet = _sheet(client.get(f"/bookings/export/xlsx?{query}"))
    assert start.replace(second=0, microsecond=0) in sheet[1]
    english = speaking("vnoc", "en").get(f"/bookings/list/?{query}").get_data(as_text=True)
    assert f"{start.month}/{start.day}/{start:%y}, {start:%-I:%M}\u202f{start:%p}" in english


@pytest.mark.parametrize("language", ["fr", "en", "de"])
def test_grids_write_moments_as_babel_does(app, language):
    """The grids' own date writer (app/i18n.short_moment, short_day) prints, for every
    moment, the text of Flask-Babel's format_datetime / format_date: both changes of
    Paris time, years of fewer than four digits, seconds of every minute."""
    from datetime import timedelta

    from flask_babel import force_locale, format_date, format_datetime

    from app.i18n import display_value

    moments = [start + timedelta(minutes=step) for start in (datetime(2026, 3, 29), datetime(2026, 10, 25))
               for step in range(0, 240, 7)]
    moments += [datetime(1, 1, 1, 12), datetime(999, 5, 6, 7, 8), datetime(9999, 12, 31, 20, 59)]
    moments += [datetime(1970, 1, 1) + timedelta(seconds=41 * 3600 * step + step) for step in range(1500)]
    with app.test_request_context(), force_locale(language):
        for moment in moments:
            assert display_value(moment) == format_datetime(moment, "short")
            assert display_value(moment, local_time=True) == format_datetime(moment, "short", rebase=False)
            assert display_value(moment.date()) == format_date(moment.date(), "short")
