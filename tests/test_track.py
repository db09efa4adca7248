"""Tracking: the signed SendGrid webhook, dedupe, suppression, our click redirect, stats, admin."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core import config, links
from newsletter.core.models import (
    Digest,
    DigestStatus,
    Event,
    Feedback,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.delivery import state
from newsletter.tracking import clicks, stats, track
from tests.factories import make_paper, make_subscriber

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def sign(body: bytes, timestamp: str | None = None, key=KEY) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {track.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            track.TIMESTAMP_HEADER: timestamp}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret")
    config.get_settings.cache_clear()
    from newsletter.web.app import create_app

    return TestClient(create_app(), follow_redirects=False)  # the real app, its middleware too


@pytest.fixture
def sent(session):
    subscriber = make_subscriber(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 25),
                    status=DigestStatus.SENT, provider_message_id="msg1")
    session.add(digest)
    session.commit()
    return digest


def event(kind: str, n: int, digest_id: int | None, **extra) -> dict:
    values = {"email": "ada@example.org", "timestamp": int(time.time()), "event": kind,
              "sg_event_id": f"evt-{kind}-{n}", "sg_message_id": "msg1.filter001"}
    if digest_id is not None:
        values["digest_id"] = str(digest_id)
    return values | extra


def post(client, events, headers=None):
    body = json.dumps(events).encode()
    return client.post("/webhooks/sendgrid", content=body,
                       headers=sign(body) if headers is None else headers)


# --- the webhook -----------------------------------------------------------------------------

def test_it_accepts_a_signed_batch_and_stores_each_event(client, session, sent):
    answer = post(client, [event("processed", 1, sent.id), event("delivered", 1, sent.id)])
    assert answer.status_code == 200 and answer.json()["stored"] == 2
    events = session.exec(select(Event).where(Event.digest_id == sent.id)).all()
    assert sorted(e.type for e in events) == ["delivered", "processed"]
    assert all(e.subscriber_id == sent.subscriber_id for e in events)


def test_it_rejects_a_batch_without_a_signature(client, session, sent):
    assert post(client, [event("spamreport", 1, sent.id)], headers={}).status_code == 403
    assert session.exec(select(Event)).all() == []


def test_it_rejects_a_forged_signature(client, session, sent):
    forger = ec.generate_private_key(ec.SECP256R1())
    body = json.dumps([event("unsubscribe", 1, sent.id)]).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sign(body, key=forger))
    assert answer.status_code == 403
    assert session.get(Suppression, "ada@example.org") is None


def test_it_rejects_a_body_altered_after_signing(client, session, sent):
    body = json.dumps([event("delivered", 1, sent.id)]).encode()
    headers = sign(body)
    tampered = body.replace(b"delivered", b"spamreport")
    assert client.post("/webhooks/sendgrid", content=tampered, headers=headers).status_code == 403


def test_it_rejects_a_signature_older_than_ten_minutes(client, session, sent):
    body = json.dumps([event("delivered", 1, sent.id)]).encode()
    stale = str(int(time.time()) - 601)
    answer = client.post("/webhooks/sendgrid", content=body, headers=sign(body, stale))
    assert answer.status_code == 403 and "stale" in answer.json()["error"]


def test_it_rejects_everything_when_no_public_key_is_configured(client, monkeypatch, sent):
    monkeypatch.delenv("SENDGRID_WEBHOOK_PUBLIC_KEY")
    config.get_settings.cache_clear()
    assert post(client, [event("delivered", 1, sent.id)]).status_code == 403


def test_it_rejects_garbage_in_the_signature_header(client, sent):
    body = b"[]"
    headers = {track.SIGNATURE_HEADER: "not base64!!",
               track.TIMESTAMP_HEADER: str(int(time.time()))}
    assert client.post("/webhooks/sendgrid", content=body, headers=headers).status_code == 403


def test_it_stores_a_redelivered_event_once(client, session, sent):
    post(client, [event("open", 1, sent.id)])
    again = post(client, [event("open", 1, sent.id), event("open", 2, sent.id)])
    assert again.json() == {"stored": 1, "duplicates": 1, "ignored": 0}
    assert len(session.exec(select(Event).where(Event.type == "open")).all()) == 2


def test_it_suppresses_a_hard_bounce(client, session, sent):
    post(client, [event("bounce", 1, sent.id, type="bounce", reason="550 no such user")])
    session.expire_all()
    assert session.get(Suppression, "ada@example.org").reason == "bounce"
    assert session.get(Subscriber, sent.subscriber_id).status == SubscriberStatus.BOUNCED


@pytest.mark.parametrize(("kind", "reason", "status"), [
    ("spamreport", "spamreport", SubscriberStatus.COMPLAINED),
    ("unsubscribe", "unsubscribe", SubscriberStatus.UNSUBSCRIBED),
    ("group_unsubscribe", "unsubscribe", SubscriberStatus.UNSUBSCRIBED),
])
def test_it_suppresses_complaints_and_provider_unsubscribes(client, session, sent, kind, reason,
                                                             status):
    post(client, [event(kind, 1, sent.id)])
    session.expire_all()
    assert session.get(Suppression, "ada@example.org").reason == reason
    assert session.get(Subscriber, sent.subscriber_id).status == status


def test_it_suppresses_soft_bounces_only_past_the_threshold(client, session, sent):
    post(client, [event("bounce", n, sent.id, type="blocked") for n in (1, 2)])
    assert session.get(Suppression, "ada@example.org") is None
    post(client, [event("bounce", 3, sent.id, type="blocked")])
    session.expire_all()
    assert session.get(Suppression, "ada@example.org").reason == "soft_bounce"


def test_it_never_sends_again_after_a_spam_report(client, session, sent, settings_env):
    post(client, [event("spamreport", 1, sent.id)])
    subscriber = session.get(Subscriber, sent.subscriber_id)
    session.refresh(subscriber)
    subscriber.status = SubscriberStatus.ACTIVE  # even if something reactivated them
    tomorrow = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 26),
                      status=DigestStatus.COMPOSED, subject="s", text="t", html="h")
    session.add(tomorrow)
    session.commit()
    assert state.deliver_digest(session, tomorrow.id) == DigestStatus.SKIPPED


def test_it_maps_events_without_a_digest_to_the_subscriber_by_address(client, session, sent):
    post(client, [event("unsubscribe", 9, None)])
    stored = session.exec(select(Event)).one()
    assert stored.digest_id is None and stored.subscriber_id == sent.subscriber_id


def test_it_ignores_malformed_events_in_a_batch(client, sent):
    answer = post(client, [{"event": "open"}, "nonsense", event("open", 1, sent.id)])
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 2}


def test_it_confirms_a_stuck_send_from_a_webhook_event(client, session, sent, monkeypatch):
    """Reconciliation reads the provider's events: a 'processed' event means it was accepted."""
    sent.status, sent.provider_message_id = DigestStatus.SENDING, None
    session.commit()
    post(client, [event("processed", 1, sent.id)])
    monkeypatch.setenv("EMAIL_BACKEND", "outbox")
    assert state.deliver_digest(session, sent.id) == DigestStatus.SENT
    assert session.get(Digest, sent.id).provider_message_id == "msg1"


# --- our click redirect ----------------------------------------------------------------------

def test_it_redirects_a_click_to_the_paper_and_records_feedback(client, session, sent):
    paper = make_paper(session)
    subscriber = session.get(Subscriber, sent.subscriber_id)
    url = clicks.click_url(subscriber, paper.id, sent.id)
    answer = client.get(url.removeprefix("https://hub.example.org"))
    assert answer.status_code == 302 and answer.headers["location"] == paper.url
    [feedback] = session.exec(select(Feedback)).all()
    assert (feedback.paper_id, feedback.signal) == (paper.id, "click")
    assert session.exec(select(Event).where(Event.type == "click")).one().digest_id == sent.id


def test_it_refuses_to_redirect_anywhere_but_a_web_url(client, session, sent):
    paper = make_paper(session, url="javascript:alert(1)")
    subscriber = session.get(Subscriber, sent.subscriber_id)
    path = clicks.click_url(subscriber, paper.id).removeprefix("https://hub.example.org")
    assert client.get(path).status_code == 404
    assert session.exec(select(Feedback)).all() == []


def test_it_refuses_a_tampered_or_foreign_click_token(client, session, sent):
    paper = make_paper(session)
    subscriber = session.get(Subscriber, sent.subscriber_id)
    other = links.url_for("unsubscribe", subscriber, p=paper.id).rsplit("/", 1)[1]
    assert client.get(f"/c/{other}").status_code == 404
    assert client.get("/c/garbage").status_code == 404


def test_it_redirects_a_revoked_link_without_recording_it(client, session, sent):
    paper = make_paper(session)
    subscriber = session.get(Subscriber, sent.subscriber_id)
    path = clicks.click_url(subscriber, paper.id).removeprefix("https://hub.example.org")
    subscriber.token_version += 1
    session.commit()
    assert client.get(path).status_code == 302
    assert session.exec(select(Feedback)).all() == []


# --- stats and the admin page ----------------------------------------------------------------

def test_it_counts_the_day_by_status_and_event(client, session, sent):
    other = make_subscriber(session, "b@example.org")
    session.add(Digest(subscriber_id=other.id, local_date=sent.local_date,
                       status=DigestStatus.SKIPPED))
    session.commit()
    post(client, [event("delivered", 1, sent.id), event("open", 1, sent.id),
                  event("click", 1, sent.id)])
    rows = stats.daily_stats(session, 3, today=dt.date(2026, 11, 25))
    day = next(r for r in rows if r.day == dt.date(2026, 11, 25))
    assert (day.due, day.sent, day.skipped, day.failed) == (2, 1, 1, 0)
    today = stats.daily_stats(session, 1)[0]
    assert (today.delivered, today.opened, today.clicked) == (1, 1, 1)


def test_it_shows_the_admin_page_only_with_the_token(client, session, sent):
    assert client.get("/admin").status_code == 401  # the sign-in form
    assert client.get("/admin?token=admin-secret").status_code == 401  # never from the URL
    assert client.get("/admin", headers={"X-Admin-Token": "wrong"}).status_code == 403
    page = client.get("/admin", headers={"X-Admin-Token": "admin-secret"})
    assert page.status_code == 200 and "<svg" in page.text and "unsubscribed" in page.text
    assert "<script" not in page.text.split("</head>", 1)[1]  # nothing inline in the page
    data = client.get("/admin?format=json", headers={"Authorization": "Bearer admin-secret"})
    assert len(data.json()) == 14 and set(stats.FIELDS) <= set(data.json()[0])


def test_it_hides_the_admin_page_when_no_token_is_configured(client, monkeypatch):
    monkeypatch.delenv("ADMIN_TOKEN")
    config.get_settings.cache_clear()
    assert client.get("/admin?token=").status_code == 404


def test_it_gives_the_cli_newest_day_first_as_plain_rows(session, sent):
    rows = stats.daily(session, 3)
    assert [r["day"] for r in rows] == sorted((r["day"] for r in rows), reverse=True)
    assert set(stats.FIELDS) <= set(rows[0]) and stats.spend(session, 3) == []
