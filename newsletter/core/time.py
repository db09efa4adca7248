"""The one clock and the one way to read a stored time: every stage takes its times from here.

Stored times are aware UTC (SQLModel's UTCDateTime columns refuse naive ones), but drivers,
the CLI's `--now` and tests hand back or pass in naive values too; `as_utc` is the single
rule for those: naive means UTC. Time zones of subscribers are read through `zone`, which
never raises: a bad zone name must not stop a tick or a send, and UTC is the form's default.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["as_utc", "local_now", "parse_iso", "utcnow", "zone"]


def utcnow() -> dt.datetime:
    """Aware UTC now: the one wall clock (tests freeze or pass `now` instead)."""
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Aware UTC, as stored; a naive value (a driver's, a CLI --now, a test's) is UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def parse_iso(value: str) -> dt.datetime:
    """An ISO 8601 date/time as aware UTC (naive means UTC); ValueError if it is not one."""
    return as_utc(dt.datetime.fromisoformat(value))


@lru_cache(maxsize=1024)
def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone, or UTC for a missing or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_now(zone_name: str | None, now: dt.datetime | None = None) -> dt.datetime:
    """`now` (default: the clock) on the wall clock of `zone_name`."""
    return as_utc(now or utcnow()).astimezone(zone(zone_name))
