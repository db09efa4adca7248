"""Import a library and rate papers on the preferences page, in headless Chromium, on a
phone (375 px) and a desktop (1280 px). Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import LibraryItem, Rating
from newsletter.harvest.harvester import harvest_file, store
from newsletter.ranking import candidates
from tests.factories import make_subscriber
from tests.test_web_browser import live_server, no_sideways_scroll, shoot  # noqa: F401

pytestmark = pytest.mark.browser
EVAL = Path(__file__).parent / "data" / "eval" / "library"


@pytest.mark.usefixtures("live_server")  # PUBLIC_BASE_URL points at it
@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_it_imports_a_library_and_rates_papers_in_the_browser(browser, session, width, height):
    for path in sorted(EVAL.glob("*2026-11-2[34].rss.xml")):
        store(session, harvest_file(path, "arxiv_rss"))
    candidates._index = None
    subscriber = make_subscriber(session, f"lib{width}@example.org", keywords=())
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(links.url_for("preferences", subscriber))  # PUBLIC_BASE_URL is the live server
    assert page.inner_text("#library-heading") == "Your papers"
    page.set_input_files("#library-file", str(EVAL / "library_render.bib"))
    no_sideways_scroll(page)
    shoot(page, f"library-before-{width}")
    page.click("#library button[type=submit]")
    page.wait_for_selector("text=Imported 12 papers; skipped 0.", timeout=120_000)  # fits LSA
    session.expire_all()
    assert len(session.exec(select(LibraryItem)).all()) == 12
    cards = page.locator("#rate .card")
    assert cards.count() == 10
    no_sideways_scroll(page)
    shoot(page, f"library-imported-{width}")

    title = cards.first.locator(".card-title").inner_text()
    cards.first.locator("button[value=more]").click()
    page.wait_for_selector("text=Noted: more papers like")
    assert title in page.inner_text(".notice")
    session.expire_all()
    assert [r.value for r in session.exec(select(Rating))] == [1]
    shoot(page, f"rated-{width}")
    page.click(".notice button[value=undo]")
    page.wait_for_selector("text=was removed")
    session.expire_all()
    assert session.exec(select(Rating)).first() is None
    no_sideways_scroll(page)
    assert problems == []
    context.close()
