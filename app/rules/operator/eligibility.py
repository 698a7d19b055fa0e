"""Desk E, buildings and eligibility: finding buildings four ways (address, building
id, coordinates, line number) and telling, for each offer, whether a building is
eligible and why not.

Addresses are compared in one normalised form, written once here and used both
when a building's `address_key` is stored and when a search is typed: upper-case
ASCII, no punctuation, abbreviations spelt out (`BD` → `BOULEVARD`, `ST` →
`SAINT`), number suffixes as words (`6B`, `6 bis` → `6 BIS`), articles left out.
On PostgreSQL the key has a trigram index: each word of the search is a
`LIKE '%WORD%'` the index answers (every word must be there), then the matches
are ranked by trigram similarity; a search matching nothing (a typo) is retried
by word similarity. Coordinates are kept in Lambert-93 (EPSG:2154, the buildings'
reference) and WGS84 (EPSG:4326, the maps'); a point is searched in Lambert-93 by
a bounding box on its index, then by exact distance.
"""
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Optional

from flask_babel import format_date, format_decimal, gettext, lazy_gettext as _l
from sqlalchemy import exists, func, select, text
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import Building, BuildingLine, BuildingState, BuildingStructure, EligibilityRule, Offer
from ...platform import clock
from ...platform.recent import RecentAnswers
from ...platform.refusals import Refused
from ...security import apply_scope


class EligibilityRefused(Refused):
    """A search the rules cannot run: the field at fault and why."""


# ---------------------------------------------------------------------------
# Addresses, normalised
# ---------------------------------------------------------------------------

#: Abbreviations of French addresses (street types, titles, saints), spelt out.
ABBREVIATIONS = {
    "BD": "BOULEVARD", "BLD": "BOULEVARD", "BVD": "BOULEVARD", "BOUL": "BOULEVARD", "BOULV": "BOULEVARD",
    "AV": "AVENUE", "AVE": "AVENUE", "AVN": "AVENUE", "R": "RUE", "PL": "PLACE", "CH": "CHEMIN",
    "CHE": "CHEMIN", "CHEM": "CHEMIN", "CHM": "CHEMIN", "IMP": "IMPASSE", "ALL": "ALLEE", "ALLE": "ALLEE",
    "RTE": "ROUTE", "SQ": "SQUARE", "CRS": "COURS", "FG": "FAUBOURG", "FBG": "FAUBOURG", "PASS": "PASSAGE",
    "PROM": "PROMENADE", "RES": "RESIDENCE", "RESID": "RESIDENCE", "LOTISS": "LOTISSEMENT", "HAM": "HAMEAU",
    "CHS": "CHAUSSEE", "MTE": "MONTEE", "SENT": "SENTIER", "TRAV": "TRAVERSE", "VLA": "VILLA",
    "QUA": "QUARTIER", "ST": "SAINT", "STE": "SAINTE", "STS": "SAINTS", "STES": "SAINTES", "GD": "GRAND",
    "GDE": "GRANDE", "DR": "DOCTEUR", "GAL": "GENERAL", "GEN": "GENERAL", "MAL": "MARECHAL",
    "PDT": "PRESIDENT", "CDT": "COMMANDANT", "LT": "LIEUTENANT", "PROF": "PROFESSEUR",
}
#: Words that tell nothing apart (articles, elided `l'` and `d'`): left out of the key.
STOP_WORDS = frozenset({"DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "ET", "AU", "AUX"})
#: A house number's suffix, as written after the number.
SUFFIXES = {"BIS": "BIS", "B": "BIS", "TER": "TER", "T": "TER", "QUATER": "QUATER", "Q": "QUATER",
            "QUINQUIES": "QUINQUIES", "C": "C", "A": "A"}
_NUMBER = re.compile(r"^(\d{1,4})([A-Z]*)$")
_POSTCODE = re.compile(r"^\d{5}$")
_NOT_WORD = re.compile(r"[^A-Z0-9]+")
#: pg_trgm finds a '%word%' pattern through its index only with 3 letters or more.
TRIGRAM_WORD = 3


def _ascii_words(value) -> list:
    """Upper-case ASCII words of a text: accents dropped, punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).upper()
    plain = plain.replace("Œ", "OE").replace("Æ", "AE").replace("ß", "SS")
    return [word for word in _NOT_WORD.split(plain) if word]


def normalise_words(value) -> list:
    """The words of an address as the key writes them (number suffixes included)."""
    words = []
    for word in _ascii_words(value):
        number = _NUMBER.match(word)
        if number and number.group(2) in SUFFIXES and number.group(2):
            words.extend((number.group(1), SUFFIXES[number.group(2)]))
            continue
        if words and words[-1].isdigit() and len(words[-1]) <= 4 and word in SUFFIXES:
            words.append(SUFFIXES[word])
            continue
        word = ABBREVIATIONS.get(word, word)
        if word not in STOP_WORDS:
            words.append(word)
    return words


def normalise(value) -> str:
    """An address (or any part of one) in its normalised form: `6 bis, Bd St-Michel`
    → `6 BIS BOULEVARD SAINT MICHEL`."""
    return " ".join(normalise_words(value))


def address_key(street_number, number_suffix, street_name, postcode, commune) -> str:
    """What `Building.address_key` holds: number, suffix, street, postcode, commune."""
    parts = [str(street_number) if street_number is not None else "", number_suffix or "", street_name or "",
             postcode or "", commune or ""]
    return normalise(" ".join(parts))[:300]


@dataclass
class AddressQuery:
    """A typed address, read: its house number and suffix, its postcode, its words."""

    number: Optional[int]
    suffix: Optional[str]
    postcode: Optional[str]
    words: list
    key: str  # the whole query normalised, to rank the matches against


def read_address(value) -> AddressQuery:
    """The parts of a typed address. The house number is the first word when it is a
    number (a number inside a street's name, "rue du 8 Mai 1945", stays a word)."""
    words = normalise_words(value)
    number = suffix = postcode = None
    rest = []
    for index, word in enumerate(words):
        if index == 0 and word.isdigit() and len(word) <= 4:
            number = int(word)
        elif index == 1 and number is not None and word in SUFFIXES.values():
            suffix = word
        elif _POSTCODE.match(word) and postcode is None:
            postcode = word
        else:
            rest.append(word)
    return AddressQuery(number, suffix, postcode, rest, " ".join(words))


# ---------------------------------------------------------------------------
# Coordinates: Lambert-93 and WGS84
# ---------------------------------------------------------------------------

LAMBERT93, WGS84 = "EPSG:2154", "EPSG:4326"
PROJECTIONS = {"lambert93": LAMBERT93, "wgs84": WGS84}
PROJECTION_LABELS = {"lambert93": _l("RGF93 Lambert-93 (X, Y in metres)"),
                     "wgs84": _l("WGS84 (longitude, latitude in degrees)")}
#: Where Lambert-93 is defined (France, mainland and Corsica), in each projection.
WGS84_BOUNDS = (-9.86, 41.15, 10.38, 51.56)
LAMBERT93_BOUNDS = (-378306.0, 6005281.0, 1320650.0, 7235613.0)
_transformers = threading.local()  # pyproj's transformers are not shared between threads


def _transformer(source, target):
    """pyproj's transformer, built once per process; pyproj imported only then (15 MB
    that every web and worker process would carry otherwise)."""
    cache = _transformers.__dict__.setdefault("cache", {})
    key = (source, target)
    if key not in cache:
        from pyproj import Transformer

        cache[key] = Transformer.from_crs(source, target, always_xy=True)
    return cache[key]


def to_wgs84(xs, ys):
    """Lambert-93 X, Y (numbers or sequences of them) as WGS84 longitude, latitude."""
    return _transformer(LAMBERT93, WGS84).transform(xs, ys)


def to_lambert93(longitudes, latitudes):
    """WGS84 longitude, latitude as Lambert-93 X, Y."""
    return _transformer(WGS84, LAMBERT93).transform(longitudes, latitudes)


# ---------------------------------------------------------------------------
# The four searches
# ---------------------------------------------------------------------------

MODES = ("address", "building", "point", "line")
MAX_ADDRESS_LENGTH = 200
IMB_ID = re.compile(r"^[A-Z0-9][A-Z0-9/_.-]{0,29}$")
LINE_NUMBER = re.compile(r"^[A-Z0-9]{1,20}$")
DEFAULT_RADIUS, MAX_RADIUS = 100, 2000  # metres
#: Trigram word similarity a misspelt address must reach (pg_trgm's default is 0.6).
FUZZY_THRESHOLD = 0.5


@dataclass
class Found:
    """A building a search found, its distance (metres) from the point searched, and
    what the rules read of its structure and lines: read with it by the search (`pm`,
    `line`), else from its structure rows and lines (the building sheet has them)."""

    building: Building
    distance: Optional[float] = None
    pm: Optional[bool] = None
    line: Optional[bool] = None

    @property
    def has_pm(self) -> bool:
        return self.pm if self.pm is not None else any(row.pm_ref for row in self.building.structures)

    @property
    def has_line(self) -> bool:
        return self.line if self.line is not None else any(line.active for line in self.building.lines)


HAS_PM = exists().where(BuildingStructure.building_id == Building.id, BuildingStructure.pm_ref.isnot(None))
HAS_LINE = exists().where(BuildingLine.building_id == Building.id, BuildingLine.active.is_(True))


def _buildings(viewer, *columns):
    """The buildings the viewer may search (everyone entitled to eligibility), each
    with whether it has a PM and an active line (the rules read them), in one query."""
    return apply_scope(db.session.query(Building, HAS_PM.label("pm"), HAS_LINE.label("line"), *columns),
                       Building, viewer)


def _found(row, distance=None) -> Found:
    return Found(row[0], distance, bool(row[1]), bool(row[2]))


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def by_building_id(viewer, value, field_name="building_id") -> list:
    """The building of an IMB id (`IMB/77058/X/0218`; spaces and case do not matter)."""
    wanted = re.sub(r"\s+", "", str(value or "")).upper()
    if not wanted:
        raise EligibilityRefused(field_name, gettext("Building id: this field is required."))
    if not IMB_ID.match(wanted):
        raise EligibilityRefused(field_name, gettext(
            "Building id: up to 30 letters, digits and / _ . - are expected (IMB/77058/X/0218)."))
    row = _buildings(viewer).filter(Building.imb_id == wanted).one_or_none()
    return [_found(row)] if row is not None else []


def by_line(viewer, value, field_name="line_number") -> list:
    """The building of an existing line, by its number (spaces, dots and dashes ignored)."""
    wanted = re.sub(r"[\s.\-]+", "", str(value or "")).upper()
    if not wanted:
        raise EligibilityRefused(field_name, gettext("Line number: this field is required."))
    if not LINE_NUMBER.match(wanted):
        raise EligibilityRefused(field_name, gettext(
            "Line number: up to 20 letters and digits are expected (0160123456)."))
    row = _buildings(viewer).filter(Building.id.in_(
        select(BuildingLine.building_id).where(BuildingLine.line_number == wanted))).one_or_none()
    return [_found(row)] if row is not None else []


def read_number(value, field_name, label):
    """A coordinate or a radius as typed ("678771,23" too): a finite number, or refused."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        typed = str(value or "").strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
        if not typed:
            raise EligibilityRefused(field_name, gettext("%(field)s: this field is required.", field=label))
        try:
            number = float(typed)
        except ValueError:
            raise EligibilityRefused(field_name, gettext("%(field)s: a number is expected.", field=label)) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise EligibilityRefused(field_name, gettext("%(field)s: a number is expected.", field=label))
    return number


def point_in_lambert93(x, y, projection, fields=("x", "y", "projection")):
    """A point typed in either projection, as Lambert-93 (X, Y); refused outside
    the area Lambert-93 covers, naming the field."""
    x_field, y_field, projection_field = fields
    if projection not in PROJECTIONS:
        raise EligibilityRefused(projection_field, gettext(
            "Projection: choose Lambert-93 (EPSG:2154) or WGS84 (EPSG:4326)."))
    if projection == "wgs84":
        longitude = read_number(x, x_field, gettext("Longitude"))
        latitude = read_number(y, y_field, gettext("Latitude"))
        west, south, east, north = WGS84_BOUNDS
        if not west <= longitude <= east:
            raise EligibilityRefused(x_field, gettext(
                "Longitude: between %(min)s and %(max)s degrees is expected (France).", min=format_decimal(west),
                max=format_decimal(east)))
        if not south <= latitude <= north:
            raise EligibilityRefused(y_field, gettext(
                "Latitude: between %(min)s and %(max)s degrees is expected (France).", min=format_decimal(south),
                max=format_decimal(north)))
        return to_lambert93(longitude, latitude)
    x_value = read_number(x, x_field, "X")
    y_value = read_number(y, y_field, "Y")
    west, south, east, north = LAMBERT93_BOUNDS
    if not west <= x_value <= east:
        raise EligibilityRefused(x_field, gettext(
            "X: between %(min)d and %(max)d metres is expected (Lambert-93, France).", min=west, max=east))
    if not south <= y_value <= north:
        raise EligibilityRefused(y_field, gettext(
            "Y: between %(min)d and %(max)d metres is expected (Lambert-93, France).", min=south, max=north))
    return x_value, y_value


def read_radius(value, field_name="radius") -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(DEFAULT_RADIUS)
    radius = read_number(value, field_name, gettext("Radius"))
    if not 1 <= radius <= MAX_RADIUS:
        raise EligibilityRefused(field_name, gettext(
            "Radius: between 1 and %(max)d metres is expected.", max=MAX_RADIUS))
    return radius


def by_point(viewer, x, y, radius, limit) -> list:
    """The buildings within `radius` metres of a Lambert-93 point, nearest first: a
    bounding box read in ix_building_l93, then the exact distance."""
    distance2 = (Building.x_l93 - x) * (Building.x_l93 - x) + (Building.y_l93 - y) * (Building.y_l93 - y)
    rows = (_buildings(viewer, distance2.label("distance2"))
            .filter(Building.x_l93.between(x - radius, x + radius), Building.y_l93.between(y - radius, y + radius),
                    distance2 <= radius * radius)
            .order_by(distance2, Building.id).limit(limit).all())
    return [_found(row, round(row[3] ** 0.5, 1)) for row in rows]


def by_address(viewer, value, limit, field_name="address") -> list:
    """The buildings at a typed address, best match first.

    Every word of the address must be in the building's key (a trigram index
    answers each), with its house number, suffix and postcode when typed. A
    number that the street does not have gives the street's nearest numbers; an
    address that matches nothing (a typo) is looked up by trigram word similarity
    (PostgreSQL)."""
    typed = str(value or "").strip()
    if not typed:
        raise EligibilityRefused(field_name, gettext("Address: this field is required."))
    if len(typed) > MAX_ADDRESS_LENGTH:
        raise EligibilityRefused(field_name, gettext(
            "Address: at most %(max)d characters are expected.", max=MAX_ADDRESS_LENGTH))
    query = read_address(typed)
    searchable = [word for word in query.words if len(word) >= TRIGRAM_WORD]
    if not searchable:
        raise EligibilityRefused(field_name, gettext(
            "Address: type at least the street's name (a word of 3 letters or more)."))
    postgresql = _postgresql()
    if postgresql:
        # The words decide the plan (a rare word: the trigram index); psycopg prepares
        # a query run 5 times, and a generic plan could not tell.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    # The postcode is in the key too: its trigrams narrow the index's answer.
    words = searchable + ([query.postcode] if query.postcode else [])
    base = _buildings(viewer).filter(*[Building.address_key.like(f"%{word}%") for word in words])
    if query.postcode:
        base = base.filter(Building.postcode == query.postcode)
    rank = (func.similarity(Building.address_key, query.key).desc(),) if postgresql else (
        func.length(Building.address_key),)
    if query.number is not None:
        exact = base.filter(Building.street_number == query.number)
        if query.suffix:
            exact = exact.filter(Building.number_suffix == query.suffix)
        found = exact.order_by(*rank, Building.id).limit(limit).all()
        if not found:  # the street without that number: its nearest numbers
            found = base.order_by(func.abs(func.coalesce(Building.street_number, 0) - query.number), *rank,
                                  Building.id).limit(limit).all()
    else:
        found = base.order_by(*rank, Building.id).limit(limit).all()
    if not found and postgresql:
        found = _by_word_similarity(viewer, query, limit)
    return [_found(row) for row in found]


def _by_word_similarity(viewer, query, limit) -> list:
    """A misspelt address: the keys holding most of its trigrams (`<%`, pg_trgm's word
    similarity, through the trigram index)."""
    db.session.execute(text(f"SET LOCAL pg_trgm.word_similarity_threshold = {FUZZY_THRESHOLD}"))
    closeness = func.word_similarity(query.key, Building.address_key)
    matching = Building.address_key.op("%>")(query.key)
    return (_buildings(viewer).filter(matching).order_by(closeness.desc(), Building.id).limit(limit).all())


# ---------------------------------------------------------------------------
# Offers and their eligibility rules
# ---------------------------------------------------------------------------


@dataclass
class Reason:
    """Why a building is not eligible to an offer: the rule's kind and the sentence."""

    code: str
    message: str


@dataclass
class Verdict:
    offer: "OfferTerms"
    reasons: list = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons


def is_connectable(building) -> bool:
    """"RACCORDABLE" on the building sheet: its fibre is made available."""
    return building.state == BuildingState.available


def _values(rule) -> list:
    return [part.strip() for part in (rule.value or "").split(",") if part.strip()]


# Each kind of rule's check: (rule, Found) → None when it holds, else the reason.


def _state_rule(rule, found):
    building = found.building
    allowed = set(_values(rule))
    if building.state.value not in allowed:
        return gettext("building not connectable: state %(state)s", state=str(building.state))
    return None


def _whole(rule):
    try:
        return int((rule.value or "").strip())
    except ValueError:
        return None


def _min_dwellings(rule, found):
    building = found.building
    minimum = _whole(rule)
    if minimum is None:
        return _badly_set(rule)
    if (building.dwellings or 0) < minimum:
        return gettext("fewer than %(min)d dwellings (%(count)d)", min=minimum, count=building.dwellings or 0)
    return None


def _max_dwellings(rule, found):
    building = found.building
    maximum = _whole(rule)
    if maximum is None:
        return _badly_set(rule)
    if (building.dwellings or 0) > maximum:
        return gettext("more than %(max)d dwellings (%(count)d)", max=maximum, count=building.dwellings or 0)
    return None


def _commune_rule(rule, found):
    building = found.building
    if not any(building.insee_code.startswith(prefix) for prefix in _values(rule)):
        return gettext("commune %(commune)s (INSEE %(insee)s) outside the offer's area",
                       commune=building.commune, insee=building.insee_code)
    return None


def _oi_rule(rule, found):
    building = found.building
    if (building.oi_code or "") not in _values(rule):
        return gettext("building operator %(code)s not covered by the offer", code=building.oi_code or "—")
    return None


def _line_rule(rule, found):
    if not found.has_line:
        return gettext("no existing line in the building")
    return None


def _pm_rule(rule, found):
    if not found.has_pm:
        return gettext("no shared access point (PM) recorded for the building")
    return None


def _access_rule(rule, found):
    building = found.building
    if building.access_supply_from is None:
        return gettext("no access supply date yet")
    if building.access_supply_from > clock.local_today():
        return gettext("access supplied from %(date)s", date=format_date(building.access_supply_from, "short"))
    return None


def _badly_set(rule):
    return gettext("condition %(kind)s badly set (%(value)s): not eligible", kind=rule.kind, value=rule.value)


#: EligibilityRule.kind: (what its value holds, its check).
RULE_KINDS = {
    "building_state": (_l("building states allowed, comma-separated (available…)"), _state_rule),
    "min_dwellings": (_l("the least number of dwellings"), _min_dwellings),
    "max_dwellings": (_l("the most number of dwellings"), _max_dwellings),
    "insee_prefix": (_l("INSEE code prefixes of the communes covered, comma-separated (69, 77058…)"),
                     _commune_rule),
    "oi_code": (_l("building operator codes covered, comma-separated"), _oi_rule),
    "requires_line": (_l("an existing line in the building (copper offers)"), _line_rule),
    "requires_pm": (_l("a shared access point (PM) recorded"), _pm_rule),
    "access_open": (_l("access supplied from a date already past"), _access_rule),
}


@dataclass(frozen=True)
class RuleTerms:
    """One condition of an offer, as the checks read it."""

    kind: str
    value: Optional[str]


@dataclass(frozen=True)
class OfferTerms:
    """An offer and its conditions, as read from the catalogue (not an ORM object: it
    is kept between requests)."""

    id: int
    code: str
    name: str
    technology: str
    rules: tuple

    def __str__(self):
        return self.name


#: The catalogue, read once per few seconds: every eligibility answer checks every offer.
_RECENT_OFFERS = RecentAnswers((Offer.__tablename__, EligibilityRule.__tablename__))


def offers() -> tuple:
    """Every offer with its rules, in the catalogue's order."""
    return _RECENT_OFFERS.get("offers", _read_offers)


def _read_offers() -> tuple:
    return tuple(
        OfferTerms(offer.id, offer.code, offer.name, offer.technology,
                   tuple(RuleTerms(rule.kind, rule.value) for rule in offer.rules))
        for offer in db.session.scalars(select(Offer).options(joinedload(Offer.rules))
                                        .order_by(Offer.position, Offer.id)).unique())


def verdicts(building, offer_list) -> list:
    """Each offer's verdict on the building (a Building, or a Found of a search):
    eligible, or every reason it is not (an unknown kind of rule counts as a reason:
    an offer never opens by mistake)."""
    item = building if isinstance(building, Found) else Found(building)
    found = []
    for offer in offer_list:
        reasons = []
        for rule in offer.rules:
            kind = RULE_KINDS.get(rule.kind)
            problem = kind[1](rule, item) if kind else gettext(
                "condition %(kind)s unknown: not eligible", kind=rule.kind)
            if problem:
                reasons.append(Reason(rule.kind, problem))
        found.append(Verdict(offer, reasons))
    return found


def qualify(found, offer_list=None) -> list:
    """[(Found, [Verdict])]: what each building found is eligible to."""
    offer_list = offers() if offer_list is None else offer_list
    return [(item, verdicts(item, offer_list)) for item in found]
