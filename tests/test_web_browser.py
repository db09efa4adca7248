"""The subscriber's journey in a real headless Chromium, on a phone and on a desktop.

Subscribe on the landing page (chips, preview, detected time zone), open the confirmation
email from the outbox, confirm, change topics on the preferences page, unsubscribe. Every
page passes axe-core's WCAG 2 A/AA audit in light and dark colour schemes. Screenshots go to
test-artifacts/ (axe's full results to test-artifacts/a11y/). Uses Debian's chromium through
Playwright and axe-core from npm; skips when one is missing (fails instead under CI=true).
"""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy

import pytest
from sqlmodel import select

from newsletter.core import config, links
from newsletter.core.models import Digest, DigestItem, Paper, Subscriber, SubscriberStatus
from newsletter.subscribers import lifecycle
from tests.conftest import ARTIFACTS
from tests.factories import make_paper, make_subscriber
from tests.liveserver import free_port, running

pytestmark = pytest.mark.browser

@pytest.fixture
def live_server(settings_env, session, monkeypatch):
    """The app under uvicorn in a thread; emailed links point at it."""
    from newsletter.web.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_BASE_URL", base)
    config.get_settings.cache_clear()
    for n in range(12):
        make_paper(session, title=f"Language models read paper {n:02d}",
                   abstract=f"We teach language models to read corpus {n}. They do well.")
    with running(create_app(), port=port) as served:
        yield served


def emailed_link(settings, path: str) -> str:
    for file in sorted(settings.outbox_dir.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        found = re.search(r"https?://\S+" + re.escape(path) + r"[A-Za-z0-9_.\-]+",
                          message.get_body(("plain",)).get_content())
        if found:
            return found.group(0)
    raise AssertionError(f"no email with a {path} link in {settings.outbox_dir}")


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def subscriber_now(session, address: str) -> Subscriber:
    session.expire_all()
    return session.exec(select(Subscriber).where(Subscriber.email == address)).one()


def add_chip(page, kind: str, value: str, *, press_enter: bool = True) -> None:
    page.select_option(".chip-kind", kind)
    page.fill(".chip-input", value)
    if press_enter:
        page.press(".chip-input", "Enter")
    else:
        page.click(".chip-add-button")


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_it_takes_a_reader_from_the_landing_page_to_unsubscribed(browser, live_server, session,
                                                                  settings_env, width, height):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  timezone_id="Asia/Shanghai", locale="en-US")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    address = f"reader{width}@example.org"

    # Landing: chips, live preview, another batch, detected time zone
    page.goto(live_server + "/")
    assert page.inner_text("h1") == "Academic Intelligence · Curated Daily"
    assert page.input_value("#timezone") == "Asia/Shanghai"
    page.fill("#email", address)
    add_chip(page, "keywords", "language models")
    add_chip(page, "categories", "cs.CL", press_enter=False)
    add_chip(page, "authors", "Ada Lovelace")
    assert page.locator(".chip span").all_inner_texts() == [
        "language models", "cs.CL", "Author: Ada Lovelace"]
    first_card = page.locator(".card-meta").first  # expect() polls without eval (CSP-safe)
    expect(first_card).to_have_text("01. arXiv (cs.CL) 2026-11-25")
    expect(page.locator(".card-reason").first).to_have_text(re.compile(r"^by Ada Lovelace; "))
    page.click("[data-batch]")
    expect(first_card).to_have_text(re.compile(r"^06\. arXiv"))
    page.select_option("#send_hour", "6")
    no_sideways_scroll(page)
    shoot(page, f"landing-{width}")

    page.click("button[type=submit].primary")
    page.wait_for_selector("text=Check your inbox")
    shoot(page, f"check-inbox-{width}")
    pending = subscriber_now(session, address)
    assert (pending.status, pending.timezone, pending.send_hour) == ("pending", "Asia/Shanghai", 6)
    assert lifecycle.interests(session, pending)["authors"] == ["Ada Lovelace"]

    # The confirmation email, then the preferences page
    page.goto(emailed_link(settings_env, "/confirm/"))
    assert page.inner_text("h1") == "Confirm your subscription"  # a button, not the link
    assert subscriber_now(session, address).status == SubscriberStatus.PENDING
    page.click("button:has-text('Confirm my subscription')")
    page.wait_for_selector("text=You're subscribed")
    assert subscriber_now(session, address).status == SubscriberStatus.ACTIVE
    page.click("text=Edit your preferences")
    page.wait_for_selector("#preferences-form")
    page.click(".chip:has-text('language models') button")
    add_chip(page, "keywords", "protein folding")
    page.fill("#max_papers", "5")
    no_sideways_scroll(page)
    page.click("#preferences-form button[value=save]")
    page.wait_for_selector("text=Saved.")
    shoot(page, f"preferences-saved-{width}")
    chosen = lifecycle.interests(session, subscriber_now(session, address))
    assert chosen["keywords"] == ["protein folding"] and chosen["categories"] == ["cs.CL"]
    assert subscriber_now(session, address).max_papers == 5

    # Unsubscribe: a confirmation page with one button
    page.click("a.button:has-text('Unsubscribe')")
    page.wait_for_selector("text=Stop sending the digest")
    assert subscriber_now(session, address).status == SubscriberStatus.ACTIVE
    shoot(page, f"unsubscribe-{width}")
    page.click("button:has-text('Unsubscribe')")
    page.wait_for_selector("text=You are unsubscribed")
    shoot(page, f"unsubscribed-{width}")
    assert subscriber_now(session, address).status == SubscriberStatus.UNSUBSCRIBED
    assert problems == []  # no script errors, no CSP violations
    context.close()


def test_it_subscribes_without_javascript(browser, live_server, session):
    context = browser.new_context(viewport={"width": 375, "height": 812}, java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server + "/?lang=zh")
    assert page.locator("#keywords").is_visible()  # plain fields instead of chips
    page.fill("#email", "nojs@example.org")
    page.fill("#keywords", "language models\nprotein folding")
    page.fill("#authors", "Zhuokai Zhao")
    page.click("button[type=submit].primary")
    page.wait_for_selector("text=请查收邮件")
    shoot(page, "check-inbox-nojs-zh-375")
    subscriber = subscriber_now(session, "nojs@example.org")
    assert subscriber.locale == "zh"
    assert lifecycle.interests(session, subscriber)["keywords"] == ["language models",
                                                                    "protein folding"]
    context.close()


def test_it_shows_inline_errors_in_the_browser(browser, live_server, session):
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    page.goto(live_server + "/")
    page.fill("#email", "not an address")
    add_chip(page, "keywords", "<script>alert(1)</script>")
    page.click("button[type=submit].primary")
    page.wait_for_selector("#email-error")
    assert page.inner_text("#email-error") == "This email address is not valid."
    shoot(page, "inline-error-375")
    assert session.exec(select(Subscriber)).all() == []
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_passes_the_wcag_aa_audit_on_every_page(browser, axe, live_server, session, scheme):
    """Every page a reader can reach from the landing page or an email link (the landing
    page in both languages), each checked as it is shown: preview loaded, form submitted."""
    reader = make_subscriber(session, "reader@example.org", status=SubscriberStatus.PENDING,
                             authors=("Ada Lovelace",))
    paper = session.exec(select(Paper.id)).first()  # one of the live server's papers
    digest = Digest(subscriber_id=reader.id, local_date=dt.date(2026, 11, 25),
                    subject="AcademicHub Nov 25", synthesis="One paper today [1].")
    session.add(digest)
    session.commit()
    session.add(DigestItem(digest_id=digest.id, paper_id=paper, rank=1, score=1.0,
                           reason="matches 'language models'"))
    session.commit()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme,
                                  bypass_csp=True)  # lets axe's script into our strict pages
    page = context.new_page()
    found: dict[str, list[dict]] = {}

    def audit(name: str) -> None:
        shoot(page, f"web-{name}-{scheme}")
        found[name] = axe.audit(page, f"web-{name}-{scheme}")

    for name, path in [("landing-zh", "/?lang=zh"), ("landing-en", "/")]:
        page.goto(live_server + path)
        expect(page.locator(".card-meta").first).to_be_visible()  # the preview has loaded
        audit(name)
    page.fill("#email", "not an address")
    page.click("button[type=submit].primary")
    page.wait_for_selector("#email-error")
    audit("inline-error")
    page.fill("#email", "new@example.org")
    add_chip(page, "keywords", "language models")
    page.click("button[type=submit].primary")
    page.wait_for_selector("text=Check your inbox")
    audit("check-inbox")

    page.goto(links.url_for("confirm", reader))
    audit("confirm")
    page.click("button:has-text('Confirm my subscription')")
    page.wait_for_selector("text=You're subscribed")
    audit("confirmed")
    pages = [("confirm-used", links.url_for("confirm", reader)),
             ("new-link", live_server + "/preferences"),
             ("preferences", links.url_for("preferences", reader)),
             ("digest-web-view", links.url_for("digest", reader, digest=digest.id)),
             ("feedback", links.url_for("feedback", reader, paper=paper, signal="more")),
             ("unsubscribe", links.url_for("unsubscribe", reader)),
             ("not-found", live_server + "/preferences/not-a-token")]
    for name, url in pages:
        page.goto(url)
        audit(name)
    page.goto(links.url_for("preferences", reader))
    page.click("#preferences-form button[value=save]")
    page.wait_for_selector("text=Saved.")
    audit("preferences-saved")
    page.goto(links.url_for("unsubscribe", reader))
    page.click("button:has-text('Unsubscribe')")
    page.wait_for_selector("text=You are unsubscribed")
    audit("unsubscribed")
    context.close()
    assert {name: axe.describe(v) for name, v in found.items() if v} == {}


def test_it_shows_the_api_docs_from_its_own_assets_under_the_strict_csp(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url)
            if not r.url.startswith((live_server, "data:")) else None)
    page.goto(live_server + "/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AcademicHub")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    shoot(page, "api-docs-1280")
    assert problems == [] and elsewhere == []  # no CSP violation, nothing from a CDN
    context.close()


def test_it_shows_the_operator_pages_on_a_phone_without_sideways_scroll(
        browser, live_server, monkeypatch):
    """The delivery chart scales down by its viewBox, and the sources table scrolls inside
    its box: its visually-hidden column label once stretched the page to 2,900 px."""
    monkeypatch.setenv("ADMIN_TOKEN", "operator-token-for-the-phone-test")
    config.get_settings.cache_clear()
    context = browser.new_context(
        viewport={"width": 375, "height": 812},
        extra_http_headers={"Authorization": "Bearer operator-token-for-the-phone-test"})
    page = context.new_page()
    for name, path in [("admin", "/admin"), ("admin-sources", "/admin/sources")]:
        page.goto(live_server + path)
        expect(page.locator("h1")).to_be_visible()
        shoot(page, f"web-{name}-375")
        no_sideways_scroll(page)
    page.goto(live_server + "/admin")
    assert page.evaluate("document.querySelector('svg.chart').getBoundingClientRect().right") <= 375
    context.close()
