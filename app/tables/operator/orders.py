"""Desk E, e-Just Fibre: an operator's orders (seed 001, "Commandez vos offres Just
Fibre", "Suivi d'une commande Just Fibre", "Tableau de bord").

A creation order asks for a new access at a building's line, on the day of a validated
e-RDV appointment; once done it opens the access. A termination ("Résilier") and a box
exchange ("Échanger la box") are orders on an access already open. The wholesale
operator's back office moves them (app.rules.operator.orders): creation in progress →
failed / done / appointment to reschedule (→ in progress again); termination and box
exchange in progress → awaiting the box's return → done.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext
from sqlalchemy import Boolean, Column, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import relationship

from ..base import LABELS, Audited, LabelledEnum, state_column
from ..platform import Organisation
from . import Building, BuildingLine, Offer
from .accesses import Access
from .appointments import Appointment

__all__ = ["OrderType", "ORDER_TYPE_LABELS", "OrderState", "ORDER_STATE_LABELS", "Order"]


class OrderType(LabelledEnum):
    """The dashboard's rows."""

    creation = "creation"
    termination = "termination"
    box_exchange = "box_exchange"


ORDER_TYPE_LABELS = LABELS[OrderType] = {
    OrderType.creation: lazy_gettext("Creation"),
    OrderType.termination: lazy_gettext("Termination"),
    OrderType.box_exchange: lazy_gettext("Box exchange"),
}


class OrderState(LabelledEnum):
    """The dashboard's columns (which of them a type goes through: ORDER_TYPE_STATES in
    app.rules.operator.orders), and cancelled: withdrawn by the operator before any work."""

    in_progress = "in_progress"
    failed = "failed"
    done = "done"
    appointment_to_reschedule = "appointment_to_reschedule"
    awaiting_box_return = "awaiting_box_return"
    cancelled = "cancelled"


ORDER_STATE_LABELS = LABELS[OrderState] = {
    OrderState.in_progress: lazy_gettext("In progress"),
    OrderState.failed: lazy_gettext("Ended in failure"),
    OrderState.done: lazy_gettext("Completed"),
    OrderState.appointment_to_reschedule: lazy_gettext("Appointment to reschedule"),
    OrderState.awaiting_box_return: lazy_gettext("Awaiting box return"),
    OrderState.cancelled: lazy_gettext("Cancelled"),
}


class Order(Audited, Model):
    """One order of an operator. `reference` is ours (JF00000042), `operator_reference`
    the operator's own; the box goes to the installation address unless
    `delivery_to_installation` is False, then to the `delivery_*` address."""

    __tablename__ = "operator_order"
    __table_args__ = (
        # The dashboard's GROUP BY reads this index alone (an index-only scan).
        Index("ix_operator_order_dashboard", "organisation_id", "order_type", "state"),
        Index("ix_operator_order_access", "access_id"),
        Index("ix_operator_order_appointment", "appointment_id"),  # one order per appointment
        # The grid's order (latest first) in its scope (the operator), by state, its
        # "ordered on" sort; a trigram index for the operator's reference search on PostgreSQL.
        # The scope's index carries the operator's reference: a scoped "contains"
        # search counts its matches from the index alone.
        Index("ix_operator_order_grid_organisation", "organisation_id", "id",
              postgresql_include=["operator_reference"]),
        Index("ix_operator_order_grid_state", "state", "id"),
        Index("ix_operator_order_grid_created", "created_on", "id"),
        Index("ix_operator_order_operator_reference_trgm", "operator_reference", postgresql_using="gin",
              postgresql_ops={"operator_reference": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(20), unique=True, nullable=False)
    operator_reference = Column(String(50), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    order_type = Column(Enum(OrderType, native_enum=False, length=20, name="order_type"), nullable=False)
    state = state_column(OrderState, "order_state", default=OrderState.in_progress, length=30)
    building_id = Column(Integer, ForeignKey("building.id", ondelete="RESTRICT"), nullable=False)
    line_id = Column(Integer, ForeignKey("building_line.id", ondelete="SET NULL"))
    appointment_id = Column(Integer, ForeignKey("appointment.id", ondelete="SET NULL"))
    offer_id = Column(Integer, ForeignKey("offer.id", ondelete="RESTRICT"), nullable=False)
    gtr_option = Column(Boolean, nullable=False, default=False)  # "Option GTR 10 heures HO"
    delivery_to_installation = Column(Boolean, nullable=False, default=True)
    delivery_name = Column(String(100))
    delivery_street = Column(String(150))
    delivery_postcode = Column(String(5))
    delivery_city = Column(String(100))
    access_id = Column(Integer, ForeignKey("access.id", ondelete="SET NULL"))

    organisation = relationship(Organisation)
    building = relationship(Building)
    line = relationship(BuildingLine)
    appointment = relationship(Appointment)
    offer = relationship(Offer)
    access = relationship(Access)

    def __str__(self):
        return self.reference
