"""The SendGrid webhook under load and abuse: big batches are ingested off the event loop in
one transaction, deep JSON and overlong event ids are refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from sqlalchemy import event as sa_event
from sqlmodel import Session, func, select

from newsletter.core import config, db
from newsletter.core.models import Event, Suppression
from newsletter.tracking import track
from tests.factories import make_subscriber
from tests.liveserver import running
from tests.test_track import PUBLIC, event, sign


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch, settings_env):
    """Each test here runs on both databases (PostgreSQL under CI=true, else when reachable)."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", PUBLIC)
    config.get_settings.cache_clear()
    with Session(db.get_engine(), expire_on_commit=False) as session:
        yield session


def batch(n: int, start: int = 0) -> list[dict]:
    return [event("delivered", i, None, email=f"reader{i % 50}@example.org")
            for i in range(start, start + n)]


def signed(events) -> tuple[bytes, dict[str, str]]:
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    return body, sign(body)


def stored(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Event)).one()


def test_it_answers_health_checks_while_a_big_batch_is_being_ingested(database, monkeypatch):
    from newsletter.web.app import create_app

    ingesting, health_answered, seen_meanwhile = threading.Event(), threading.Event(), []
    real_ingest = track.ingest_events

    def ingest_waiting_for_a_health_check(session, events):
        ingesting.set()  # the batch is verified and parsed: ingest is about to run
        seen_meanwhile.append(health_answered.wait(timeout=30))
        return real_ingest(session, events)

    monkeypatch.setattr(track, "ingest_events", ingest_waiting_for_a_health_check)
    body, headers = signed(batch(3000))
    answers = {}
    with running(create_app()) as base:
        poster = threading.Thread(target=lambda: answers.update(batch=httpx.post(
            f"{base}/webhooks/sendgrid", content=body, headers=headers, timeout=120)))
        poster.start()
        assert ingesting.wait(timeout=60)
        health = httpx.get(f"{base}/healthz", timeout=60)
        health_answered.set()
        poster.join(timeout=120)
    assert health.status_code == 200
    assert seen_meanwhile == [True], "/healthz waited behind the batch's ingest"
    assert answers["batch"].status_code == 200
    assert answers["batch"].json() == {"stored": 3000, "duplicates": 0, "ignored": 0}
    assert stored(database) == 3000


def test_it_stores_a_batch_in_one_transaction_and_a_replay_changes_nothing(database):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    client = TestClient(create_app())
    commits = []

    def count(connection):
        commits.append(connection)

    sa_event.listen(db.get_engine(), "commit", count)
    try:
        events = batch(200) + [event("bounce", 1, None, email="reader1@example.org",
                                     type="bounce")]
        first = client.post("/webhooks/sendgrid", content=signed(events)[0],
                            headers=signed(events)[1])
        assert len(commits) == 1
        again = client.post("/webhooks/sendgrid", content=signed(events)[0],
                            headers=signed(events)[1])
    finally:
        sa_event.remove(db.get_engine(), "commit", count)
    assert first.json() == {"stored": 201, "duplicates": 0, "ignored": 0}
    assert again.json() == {"stored": 0, "duplicates": 201, "ignored": 0}
    assert stored(database) == 201
    assert database.get(Suppression, "reader1@example.org").reason == "bounce"


def test_it_stores_an_event_repeated_inside_one_batch_once(database):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    events = [event("open", 1, None), event("open", 1, None), event("open", 2, None)]
    answer = TestClient(create_app()).post("/webhooks/sendgrid", content=signed(events)[0],
                                           headers=signed(events)[1])
    assert answer.json() == {"stored": 2, "duplicates": 1, "ignored": 0}


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'[{"sg_event_id": "e1", "event": "open", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}]",
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
])
def test_it_refuses_deeply_nested_json_with_a_400_before_parsing_it(database, body):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    answer = TestClient(create_app()).post("/webhooks/sendgrid", content=body,
                                           headers=sign(body))
    assert answer.status_code == 400 and "nested" in answer.json()["error"]
    assert stored(database) == 0


def test_it_accepts_brackets_inside_strings_whatever_their_number(database):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    events = [event("click", 1, None, url="https://x.example/" + "[{" * 500 + '\\"]')]
    answer = TestClient(create_app()).post("/webhooks/sendgrid", content=signed(events)[0],
                                           headers=signed(events)[1])
    assert answer.status_code == 200 and answer.json()["stored"] == 1


def test_it_refuses_overlong_event_ids_instead_of_cutting_them(database):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    prefix = "x" * 200  # cut to 200 characters, these two distinct ids would collide
    events = [event("open", 1, None, sg_event_id=prefix + "-first"),
              event("spamreport", 1, None, sg_event_id=prefix + "-second"),
              event("delivered", 1, None)]
    answer = TestClient(create_app()).post("/webhooks/sendgrid", content=signed(events)[0],
                                           headers=signed(events)[1])
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 2}
    assert [e.type for e in database.exec(select(Event)).all()] == ["delivered"]
    assert database.get(Suppression, "ada@example.org") is None


def test_it_links_events_to_subscribers_and_digests_in_bulk(database):
    from fastapi.testclient import TestClient

    from newsletter.web.app import create_app

    ada = make_subscriber(database, "reader3@example.org")
    events = batch(100)
    answer = TestClient(create_app()).post("/webhooks/sendgrid", content=signed(events)[0],
                                           headers=signed(events)[1])
    assert answer.json()["stored"] == 100
    mine = database.exec(select(Event).where(Event.subscriber_id == ada.id)).all()
    assert len(mine) == 2  # reader3 gets events 3 and 53
