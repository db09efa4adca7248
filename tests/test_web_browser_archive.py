"""The archive and the reading list in headless Chromium, on a phone (375 px) and a desktop
(1280 px): open the archive from a digest's footer link, search, open a past digest, save a
paper from its card, find it on the reading list; axe-core audits each page (WCAG 2 A/AA).
At 375 px the browser keeps Chromium's headless User-Agent, which the Save link takes for a
mail scanner (a button to press); at 1280 px it sends a desktop one (saved on the click).
Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from newsletter.compose.view import compose_digest
from newsletter.core import links
from newsletter.core.models import Digest, DigestItem, DigestStatus, Paper, SavedPaper
from tests.factories import make_paper, make_subscriber
from tests.test_web_browser import (
    expect,
    live_server,  # noqa: F401
    no_sideways_scroll,
    shoot,
)

pytestmark = pytest.mark.browser
DESKTOP_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.0.0 Safari/537.36")


def sent_digests(session, subscriber, special: Paper) -> list[Digest]:
    """Three composed and sent digests, the oldest carrying `special`."""
    papers = session.exec(select(Paper).where(Paper.id != special.id).order_by(Paper.id)).all()
    digests = []
    for n, day in enumerate((23, 24, 25)):
        digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, day))
        session.add(digest)
        session.flush()
        chosen = ([special] if n == 0 else []) + list(papers[n * 3:n * 3 + 3])
        for rank, paper in enumerate(chosen, 1):
            session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=rank, score=1.0))
        session.commit()
        compose_digest(session, digest)
        digest.status = DigestStatus.SENT
        session.add(digest)
        session.commit()
        digests.append(digest)
    return digests


@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_it_searches_the_archive_and_saves_a_paper_in_the_browser(
        browser, axe, live_server, session, width, height):  # noqa: F811
    reader = make_subscriber(session, f"archive{width}@example.org")
    special = make_paper(session, title="Protein folding meets 语言模型",
                         authors=["Grace Hopper", "张三"],
                         abstract="We fold proteins with language models. It works.")
    oldest, _, newest = sent_digests(session, reader, special)
    agent = {"user_agent": DESKTOP_AGENT} if width == 1280 else {}
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                  bypass_csp=True, **agent)  # lets axe's script in
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    found: dict[str, list[dict]] = {}

    def audit(name: str) -> None:
        no_sideways_scroll(page)
        shoot(page, f"archive-{name}-{width}")
        found[name] = axe.audit(page, f"archive-{name}-{width}")

    # The newest digest's web view, its footer's Archive link
    page.goto(links.url_for("digest", reader, digest=newest.id))
    page.click("a.footer-link:text-is('Archive')")
    expect(page.locator("h1")).to_have_text("Your archive")
    expect(page.locator(".digest-list li")).to_have_count(3)
    assert "November 25, 2026" in page.locator(".digest-list li").first.inner_text()
    expect(page.locator(".reading-list .empty")).to_be_visible()
    audit("list")

    # Search: one hit, by an author written in Chinese
    page.fill("#q", "张三")
    page.click("form.search button[type=submit]")
    expect(page.locator(".hits .card")).to_have_count(1)
    expect(page.locator(".hits .card-title")).to_have_text(special.title)
    audit("search")
    page.fill("#q", "100%_<b>")
    page.click("form.search button[type=submit]")
    expect(page.locator("section .empty")).to_have_text(
        "None of the papers you were sent matches these words.")

    # Open the past digest the paper came in, and save the paper from its card
    page.fill("#q", "protein folding")
    page.click("form.search button[type=submit]")
    page.click(".hits .card-meta a")
    expect(page.locator("body")).to_contain_text(special.title)
    assert "/d/" in page.url
    saves = [a.get_attribute("href") for a in page.locator("a:text-is('Save')").all()]
    ours = [h for h in saves if links.read_token("save", h.rsplit("/", 1)[1])
            .extra["paper"] == special.id]
    assert len(saves) == 4 and len(ours) == 1
    page.click(f"a[href='{ours[0]}']")
    if width == 375:  # a headless browser looks like a scanner: nothing saved until pressed
        expect(page.locator("h1")).to_have_text("Your reading list")
        session.expire_all()
        assert session.exec(select(SavedPaper)).all() == []
        audit("save-confirm")
        page.click("button:has-text('Save')")
    expect(page.locator(".message p").first).to_have_text(
        f"“{special.title}” is on your reading list.")
    audit("saved")
    session.expire_all()
    assert [r.paper_id for r in session.exec(select(SavedPaper))] == [special.id]

    # The reading list on the archive page, and removing the paper there
    page.click("a:has-text('Your archive and reading list')")
    expect(page.locator(".reading-list .card-title")).to_have_text([special.title])
    audit("reading-list")
    page.click(".reading-list button[value=unsave]")
    expect(page.locator(".notice")).to_contain_text("was removed from your reading list")
    expect(page.locator(".reading-list .card")).to_have_count(0)
    context.close()
    assert problems == []
    assert {name: axe.describe(v) for name, v in found.items() if v} == {}
