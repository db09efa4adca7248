"""Signing up, hardened: concurrent subscribes of one address, the same work whoever the
address is, one confirmation link per pending subscription, confirming by button and once,
preferences links that expire (and a fresh one by email), links without sequential ids."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time

import httpx
import pytest
import time_machine
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.core import config, db, links
from newsletter.core.models import Interest, Subscriber, SubscriberStatus
from newsletter.subscribers import lifecycle
from newsletter.web.app import create_app
from tests.factories import make_subscriber
from tests.liveserver import running
from tests.test_web import BASE, csrf, form, link_in, outbox, text_of


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, settings_env):
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
    config.get_settings.cache_clear()
    with Session(db.get_engine(), expire_on_commit=False) as session:
        yield session


def payload(token: str) -> dict:
    """What a signed token carries, readable by anyone who holds it (it is signed, not
    encrypted)."""
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# --- 2: one address, many requests at once ---------------------------------------------------

def test_it_gives_one_subscriber_and_the_same_answer_to_concurrent_subscribes(database):
    """Three requests for one new address at the same moment, through the real server: one
    row, three polite 202s with the same body (was: IntegrityError, 500)."""
    body = {"email": "ada@example.org", "keywords": ["graph neural networks"]}
    start, answers = threading.Barrier(3), []
    with running(create_app()) as base:
        def post() -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                start.wait()
                answers.append(http.post("/api/subscribe", json=body))

        threads = [threading.Thread(target=post) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.text for a in answers}) == 1
    deadline = time.monotonic() + 60  # the subscribing runs after the answers: wait for it
    while len(outbox(config.get_settings())) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    confirmations = {link_in(m, "/confirm/") for m in outbox(config.get_settings())}
    assert len(confirmations) == 1  # three emails, one link
    database.expire_all()
    [subscriber] = database.exec(select(Subscriber)).all()
    assert subscriber.status == SubscriberStatus.PENDING
    assert [i.value for i in database.exec(select(Interest)).all()] == ["graph neural networks"]


# --- 6 and 7: the same work, the same link -----------------------------------------------------

def test_it_resends_a_pending_address_the_same_confirmation_link(client, session, settings_env):
    client.post("/api/subscribe", json={"email": "ada@example.org"})
    client.post("/api/subscribe", json={"email": "ada+again@example.org"})
    client.post("/api/subscribe", json={"email": "ada@example.org", "keywords": ["graphs"]})
    ada = [m for m in outbox(settings_env) if m["To"] == "ada@example.org"]
    assert len(ada) == 2
    assert link_in(ada[0], "/confirm/") == link_in(ada[1], "/confirm/")  # not a new one
    subscriber = lifecycle.find(session, "ada@example.org")
    assert lifecycle.interests(session, subscriber)["keywords"] == ["graphs"]  # latest form


def test_it_mints_a_new_confirmation_link_once_the_kept_one_has_expired(client, session,
                                                                        settings_env):
    asked = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    with time_machine.travel(asked, tick=False):
        client.post("/api/subscribe", json={"email": "ada@example.org"})
    with time_machine.travel(asked + dt.timedelta(days=6), tick=False):
        client.post("/api/subscribe", json={"email": "ada@example.org"})  # renews the consent
    with time_machine.travel(asked + dt.timedelta(days=8), tick=False):
        client.post("/api/subscribe", json={"email": "ada@example.org"})
        first, second, third = (link_in(m, "/confirm/") for m in outbox(settings_env))
        assert first == second != third
        page = client.get(third.removeprefix(BASE))
    assert page.status_code == 200 and "Confirm your subscription" in text_of(page)


def test_it_tells_a_subscribed_address_where_its_preferences_are(client, session,
                                                                 settings_env):
    make_subscriber(session, "ada@example.org", status=SubscriberStatus.PAUSED)
    assert client.post("/api/subscribe", json={"email": "ada@example.org"}).status_code == 202
    [message] = outbox(settings_env)
    page = client.get(link_in(message, "/preferences/").removeprefix(BASE))
    assert page.status_code == 200 and "ada@example.org" in text_of(page)
    assert session.exec(select(Subscriber)).one().status == SubscriberStatus.PAUSED  # unchanged


def test_it_sends_nothing_to_a_suppressed_address_and_still_answers_the_same(client, session,
                                                                             settings_env):
    from newsletter.core.models import Suppression

    make_subscriber(session, "gone@example.org", status=SubscriberStatus.BOUNCED)
    session.add(Suppression(email="gone@example.org", reason="bounce"))
    session.commit()
    gone = client.post("/api/subscribe", json={"email": "gone@example.org"})
    new = client.post("/api/subscribe", json={"email": "new@example.org"})
    assert gone.status_code == new.status_code == 202 and gone.text == new.text
    assert [m["To"] for m in outbox(settings_env)] == ["new@example.org"]


# --- 11: confirm by button, once ----------------------------------------------------------------

def confirm_path(settings_env) -> str:
    return link_in(outbox(settings_env)[0], "/confirm/").removeprefix(BASE)


def test_it_never_confirms_on_a_get_however_often_a_scanner_fetches(client, session,
                                                                   settings_env):
    client.post("/subscribe", data=form(client))
    path = confirm_path(settings_env)
    for _ in range(3):
        page = client.get(path)
        assert "Confirm my subscription" in text_of(page)
        assert not BeautifulSoup(page.text, "html.parser").find("a", href=lambda h: h and
                                                                 "/preferences/" in h)
    assert session.exec(select(Subscriber)).one().status == SubscriberStatus.PENDING
    assert len(outbox(settings_env)) == 1  # no welcome


def test_it_confirms_once_and_says_so_to_a_used_link(client, session, settings_env):
    client.post("/subscribe", data=form(client))
    path = confirm_path(settings_env)
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
    first = client.post(path, data={"csrf_token": csrf(client, path)})
    second = client.post(path, data={"csrf_token": csrf(client, "/")})
    assert "You're subscribed" in text_of(first)
    assert "Already confirmed" in text_of(second)
    assert "/preferences/" not in second.text
    assert len(outbox(settings_env)) == 2  # the confirmation and one welcome
    token = path.rsplit("/", 1)[1]
    assert client.post(f"/api/confirm/{token}").status_code == 409


def test_it_confirms_through_the_api_once(client, session, settings_env):
    client.post("/api/subscribe", json={"email": "ada@example.org"})
    token = confirm_path(settings_env).rsplit("/", 1)[1]
    first = client.post(f"/api/confirm/{token}")
    assert first.status_code == 200 and first.json()["status"] == "active"
    again = client.post(f"/api/confirm/{token}")
    assert again.status_code == 409 and "ada@example.org" not in again.text


# --- 12: links that expire, links that do not, and no sequential ids ---------------------------

def test_it_expires_preferences_links_but_never_unsubscribe_links(client, session, settings_env):
    sent = dt.datetime(2025, 10, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(sent, tick=False):
        subscriber = make_subscriber(session)
        preferences = links.url_for("preferences", subscriber).removeprefix(BASE)
        unsubscribe = links.url_for("unsubscribe", subscriber).removeprefix(BASE)
    days = settings_env.preferences_link_days
    with time_machine.travel(sent + dt.timedelta(days=days - 1), tick=False):
        assert client.get(preferences).status_code == 200
    with time_machine.travel(sent + dt.timedelta(days=400), tick=False):
        expired = client.get(preferences)
        assert expired.status_code == 400 and "has expired" in text_of(expired)
        assert BeautifulSoup(expired.text, "html.parser").find(
            "form", action="/preferences").find("input", {"name": "email"})
        assert client.post(unsubscribe).status_code == 200  # RFC 8058 one-click, 400 days on
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED


def test_it_mails_a_fresh_preferences_link_and_answers_the_same_for_anyone(client, session,
                                                                          settings_env):
    make_subscriber(session, "ada@example.org")
    known = client.post("/preferences", data={"csrf_token": csrf(client, "/preferences"),
                                              "email": "ADA@example.org"})
    unknown = client.post("/preferences", data={"csrf_token": csrf(client, "/preferences"),
                                                "email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200 and known.text == unknown.text
    [message] = outbox(settings_env)
    assert message["To"] == "ada@example.org"
    assert client.get(link_in(message, "/preferences/").removeprefix(BASE)).status_code == 200
    statuses = [client.post("/preferences", data={"csrf_token": csrf(client, "/preferences"),
                                                  "email": "ada@example.org"}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]  # like subscribing: 3 an hour per mailbox


def test_it_puts_no_sequential_id_in_new_links_and_keeps_old_ones_working(client, session):
    subscriber = make_subscriber(session)
    token = links.url_for("unsubscribe", subscriber).rsplit("/", 1)[1]
    assert payload(token) == {"u": subscriber.public_id, "v": subscriber.token_version}
    old = links.make_token("unsubscribe", subscriber.id, subscriber.token_version)  # pre-11
    assert payload(old)["s"] == subscriber.id
    assert client.post(f"/u/{old}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED


def test_it_gives_subscribers_who_were_there_before_the_migration_a_public_id(tmp_path):
    """...and keeps everything that points at them: SQLite rebuilds the table to make the
    column NOT NULL, which with foreign keys on would cascade-delete their digests."""
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(db.alembic_config(url), "0004")
    with db.engine_for(url).begin() as conn:
        for n in range(3):
            conn.execute(text(
                "INSERT INTO subscriber (email, status, locale, timezone, send_hour, frequency, "
                "weekday, max_papers, token_version, created_at, include_news) VALUES (:e, "
                "'active', 'en', 'UTC', 7, 'daily', 0, 10, 1, '2026-01-01 00:00:00', 0)"),
                {"e": f"s{n}@x.org"})
            conn.execute(text(
                "INSERT INTO digest (subscriber_id, local_date, status, attempts, created_at) "
                "VALUES (:s, '2026-11-20', 'sent', 1, '2026-11-20 07:00:00')"), {"s": n + 1})
    db.upgrade(url)
    with db.engine_for(url).connect() as conn:
        ids = conn.execute(text("SELECT public_id FROM subscriber")).scalars().all()
        digests = conn.execute(text("SELECT count(*) FROM digest")).scalar()
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert len(ids) == len(set(ids)) == 3 and all(len(i) >= 16 for i in ids)
    assert digests == 3 and foreign_keys == 1
