"""The local clock (config TIMEZONE, Europe/Paris): people's days start at local
midnight, while the database keeps UTC."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from flask import current_app


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_today():
    return datetime.now(zone()).date()


def start_of_local_day(day=None) -> datetime:
    """Local midnight of `day` (default today) as a naive UTC datetime, to compare with
    the UTC columns."""
    midnight = datetime.combine(day or local_today(), time.min, tzinfo=zone())
    return midnight.astimezone(timezone.utc).replace(tzinfo=None)
