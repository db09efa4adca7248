"""Scheduling: who is due in every time zone, the arXiv calendar, and the claim row."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from newsletter.core import config
from newsletter.core.models import Digest, DigestStatus, Subscriber, SubscriberStatus
from newsletter.scheduling import arxiv_calendar as cal
from newsletter.scheduling import schedule
from tests.factories import make_subscriber

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- the arXiv calendar --------------------------------------------------------------------

def test_it_knows_arxiv_releases_nothing_on_friday_and_saturday_nights():
    assert cal.is_release_day(dt.date(2026, 11, 22))  # Sunday
    assert cal.is_release_day(dt.date(2026, 11, 24))  # Tuesday
    assert not cal.is_release_day(dt.date(2026, 11, 27))  # Friday
    assert not cal.is_release_day(dt.date(2026, 11, 28))  # Saturday


def test_it_dates_a_mailing_on_the_next_weekday():
    assert cal.mailing_date(dt.date(2026, 11, 22)) == dt.date(2026, 11, 23)  # Sunday -> Monday
    assert cal.mailing_date(dt.date(2026, 11, 26)) == dt.date(2026, 11, 27)


def test_it_reads_the_holidays_as_data():
    holidays = cal.load_calendar().holidays
    assert dt.date(2026, 11, 26) in holidays and dt.date(2026, 7, 3) in holidays
    assert len([d for d in holidays if d.year == 2026]) == 9
    assert not cal.is_release_day(dt.date(2026, 11, 25))  # Thanksgiving's mailing is skipped
    assert not cal.is_release_day(dt.date(2026, 9, 6))  # Sunday before Labor Day


@pytest.mark.parametrize(("day", "news"), [
    (dt.date(2026, 11, 24), True),  # Tuesday: Monday evening's mailing
    (dt.date(2026, 11, 26), False),  # Thanksgiving
    (dt.date(2026, 11, 27), True),  # Friday morning: Thursday evening's mailing
    (dt.date(2026, 11, 28), False),  # Saturday
    (dt.date(2026, 11, 29), False),  # Sunday
    (dt.date(2026, 11, 30), True),  # Monday: Sunday evening's mailing
])
def test_it_knows_which_new_york_mornings_have_news(day, news):
    assert cal.arxiv_has_news(day, "America/New_York", 7) is news


def test_it_shifts_the_quiet_mornings_for_zones_ahead_of_new_york():
    # 07:00 in Shanghai is 18:00 the previous day in New York, before that evening's release.
    assert cal.arxiv_has_news(dt.date(2026, 11, 28), "Asia/Shanghai", 7)  # Saturday: Thursday's
    assert not cal.arxiv_has_news(dt.date(2026, 11, 30), "Asia/Shanghai", 7)  # Monday: nothing
    assert cal.arxiv_has_news(dt.date(2026, 12, 1), "Asia/Shanghai", 7)


def test_it_counts_a_week_of_releases_for_weekly_subscribers():
    assert cal.arxiv_has_news(dt.date(2026, 11, 29), "UTC", 7, period_days=7)


def test_it_explains_a_quiet_morning():
    assert "holiday (2026-11-26)" in cal.quiet_reason(dt.date(2026, 11, 26), "America/New_York")
    assert "Friday and Saturday" in cal.quiet_reason(dt.date(2026, 11, 28), "America/New_York")


# --- who is due ------------------------------------------------------------------------------

def due_emails(session, now):
    return {(s.email, d) for s, d in schedule.due_subscribers(session, now)}


def test_it_finds_subscribers_past_their_local_send_hour(session):
    make_subscriber(session, "kolkata@example.org", timezone="Asia/Kolkata", send_hour=7)
    assert due_emails(session, at(2026, 11, 24, 1, 29)) == set()  # 06:59 IST
    assert due_emails(session, at(2026, 11, 24, 1, 30)) == {
        ("kolkata@example.org", dt.date(2026, 11, 24))}


def test_it_uses_the_local_date_in_zones_ahead_of_utc(session):
    make_subscriber(session, "chatham@example.org", timezone="Pacific/Chatham", send_hour=7)
    # 18:00 UTC on the 23rd is 07:45 on the 24th in Chatham (UTC+13:45 in summer).
    assert due_emails(session, at(2026, 11, 23, 18, 0)) == {
        ("chatham@example.org", dt.date(2026, 11, 24))}
    assert due_emails(session, at(2026, 11, 23, 17, 14)) == set()


def test_it_follows_daylight_saving_changes(session):
    make_subscriber(session, "la@example.org", timezone="America/Los_Angeles", send_hour=7)
    assert due_emails(session, at(2026, 10, 31, 14, 0))  # 07:00 PDT
    assert not due_emails(session, at(2026, 11, 1, 14, 30))  # 06:30 PST, the day DST ends
    assert due_emails(session, at(2026, 11, 1, 15, 0))


def test_it_still_sends_when_the_send_hour_falls_in_the_spring_forward_gap(session):
    make_subscriber(session, "ny@example.org", timezone="America/New_York", send_hour=2)
    assert not due_emails(session, at(2026, 3, 8, 6, 59))  # 01:59 EST
    assert due_emails(session, at(2026, 3, 8, 7, 0)) == {("ny@example.org", dt.date(2026, 3, 8))}


def test_it_sends_weekly_subscribers_on_their_weekday_only(session):
    make_subscriber(session, "weekly@example.org", frequency="weekly", weekday=2)  # Wednesday
    assert not due_emails(session, at(2026, 11, 24, 8))  # Tuesday
    assert due_emails(session, at(2026, 11, 25, 8))


def test_it_skips_subscribers_who_are_not_active_or_already_have_a_digest(session):
    make_subscriber(session, "paused@example.org", status=SubscriberStatus.PAUSED)
    make_subscriber(session, "pending@example.org", status=SubscriberStatus.PENDING)
    done = make_subscriber(session, "done@example.org")
    session.add(Digest(subscriber_id=done.id, local_date=dt.date(2026, 11, 24)))
    session.commit()
    assert due_emails(session, at(2026, 11, 24, 9)) == set()


def test_it_falls_back_to_utc_for_an_unknown_zone(session):
    make_subscriber(session, "odd@example.org", timezone="Mars/Olympus", send_hour=7)
    assert due_emails(session, at(2026, 11, 24, 7)) == {("odd@example.org", dt.date(2026, 11, 24))}


# --- the claim -------------------------------------------------------------------------------

def test_it_claims_each_due_subscriber_once_however_often_the_tick_runs(session):
    make_subscriber(session, "a@example.org")
    make_subscriber(session, "b@example.org", timezone="Asia/Shanghai")
    now = at(2026, 11, 24, 12)
    first = schedule.claim_due(session, now)
    assert [d.status for d in first] == [DigestStatus.PENDING, DigestStatus.PENDING]
    assert schedule.claim_due(session, now) == []
    assert schedule.claim_due(session, now + dt.timedelta(minutes=5)) == []
    assert len(session.exec(select(Digest)).all()) == 2


def test_it_ignores_a_row_a_concurrent_tick_inserted_first(session):
    subscriber = make_subscriber(session, "a@example.org")
    now = at(2026, 11, 24, 12)
    due = schedule.due_subscribers(session, now)
    session.add(Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 24)))
    session.commit()  # the other tick won between our read and our insert
    rows = [schedule._new_row(s, d, now) for s, d in due]
    assert schedule._insert(session, rows) == []


def test_it_claims_nothing_in_a_dry_run(session):
    make_subscriber(session, "a@example.org")
    claimed = schedule.claim_due(session, at(2026, 11, 24, 12), dry_run=True)
    assert [d.local_date for d in claimed] == [dt.date(2026, 11, 24)]
    assert session.exec(select(Digest)).all() == []


def test_it_can_restrict_a_tick_to_one_subscriber(session):
    make_subscriber(session, "a@example.org")
    make_subscriber(session, "b@example.org")
    claimed = schedule.claim_due(session, at(2026, 11, 24, 12), only_email="B@example.org")
    assert len(claimed) == 1


def test_it_records_a_skipped_digest_on_a_quiet_arxiv_morning(session):
    make_subscriber(session, "ny@example.org", timezone="America/New_York")
    [saturday] = schedule.claim_due(session, at(2026, 11, 28, 13))
    assert saturday.status == DigestStatus.SKIPPED
    assert "Friday and Saturday" in saturday.error
    [thanksgiving] = schedule.claim_due(session, at(2026, 11, 26, 13))
    assert thanksgiving.status == DigestStatus.SKIPPED and "holiday" in thanksgiving.error


def test_it_composes_a_short_note_instead_when_asked(session, monkeypatch):
    monkeypatch.setenv("SEND_EMPTY_NOTE", "true")
    config.get_settings.cache_clear()
    make_subscriber(session, "ny@example.org", timezone="America/New_York")
    [note] = schedule.claim_due(session, at(2026, 11, 28, 13))
    assert note.status == DigestStatus.COMPOSED
    assert "nothing new" in note.subject and "/u/" in note.text and "<p>" in note.html


def test_it_claims_thousands_of_subscribers_in_one_tick_exactly_once(session):
    # How fast is bench/schedule.py's business; this is what a big tick must get right.
    session.add_all([Subscriber(email=f"s{n}@example.org", status="active",
                                timezone=("UTC", "Asia/Kolkata", "America/Chicago")[n % 3],
                                send_hour=n % 6) for n in range(3000)])
    session.commit()
    now = at(2026, 11, 24, 16)  # 16:00 UTC, 21:30 in Kolkata, 10:00 in Chicago: all are due
    claimed = schedule.claim_due(session, now)
    assert len(claimed) == 3000
    assert len({d.subscriber_id for d in claimed}) == 3000
    assert {d.local_date for d in claimed} == {dt.date(2026, 11, 24)}
    assert schedule.claim_due(session, now + dt.timedelta(minutes=5)) == []
    assert len(session.exec(select(Digest)).all()) == 3000


def test_it_lists_claims_whose_chain_was_lost(session):
    make_subscriber(session, "a@example.org")
    [digest] = schedule.claim_due(session, at(2026, 11, 24, 12))
    assert schedule.stalled_digests(session, at(2026, 11, 24, 12, 10)) == []
    later = at(2026, 11, 24, 13)
    assert schedule.stalled_digests(session, later) == [digest.id]
    digest.status = DigestStatus.SENT
    session.commit()
    assert schedule.stalled_digests(session, later) == []


def test_it_warns_once_when_a_year_has_no_listed_arxiv_holidays(caplog):
    cal._warn_unlisted.cache_clear()
    with caplog.at_level("WARNING", logger=cal.__name__):
        assert cal.is_release_day(dt.date(2026, 11, 24))  # 2026 is listed: silent
        assert caplog.records == []
        cal.is_release_day(dt.date(2031, 3, 4))
        cal.is_release_day(dt.date(2031, 3, 5))
    assert [r.getMessage().split(" are ")[0] for r in caplog.records] == [
        "arXiv holidays for 2031"]
