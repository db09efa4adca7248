"""arXiv's announcement calendar: when new papers appear, so quiet mornings send no email.

arXiv releases one mailing Sunday to Thursday at 20:00 US Eastern (none on Friday or Saturday
nights); each mailing is dated the next weekday, and a holiday (kept as data in
`data/arxiv_holidays.toml`) is a mailing date without a mailing. A subscriber's digest covers
the window between their previous send time and this one, so "is there news?" is asked of
that window in absolute time: correct in every zone, whichever side of 20:00 ET it falls.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from newsletter.locale import i18n

DATA = Path(__file__).with_name("data") / "arxiv_holidays.toml"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    release_hour: int
    holidays: frozenset[dt.date]
    years: frozenset[int] = frozenset()  # years whose holidays are listed


@lru_cache(maxsize=4)
def load_calendar(path: Path = DATA) -> Calendar:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    listed = data.get("holidays", {})
    holidays = frozenset(dt.date.fromisoformat(day) for days in listed.values() for day in days)
    return Calendar(ZoneInfo(data.get("timezone", "America/New_York")),
                    int(data.get("release_hour", 20)), holidays, frozenset(map(int, listed)))


@lru_cache(maxsize=16)
def _warn_unlisted(year: int) -> None:
    """Once per process and year: a year without holidays counts every weekday as a release
    day, so an operator must add it to the TOML (arXiv publishes it each December)."""
    log.warning("arXiv holidays for %s are not listed in %s: every Sunday-Thursday counts as a "
                "release day until they are added", year, DATA)


def mailing_date(release_day: dt.date) -> dt.date:
    """The date arXiv prints on the mailing released on the evening of `release_day`."""
    return release_day + dt.timedelta(days=3 if release_day.weekday() == 4 else 1)


def is_release_day(day: dt.date, calendar: Calendar | None = None) -> bool:
    """Whether arXiv releases a mailing on the evening of `day` (Eastern date)."""
    calendar = calendar or load_calendar()
    if calendar.years and mailing_date(day).year not in calendar.years:
        _warn_unlisted(mailing_date(day).year)
    if day.weekday() in (4, 5):  # Friday and Saturday nights: nothing
        return False
    return mailing_date(day) not in calendar.holidays


def releases_between(start: dt.datetime, end: dt.datetime,
                     calendar: Calendar | None = None) -> list[dt.datetime]:
    """Release moments (aware, Eastern) in the half-open window (start, end]."""
    calendar = calendar or load_calendar()
    first = start.astimezone(calendar.tz).date() - dt.timedelta(days=1)
    last = end.astimezone(calendar.tz).date()
    found = []
    day = first
    while day <= last:
        moment = dt.datetime.combine(day, dt.time(calendar.release_hour), calendar.tz)
        if start < moment <= end and is_release_day(day, calendar):
            found.append(moment)
        day += dt.timedelta(days=1)
    return found


def send_moment(local_date: dt.date, tz: str | ZoneInfo, send_hour: int) -> dt.datetime:
    """The subscriber's send time on `local_date` as an aware datetime (DST-gap safe)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    naive = dt.datetime.combine(local_date, dt.time(send_hour))
    # A nonexistent local time (spring-forward gap) normalizes forward via a UTC round trip.
    return naive.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)


def arxiv_has_news(local_date: dt.date, tz: str | ZoneInfo, send_hour: int = 7, *,
                   period_days: int = 1) -> bool:
    """Did arXiv announce anything since this subscriber's previous digest?"""
    end = send_moment(local_date, tz, send_hour)
    start = send_moment(local_date - dt.timedelta(days=period_days), tz, send_hour)
    return bool(releases_between(start, end))


def quiet_reason(local_date: dt.date, tz: str | ZoneInfo, send_hour: int = 7,
                 locale: str | None = i18n.DEFAULT_LOCALE) -> str:
    """Why a morning has no arXiv news: in English for Digest.error (the default), in the
    reader's language for the web archive."""
    calendar = load_calendar()
    tr = i18n.translator(locale)
    end = send_moment(local_date, tz, send_hour).astimezone(calendar.tz)
    eve = end.date() if end.hour >= calendar.release_hour else end.date() - dt.timedelta(days=1)
    if eve.weekday() in (4, 5):
        return tr.gettext("no arXiv announcement: arXiv announces nothing on Friday and "
                          "Saturday nights")
    return tr.gettext("no arXiv announcement: arXiv holiday (%(date)s)",
                      date=mailing_date(eve).isoformat())
