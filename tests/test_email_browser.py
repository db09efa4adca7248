"""The digest in a real browser engine: headless Chromium (Debian's) through Playwright.

At 375 px (a phone) and 800 px (a desktop pane): no horizontal scrolling, every card
visible, [n] citations land on card n, and none of the hostile input runs as script.
Every email passes axe-core's WCAG 2 A/AA audit in light and dark colour schemes, in
English and Chinese. Screenshots go to test-artifacts/ at the repository root (axe's full
results to test-artifacts/a11y/). Skips when Chromium, Playwright or axe-core are missing,
except under CI=true, where it fails.
"""

from __future__ import annotations

import pytest

from newsletter.compose.notices import (
    render_already_subscribed,
    render_confirmation,
    render_preferences_link,
    render_welcome,
)
from newsletter.compose.view import render_digest
from newsletter.core.models import Subscriber
from tests.conftest import ARTIFACTS
from tests.test_compose import HOSTILE, card, digest_view, worst_case_view

pytestmark = pytest.mark.browser


def hostile_view(locale: str):
    """A 15-card digest where every card carries hostile or unusual text."""
    cards = [card(n, title=f"{HOSTILE[n % len(HOSTILE)]} title {n}",
                  summary=HOSTILE[(n + 1) % len(HOSTILE)] + " " + "word " * (40 + n * 60),
                  authors=[HOSTILE[n % len(HOSTILE)]] + [f"Author {a}" for a in range(50)],
                  reason=HOSTILE[(n + 2) % len(HOSTILE)])
             for n in range(1, 16)]
    cards[3].title = "x" * 300  # one unbreakable word must not widen the layout
    synthesis = ("<script>window.__pwned = 1</script> Cards [1] and [8] agree. "
                 '"><img src=x onerror="window.__pwned = 2"> [15]\n\n'
                 "\u05e9\u05dc\u05d5\u05dd RTL 🧬 [3, 12]")
    return digest_view(cards=cards, locale=locale, synthesis=synthesis,
                       theme="<script>x</script>", topics=[HOSTILE[1]])


def open_email(browser, html: str, width: int, scheme: str = "light"):
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content(html, wait_until="load")
    return page, requests, dialogs


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("width", [375, 800])
def test_it_lays_out_every_card_without_horizontal_scroll(browser, locale, width):
    rendered = render_digest(hostile_view(locale))
    page, requests, dialogs = open_email(browser, rendered.html, width)
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"digest-{locale}-{width}.png"), full_page=True)
        scroll_width, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll_width <= client_width == width
        boxes = page.evaluate("""() => [...document.querySelectorAll('div.card-box[id]')]
            .map(el => { const r = el.getBoundingClientRect();
                         return [el.id, r.left, r.right, r.height,
                                 getComputedStyle(el).visibility]; })""")
        assert [b[0] for b in boxes] == [f"card-{n}" for n in range(1, 16)]
        for _, left, right, height, visibility in boxes:
            assert left >= 0 and right <= width and height > 40 and visibility == "visible"
        assert requests == [] and dialogs == []  # no remote fonts or images, no alert()
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.scripts.length") == 0
    finally:
        page.close()


@pytest.mark.parametrize("width", [375, 800])
def test_it_lands_citations_on_their_cards(browser, width):
    rendered = render_digest(hostile_view("en"))
    page, _, _ = open_email(browser, rendered.html, width)
    try:
        targets = page.eval_on_selector_all("a.cite", "els => els.map(a => a.hash)")
        assert targets == ["#card-1", "#card-8", "#card-15", "#card-3", "#card-12"]
        for target in targets:
            page.evaluate("window.scrollTo(0, 0)")
            page.click(f'a.cite[href="{target}"]')
            page.wait_for_function(f"location.hash === '{target}'")
            top = page.evaluate(
                f"document.getElementById('{target[1:]}').getBoundingClientRect().top")
            at_bottom = page.evaluate(
                "Math.ceil(window.scrollY + innerHeight) >= document.documentElement.scrollHeight")
            # the card is scrolled to the top, or as far as the page can scroll
            assert abs(top) <= 2 or (at_bottom and 0 <= top < 900), (target, top)
        page.screenshot(path=str(ARTIFACTS / f"digest-citation-{width}.png"))
    finally:
        page.close()


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_it_fits_the_worst_case_digest_on_a_phone(browser, locale):
    rendered = render_digest(worst_case_view(locale))
    page, requests, _ = open_email(browser, rendered.html, 375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.locator("div.card-box[id]").count() == 15
        assert requests == []
    finally:
        page.close()


@pytest.mark.parametrize("kind", ["confirm", "welcome"])
def test_it_lays_out_the_confirmation_and_welcome_emails(browser, kind):
    subscriber = Subscriber(id=3, email="ada@example.org", locale="zh", timezone="Asia/Shanghai")
    rendered = (render_confirmation(subscriber, "https://hub.example.org/confirm/t")
                if kind == "confirm" else render_welcome(subscriber, topics=HOSTILE[:2]))
    for width in (375, 800):
        page, requests, dialogs = open_email(browser, rendered.html, width)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{kind}-zh-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert page.locator("a.button").is_visible()
            assert requests == [] and dialogs == []
        finally:
            page.close()


def full_view(locale: str):
    """A digest using every part of the template: synthesis with citations, a followed
    author, reasons, links, and more papers than cards (the "more on the web" line)."""
    return digest_view(cards=[card(n, followed=["Alan Turing"]) for n in range(1, 11)],
                       locale=locale, total=14)


def rendered_email(kind: str, locale: str):
    subscriber = Subscriber(id=3, email="ada@example.org", locale=locale,
                            timezone="Asia/Shanghai")
    if kind == "digest":
        return render_digest(full_view(locale))
    if kind == "confirm":
        return render_confirmation(subscriber, "https://hub.example.org/confirm/t")
    if kind == "already-subscribed":
        return render_already_subscribed(subscriber)
    if kind == "preferences-link":
        return render_preferences_link(subscriber)
    return render_welcome(subscriber, topics=["language models", "cs.CL"])


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("kind", ["digest", "confirm", "welcome", "already-subscribed",
                                  "preferences-link"])
def test_it_passes_the_wcag_aa_audit_in_both_colour_schemes(browser, axe, kind, locale, scheme):
    page, _, _ = open_email(browser, rendered_email(kind, locale).html, 800, scheme)
    try:
        name = f"{kind}-{locale}-{scheme}"
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == \
            (scheme == "dark")  # the dark-scheme CSS is what axe sees
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        violations = axe.audit(page, name)
        assert violations == [], axe.describe(violations)
    finally:
        page.close()


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_it_gives_screen_readers_an_article_with_a_title_and_an_outline(browser, locale):
    """What a screen reader gets from Chromium's accessibility tree: the email as one article
    named by its subject, in its language; the band as the one level-one heading; the
    synthesis and papers as sections; each paper's title a heading to jump between."""
    rendered = render_digest(full_view(locale))
    page, _, _ = open_email(browser, rendered.html, 375)
    try:
        article = page.get_by_role("article", name=rendered.subject, exact=True)
        assert article.count() == 1
        assert page.locator("html").get_attribute("lang") == {"en": "en", "zh": "zh-CN"}[locale]
        assert page.locator("html").get_attribute("dir") in ("ltr", "auto")
        headings = page.evaluate("""() => [...document.querySelectorAll('h1, h2, h3')]
            .map(h => [Number(h.tagName[1]), h.closest('[role=article]') !== null])""")
        assert [level for level, _ in headings] == [1, 2, 2] + [3] * 10
        assert all(inside for _, inside in headings)
        assert article.get_by_role("heading", level=1).inner_text() == \
            {"en": "AcademicHub · Curated Daily", "zh": "AcademicHub · 每日精选"}[locale]
    finally:
        page.close()


def test_it_would_notice_text_too_pale_to_read(browser, axe):
    """The control for the audits above: the old link-row grey on white is caught."""
    page, _, _ = open_email(browser, '<html lang="en"><title>Control</title>'
                            '<body style="background:#fff">'
                            '<p style="color:#94a3b8; font-size:13px">PDF · More</p></body>'
                            "</html>", 375)
    try:
        violations = axe.audit(page, "control-pale-text")
        assert [v["id"] for v in violations] == ["color-contrast"]
    finally:
        page.close()


def test_it_would_notice_a_script_that_ran(browser):
    """The control for the checks above: the same page setup does run unescaped script."""
    page, _, dialogs = open_email(
        browser, "<p>x</p><script>window.__pwned = 1</script>"
                 '<img src="data:," onerror="alert(2)">', 375)
    try:
        page.wait_for_timeout(100)
        assert page.evaluate("window.__pwned") == 1 and dialogs == ["2"]
    finally:
        page.close()
