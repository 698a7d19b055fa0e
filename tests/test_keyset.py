"""Keyset ("seek") pages of a grid: the next and previous links carry the sort key and
id of the row they follow, so a deep page costs as the first one. A member following
them sees their rows only, each once, in the grid's order, as the numbered (offset)
pages list them; ties on the sort column are broken by id.
"""
import html
import re
from datetime import datetime, timedelta

import pytest

from app.extensions import db
from app.models import DelegationAction, DelegationLog, Organisation, OrganisationKind

from .helpers import login, member

OWN, OTHER = "Organisation du test des pages", "Organisation voisine du test des pages"
PAGE = 7
VIEW = "DelegationLogView"
RIGHTS = ["seek-alpha", "seek-beta", "other"]
SHOW = re.compile(r"/delegation-log/show/(\d+)")
LINK = re.compile(r'<a href="([^"#]+)" rel="(first|prev|next|last)"')


@pytest.fixture(scope="module")
def rows(app):
    """93 entries of the member's organisation and 40 of another, with few distinct
    dates, actions and rights (many ties), some with no object type; removed after."""
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("SeekReader") or sm.add_role("SeekReader")
        for permission in ("can_list", "can_show"):
            sm.add_permission_role(role, sm.find_permission_view_menu(permission, VIEW))
        ids = {}
        for name in (OWN, OTHER):
            organisation = Organisation(name=name, kind=OrganisationKind.member, city="Lyon")
            db.session.add(organisation)
            db.session.flush()
            ids[name] = organisation.id
        member("seeker", OWN, role="SeekReader")
        start = datetime(2025, 3, 1, 9, 0)
        entries = [
            DelegationLog(happened_on=start + timedelta(hours=i % 5), action=list(DelegationAction)[i % 2],
                          right=RIGHTS[i % 3], object_type=[None, "event", "room"][i % 3 if i % 4 else 0],
                          organisation_id=ids[OWN if i % 10 < 7 else OTHER])
            for i in range(133)]
        db.session.add_all(entries)
        db.session.commit()
        own = [(e.id, e.happened_on, e.action.name, e.right) for e in entries if e.organisation_id == ids[OWN]]
        yield own
        db.session.query(DelegationLog).filter(DelegationLog.organisation_id.in_(ids.values())).delete()
        db.session.query(Organisation).filter(Organisation.id.in_(ids.values())).delete()
        db.session.commit()


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    body = response.get_data(as_text=True)
    links = {rel: html.unescape(href) for href, rel in LINK.findall(body)}
    return [int(pk) for pk in dict.fromkeys(SHOW.findall(body))], links


def _walk(client, url, rel):
    pages = []
    while url:
        shown, links = _page(client, url)
        pages.append(shown)
        url = links.get(rel)
        assert len(pages) < 50, "the links go round in circles"
    return pages


ORDERS = [
    ("", lambda row: (row[1], row[0]), True),  # the grid's base order: date, newest first
    (f"_oc_{VIEW}=action&_od_{VIEW}=asc", lambda row: (row[2], row[0]), False),
    (f"_oc_{VIEW}=right&_od_{VIEW}=desc", lambda row: (row[3], row[0]), True),
]


@pytest.mark.parametrize("order, key, reverse", ORDERS)
def test_a_member_following_keyset_links_sees_each_of_their_rows_once_in_order(app, rows, order, key, reverse):
    client = login(app.test_client(), "seeker")
    base = f"/delegation-log/list/?psize_{VIEW}={PAGE}" + (f"&{order}" if order else "")
    expected = [row[0] for row in sorted(rows, key=key, reverse=reverse)]

    forward = _walk(client, base, "next")
    assert [pk for page in forward for pk in page] == expected
    assert all(len(page) == PAGE for page in forward[:-1])

    by_offset = [_page(client, f"{base}&page_{VIEW}={number}")[0] for number in range(len(forward))]
    assert by_offset == forward

    _, links = _page(client, f"{base}&page_{VIEW}={len(forward) - 1}")
    backward = _walk(client, links["prev"], "prev")
    assert backward[::-1] == forward[:-1]


def test_keyset_links_keep_the_filters_and_carry_the_key_not_the_offset(app, rows):
    client = login(app.test_client(), "seeker")
    base = f"/delegation-log/list/?psize_{VIEW}={PAGE}&_flt_2_right=seek-"
    pages = _walk(client, base, "next")
    expected = [row[0] for row in sorted(rows, key=lambda row: (row[1], row[0]), reverse=True)
                if row[3].startswith("seek-")]
    assert [pk for page in pages for pk in page] == expected

    _, links = _page(client, f"{base}&page_{VIEW}=3")
    assert f"after_{VIEW}=" in links["next"] and "_flt_2_right=seek-" in links["next"]
    assert f"before_{VIEW}=" in links["prev"]


def test_a_keyset_link_of_another_sort_opens_the_page_at_its_offset(app, rows):
    client = login(app.test_client(), "seeker")
    base = f"/delegation-log/list/?psize_{VIEW}={PAGE}"
    _, links = _page(client, f"{base}&page_{VIEW}=2")
    resorted = links["next"] + f"&_oc_{VIEW}=right&_od_{VIEW}=asc"
    assert _page(client, resorted)[0] == _page(client, f"{base}&_oc_{VIEW}=right&_od_{VIEW}=asc&page_{VIEW}=3")[0]


@pytest.mark.parametrize("token", ["nonsense", "WzEsMl0", "WyJoYXBwZW5lZF9vbiIsImRlc2MiLCJ4IiwxXQ"])
def test_a_keyset_link_that_is_none_is_refused_naming_it(app, rows, token):
    response = login(app.test_client(), "seeker").get(f"/delegation-log/list/?after_{VIEW}={token}")
    assert response.status_code == 400 and f"after_{VIEW}" in response.get_data(as_text=True)


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_keyset_pages_place_empty_values_where_the_offset_pages_do(app, rows, direction):
    """object_type is empty on some rows: the keyset pages cross from values to NULLs
    (and back) as the database orders them."""
    with app.app_context():
        datamodel = next(view.datamodel for view in app.appbuilder.baseviews if type(view).__name__ == VIEW)
        seen, page, seek = [], datamodel.grid_page(None, "object_type", direction, 0, PAGE), None
        while True:
            seen.append([row.id for row in page.rows])
            if not page.more:
                break
            seek = ("after", page.key(page.rows[-1]))
            page = datamodel.grid_page(None, "object_type", direction, page.page + 1, PAGE, seek)
        offsets = [[row.id for row in datamodel.grid_page(None, "object_type", direction, n, PAGE).rows]
                   for n in range(len(seen))]
        assert seen == offsets and len({pk for ids in seen for pk in ids}) == sum(map(len, seen))
        types = [row.object_type for n in range(len(seen))
                 for row in datamodel.grid_page(None, "object_type", direction, n, PAGE).rows]
        assert None in types and "room" in types
