"""The subscriber's archive (GET /a/{token}): past digests, search over every paper sent,
through HTTP (TestClient), on SQLite here and on PostgreSQL in the last tests."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import (
    Digest,
    DigestStatus,
    PaperSummary,
    Rating,
    SavedPaper,
)
from newsletter.core.time import utcnow
from newsletter.subscribers import archive, saved
from newsletter.web.app import create_app
from tests.factories import make_digest, make_paper, make_subscriber

BASE = "https://hub.example.org"
DAY = dt.date(2026, 11, 25)


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


def archive_path(subscriber, **extra) -> str:
    return "/a/" + links.make_token("archive", subscriber.public_id, subscriber.token_version,
                                    **extra)


def send(session, subscriber, day, papers, *, status=DigestStatus.SENT, subject=None):
    return make_digest(session, subscriber, papers, local_date=day, status=status,
                       subject=subject or f"Digest of {day.isoformat()}")


def soup(page):
    return BeautifulSoup(page.text, "html.parser")


def titles(page) -> list[str]:
    return [t.get_text(strip=True) for t in soup(page).select(".hits .card-title")]


def test_it_lists_past_digests_newest_first_with_their_paper_counts(client, session):
    ada = make_subscriber(session)
    send(session, ada, DAY - dt.timedelta(days=1), [make_paper(session)], subject="Older")
    newer = send(session, ada, DAY, [make_paper(session), make_paper(session)], subject="Newer")
    send(session, ada, DAY + dt.timedelta(days=1), [make_paper(session)],
         status=DigestStatus.COMPOSED, subject="Not sent yet")
    page = client.get(archive_path(ada))
    assert page.status_code == 200
    rows = soup(page).select(".digest-list li")
    assert [r.select_one(".digest-subject").get_text() for r in rows] == ["Newer", "Older"]
    assert "2 papers" in rows[0].get_text() and "1 paper" in rows[1].get_text()
    view = client.get(rows[0].a["href"].removeprefix(BASE))
    assert view.status_code == 200 and links.read_token(
        "digest", rows[0].a["href"].rsplit("/", 1)[1]).extra["digest"] == newer.id


def test_it_pages_through_a_long_archive(client, session):
    ada = make_subscriber(session)
    paper = make_paper(session)
    for n in range(25):
        send(session, ada, DAY - dt.timedelta(days=n), [paper] if n == 0 else [],
             subject=f"Day {n}")
    first = client.get(archive_path(ada))
    assert len(soup(first).select(".digest-list li")) == archive.PER_PAGE
    older = soup(first).select_one("a[rel=next]")["href"]
    assert soup(first).select_one("a[rel=prev]") is None
    second = client.get(older)
    subjects = [s.get_text() for s in soup(second).select(".digest-subject")]
    assert subjects == [f"Day {n}" for n in range(20, 25)]
    assert soup(second).select_one("a[rel=next]") is None
    assert soup(second).select_one("a[rel=prev]") is not None
    for odd in ("0", "-3", "abc", "9" * 40):  # never a 500, never an empty first page
        assert client.get(archive_path(ada) + f"?page={odd}").status_code == 200


def test_it_says_why_a_day_was_skipped(client, session):
    ada = make_subscriber(session)
    from newsletter.scheduling.pipeline import NO_MATCH

    session.add(Digest(subscriber_id=ada.id, local_date=DAY, status=DigestStatus.SKIPPED,
                       error=NO_MATCH.text()))
    session.commit()
    assert "no new papers matched the topics" in soup(client.get(archive_path(ada))).get_text()


def test_it_is_linked_from_the_preferences_page_and_every_digest(client, session):
    from newsletter.compose.view import compose_digest

    ada = make_subscriber(session)
    prefs = client.get("/preferences/" + links.make_token("preferences", ada.public_id,
                                                          ada.token_version))
    href = soup(prefs).find("a", href=re.compile("/a/"))["href"]
    assert client.get(href.removeprefix(BASE)).status_code == 200
    digest = send(session, ada, DAY, [make_paper(session)], status=DigestStatus.PENDING)
    compose_digest(session, digest)
    footer = soup(type("R", (), {"text": digest.html})).find("a", string="Archive")
    assert footer is not None and "/a/" in footer["href"]
    assert re.search(r"Archive: https://hub\.example\.org/a/\S+", digest.text)
    assert client.get(footer["href"].removeprefix(BASE)).status_code == 200


def test_it_searches_titles_authors_abstracts_and_summaries_with_ratings(client, session):
    ada = make_subscriber(session)
    by_title = make_paper(session, title="Sparse attention for long documents")
    by_author = make_paper(session, authors=["Grace Hopper"], title="Compilers")
    by_abstract = make_paper(session, abstract="We study sparse mixtures of experts.")
    by_summary = make_paper(session, title="Unrelated title")
    session.add(PaperSummary(paper_id=by_summary.id, locale="en", model="offline",
                             prompt_version="1", text="A sparse method, summarised."))
    send(session, ada, DAY, [by_title, by_author, by_abstract, by_summary])
    session.add(Rating(subscriber_id=ada.id, paper_id=by_title.id, value=1))
    session.add(Rating(subscriber_id=ada.id, paper_id=by_abstract.id, value=-1))
    session.commit()
    page = client.get(archive_path(ada), params={"q": "SPARSE"})
    assert titles(page) == [by_title.title, by_abstract.title, by_summary.title]
    rated = [c.select_one(".card-reason") for c in soup(page).select(".hits .card")]
    assert [r.get_text() if r else None for r in rated] == [
        "You asked for more like this", "You asked for less like this", None]
    assert titles(client.get(archive_path(ada), params={"q": "hopper"})) == ["Compilers"]
    # every word must match
    assert titles(client.get(archive_path(ada), params={"q": "sparse documents"})) == [
        by_title.title]


def test_it_searches_only_the_papers_sent_to_this_subscriber(client, session):
    ada = make_subscriber(session)
    eve = make_subscriber(session, "eve@example.org")
    mine = make_paper(session, title="Quantum error correction, mine")
    theirs = make_paper(session, title="Quantum error correction, theirs")
    pending = make_paper(session, title="Quantum error correction, not sent yet")
    send(session, ada, DAY, [mine])
    send(session, eve, DAY, [theirs])
    send(session, ada, DAY + dt.timedelta(days=1), [pending], status=DigestStatus.COMPOSED)
    assert titles(client.get(archive_path(ada), params={"q": "quantum"})) == [mine.title]


def test_it_takes_wildcards_literally(client, session):
    ada = make_subscriber(session)
    percent = make_paper(session, title="A 100% accurate parser")
    underscore = make_paper(session, title="The snake_case convention")
    plain = make_paper(session, title="A 1000 accurate snakeXcase parser")
    send(session, ada, DAY, [percent, underscore, plain])
    assert titles(client.get(archive_path(ada), params={"q": "%"})) == [percent.title]
    assert titles(client.get(archive_path(ada), params={"q": "100%"})) == [percent.title]
    assert titles(client.get(archive_path(ada), params={"q": "snake_case"})) == [underscore.title]
    assert titles(client.get(archive_path(ada), params={"q": "\\"})) == []


def test_it_escapes_markup_in_the_query_and_in_titles(client, session):
    ada = make_subscriber(session)
    hostile = make_paper(session, title="<script>alert(1)</script> in titles")
    send(session, ada, DAY, [hostile])
    page = client.get(archive_path(ada), params={"q": "<script>"})
    assert page.status_code == 200 and "<script>alert" not in page.text
    assert titles(page) == [hostile.title]
    assert soup(page).select_one("#q")["value"] == "<script>"


def test_it_finds_chinese_titles_authors_and_summaries(client, session):
    ada = make_subscriber(session, locale="zh")
    title = make_paper(session, title="大语言模型的推理能力")
    author = make_paper(session, authors=["张三", "Ada Lovelace"], title="Reasoning")
    summary = make_paper(session, title="Retrieval")
    session.add(PaperSummary(paper_id=summary.id, locale="zh", model="offline",
                             prompt_version="1", text="本文研究语言模型的检索增强。"))
    send(session, ada, DAY, [title, author, summary])
    assert titles(client.get(archive_path(ada), params={"q": "语言模型"})) == [
        title.title, summary.title]
    assert titles(client.get(archive_path(ada), params={"q": "张三"})) == ["Reasoning"]
    page = client.get(archive_path(ada), params={"q": "检索增强"})
    assert "本文研究语言模型的检索增强。" in soup(page).select_one(".card-abstract").get_text()


def test_it_refuses_overlong_or_wordy_queries_with_a_message(client, session):
    ada = make_subscriber(session)
    send(session, ada, DAY, [make_paper(session)])
    long = client.get(archive_path(ada), params={"q": "a" * 5000})
    assert long.status_code == 422
    assert "limited to 200 characters" in soup(long).select_one("#q-error").get_text()
    assert len(soup(long).select_one("#q")["value"]) == 200
    wordy = client.get(archive_path(ada), params={"q": " ".join("abcdefghij")})
    assert wordy.status_code == 422 and "at most 8 words" in wordy.text
    zh = client.get(archive_path(ada), params={"q": "a" * 201, "lang": "zh"})
    assert "搜索词最多 200 个字符" in zh.text
    blank = client.get(archive_path(ada), params={"q": " \x00\t "})
    assert blank.status_code == 200 and soup(blank).select(".digest-list li")


def test_it_rejects_tampered_revoked_and_wrong_purpose_links(client, session):
    ada = make_subscriber(session)
    good = archive_path(ada)
    assert client.get(good[:-3] + "AAA").status_code == 400
    preferences = links.make_token("preferences", ada.public_id, ada.token_version)
    assert client.get(f"/a/{preferences}").status_code == 400
    ada.token_version += 1
    session.add(ada)
    session.commit()
    assert client.get(good).status_code == 400


def test_it_expires_archive_links_and_offers_a_fresh_one(client, session, settings_env):
    ada = make_subscriber(session)
    with time_machine.travel(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), tick=False):
        old = archive_path(ada)
    with time_machine.travel(dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
                             + dt.timedelta(days=settings_env.preferences_link_days + 1),
                             tick=False):
        page = client.get(old)
    assert page.status_code == 400 and "This archive link has expired" in page.text
    assert soup(page).find("form", action="/preferences") is not None


def test_it_searches_the_same_way_on_postgresql(pg_url, session):
    from sqlmodel import Session

    from newsletter.core import db

    with Session(db.get_engine(), expire_on_commit=False) as pg:
        ada = make_subscriber(pg, locale="zh")
        percent = make_paper(pg, title="A 100% Accurate parser", authors=["张三"])
        other = make_paper(pg, title="A 1000 accurate parser")
        send(pg, ada, DAY, [percent, other])
        found = archive.search(pg, ada, archive.search_words("accurate 100%"))
        assert [h.paper.id for h in found.rows] == [percent.id]
        assert [h.paper.id for h in archive.search(pg, ada, ["张三"]).rows] == [percent.id]
        assert [h.paper.id for h in archive.search(pg, ada, ["_"]).rows] == []
        assert [r.papers for r in archive.digests(pg, ada).rows] == [2]


# --- the reading list -------------------------------------------------------------------------

READER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0"}


def save_path(subscriber, paper) -> str:
    return "/s/" + links.make_token("save", subscriber.public_id, subscriber.token_version,
                                    paper=paper.id)


def saved_rows(session, subscriber):
    session.expire_all()
    return session.exec(select(SavedPaper).where(SavedPaper.subscriber_id == subscriber.id)
                        .order_by(SavedPaper.id)).all()


def csrf_of(page) -> str:
    return soup(page).find("input", {"name": "csrf_token"})["value"]


def test_it_saves_from_the_emails_link_once_and_offers_to_undo(client, session):
    ada = make_subscriber(session)
    paper = make_paper(session, title="Worth keeping")
    first = client.get(save_path(ada, paper), headers=READER)
    again = client.get(save_path(ada, paper), headers=READER)
    assert first.status_code == again.status_code == 200
    assert "“Worth keeping” is on your reading list." in soup(first).get_text()
    [row] = saved_rows(session, ada)
    assert (row.paper_id, row.origin) == (paper.id, "email")
    undo = soup(again).select_one("form")
    assert undo.select_one("input[name=action]")["value"] == "unsave"
    removed = client.post(undo["action"], data={"csrf_token": csrf_of(again), "action": "unsave"})
    assert "was removed from your reading list" in removed.text
    assert saved_rows(session, ada) == []
    archive_link = soup(removed).find("a", href=re.compile("/a/"))["href"]
    assert client.get(archive_link.removeprefix(BASE)).status_code == 200


@pytest.mark.parametrize("headers", [
    {"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"},
    {"User-Agent": ""},
    {"User-Agent": READER["User-Agent"], "Sec-Purpose": "prefetch"},
])
def test_it_saves_nothing_for_a_mail_scanner_and_shows_a_button_instead(client, session,
                                                                          headers):
    ada = make_subscriber(session)
    paper = make_paper(session, title="Scanned")
    page = client.get(save_path(ada, paper), headers=headers)
    assert page.status_code == 200 and saved_rows(session, ada) == []
    assert client.head(save_path(ada, paper), headers=READER).status_code in (200, 405)
    assert saved_rows(session, ada) == []
    form = soup(page).select_one("form")
    assert form.select_one("input[name=action]")["value"] == "save"
    client.post(form["action"], data={"csrf_token": csrf_of(page), "action": "save"})
    assert [r.paper_id for r in saved_rows(session, ada)] == [paper.id]


def test_it_saves_nothing_for_a_browser_like_scanner_right_after_sending(client, session):
    """Link checkers that look like browsers open every link as the email arrives (as for
    clicks and votes): a Save opened within a minute of its digest's sending only asks."""
    ada = make_subscriber(session)
    paper = make_paper(session, title="Just delivered")
    send(session, ada, DAY, [paper], subject="Today").sent_at = utcnow()
    session.commit()
    page = client.get(save_path(ada, paper), headers=READER)
    assert page.status_code == 200 and saved_rows(session, ada) == []
    assert soup(page).select_one("form input[name=action]")["value"] == "save"
    with time_machine.travel(utcnow() + dt.timedelta(minutes=5)):
        client.get(save_path(ada, paper), headers=READER)
    assert [r.paper_id for r in saved_rows(session, ada)] == [paper.id]


def test_it_refuses_a_save_post_without_the_forms_token(client, session):
    ada = make_subscriber(session)
    paper = make_paper(session)
    client.get("/")  # a CSRF cookie, but no matching token in the form
    assert client.post(save_path(ada, paper), data={"action": "save"}).status_code == 403
    assert client.post(save_path(ada, paper), data={"action": "save", "csrf_token": "x"}
                       ).status_code == 403
    assert saved_rows(session, ada) == []


def test_it_rejects_tampered_and_revoked_save_links(client, session):
    ada = make_subscriber(session)
    paper = make_paper(session)
    good = save_path(ada, paper)
    assert client.get(good[:-3] + "AAA", headers=READER).status_code == 400
    feedback = links.make_token("feedback", ada.public_id, ada.token_version, paper=paper.id,
                                signal="more")
    assert client.get(f"/s/{feedback}", headers=READER).status_code == 400
    ada.token_version += 1
    session.add(ada)
    session.commit()
    assert client.get(good, headers=READER).status_code == 400
    assert saved_rows(session, ada) == []


def test_it_saves_and_removes_from_the_archive_and_lists_newest_saved_first(client, session):
    ada = make_subscriber(session)
    older, newer, unsent = (make_paper(session, title=t) for t in (
        "Older find", "Newer find", "Never sent"))
    send(session, ada, DAY, [older, newer])
    path = archive_path(ada)
    page = client.get(path, params={"q": "find"})
    forms = soup(page).select(".hits form.save-form")
    assert [f.button.get_text() for f in forms] == ["Save", "Save"]
    now = dt.datetime.now(dt.UTC)  # saved an hour apart, whatever the date
    with time_machine.travel(now + dt.timedelta(hours=1), tick=False):
        client.post(forms[1]["action"], data={"csrf_token": csrf_of(page), "paper": older.id,
                                              "action": "save"})
    with time_machine.travel(now + dt.timedelta(hours=2), tick=False):
        after = client.post(forms[0]["action"], data={"csrf_token": csrf_of(page),
                                                      "paper": newer.id, "action": "save"})
        again = client.post(forms[0]["action"], data={"csrf_token": csrf_of(page),
                                                      "paper": newer.id, "action": "save"})
    assert after.status_code == again.status_code == 200
    assert "“Newer find” is on your reading list." in soup(after).get_text()
    assert titles(after) == ["Older find", "Newer find"]  # the search stays where it was
    listed = [t.get_text(strip=True) for t in soup(again).select(".reading-list .card-title")]
    assert listed == ["Newer find", "Older find"] and len(saved_rows(session, ada)) == 2
    assert "2 papers saved" in soup(again).get_text()
    assert [m.get_text() for m in soup(again).select(".hits .saved-mark")] == ["Saved", "Saved"]
    refused = client.post(forms[0]["action"], data={"csrf_token": csrf_of(page),
                                                    "paper": unsent.id, "action": "save"})
    assert refused.status_code == 400
    removed = client.post(forms[0]["action"], data={"csrf_token": csrf_of(page),
                                                    "paper": older.id, "action": "unsave"})
    assert [t.get_text(strip=True) for t in soup(removed).select(".reading-list .card-title")
            ] == ["Newer find"]
    client.post(forms[0]["action"], data={"csrf_token": csrf_of(page), "paper": older.id,
                                          "action": "unsave"})  # twice: nothing to do
    assert [r.paper_id for r in saved_rows(session, ada)] == [newer.id]


def test_the_reading_list_is_per_subscriber(client, session):
    ada = make_subscriber(session)
    eve = make_subscriber(session, "eve@example.org")
    paper = make_paper(session, title="Ada's pick")
    client.get(save_path(ada, paper), headers=READER)
    assert soup(client.get(archive_path(eve))).select(".reading-list .card") == []
    assert len(soup(client.get(archive_path(ada))).select(".reading-list .card")) == 1


def test_the_email_carries_a_save_link_per_card(session):
    from newsletter.compose.view import compose_digest

    ada = make_subscriber(session)
    papers = [make_paper(session), make_paper(session)]
    digest = send(session, ada, DAY, papers, status=DigestStatus.PENDING)
    compose_digest(session, digest)
    saves = [a["href"] for a in soup(type("R", (), {"text": digest.html})).find_all(
        "a", string="Save")]
    assert [links.read_token("save", h.rsplit("/", 1)[1]).extra["paper"] for h in saves] == [
        p.id for p in papers]
    assert digest.text.count("Save: https://hub.example.org/s/") == 2


def test_saved_papers_are_exported_and_deleted_with_the_account(client, session):
    from newsletter.subscribers import lifecycle

    ada = make_subscriber(session)
    paper = make_paper(session, title="Keep me")
    saved.save(session, ada, paper, "web")
    exported = lifecycle.export_data(session, ada)["saved"]
    assert [(e["paper"], e["title"], e["from"]) for e in exported] == [
        (paper.id, "Keep me", "web")]
    lifecycle.delete_data(session, ada)
    assert session.exec(select(SavedPaper)).all() == []


def test_removing_the_last_paper_of_the_last_page_shows_the_page_before(client, session):
    """A page of the reading list past its end (its last paper just removed) shows the
    list's last page, never 'Nothing saved yet' over twenty saved papers."""
    ada = make_subscriber(session)
    papers = [make_paper(session, title=f"Kept {n}") for n in range(archive.PER_PAGE + 1)]
    send(session, ada, DAY, papers)
    start = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    for n, paper in enumerate(papers):
        session.add(SavedPaper(subscriber_id=ada.id, paper_id=paper.id, origin="web",
                               saved_at=start + dt.timedelta(minutes=n)))
    session.commit()
    second = client.get(archive_path(ada), params={"saved_page": 2})
    [form] = soup(second).select(".reading-list form.save-form")
    assert form.select_one("input[name=paper]")["value"] == papers[0].id
    removed = client.post(form["action"], data={"csrf_token": csrf_of(second),
                                                "paper": papers[0].id, "action": "unsave"})
    listed = soup(removed).select(".reading-list .card-title")
    assert len(listed) == archive.PER_PAGE and "Nothing saved yet" not in removed.text
    assert client.get(archive_path(ada), params={"saved_page": 9}).text.count(
        'class="card-title"') == archive.PER_PAGE
