"""The click redirect as a ranking signal: one click per (digest, paper), prefetchers and
mail scanners count as the click but never vote, revoked and deleted links only redirect."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core.models import Digest, DigestStatus, Event, Feedback, Subscriber
from newsletter.subscribers import lifecycle
from newsletter.tracking import clicks
from tests.factories import make_paper, make_subscriber

BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0 Safari/537.36")
SENT = dt.datetime(2026, 11, 25, 7, tzinfo=dt.UTC)
LATER = SENT + dt.timedelta(hours=2)


@pytest.fixture
def client(settings_env):
    from newsletter.web.app import create_app

    return TestClient(create_app(), follow_redirects=False)


@pytest.fixture
def link(session):
    subscriber = make_subscriber(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=SENT.date(), sent_at=SENT,
                    status=DigestStatus.SENT)
    session.add(digest)
    session.commit()
    paper = make_paper(session)
    return clicks.click_url(subscriber, paper.id, digest.id).removeprefix(
        "https://hub.example.org"), subscriber, paper


def fetch(client, path, method="GET", agent=BROWSER, when=LATER, **headers):
    with time_machine.travel(when, tick=False):
        return client.request(method, path, headers={"User-Agent": agent, **headers})


def votes(session) -> list[Feedback]:
    session.expire_all()
    return session.exec(select(Feedback).where(Feedback.signal == "click")).all()


def click_events(session) -> list[Event]:
    return session.exec(select(Event).where(Event.type == "click")).all()


def test_it_counts_twenty_fetches_of_one_link_as_one_click_and_one_vote(client, session, link):
    path, _, paper = link
    answers = [fetch(client, path) for _ in range(20)]
    assert {a.status_code for a in answers} == {302}
    assert [v.paper_id for v in votes(session)] == [paper.id]
    assert len(click_events(session)) == 1


@pytest.mark.parametrize("how", [
    {"method": "HEAD"},
    {"agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"},
    {"agent": "Mozilla/5.0 (Windows NT 10.0) Proofpoint URL Defense"},
    {"agent": ""},
    {"Sec-Purpose": "prefetch"},
    {"when": SENT + dt.timedelta(seconds=20)},  # within a minute of sending: a scanner
])
def test_it_counts_a_prefetch_as_the_click_but_not_as_a_vote(client, session, link, how):
    path, _, paper = link
    first = fetch(client, path, **how)
    assert first.status_code == 302
    assert votes(session) == []
    [event] = click_events(session)
    assert event.payload["prefetch"] is True
    fetch(client, path)  # then the reader clicks: the vote, still one click
    assert [v.paper_id for v in votes(session)] == [paper.id]
    assert len(click_events(session)) == 1


def test_it_only_redirects_a_revoked_link(client, session, link):
    path, subscriber, paper = link
    subscriber.token_version += 1
    session.commit()
    answer = fetch(client, path)
    assert answer.status_code == 302 and answer.headers["location"] == paper.url
    assert votes(session) == [] and click_events(session) == []


def test_it_only_redirects_a_deleted_subscribers_link(client, session, link):
    path, subscriber, paper = link
    lifecycle.delete_data(session, subscriber)
    answer = fetch(client, path)
    assert answer.status_code == 302 and answer.headers["location"] == paper.url
    assert votes(session) == [] and click_events(session) == []
    assert session.exec(select(Subscriber)).all() == []


def test_it_takes_no_vote_from_a_scanner_opening_the_more_and_less_links(client, session,
                                                                         link):
    from newsletter.core import links
    from newsletter.core.models import Rating
    from tests.test_web import csrf

    _, subscriber, paper = link
    more, less = (links.url_for("feedback", subscriber, paper=paper.id, signal=s)
                  .removeprefix("https://hub.example.org") for s in ("more", "less"))
    for path in (more, less):  # what a scanner does with every link in the email
        page = fetch(client, path, agent="Mozilla/5.0 (compatible; Mimecast URL scanner)")
        assert page.status_code == 200 and "Record my vote" in page.text
    assert session.exec(select(Rating)).all() == []
    answer = client.post(more, data={"csrf_token": csrf(client, "/"), "vote": "more"})
    assert answer.status_code == 200
    [rating] = session.exec(select(Rating)).all()
    assert (rating.paper_id, rating.value) == (paper.id, 1)
    fetch(client, less)  # a person clicking "less" in a browser votes at once
    session.expire_all()
    assert session.exec(select(Rating)).one().value == -1
