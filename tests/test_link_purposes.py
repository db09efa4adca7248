"""Every signed link opens only what it was made for: a token of one purpose (an export, a
feed, an archive, a save link ...) given to another purpose's path is refused, and changes
nothing (one-click unsubscribe included), whatever extras it carries."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import Rating, SavedPaper, Subscriber, SubscriberStatus
from newsletter.web.app import create_app
from tests.factories import make_digest, make_paper, make_subscriber

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


@pytest.fixture
def client(settings_env):
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def token(purpose: str, subscriber: Subscriber, digest_id: int, paper_id: str) -> str:
    """A token with every extra any path reads, so only its purpose can make it fail."""
    return links.make_token(purpose, subscriber.public_id, subscriber.token_version,
                            digest=digest_id, d=digest_id, paper=paper_id, p=paper_id,
                            signal="more", f=subscriber.feed_version)


def test_a_link_of_one_purpose_opens_no_other(client, session):
    reader = make_subscriber(session)
    paper = make_paper(session)
    digest = make_digest(session, reader, [paper], status="sent")
    wrong = [(p, q) for p, q in itertools.permutations(links.PURPOSES, 2)]
    for path_purpose, token_purpose in wrong:
        url = links.PATHS[path_purpose].format(
            token=token(token_purpose, reader, digest.id, paper.id))
        answer = client.get(url, headers=BROWSER)
        assert 400 <= answer.status_code < 500, (path_purpose, token_purpose, answer.status_code)
        if path_purpose == "unsubscribe":
            posted = client.post(url, data={"List-Unsubscribe": "One-Click"})
            assert posted.status_code >= 400, (token_purpose, posted.status_code)
    session.expire_all()
    assert session.get(Subscriber, reader.id).status == SubscriberStatus.ACTIVE
    assert session.exec(select(SavedPaper)).all() == []
    assert session.exec(select(Rating)).all() == []


def test_each_purpose_opens_its_own_path(client, session):
    """The matrix above refuses for the right reason: the same tokens work where they belong."""
    reader = make_subscriber(session)
    paper = make_paper(session)
    digest = make_digest(session, reader, [paper], status="sent")
    for purpose in ("preferences", "archive", "export", "feed", "digest"):
        url = links.PATHS[purpose].format(token=token(purpose, reader, digest.id, paper.id))
        assert client.get(url, headers=BROWSER).status_code == 200, purpose
