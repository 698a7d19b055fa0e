"""Desk E: an operator's accesses, the lines in service it orders and after-sales
works on (seed 001: "Prestation ID : F00000015", "Libellé de l'offre : MB FTTH Internet
profil 07", "Etat des ressources : OK").

A creation order that is done opens an access (app.rules.operator.orders); a
termination closes it; a box exchange changes its box. e-SAV Test diagnoses an access
and e-SAV Signalisation files incidents on it.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext
from sqlalchemy import Boolean, Column, Date, DateTime, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from ..base import LABELS, Audited, LabelledEnum
from ..platform import Organisation
from . import Building, BuildingLine, Offer

__all__ = ["ResourceState", "RESOURCE_STATE_LABELS", "Access"]


class ResourceState(LabelledEnum):
    """How the network resources behind an access stand ("Etat des ressources")."""

    ok = "ok"
    degraded = "degraded"
    down = "down"


RESOURCE_STATE_LABELS = LABELS[ResourceState] = {
    ResourceState.ok: lazy_gettext("OK"),
    ResourceState.degraded: lazy_gettext("Degraded"),
    ResourceState.down: lazy_gettext("Out of order"),
}


class Access(Audited, Model):
    """One access of an operator's end customer. `prestation_id` is how everyone names
    it (F00000015); `fault` is the network's recorded fault on it, which the network
    simulator (app.rules.operator.diagnostics) reads: None when all is well."""

    __tablename__ = "access"

    id = Column(Integer, primary_key=True)
    prestation_id = Column(String(20), unique=True, nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    building_id = Column(Integer, ForeignKey("building.id", ondelete="RESTRICT"), nullable=False, index=True)
    line_id = Column(Integer, ForeignKey("building_line.id", ondelete="SET NULL"))
    offer_id = Column(Integer, ForeignKey("offer.id", ondelete="RESTRICT"), nullable=False)
    offer_label = Column(String(100), nullable=False)  # "MB FTTH Internet profil 07"
    gtr_option = Column(Boolean, nullable=False, default=False)  # "Option GTR 10 heures HO"
    resource_state = Column(Enum(ResourceState, native_enum=False, length=10, name="resource_state"),
                            nullable=False, default=ResourceState.ok)
    fault = Column(String(30))
    box_model = Column(String(40))
    box_serial = Column(String(40))
    active = Column(Boolean, nullable=False, default=True)
    opened_on = Column(Date)
    closed_on = Column(DateTime)

    organisation = relationship(Organisation)
    building = relationship(Building)
    line = relationship(BuildingLine)
    offer = relationship(Offer)

    def __str__(self):
        return self.prestation_id
