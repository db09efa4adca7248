"""Take papers with you, in headless Chromium on a phone (375 px) and a desktop (1280 px):
from a digest's web view, download one card's and the whole digest's citations and read
them back; the pages pass axe-core's WCAG 2 A/AA audit. Screenshots go to test-artifacts/."""

from __future__ import annotations

import bibtexparser
import pytest
import rispy

from newsletter.core import links
from newsletter.core.models import Digest
from newsletter.subscribers import citations
from newsletter.subscribers.library import parse_library
from tests.factories import make_paper, make_subscriber
from tests.test_citations import sent_digest
from tests.test_web_browser import live_server, no_sideways_scroll, shoot  # noqa: F401

pytestmark = pytest.mark.browser
HOSTILE = "Braces {x} & 100% of $y_1$: Ünïcödé 中文 <b>bold</b>"


def composed_digest(session, subscriber) -> tuple[Digest, list]:
    papers = [make_paper(session, title=HOSTILE, authors=["Ada Lovelace", "ATLAS Collaboration"]),
              make_paper(session, title="Language models read papers", doi="10.1000/xyz.1",
                         source="nature", journal="Nature", url="https://example.org/a")]
    return sent_digest(session, subscriber, papers, html=True), papers


def downloaded(page, link) -> tuple[str, str]:
    with page.expect_download() as info:
        link.click()
    download = info.value
    return download.suggested_filename, open(download.path(), encoding="utf-8").read()


@pytest.mark.usefixtures("live_server")  # PUBLIC_BASE_URL points at it
@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_it_downloads_citations_from_the_web_view(browser, session, axe, width, height):
    subscriber = make_subscriber(session, f"cite{width}@example.org")
    digest, papers = composed_digest(session, subscriber)
    # bypass_csp: the stored web view allows no script at all, axe-core included
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                  bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(links.url_for("digest", subscriber, digest=digest.id))
    card_links = page.get_by_role("link", name="Zotero/BibTeX", exact=True)
    assert card_links.count() == 2
    no_sideways_scroll(page)
    shoot(page, f"export-web-view-{width}")
    name, text = downloaded(page, card_links.first)
    assert name == f"{citations.citekey(papers[0])}.bib"
    (entry,) = bibtexparser.parse_string(text).entries
    assert entry.fields_dict["eprint"].value == papers[0].id.removeprefix("arxiv:")
    kind, (imported,), _ = parse_library(text.encode())
    assert imported.title == "Braces {x} & 100% of $y_1$: Ünïcödé 中文 bold"  # tags dropped

    name, text = downloaded(page, page.get_by_role("link", name="All papers: Zotero/BibTeX"))
    assert name == "academichub-2026-11-25.bib"
    kind, entries, _ = parse_library(text.encode())
    assert [e.doi for e in entries] == [None, "10.1000/xyz.1"]
    name, text = downloaded(page, page.get_by_role("link", name="RIS", exact=True))
    assert name.endswith(".ris") and len(rispy.loads(text)) == 2

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = axe.audit(page, f"export-web-view-{scheme}-{width}")
        assert not violations, axe.describe(violations)
    assert problems == []
    context.close()


@pytest.mark.usefixtures("live_server")
@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_it_shows_and_renews_the_feed_address_on_the_preferences_page(browser, session, axe,
                                                                       width, height):
    subscriber = make_subscriber(session, f"feed{width}@example.org")
    sent_digest(session, subscriber, [make_paper(session)], html=True)
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                  bypass_csp=True)
    page = context.new_page()
    page.goto(links.url_for("preferences", subscriber))
    address = page.input_value("#feed-url")
    assert address == links.feed_url(subscriber)
    answer = page.request.get(address)
    assert answer.status == 200 and answer.headers["content-type"].startswith(
        "application/atom+xml")
    no_sideways_scroll(page)
    shoot(page, f"feed-preferences-{width}")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = axe.audit(page, f"feed-preferences-{scheme}-{width}")
        assert not violations, axe.describe(violations)

    page.check("input[name=feed_mode][value=paper]")
    page.click("button[value=mode]")
    page.wait_for_selector("text=Saved.")
    assert page.is_checked("input[name=feed_mode][value=paper]")
    page.click("button[value=revoke]")
    page.wait_for_selector("text=Your feed has a new address")
    renewed = page.input_value("#feed-url")
    assert renewed != address
    assert page.request.get(address).status == 410
    assert page.request.get(renewed).status == 200
    context.close()
