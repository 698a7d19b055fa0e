"""Job functions for the tests: importable by name, so an RQ worker process can run them."""
from app.extensions import db
from app.models import Organisation, OrganisationKind

CALLS = []  # in-process runs: (name, what the job saw)


def record(name):
    """Record a call and whether the job's session sees the organisation `name`."""
    seen = db.session.query(Organisation).filter_by(name=name).first() is not None
    CALLS.append((name, seen))


def create_organisation(name):
    """Write an audited row, as whoever the job runs for."""
    db.session.add(Organisation(name=name, kind=OrganisationKind.member, city="Lyon"))
    db.session.commit()
