"""The subscriber lifecycle, as the web pages, the API and the CLI all use it."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy

import pytest
import time_machine
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import (
    Digest,
    DigestItem,
    Event,
    Feedback,
    Interest,
    Subscriber,
    SubscriberStatus,
)
from newsletter.core.time import utcnow
from newsletter.subscribers import lifecycle, notices
from newsletter.subscribers.validation import InvalidInput, normalize_email
from tests.factories import make_paper, make_subscriber


def token_for(purpose, subscriber, **extra):
    return links.make_token(purpose, subscriber.id, subscriber.token_version, **extra)


def outbox_texts(settings) -> list[str]:
    texts = []
    for path in sorted(settings.outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        texts.append(message.get_body(("plain",)).get_content())
    return texts


# --- email addresses ----------------------------------------------------------------------

def test_it_lower_cases_and_trims_addresses():
    assert normalize_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"


@pytest.mark.parametrize("raw", ["", "   ", "not-an-address", "a@", "@b.org", "a b@c.org",
                                 "x" * 400 + "@example.org", None, 42])
def test_it_refuses_invalid_addresses_with_a_clear_message(raw):
    with pytest.raises(InvalidInput) as caught:
        normalize_email(raw)
    assert caught.value.field == "email"
    assert "email address" in str(caught.value)


@pytest.mark.parametrize("raw", ["ada@example.org\r\nBcc: eve@evil.org", "ada@example.org\n",
                                 "ada@example.org\rX: y", "ada\x00@example.org"])
def test_it_refuses_header_injection_in_the_address(raw):
    with pytest.raises(InvalidInput) as caught:
        normalize_email(raw)
    assert caught.value.key == "email_header"


# --- subscribe ------------------------------------------------------------------------------

def test_it_creates_a_pending_subscription_with_its_topics(session):
    subscriber = lifecycle.subscribe(
        session, "Ada@Example.org", keywords=["language models", " knowledge   distillation "],
        categories=["cs.CL"], authors=["Zhuokai Zhao"], excludes=["survey"], locale="zh",
        timezone="Asia/Shanghai", send_hour=8, frequency="weekly", weekday=2, max_papers=5)
    assert subscriber.status == SubscriberStatus.PENDING
    assert subscriber.email == "ada@example.org"
    assert (subscriber.locale, subscriber.timezone, subscriber.send_hour) == (
        "zh", "Asia/Shanghai", 8)
    assert (subscriber.frequency, subscriber.weekday, subscriber.max_papers) == ("weekly", 2, 5)
    assert subscriber.consent_source == "web" and subscriber.consent_at is not None
    assert lifecycle.interests(session, subscriber) == {
        "keywords": ["language models", "knowledge distillation"], "categories": ["cs.CL"],
        "authors": ["Zhuokai Zhao"], "excludes": ["survey"], "sources": []}


def test_it_creates_an_active_subscription_when_an_operator_confirms(session):
    subscriber = lifecycle.subscribe(session, "ada@example.org", confirmed=True, source="cli")
    assert subscriber.status == SubscriberStatus.ACTIVE
    assert subscriber.consent_source == "cli"


@pytest.mark.parametrize("fields, field, key", [
    ({"timezone": "Mars/Olympus"}, "timezone", "timezone_invalid"),
    ({"timezone": "../../etc/passwd"}, "timezone", "timezone_invalid"),
    ({"timezone": "localtime"}, "timezone", "timezone_invalid"),  # the server's own zone
    ({"timezone": "Factory"}, "timezone", "timezone_invalid"),  # IANA's "zone not set"
    ({"timezone": "posixrules"}, "timezone", "timezone_invalid"),
    ({"timezone": "posix/Europe/Paris"}, "timezone", "timezone_invalid"),
    ({"send_hour": 24}, "send_hour", "hour_invalid"),
    ({"send_hour": -1}, "send_hour", "hour_invalid"),
    ({"send_hour": "seven"}, "send_hour", "hour_invalid"),
    ({"send_hour": 7.5}, "send_hour", "hour_invalid"),
    ({"keywords": [f"topic {n}" for n in range(31)]}, "keywords", "too_many_topics"),
    ({"keywords": ["x" * 101]}, "keywords", "topic_too_long"),
    ({"keywords": ["x" * 10_000]}, "keywords", "topic_too_long"),
    ({"keywords": ["<script>alert(1)</script>"]}, "keywords", "topic_markup"),
    ({"authors": ["Ada\x07Lovelace"]}, "authors", "topic_markup"),
    ({"keywords": ["caf\ufffd"]}, "keywords", "topic_markup"),
    ({"categories": ["cs.CL; DROP TABLE"]}, "categories", "category_invalid"),
    ({"categories": ["Computer Science"]}, "categories", "category_invalid"),
    ({"locale": "fr"}, "locale", "locale_invalid"),
    ({"frequency": "hourly"}, "frequency", "frequency_invalid"),
    ({"max_papers": 16}, "max_papers", "max_papers_invalid"),
    ({"max_papers": 4}, "max_papers", "max_papers_invalid"),
])
def test_it_refuses_bad_input_and_stores_nothing(session, fields, field, key):
    with pytest.raises(InvalidInput) as caught:
        lifecycle.subscribe(session, "ada@example.org", **fields)
    assert (caught.value.field, caught.value.key) == (field, key)
    assert caught.value.message  # a sentence, not a code
    assert session.exec(select(Subscriber)).all() == []
    assert session.exec(select(Interest)).all() == []


def test_it_counts_keywords_categories_and_authors_together_against_the_limit(session):
    with pytest.raises(InvalidInput) as caught:
        lifecycle.subscribe(session, "ada@example.org", keywords=[f"k{n}" for n in range(15)],
                              authors=[f"Author {n}" for n in range(16)])
    assert caught.value.key == "too_many_topics"


def test_it_accepts_real_arxiv_category_codes(session):
    codes = ["cs.CL", "math.AP", "astro-ph.GA", "hep-th", "cond-mat.mes-hall",
             "physics.optics", "q-bio.NC", "stat.ML", "quant-ph"]
    subscriber = lifecycle.subscribe(session, "ada@example.org", categories=codes)
    assert lifecycle.interests(session, subscriber)["categories"] == codes


def test_it_does_not_alter_an_active_subscriber_on_an_anonymous_subscribe(session):
    active = make_subscriber(session, keywords=("proteins",), send_hour=6)
    again = lifecycle.subscribe(session, "ADA@example.org", keywords=["spam"], send_hour=3)
    assert again.id == active.id
    assert again.status == SubscriberStatus.ACTIVE and again.send_hour == 6
    assert lifecycle.interests(session, again)["keywords"] == ["proteins"]


def test_it_lets_a_pending_subscriber_resend_the_form_with_new_topics(session):
    lifecycle.subscribe(session, "ada@example.org", keywords=["first"])
    again = lifecycle.subscribe(session, "ada@example.org", keywords=["second"])
    assert again.status == SubscriberStatus.PENDING
    assert lifecycle.interests(session, again)["keywords"] == ["second"]


def test_it_sends_a_resubscribed_address_back_to_pending_and_revokes_old_links(session):
    subscriber = make_subscriber(session, status=SubscriberStatus.UNSUBSCRIBED)
    old_link = token_for("preferences", subscriber)
    again = lifecycle.subscribe(session, "ada@example.org", keywords=["new topic"])
    assert again.status == SubscriberStatus.PENDING
    with pytest.raises(links.InvalidToken):
        lifecycle.subscriber_from_token(session, "preferences", old_link)
    assert lifecycle.confirm(session, token_for("confirm", again)).status == "active"


# --- confirmation ---------------------------------------------------------------------------

def test_it_activates_a_subscription_with_the_confirmation_link(session):
    subscriber = lifecycle.subscribe(session, "ada@example.org")
    confirmed = lifecycle.confirm(session, token_for("confirm", subscriber))
    assert confirmed.status == SubscriberStatus.ACTIVE
    assert lifecycle.confirm(session, token_for("confirm", subscriber)).status == "active"


def test_it_refuses_an_expired_confirmation_link(session):
    asked = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    with time_machine.travel(asked, tick=False):
        subscriber = lifecycle.subscribe(session, "ada@example.org")
        token = token_for("confirm", subscriber)
    with time_machine.travel(asked + dt.timedelta(days=8), tick=False):
        with pytest.raises(links.InvalidToken, match="expired"):
            lifecycle.confirm(session, token)
    assert session.get(Subscriber, subscriber.id).status == SubscriberStatus.PENDING


@pytest.mark.parametrize("make", [
    lambda s: token_for("preferences", s),  # wrong purpose
    lambda s: token_for("confirm", s)[:-2] + "xx",  # tampered
    lambda s: links.make_token("confirm", s.id, s.token_version + 1),  # other version
    lambda s: links.make_token("confirm", s.id + 1000, 1),  # nobody
    lambda s: "",
    lambda s: "x" * 5000,
])
def test_it_refuses_tampered_or_wrong_purpose_confirmation_links(session, make):
    subscriber = lifecycle.subscribe(session, "ada@example.org")
    with pytest.raises(links.InvalidToken):
        lifecycle.confirm(session, make(subscriber))
    assert session.get(Subscriber, subscriber.id).status == SubscriberStatus.PENDING


def test_it_does_not_reactivate_an_unsubscribed_address_with_an_old_confirmation_link(session):
    subscriber = lifecycle.subscribe(session, "ada@example.org")
    token = token_for("confirm", subscriber)
    lifecycle.confirm(session, token)
    lifecycle.unsubscribe(session, subscriber, "test")
    with pytest.raises(links.InvalidToken):
        lifecycle.confirm(session, token)


def test_it_revokes_every_link_when_the_token_version_changes(session):
    subscriber = make_subscriber(session)
    tokens = {p: token_for(p, subscriber) for p in ("preferences", "unsubscribe", "digest")}
    subscriber.token_version += 1
    session.commit()
    for purpose, token in tokens.items():
        with pytest.raises(links.InvalidToken):
            lifecycle.subscriber_from_token(session, purpose, token)


def test_it_emails_the_confirmation_link_only_to_pending_subscribers(session, settings_env):
    pending = lifecycle.subscribe(session, "ada@example.org")
    active = make_subscriber(session, "bob@example.org")
    assert notices.send_confirmation(session, pending) is True
    assert notices.send_confirmation(session, active) is False
    [body] = outbox_texts(settings_env)
    assert "https://hub.example.org/confirm/" in body


def test_it_sends_no_confirmation_to_a_suppressed_address(session, settings_env):
    from newsletter.core.models import Suppression

    session.add(Suppression(email="ada@example.org", reason="spamreport"))
    session.commit()
    pending = lifecycle.subscribe(session, "ada@example.org")
    assert notices.send_confirmation(session, pending) is False
    assert outbox_texts(settings_env) == []


# --- preferences, pause, unsubscribe ---------------------------------------------------------

def test_it_updates_only_the_preferences_given(session):
    subscriber = make_subscriber(session, keywords=("proteins",), authors=("Ada Lovelace",))
    lifecycle.update_preferences(session, subscriber, keywords=["folding", "docking"],
                                   send_hour=21, timezone="Europe/Paris", max_papers=15)
    chosen = lifecycle.interests(session, subscriber)
    assert chosen["keywords"] == ["folding", "docking"]
    assert chosen["authors"] == ["Ada Lovelace"]
    assert (subscriber.send_hour, subscriber.timezone, subscriber.max_papers) == (
        21, "Europe/Paris", 15)


def test_it_refuses_unknown_or_bad_preferences_without_changing_anything(session):
    subscriber = make_subscriber(session, keywords=("proteins",))
    with pytest.raises(InvalidInput):
        lifecycle.update_preferences(session, subscriber, keywords=["ok"], send_hour=99)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.update_preferences(session, subscriber, email="eve@evil.org")
    assert caught.value.key == "unknown_field"
    session.refresh(subscriber)
    assert lifecycle.interests(session, subscriber)["keywords"] == ["proteins"]
    assert subscriber.email == "ada@example.org" and subscriber.send_hour == 7


def test_it_pauses_and_resumes(session):
    subscriber = make_subscriber(session)
    assert lifecycle.pause(session, subscriber).status == SubscriberStatus.PAUSED
    assert lifecycle.pause(session, subscriber).status == SubscriberStatus.PAUSED
    assert lifecycle.resume(session, subscriber).status == SubscriberStatus.ACTIVE


def test_it_cannot_pause_a_subscription_that_is_not_confirmed(session):
    subscriber = lifecycle.subscribe(session, "ada@example.org")
    with pytest.raises(InvalidInput):
        lifecycle.pause(session, subscriber)


def test_it_unsubscribes_once_however_often_asked(session):
    subscriber = make_subscriber(session)
    lifecycle.unsubscribe(session, subscriber, "one-click")
    lifecycle.unsubscribe(session, subscriber, "one-click")
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    events = session.exec(select(Event).where(Event.type == "unsubscribe")).all()
    assert len(events) == 1 and events[0].payload["reason"] == "one-click"
    assert subscriber.token_version == 1  # links keep working: they can resume


# --- data export and deletion ----------------------------------------------------------------

def digest_with_history(session, subscriber):
    paper = make_paper(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 25), status="sent",
                    subject="Today in NLP")
    session.add(digest)
    session.flush()
    session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=1, reason="matches"))
    session.add(Feedback(subscriber_id=subscriber.id, paper_id=paper.id, signal="more"))
    session.add(Event(digest_id=digest.id, subscriber_id=subscriber.id, type="delivered"))
    session.commit()
    return digest, paper


def test_it_exports_everything_held_about_a_subscriber_as_json(session):
    subscriber = make_subscriber(session, keywords=("proteins",))
    _digest, paper = digest_with_history(session, subscriber)
    data = json.loads(json.dumps(lifecycle.export_data(session, subscriber)))
    assert data["subscriber"]["email"] == "ada@example.org"
    assert data["interests"]["keywords"] == ["proteins"]
    assert data["digests"] == [{"date": "2026-11-25", "status": "sent", "subject": "Today in NLP",
                                "sent_at": None, "papers": [paper.id]}]
    assert data["feedback"][0]["signal"] == "more"
    assert data["events"][0]["type"] == "delivered"


def test_it_deletes_a_subscriber_and_everything_that_points_at_them(session):
    subscriber = make_subscriber(session)
    other = make_subscriber(session, "bob@example.org")
    digest_with_history(session, subscriber)
    lifecycle.delete_data(session, subscriber)
    for table in (Digest, DigestItem, Feedback, Event):
        assert session.exec(select(table)).all() == []
    assert session.exec(select(Subscriber)).all() == [other]
    assert session.exec(select(Interest).where(Interest.subscriber_id == subscriber.id)).all() == []


def test_it_expires_subscriptions_left_unconfirmed_for_seven_days(session):
    stale = lifecycle.subscribe(session, "stale@example.org")
    fresh = lifecycle.subscribe(session, "fresh@example.org")
    active = make_subscriber(session, "active@example.org")
    week_ago = utcnow() - dt.timedelta(days=8)
    stale.created_at = stale.consent_at = week_ago
    active.created_at = week_ago
    session.commit()
    assert lifecycle.expire_unconfirmed(session, utcnow()) == 1
    emails = {s.email for s in session.exec(select(Subscriber)).all()}
    assert emails == {fresh.email, active.email}


@pytest.mark.postgres
def test_it_runs_the_whole_lifecycle_on_postgresql(pg_url):
    from sqlmodel import Session

    from newsletter.core.db import engine_for

    with Session(engine_for(pg_url), expire_on_commit=False) as session:
        subscriber = lifecycle.subscribe(session, "Ada@Example.org", keywords=["proteins"],
                                           categories=["q-bio.BM"], timezone="America/New_York")
        lifecycle.confirm(session, token_for("confirm", subscriber))
        lifecycle.update_preferences(session, subscriber, authors=["Zhuokai Zhao"])
        digest_with_history(session, subscriber)
        assert lifecycle.export_data(session, subscriber)["interests"]["authors"] == [
            "Zhuokai Zhao"]
        lifecycle.unsubscribe(session, subscriber, "test")
        lifecycle.delete_data(session, subscriber)
        assert session.exec(select(Subscriber)).all() == []
        stale = lifecycle.subscribe(session, "stale@example.org")
        stale.created_at = stale.consent_at = utcnow() - dt.timedelta(days=9)
        session.commit()
        assert lifecycle.expire_unconfirmed(session) == 1


def test_it_never_lets_an_old_link_open_a_newcomer_who_got_a_reused_id(session):
    from newsletter.core import links

    alice = lifecycle.subscribe(session, "alice@example.org", keywords=["x"], confirmed=True)
    stale = links.make_token("preferences", alice.id, alice.token_version)
    lifecycle.delete_data(session, alice)
    bob = lifecycle.subscribe(session, "bob@example.org", keywords=["y"], confirmed=True)
    assert bob.id != alice.id
    with pytest.raises(links.InvalidToken):
        lifecycle.subscriber_from_token(session, "preferences", stale)


def test_one_person_typed_twice_is_one_followed_author_in_the_first_spelling():
    from newsletter.subscribers.validation import validate

    clean = validate({"authors": ["Schon, Torsten", "Torsten Schön", "T. Schon", "Ruoxi Zhao",
                                  "ruoxi zhao"],
                      "keywords": ["Diffusion", "diffusion"]})
    assert clean["authors"] == ["Schon, Torsten", "T. Schon", "Ruoxi Zhao"]
    assert clean["keywords"] == ["Diffusion"]
