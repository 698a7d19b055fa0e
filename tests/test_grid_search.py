"""A grid's search form: its drop-downs of related rows are kept a few seconds per
process, offered only while they are short, and never stale after a write here."""
from app.extensions import db
from app.models import Organisation, OrganisationKind

from .test_tenant_isolation import _offered_options, search_fields


def _room_grid(client):
    return _offered_options(client.get("/rooms/list/").get_data(as_text=True))


def test_a_new_related_row_is_offered_at_once(app, login_as):
    client = login_as("admin")
    assert _room_grid(client)["organisation"]
    with app.app_context():
        added = Organisation(name="Organisation du filtre", kind=OrganisationKind.member)
        db.session.add(added)
        db.session.commit()
        key = str(added.id)
    try:
        assert key in _room_grid(client)["organisation"]
    finally:
        with app.app_context():
            db.session.query(Organisation).filter_by(id=int(key)).delete()
            db.session.commit()
    assert key not in _room_grid(client)["organisation"]


def test_a_long_list_of_related_rows_is_a_text_box(app, login_as, monkeypatch):
    """Past the limit the filter takes the row's number (its id) in a text box."""
    from app.views.base import GuichetSearchWidget

    client = login_as("admin")
    monkeypatch.setattr(GuichetSearchWidget, "relation_choices_limit", 1)
    field = search_fields(client.get("/rooms/list/").get_data(as_text=True))["organisation"]
    assert field == ('<input class="form-control" type="text" inputmode="numeric" id="organisation" '
                     'name="organisation" placeholder="ID">')
