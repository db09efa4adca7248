"""The one clock (newsletter.core.time): stored times are aware UTC, naive means UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.core.time import as_utc, local_now, parse_iso, utcnow, zone


def test_it_reads_naive_times_as_utc_and_converts_aware_ones():
    naive = dt.datetime(2026, 11, 26, 7, 5)
    assert as_utc(naive) == dt.datetime(2026, 11, 26, 7, 5, tzinfo=dt.UTC)
    shanghai = dt.datetime(2026, 11, 26, 15, 5, tzinfo=zone("Asia/Shanghai"))
    assert as_utc(shanghai) == as_utc(naive) and as_utc(shanghai).tzinfo is dt.UTC
    assert utcnow().tzinfo is dt.UTC


def test_it_parses_iso_times_to_utc_and_refuses_anything_else():
    assert parse_iso("2026-11-26T07:05:00+08:00") == dt.datetime(2026, 11, 25, 23, 5,
                                                                 tzinfo=dt.UTC)
    assert parse_iso("2026-11-26") == dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        parse_iso("tomorrow morning")


def test_it_falls_back_to_utc_for_an_unknown_zone():
    moment = dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC)
    assert local_now("Mars/Olympus", moment).utcoffset() == dt.timedelta(0)
    assert local_now(None, moment).hour == 23
    assert local_now("Asia/Shanghai", moment).date() == dt.date(2026, 11, 27)
