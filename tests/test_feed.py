"""The personal Atom feed: valid Atom 1.0 that feedparser reads without complaint, stable
entry ids, newest first, no duplicates, conditional GETs, and an address the subscriber can
revoke (the old one then answers 410 Gone) from the preferences page."""

from __future__ import annotations

import datetime as dt
import re

import feedparser
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from lxml import etree
from sqlmodel import select

from newsletter.compose.feed import MAX_DIGESTS
from newsletter.core import links
from newsletter.core.links import feed_url
from newsletter.core.models import Digest, DigestItem, DigestStatus
from newsletter.web.app import create_app
from tests.factories import make_digest, make_paper, make_subscriber

BASE = "https://hub.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = "Braces {x} & <script>alert(1)</script> “中文” \x0b ]]> end"


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


def add_digest(session, subscriber, day: int, papers, *, status=DigestStatus.SENT) -> Digest:
    sent = dt.datetime(2026, 11, day, 7, 0, tzinfo=dt.UTC)
    return make_digest(
        session, subscriber, papers, local_date=dt.date(2026, 11, day), status=status,
        subject=f"Nov {day} · Language models",
        synthesis=f"Two papers agree [1] [2] & <b>{day}</b>.\n\nSee https://evil.example/x.",
        sent_at=sent if status == DigestStatus.SENT else None)


@pytest.fixture
def reader(session):
    """A subscriber with three sent digests (one paper twice) and one not sent."""
    subscriber = make_subscriber(session)
    papers = [make_paper(session, title=HOSTILE if n == 0 else f"Language models read {n}",
                         authors=["Ada Lovelace", "张三"]) for n in range(5)]
    add_digest(session, subscriber, 23, papers[:2])
    add_digest(session, subscriber, 24, papers[2:4])
    add_digest(session, subscriber, 25, [papers[4], papers[0]])
    add_digest(session, subscriber, 26, papers[:1], status=DigestStatus.COMPOSED)
    return subscriber


def path(url: str) -> str:
    assert url.startswith(BASE + "/feed/")
    return url.removeprefix(BASE)


def fetch(client, subscriber, **headers):
    return client.get(path(feed_url(subscriber)), headers=headers)


def check_atom(xml: bytes) -> etree._Element:
    """Every element RFC 4287 requires of a feed and its entries, read with lxml."""
    root = etree.fromstring(xml)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}").text
    assert root.find(f"{ATOM}author/{ATOM}name").text == "AcademicHub"
    assert root.find(f"{ATOM}link[@rel='self']").get("href").startswith(BASE + "/feed/")
    for entry in root.iter(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{name}").text
        alternate = [link for link in entry.findall(f"{ATOM}link")
                     if link.get("rel", "alternate") == "alternate"]  # rel's default
        assert alternate and alternate[0].get("href").startswith("https://")
        assert entry.find(f"{ATOM}content").get("type") == "html"
    return root


def test_it_serves_one_entry_per_sent_digest_newest_first(client, reader):
    response = fetch(client, reader)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    check_atom(response.content)
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == ["Nov 25 · Language models",
                                                  "Nov 24 · Language models",
                                                  "Nov 23 · Language models"]
    assert [e.updated_parsed[:3] for e in parsed.entries] == [(2026, 11, 25), (2026, 11, 24),
                                                              (2026, 11, 23)]
    assert parsed.feed.updated_parsed[:4] == (2026, 11, 25, 7)
    assert all(e.link.startswith(BASE + "/d/") for e in parsed.entries)
    first = parsed.entries[0].content[0]
    assert first.type == "text/html"
    # Untrusted text is escaped once: shown as text, never as markup
    assert "&amp; &lt;b&gt;25&lt;/b&gt;" in first.value
    assert "<script>" not in first.value and "&lt;script&gt;" in first.value
    assert "evil.example" not in first.value  # no links in the LLM's words, as in the email


def test_it_keeps_entry_ids_stable_and_unique(client, reader, session):
    one = feedparser.parse(fetch(client, reader).content)
    two = feedparser.parse(fetch(client, reader).content)
    ids = [e.id for e in one.entries]
    assert ids == [e.id for e in two.entries] and len(set(ids)) == len(ids) == 3
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", i) for i in ids)
    assert one.feed.id == two.feed.id
    # a new digest adds an entry and changes none of the old ones
    add_digest(session, reader, 27, [make_paper(session)])
    three = feedparser.parse(fetch(client, reader).content)
    assert [e.id for e in three.entries][1:] == ids


def test_it_serves_one_entry_per_paper_when_asked(client, reader, session):
    digest_ids = [e.id for e in feedparser.parse(fetch(client, reader).content).entries]
    reader.feed_mode = "paper"
    session.add(reader)
    session.commit()
    response = fetch(client, reader)
    check_atom(response.content)
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    titles = [e.title for e in parsed.entries]
    # newest digest first, each paper once (the first paper came again on the 25th)
    assert titles == ["Language models read 4", HOSTILE.replace("\x0b", ""),
                      "Language models read 2", "Language models read 3",
                      "Language models read 1"]
    ids = [e.id for e in parsed.entries]
    assert len(set(ids)) == 5 and not set(ids) & set(digest_ids)
    assert ids == [e.id for e in feedparser.parse(fetch(client, reader).content).entries]
    entry = parsed.entries[0]
    assert [a.name for a in entry.authors] == ["Ada Lovelace", "张三"]
    assert entry.link.startswith("https://arxiv.org/abs/")
    assert "From your digest of Wednesday, November 25, 2026 · arXiv" in entry.content[0].value


def test_it_bounds_the_number_of_entries(client, session):
    subscriber = make_subscriber(session)
    paper = make_paper(session)
    for n in range(MAX_DIGESTS + 3):
        digest = Digest(subscriber_id=subscriber.id, status=DigestStatus.SENT,
                        local_date=dt.date(2026, 1, 1) + dt.timedelta(days=n),
                        sent_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n))
        session.add(digest)
        session.flush()
        session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=1))
    session.commit()
    parsed = feedparser.parse(fetch(client, subscriber).content)
    assert len(parsed.entries) == MAX_DIGESTS
    assert parsed.entries[0].updated_parsed[:3] == (2026, 2, 2)


def test_it_answers_conditional_gets_with_304(client, reader, session):
    first = fetch(client, reader)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('W/"') and modified == "Wed, 25 Nov 2026 07:00:00 GMT"
    # one policy, the feed's own: readers revalidate; no second `no-store` contradicts it
    assert first.headers.get_list("cache-control") == ["private, no-cache"]
    again = fetch(client, reader, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert fetch(client, reader, **{"If-Modified-Since": modified}).status_code == 304
    assert fetch(client, reader, **{"If-None-Match": 'W/"other"'}).status_code == 200
    probe = client.head(path(feed_url(reader)))
    assert (probe.status_code, probe.headers["etag"], probe.content) == (200, etag, b"")
    add_digest(session, reader, 27, [make_paper(session)])
    changed = fetch(client, reader, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert fetch(client, reader, **{"If-Modified-Since": modified}).status_code == 200


def test_it_revokes_the_address_from_the_preferences_page(client, reader, session):
    old = path(feed_url(reader))
    assert feed_url(reader) == feed_url(reader)  # one address, not a new one per page view
    prefs = f"/preferences/{links.make_token('preferences', reader.public_id, 1)}"
    page = BeautifulSoup(client.get(prefs).text, "html.parser")
    assert page.select_one("#feed-url")["value"] == BASE + old
    csrf = page.find("input", {"name": "csrf_token"})["value"]
    done = client.post(prefs + "/feed", data={"csrf_token": csrf, "action": "revoke"})
    assert "Your feed has a new address" in done.text
    session.refresh(reader)
    new = BeautifulSoup(done.text, "html.parser").select_one("#feed-url")["value"]
    assert new == feed_url(reader) and new != BASE + old
    gone = client.get(old)
    assert gone.status_code == 410 and "This feed address was revoked" in gone.text
    assert client.get(path(new)).status_code == 200
    changed = client.post(prefs + "/feed", data={"csrf_token": csrf, "action": "mode",
                                                 "feed_mode": "paper"})
    assert changed.status_code == 200
    session.refresh(reader)
    assert reader.feed_mode == "paper"
    assert client.post(prefs + "/feed", data={"action": "revoke"}).status_code == 403


def test_it_rejects_tampered_and_foreign_addresses(client, reader):
    url = path(feed_url(reader))
    tampered = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    answer = client.get(tampered)
    assert answer.status_code == 404 and "This feed address is not valid" in answer.text
    preferences = links.make_token("preferences", reader.public_id, 1)
    assert client.get(f"/feed/{preferences}").status_code == 404  # another purpose's link
    reader_version = links.make_token("feed", reader.public_id, 2, f=1)  # stale token version
    assert client.get(f"/feed/{reader_version}").status_code == 410


def test_it_links_the_feed_from_the_web_view(client, reader, session):
    digest = session.exec(select(Digest).where(Digest.local_date == dt.date(2026, 11, 25))).one()
    view = client.get(f"/d/{links.make_token('digest', reader.public_id, 1, digest=digest.id)}")
    link = BeautifulSoup(view.text, "html.parser").find("a", string="Atom feed")
    assert link["href"] == feed_url(reader)


def test_a_control_character_in_any_field_never_breaks_the_feed(client, session):
    """XML 1.0 has no place for most control characters; feeds and Crossref carry some in
    every field, not only titles: the feed drops them wherever they are."""
    subscriber = make_subscriber(session)
    paper = make_paper(session, title="Plain", authors=["Ada\x01 Lovelace"], abstract="a\x02b",
                       doi="10.1/x\x03y", journal="Nat\x04ure", source="nature",
                       categories=["cs\x05.CL"])
    add_digest(session, subscriber, 25, [paper]).subject = "Nov\x06 25"
    session.commit()
    for mode in ("digest", "paper"):
        subscriber.feed_mode = mode
        session.commit()
        answer = fetch(client, subscriber)
        assert answer.status_code == 200, mode
        check_atom(answer.content)
    assert "DOI 10.1/xy" in answer.text  # the per-paper entry names it


def test_the_api_schema_stays_valid_with_the_feeds_head_route(client):
    """GET and HEAD on one route gave both the same operationId (OpenAPI wants each once,
    generated clients break on it); a feed for readers is no API operation anyway."""
    schema = client.get("/api/openapi.json").json()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and "/feed/{token}" not in schema["paths"]


@pytest.mark.parametrize("mode", ["digest", "paper"])
def test_the_feeds_web_links_open_no_personal_page(client, reader, session, mode):
    """The feed is handed to reader services and shared: its links show the digest, never
    the email as sent (its unsubscribe, preferences, save and vote links) or the links to
    the preferences, archive and feed that would turn read access into control."""
    reader.feed_mode = mode
    for digest in session.exec(select(Digest).where(Digest.subscriber_id == reader.id)):
        digest.html = ('<html><body><a href="https://hub.example.org/u/unsub">Unsubscribe</a>'
                       '</body></html>')
    session.commit()
    root = etree.fromstring(fetch(client, reader).content)
    views = {link.get("href") for link in root.iter(f"{ATOM}link")
             if "/d/" in link.get("href", "")}
    assert views
    for url in views:
        page = client.get(url.removeprefix(BASE))
        assert page.status_code == 200 and "Nov 2" in page.text
        hrefs = [a["href"] for a in BeautifulSoup(page.text, "html.parser").find_all("a")]
        personal = [h for h in hrefs if re.search(r"/(u|preferences|a|s|f|feed)/", h)]
        assert personal == [], personal
    own = client.get(f"/d/{links.make_token('digest', reader.public_id, 1, digest=digest.id)}")
    assert "/u/unsub" in own.text  # the email's own web view is the email, as before
