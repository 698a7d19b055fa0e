"""The local clock (config TIMEZONE, Europe/Paris): people's days start at local
midnight, while the database keeps UTC.

Two kinds of naive datetime live in the schema: moments (created_on, happened_on...),
stored in UTC and read in TIMEZONE, and local wall-clock times (a session's start),
stored as people typed them, in columns whose info is LOCAL_TIME (app/tables/base.py).
Flask-Babel's formatting reads TIMEZONE too (BABEL_DEFAULT_TIMEZONE follows it): a
moment is formatted as it is given (`format_datetime(moment)`, `|datetimeformat`), a
local time with `rebase=False`.

It also says which days are worked (`is_working_day`: French public holidays off),
for the desks that count in working days (e-RDV's window, e-SAV's GTR).
"""
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from operator import add
from zoneinfo import ZoneInfo

from flask import current_app
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter, set_value_to_type


@lru_cache(maxsize=16)
def _public_holidays(year) -> frozenset:
    import holidays  # here: its country tables weigh ~3 MB, and few requests count days

    return frozenset(holidays.France(years=year))


def is_working_day(day, weekdays=range(5)) -> bool:
    """Whether `day` is one of `weekdays` (0 Monday … 6 Sunday; Monday to Friday by
    default) and not a French public holiday (the `holidays` package)."""
    return day.weekday() in weekdays and day not in _public_holidays(day.year)


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_today():
    return datetime.now(zone()).date()


def start_of_local_day(day=None) -> datetime:
    """Local midnight of `day` (default today) as a naive UTC datetime, to compare with
    the UTC columns."""
    midnight = datetime.combine(day or local_today(), time.min, tzinfo=zone())
    return midnight.astimezone(timezone.utc).replace(tzinfo=None)


def to_utc(local):
    """A naive local time as the naive UTC datetime the database keeps."""
    return local.replace(tzinfo=zone()).astimezone(timezone.utc).replace(tzinfo=None)


def column_of(model, name):
    """The table column of the attribute `name` of `model` ("relation.column" followed
    through relations), or None (a relation, a Python property)."""
    *path, last = name.split(".")
    mapper = model.__mapper__
    for part in path:
        relation = mapper.relationships.get(part)
        if relation is None:
            return None
        mapper = relation.mapper
    return mapper.columns.get(last)


def is_local_time(column) -> bool:
    """Whether a column (or None, or a column_property's expression) holds local
    wall-clock times rather than UTC moments."""
    return bool((getattr(column, "info", None) or {}).get("local_time"))


class LocalMoments:
    """Converts many naive UTC datetimes to local time fast (an export's column): one
    offset per UTC day, looked up in a dict; the days a zone changes its offset are
    converted value by value."""

    def __init__(self, tz=None):
        self.tz = tz or zone()
        self.offsets = {}

    def _local(self, moment):
        return moment.replace(tzinfo=timezone.utc).astimezone(self.tz)

    def _offset(self, ordinal):
        """The offset of the whole UTC day `ordinal`, or None when it changes that day."""
        start = datetime.fromordinal(ordinal)
        first = self._local(start).utcoffset()
        last = self._local(start + timedelta(days=1, microseconds=-1)).utcoffset()
        offset = self.offsets[ordinal] = first if first == last else None
        return offset

    def one(self, moment):
        if moment is None:
            return None
        ordinal = moment.toordinal()
        offset = self.offsets[ordinal] if ordinal in self.offsets else self._offset(ordinal)
        return self._local(moment).replace(tzinfo=None) if offset is None else moment + offset

    def column(self, moments):
        """[the local time of each naive UTC datetime of `moments`], None kept."""
        try:
            shifts = list(map(self.offsets.__getitem__, map(datetime.toordinal, moments)))
        except (KeyError, TypeError):  # a day not seen yet, or a None
            return list(map(self.one, moments))
        if None in shifts:
            return list(map(self.one, moments))
        return list(map(add, moments, shifts))


class _TypedInLocalTime:
    """A grid filter on a datetime column: people type local time, which a UTC moment
    column is compared with in UTC (a LOCAL_TIME column as typed)."""

    def apply(self, query, value):
        moment = set_value_to_type(self.datamodel, self.column_name, value)
        if isinstance(moment, datetime) and not is_local_time(column_of(self.datamodel.obj, self.column_name)):
            value = to_utc(moment) if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)
        return super().apply(query, value)


class LocalTimeFilters(SQLAFilterConverter):
    """FAB's grid filters, reading the datetimes people type in local time."""

    conversion_table = tuple(
        (kind, [type(f.__name__, (_TypedInLocalTime, f), {}) for f in filters] if kind == "is_datetime" else filters)
        for kind, filters in SQLAFilterConverter.conversion_table)
