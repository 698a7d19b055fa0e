"""A row scope that is an OR of branches (an organiser's places: their own, their
guests', their events' — app/access/events.py) is paged branch by branch, each read
in the grid's order by its own index (ScopedInterface `_branch_rows`): the same rows,
in the same order, as the one query, by offset and by keyset links, for every order
and with filters.
"""
import html
import re

import pytest

from app.access.events import administered
from app.extensions import db
from app.models import Event, Reservation, ReservationState, TicketType
from app.security import EachValue, ScopedInterface, viewer_for

from .helpers import login, user

VIEW = "ReservationView"
SHOW = re.compile(r"/reservations/show/(\d+)")
NEXT = re.compile(r'<a href="([^"#]+)" rel="next"')
PAGE = 4
ORDERS = ["", f"_oc_{VIEW}=id&_od_{VIEW}=asc", f"_oc_{VIEW}=price&_od_{VIEW}=desc",
          f"_oc_{VIEW}=state&_od_{VIEW}=asc", f"_oc_{VIEW}=created_on&_od_{VIEW}=desc"]


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    body = response.get_data(as_text=True)
    following = NEXT.search(body)
    return [int(pk) for pk in dict.fromkeys(SHOW.findall(body))], following and html.unescape(following.group(1))


def _walk(client, url):
    pages = []
    while url:
        shown, url = _page(client, url)
        pages.append(shown)
        assert len(pages) < 100, "the links go round in circles"
    return pages


@pytest.fixture(scope="module")
def own_places(app):
    """The organiser's own place and their guest's in an event they do not administer
    (the scope's other branches), guests enough in it and in events they administer
    for a name search to fill pages, and their own place in an event they administer
    (in two of the scope's terms), removed after."""
    with app.app_context():
        person, other = user("eventadmin"), user("admin")
        ticket_type = db.session.query(TicketType).join(Event).filter(
            Event.id.notin_(administered(viewer_for(person)))).order_by(TicketType.id).first()
        theirs = db.session.query(TicketType).filter(
            TicketType.event_id.in_(administered(viewer_for(person)))).order_by(TicketType.id).limit(3).all()
        places = [Reservation(event_id=ticket_type.event_id, ticket_type_id=ticket_type.id, holder_id=person.id,
                              price=ticket_type.price, state=ReservationState.opposed),
                  Reservation(event_id=ticket_type.event_id, ticket_type_id=ticket_type.id, sponsor_id=person.id,
                              guest_name="Invitée des branches", guest_email="branches@example.org",
                              price=ticket_type.price, state=ReservationState.prereserved)]
        for n, kind in enumerate([ticket_type, *theirs] * 3):
            places.append(Reservation(event_id=kind.event_id, ticket_type_id=kind.id,
                                      sponsor_id=(person if kind is ticket_type else other).id,
                                      guest_name=f"Invité nombreux {n}", guest_email=f"nombreux{n}@example.org",
                                      price=kind.price, state=ReservationState.prereserved))
        # One in two terms of the scope: the organiser's own place in an event they administer.
        places.append(Reservation(event_id=theirs[0].event_id, ticket_type_id=theirs[0].id, holder_id=person.id,
                                  price=theirs[0].price, state=ReservationState.prereserved))
        db.session.add_all(places)
        db.session.commit()
        ids = [place.id for place in places]
        yield ids
        db.session.query(Reservation).filter(Reservation.id.in_(ids)).delete()
        db.session.commit()


@pytest.fixture(autouse=True, params=["a branch per event", "the events in one branch"])
def event_branches(request, monkeypatch):
    """However many events the other tests of this database gave the organiser (past
    GRID_BRANCHES, the scope takes the one query): each event a UNION member, or (on
    PostgreSQL) all of them one branch read event by event (EachValue)."""
    monkeypatch.setattr(ScopedInterface, "GRID_BRANCHES", 10 ** 4)
    monkeypatch.setattr(ScopedInterface, "GRID_LIST_BRANCHES", 10 ** 4 if request.param == "a branch per event" else 1)
    return request.param


@pytest.fixture(autouse=True, params=[2000, 5])
def text_probe(request, monkeypatch):
    """A text search's first look at the scope's first rows: wide enough to find a page
    there, or so narrow that it finds too few and every match in scope is read."""
    monkeypatch.setattr(ScopedInterface, "TEXT_PROBE_ROWS", request.param)
    monkeypatch.setattr(ScopedInterface, "TEXT_PROBE_PARTS", 10 ** 4)  # the organiser's events are many
    return request.param


@pytest.fixture()
def branched(monkeypatch):
    """How many pages were read branch by branch."""
    read = []
    original = ScopedInterface._branch_rows

    def spy(self, *args, **kwargs):
        rows = original(self, *args, **kwargs)
        if rows is not None:
            read.append(len(rows))
        return rows

    monkeypatch.setattr(ScopedInterface, "_branch_rows", spy)
    return read


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("filtered", ["", "_flt_0_state=prereserved", "_flt_0_state=reserved", "_flt_2_guest_name=e",
                                      "_flt_2_guest_name=nombreux", "_flt_2_guest_name=branches"])
def test_an_organiser_pages_their_places_branch_by_branch_as_by_the_one_query(app, own_places, monkeypatch,
                                                                              branched, order, filtered):
    client = login(app.test_client(), "eventadmin")
    base = f"/reservations/list/?psize_{VIEW}={PAGE}" + "".join(f"&{part}" for part in (order, filtered) if part)
    by_links = _walk(client, base)
    by_offset = [_page(client, f"{base}&page_{VIEW}={number}")[0] for number in range(len(by_links))]
    assert branched, "the organiser's scope was not read branch by branch"

    monkeypatch.setattr(ScopedInterface, "GRID_BRANCHES", 0)  # the one query
    branched.clear()
    assert _walk(client, base) == by_links
    assert [_page(client, f"{base}&page_{VIEW}={number}")[0] for number in range(len(by_links))] == by_offset
    assert not branched
    shown = [pk for page in by_links for pk in page]
    assert len(shown) == len(set(shown)) and all(len(page) == PAGE for page in by_links[:-1])
    if not filtered:
        assert set(own_places) <= set(shown)
    with app.app_context():
        assert db.session.query(Reservation).filter(Reservation.id.in_(shown)).count() == len(shown)


def test_an_organiser_counts_their_places_branch_by_branch_as_by_the_one_query(app, own_places, event_branches):
    from flask import g
    from flask_appbuilder.models.sqla.filters import FilterContains, FilterEqual

    view = next(view for view in app.appbuilder.baseviews if type(view).__name__ == VIEW)
    datamodel = view.datamodel
    with app.test_request_context():
        g.user = user("eventadmin")
        branches = datamodel.scope_branches()
        assert branches is not None
        if event_branches == "the events in one branch" and db.engine.dialect.name == "postgresql":
            assert any(isinstance(branch, EachValue) for branch in branches)
        for state in (None, "prereserved", "opposed", "reserved", "guest", "many guests", "rare guest"):
            filters = datamodel.get_filters(["state", "guest_name"])
            if state == "guest":  # a text search
                filters.add_filter("guest_name", FilterContains, "e")
            elif state == "many guests":
                filters.add_filter("guest_name", FilterContains, "nombreux")
            elif state == "rare guest":
                filters.add_filter("guest_name", FilterContains, "branches")
            elif state:
                filters.add_filter("state", FilterEqual, state)
            every = datamodel.exact_count(filters)  # the one query
            assert every > 0
            assert datamodel.bounded_count(filters, limit=10 ** 6) == every
            assert datamodel.has_more_rows_than(every - 1, filters) and not datamodel.has_more_rows_than(every, filters)
