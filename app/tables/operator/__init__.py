"""Desk E, operator e-services (seed 001, Orange Wholesale France's Espace Opérateurs):
the e-service catalogue, each operator's subscriptions, its accounts and their
entitlements, the digital certificates, and the buildings with their eligibility.

An operator is an `Organisation` of kind operator; its accounts are Guichet users who
are members of it. IMB: identifiant immeuble, a building's national id
(`IMB/77058/X/0218`). INSEE: a commune's code; RIVOLI: a street's code in its commune.
PM / PMT / PBO: the fibre's shared access point, its technical point and the
optical distribution box a dwelling is patched from. Lambert-93: the French
projection (EPSG:2154) the building coordinates come in; WGS84 (EPSG:4326) is GPS's.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import relationship

from ..base import LABELS, Audited, LabelledEnum, utcnow
from ..platform import Organisation, StoredFile

__all__ = [
    "EServiceGroup", "ESERVICE_GROUP_LABELS", "EService", "OperatorSubscription",
    "OperatorAccount", "Entitlement", "CertificateEnvironment", "CERTIFICATE_ENVIRONMENT_LABELS",
    "Certificate", "CertificateDownload", "CertificateAlert", "BuildingState",
    "BUILDING_STATE_LABELS", "Building", "BuildingStructure", "BuildingLine", "Offer",
    "EligibilityRule",
]


# ---------------------------------------------------------------------------
# E-services, subscriptions, accounts and entitlements ("Gestion des droits")
# ---------------------------------------------------------------------------


class EServiceGroup(LabelledEnum):
    """The catalogue's columns on the seed's rights screen."""

    pre_sales = "pre_sales"
    orders = "orders"
    after_sales = "after_sales"
    documents = "documents"


ESERVICE_GROUP_LABELS = LABELS[EServiceGroup] = {
    EServiceGroup.pre_sales: lazy_gettext("Pre-sales"),
    EServiceGroup.orders: lazy_gettext("Order management"),
    EServiceGroup.after_sales: lazy_gettext("After-sales"),
    EServiceGroup.documents: lazy_gettext("Document area"),
}


class EService(Model):
    """One e-service of the catalogue. `code` is how the code names it (the gate of
    each desk E screen asks for a code); `name` is how operators know it."""

    __tablename__ = "eservice"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(100), unique=True, nullable=False)
    category = Column(Enum(EServiceGroup, native_enum=False, length=20, name="eservice_group"), nullable=False)
    position = Column(Integer, nullable=False, default=0)

    def __str__(self):
        return self.name


class OperatorSubscription(Audited, Model):
    """An operator subscribes to an e-service: only then may its accounts be given it."""

    __tablename__ = "operator_subscription"
    __table_args__ = (UniqueConstraint("organisation_id", "eservice_id"),)

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    eservice_id = Column(Integer, ForeignKey("eservice.id", ondelete="CASCADE"), nullable=False)

    organisation = relationship(Organisation)
    eservice = relationship(EService)


class OperatorAccount(Audited, Model):
    """What desk E knows of an operator's account beyond the user: its phones (a fixed
    or a mobile one, at least one) and the operator it was created for."""

    __tablename__ = "operator_account"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, unique=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    fixed_phone = Column(String(20))
    mobile_phone = Column(String(20))

    user = relationship(User, foreign_keys=[user_id])
    organisation = relationship(Organisation)

    def __str__(self):
        return str(self.user)


class Entitlement(Model):
    """An account may use an e-service of its operator: one tick on the rights screen."""

    __tablename__ = "entitlement"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "eservice_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    eservice_id = Column(Integer, ForeignKey("eservice.id", ondelete="CASCADE"), nullable=False)
    granted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    granted_on = Column(DateTime, default=utcnow, nullable=False)

    user = relationship(User, foreign_keys=[user_id])
    organisation = relationship(Organisation)
    eservice = relationship(EService)
    granted_by = relationship(User, foreign_keys=[granted_by_id])


# ---------------------------------------------------------------------------
# Certificates ("Mes certificats numériques")
# ---------------------------------------------------------------------------


class CertificateEnvironment(LabelledEnum):
    production = "production"
    non_production = "non_production"


CERTIFICATE_ENVIRONMENT_LABELS = LABELS[CertificateEnvironment] = {
    CertificateEnvironment.production: lazy_gettext("Production"),
    CertificateEnvironment.non_production: lazy_gettext("Non-production"),
}


class Certificate(Audited, Model):
    """A digital certificate that lets an operator's machines use an e-service in one
    environment. A newer one for the same operator, e-service and environment renews it."""

    __tablename__ = "certificate"
    __table_args__ = (
        Index("ix_certificate_renewal", "organisation_id", "eservice_id", "environment", "expires_on"),
        Index("ix_certificate_expires_on", "expires_on"),
    )

    id = Column(Integer, primary_key=True)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    eservice_id = Column(Integer, ForeignKey("eservice.id", ondelete="RESTRICT"), nullable=False)
    environment = Column(Enum(CertificateEnvironment, native_enum=False, length=20,
                              name="certificate_environment"), nullable=False)
    label = Column(String(150), nullable=False)
    published_on = Column(Date, nullable=False)
    expires_on = Column(Date, nullable=False)
    file_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL"))
    fingerprint = Column(String(100))  # SHA-256 of the certificate, as `AB:CD:…`

    organisation = relationship(Organisation)
    eservice = relationship(EService)
    file = relationship(StoredFile, foreign_keys=[file_id])

    def __str__(self):
        return self.label


class CertificateDownload(Model):
    """One download of a certificate: who and when (as often as wanted, each recorded)."""

    __tablename__ = "certificate_download"

    id = Column(Integer, primary_key=True)
    certificate_id = Column(Integer, ForeignKey("certificate.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    downloaded_on = Column(DateTime, default=utcnow, nullable=False)

    certificate = relationship(Certificate)
    user = relationship(User)


class CertificateAlert(Model):
    """An expiry alert sent for a certificate at a threshold (days before expiry; 0 once
    expired). Unique per certificate and threshold: the sweep inserts before it mails,
    so two sweeps at once send one mail. `skipped`: the threshold was crossed together
    with a nearer one, whose alert went instead; this one is never sent."""

    __tablename__ = "certificate_alert"
    __table_args__ = (UniqueConstraint("certificate_id", "threshold"),)

    id = Column(Integer, primary_key=True)
    certificate_id = Column(Integer, ForeignKey("certificate.id", ondelete="CASCADE"), nullable=False)
    threshold = Column(Integer, nullable=False)
    sent_on = Column(DateTime, default=utcnow, nullable=False)
    skipped = Column(Boolean, nullable=False, default=False, server_default=false())

    certificate = relationship(Certificate)


# ---------------------------------------------------------------------------
# Buildings, offers and eligibility
# ---------------------------------------------------------------------------


class BuildingState(LabelledEnum):
    """Where a building's fibre deployment stands; only a building made available
    (`available`, "Mis à disposition") can be connected."""

    target = "target"
    signed = "signed"
    deploying = "deploying"
    available = "available"
    abandoned = "abandoned"


BUILDING_STATE_LABELS = LABELS[BuildingState] = {
    BuildingState.target: lazy_gettext("Target"),
    BuildingState.signed: lazy_gettext("Signed"),
    BuildingState.deploying: lazy_gettext("Being deployed"),
    BuildingState.available: lazy_gettext("Made available"),
    BuildingState.abandoned: lazy_gettext("Abandoned"),
}


class Building(Model):
    """A building of the seed's "Détails de l'immeuble". `address_key` is the address
    normalised for search (app.rules.operator), indexed by trigrams on PostgreSQL."""

    __tablename__ = "building"
    __table_args__ = (
        Index("ix_building_l93", "x_l93", "y_l93"),
        Index("ix_building_address_key_trgm", "address_key", postgresql_using="gin",
              postgresql_ops={"address_key": "gin_trgm_ops"}),
        Index("ix_building_street", "insee_code", "rivoli_code", "street_number"),
    )

    id = Column(Integer, primary_key=True)
    imb_id = Column(String(30), unique=True, nullable=False)
    state = Column(Enum(BuildingState, native_enum=False, length=20, name="building_state"), nullable=False,
                   default=BuildingState.target)
    oi_code = Column(String(10))  # the building operator ("opérateur d'immeuble")
    building_name = Column(String(50))
    extra_info = Column(String(200))
    street_number = Column(Integer)
    number_suffix = Column(String(10))  # bis, ter, quater…
    street_name = Column(String(150), nullable=False)
    postcode = Column(String(5))
    commune = Column(String(100), nullable=False)
    insee_code = Column(String(5), nullable=False)
    rivoli_code = Column(String(4))
    address_key = Column(String(300), nullable=False)
    x_l93 = Column(Float, nullable=False)
    y_l93 = Column(Float, nullable=False)
    longitude = Column(Float, nullable=False)
    latitude = Column(Float, nullable=False)
    dwellings = Column(Integer, nullable=False, default=1)
    access_acceptance_from = Column(Date)
    access_supply_from = Column(Date)

    structures = relationship("BuildingStructure", back_populates="building", cascade="all, delete-orphan",
                              order_by="BuildingStructure.id")
    lines = relationship("BuildingLine", back_populates="building", cascade="all, delete-orphan",
                         order_by="BuildingLine.id")

    def __str__(self):
        return self.imb_id


class BuildingStructure(Model):
    """One row of the building's structure table (floor, PM, PMT, PBO…)."""

    __tablename__ = "building_structure"

    id = Column(Integer, primary_key=True)
    building_id = Column(Integer, ForeignKey("building.id", ondelete="CASCADE"), nullable=False, index=True)
    floor = Column(String(20))
    pm_ref = Column(String(40))
    pmt_ref = Column(String(40))
    pbo_ref = Column(String(40))
    pbo_type = Column(String(40))
    location_type = Column(String(40))
    patching_type = Column(String(40))
    works_nature = Column(String(40))
    pm_prdm_link = Column(String(60))
    ftth_premises = Column(Integer)

    building = relationship(Building, back_populates="structures")


class BuildingLine(Model):
    """An existing line of a building, found by its number (ND, "numéro de désignation")."""

    __tablename__ = "building_line"

    id = Column(Integer, primary_key=True)
    building_id = Column(Integer, ForeignKey("building.id", ondelete="CASCADE"), nullable=False, index=True)
    line_number = Column(String(20), unique=True, nullable=False)
    floor = Column(String(20))
    active = Column(Boolean, nullable=False, default=True)

    building = relationship(Building, back_populates="lines")

    def __str__(self):
        return self.line_number


class Offer(Model):
    """A wholesale offer an address may be eligible to (Just Fibre, Optimum PM…)."""

    __tablename__ = "offer"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    technology = Column(String(20), nullable=False)  # fibre, copper
    position = Column(Integer, nullable=False, default=0)

    rules = relationship("EligibilityRule", back_populates="offer", cascade="all, delete-orphan",
                         order_by="EligibilityRule.position")

    def __str__(self):
        return self.name


class EligibilityRule(Model):
    """One condition of an offer, checked on a building (app.rules.operator reads
    `kind`, e.g. `building_state` with `value` "available" or `min_dwellings` with
    "1"); a building failing it is not eligible, for the rule's reason."""

    __tablename__ = "eligibility_rule"

    id = Column(Integer, primary_key=True)
    offer_id = Column(Integer, ForeignKey("offer.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(30), nullable=False)
    value = Column(String(200), nullable=False, default="")
    position = Column(Integer, nullable=False, default=0)

    offer = relationship(Offer, back_populates="rules")


# The records of desk E's other parts, one module each.
from . import accesses, aftersales, appointments, orders  # noqa: E402
from .accesses import *  # noqa: E402,F401,F403
from .aftersales import *  # noqa: E402,F401,F403
from .appointments import *  # noqa: E402,F401,F403
from .orders import *  # noqa: E402,F401,F403

__all__ += accesses.__all__ + appointments.__all__ + aftersales.__all__ + orders.__all__
