"""The subscriber-facing web app and its JSON API, through HTTP (FastAPI's TestClient)."""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy

import pytest
import time_machine
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.core import links
from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Event,
    Feedback,
    Rating,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers import lifecycle
from newsletter.web.app import create_app
from tests.factories import make_paper, make_subscriber

BASE = "https://hub.example.org"


@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def papers(session):
    return [make_paper(session, title=f"Language models that read {n} papers",
                       abstract=f"We train language models on corpus {n}. They read well.")
            for n in range(12)]


def token(purpose, subscriber, **extra):
    return links.make_token(purpose, subscriber.id, subscriber.token_version, **extra)


def csrf(client, path="/"):
    page = client.get(path)
    return BeautifulSoup(page.text, "html.parser").find("input", {"name": "csrf_token"})["value"]


def form(client, **fields):
    data = {"csrf_token": csrf(client), "email": "ada@example.org", "timezone": "Europe/Paris",
            "send_hour": "8", "frequency": "daily", "locale": "en"}
    data.update(fields)
    return data


def outbox(settings) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(settings.outbox_dir.glob("*.eml"))]


def link_in(message, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(re.escape(BASE + path) + r"[A-Za-z0-9_.\-]+", text).group(0)


def text_of(response) -> str:
    return BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)


def errors_of(response) -> list[str]:
    return [e.get_text(strip=True) for e in
            BeautifulSoup(response.text, "html.parser").select("p.error:not(.summary)")]


def count(session, table) -> int:
    session.expire_all()
    return len(session.exec(select(table)).all())


# --- landing page --------------------------------------------------------------------------

def test_it_shows_the_promise_the_form_and_numbered_preview_cards(client, papers):
    page = client.get("/")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert "Academic Intelligence · Curated Daily" in soup.h1.text
    assert soup.find("form", {"action": "/subscribe"}).find("input", {"name": "email"})
    metas = [m.text for m in soup.select(".card-meta")]
    assert metas[0] == "01. arXiv (cs.CL) 2026-11-25" and len(metas) == 5
    assert soup.find("a", {"data-batch": True}).text == "Show another batch"
    assert soup.find("input", {"name": "timezone", "data-detect-timezone": True})


def test_it_speaks_chinese_when_asked_or_when_the_browser_prefers_it(client, papers):
    for page in (client.get("/?lang=zh"), client.get("/", headers={"Accept-Language": "zh-CN,zh"})):
        soup = BeautifulSoup(page.text, "html.parser")
        assert soup.html["lang"] == "zh-CN"
        assert "学术情报 · 每日精选" in soup.h1.text
        assert soup.find("a", {"data-batch": True}).text == "换一批"


def test_it_pages_the_preview_without_javascript(client, papers):
    soup = BeautifulSoup(client.get("/?page=2&keywords=language+models").text, "html.parser")
    assert soup.select(".card-meta")[0].text.startswith("06. arXiv")


def test_it_sends_security_headers_and_no_inline_script(client, papers):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    soup = BeautifulSoup(page.text, "html.parser")
    assert all(s.get("src") for s in soup.find_all("script"))
    assert not [a for tag in soup.find_all(True) for a in tag.attrs if a.startswith("on")]
    assert client.get("/static/app.js").headers["content-security-policy"]


# --- subscribe ------------------------------------------------------------------------------

def test_it_asks_to_check_the_inbox_and_emails_a_confirmation_link(client, session, settings_env):
    page = client.post("/subscribe", data=form(
        client, keywords="language models\nknowledge distillation", categories="cs.CL",
        authors="Zhuokai Zhao", excludes="survey, benchmark"))
    assert page.status_code == 200
    assert "Check your inbox" in text_of(page)
    subscriber = session.exec(select(Subscriber)).one()
    assert subscriber.status == SubscriberStatus.PENDING and subscriber.timezone == "Europe/Paris"
    assert lifecycle.interests(session, subscriber)["excludes"] == ["survey", "benchmark"]
    [message] = outbox(settings_env)
    assert message["To"] == "ada@example.org"
    assert link_in(message, "/confirm/")


def test_it_answers_the_same_whether_or_not_the_address_is_subscribed(client, session,
                                                                        settings_env):
    make_subscriber(session, "known@example.org")
    known = client.post("/subscribe", data=form(client, email="known@example.org"))
    new = client.post("/subscribe", data=form(client, email="new@example.org"))
    assert known.status_code == new.status_code == 200
    assert known.text == new.text
    sent = {m["To"]: m for m in outbox(settings_env)}  # one email each: the same work
    assert sorted(sent) == ["known@example.org", "new@example.org"]
    assert link_in(sent["new@example.org"], "/confirm/")
    assert "already subscribed" in sent["known@example.org"]["Subject"]
    assert link_in(sent["known@example.org"], "/preferences/")


def test_it_refuses_a_form_without_a_valid_csrf_token(client, session):
    missing = client.post("/subscribe", data=form(client, csrf_token=""))
    forged = client.post("/subscribe", data=form(client, csrf_token="eyJ4IjoxfQ.forged"))
    client.cookies.clear()
    no_cookie = client.post("/subscribe", data=form(client) | {"csrf_token": "x"})
    for page in (missing, forged, no_cookie):
        assert page.status_code == 403
        assert "This form has expired" in text_of(page)
    assert count(session, Subscriber) == 0


@pytest.mark.parametrize("fields, field, message", [
    ({"email": "not an address"}, "email", "This email address is not valid."),
    ({"email": ""}, "email", "Please enter your email address."),
    ({"email": "ada@example.org\r\nBcc: eve@evil.org"}, "email", "cannot contain line breaks"),
    ({"timezone": "Mars/Base"}, "timezone", "is not a known time zone"),
    ({"send_hour": "24"}, "send_hour", "from 0 to 23"),
    ({"keywords": "<script>alert(1)</script>"}, "keywords", "cannot contain <"),
    ({"keywords": "x" * 10_000}, "keywords", "at most 100 characters"),
    ({"keywords": "\n".join(f"t{n}" for n in range(31))}, "keywords", "At most 30 topics"),
    ({"categories": "not a category"}, "categories", "does not look like an arXiv category"),
    ({"frequency": "hourly"}, "frequency", "daily or weekly"),
])
def test_it_shows_bad_input_inline_and_stores_nothing(client, session, fields, field, message):
    page = client.post("/subscribe", data=form(client, **fields))
    assert page.status_code == 422
    soup = BeautifulSoup(page.text, "html.parser")
    assert message in soup.find(id=f"{field}-error").text
    assert "<script>alert" not in page.text  # echoed back escaped
    assert count(session, Subscriber) == 0


def test_it_keeps_what_was_typed_after_an_error(client):
    page = client.post("/subscribe", data=form(client, email="nope", keywords="proteins"))
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.find("input", {"name": "email"})["value"] == "nope"
    assert soup.find("textarea", {"name": "keywords"}).text == "proteins"


def test_it_shows_the_address_error_and_the_topic_error_together(client):
    page = client.post("/subscribe", data=form(client, email="nope", keywords="<b>bold</b>"))
    assert errors_of(page) == ["This email address is not valid.",
                               "Topics cannot contain <, > or control characters."]


def test_it_translates_the_inline_messages(client):
    page = client.post("/subscribe", data=form(client, email="nope", locale="zh"))
    assert errors_of(page) == ["邮箱地址无效。"]


def test_it_refuses_invalid_utf8_and_huge_bodies(client, session):
    token = csrf(client)
    raw = f"csrf_token={token}&email=ada%40example.org&keywords=caf%FF%FE".encode()
    bad = client.post("/subscribe", content=raw,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400
    huge = client.post("/subscribe", data=form(client, keywords="x" * 100_000))
    assert huge.status_code == 413
    assert count(session, Subscriber) == 0


def test_it_silently_drops_bots_that_fill_the_honeypot(client, session, settings_env):
    page = client.post("/subscribe", data=form(client, website="http://spam.example"))
    assert page.status_code == 200 and "Check your inbox" in text_of(page)
    assert count(session, Subscriber) == 0 and outbox(settings_env) == []


def test_it_limits_subscribe_attempts_per_address(client, settings_env):
    statuses = [client.post("/subscribe", data=form(client)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(outbox(settings_env)) == 3


def test_it_limits_subscribe_attempts_per_client_ip(client):
    statuses = [client.post("/subscribe", data=form(client, email=f"u{n}@example.org")).status_code
                for n in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_it_uses_redis_for_rate_limits_when_configured(redis_url, settings_env):
    with TestClient(create_app()) as first:
        for _ in range(3):
            first.post("/subscribe", data=form(first))
    with TestClient(create_app()) as second:  # another web process, same Redis
        assert second.post("/subscribe", data=form(second)).status_code == 429


# --- confirmation ---------------------------------------------------------------------------

def test_it_confirms_from_the_emailed_link_and_sends_a_welcome(client, session, settings_env):
    client.post("/subscribe", data=form(client))
    confirm = link_in(outbox(settings_env)[0], "/confirm/").removeprefix(BASE)
    page = client.get(confirm)  # what a mail scanner fetches: a page with one button
    assert page.status_code == 200 and "Confirm your subscription" in text_of(page)
    assert session.exec(select(Subscriber)).one().status == SubscriberStatus.PENDING
    button = BeautifulSoup(page.text, "html.parser").find("form", method="post")
    assert button.find("button") and not button.get("action")  # posts back to the link
    done = client.post(confirm, data={"csrf_token": csrf(client, confirm)})
    assert done.status_code == 200 and "You're subscribed" in text_of(done)
    session.expire_all()
    assert session.exec(select(Subscriber)).one().status == SubscriberStatus.ACTIVE
    assert BeautifulSoup(done.text, "html.parser").find("a", href=re.compile("/preferences/"))
    again = client.get(confirm)
    assert again.status_code == 200 and "Already confirmed" in text_of(again)
    assert not BeautifulSoup(again.text, "html.parser").find("a", href=re.compile("/prefer"))
    assert len(outbox(settings_env)) == 2  # confirmation + one welcome


@pytest.mark.parametrize("purpose, change, message", [
    ("confirm", lambda t: t[:-3] + "abc", "This link is not valid"),
    ("preferences", lambda t: t, "This link is not valid"),
    ("confirm", lambda t: "not-a-token", "This link is not valid"),
    ("confirm", lambda t: "%FF%FE", "This link is not valid"),
])
def test_it_refuses_tampered_and_wrong_purpose_confirmation_links(client, session, purpose,
                                                                  change, message):
    subscriber = lifecycle.subscribe(session, "ada@example.org")
    page = client.get(f"/confirm/{change(token(purpose, subscriber))}")
    assert page.status_code == 400 and message in text_of(page)
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.PENDING


def test_it_says_when_a_confirmation_link_has_expired(client, session):
    asked = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    with time_machine.travel(asked, tick=False):
        subscriber = lifecycle.subscribe(session, "ada@example.org")
        old = token("confirm", subscriber)
    with time_machine.travel(asked + dt.timedelta(days=8), tick=True):
        page = client.get(f"/confirm/{old}")
    assert page.status_code == 400 and "This link has expired" in text_of(page)


# --- preferences ------------------------------------------------------------------------------

def prefs_form(client, path, **fields):
    soup = BeautifulSoup(client.get(path).text, "html.parser")
    data = {"csrf_token": soup.find("input", {"name": "csrf_token"})["value"], "action": "save",
            "keywords": "", "categories": "", "authors": "", "excludes": "", "locale": "en",
            "timezone": "UTC", "send_hour": "7", "frequency": "daily", "weekday": "0",
            "max_papers": "10"}
    data.update(fields)
    return data


def test_it_shows_the_current_preferences(client, session):
    subscriber = make_subscriber(session, keywords=("proteins",), authors=("Ada Lovelace",),
                                 timezone="Asia/Shanghai", locale="zh")
    page = client.get(f"/preferences/{token('preferences', subscriber)}")
    soup = BeautifulSoup(page.text, "html.parser")
    assert page.status_code == 200 and soup.html["lang"] == "zh-CN"
    assert soup.find("textarea", {"name": "keywords"}).text == "proteins"
    assert soup.find("input", {"name": "timezone"})["value"] == "Asia/Shanghai"


def test_it_saves_preferences_and_previews_the_next_picks(client, session, papers):
    subscriber = make_subscriber(session, keywords=("proteins",))
    path = f"/preferences/{token('preferences', subscriber)}"
    page = client.post(path, data=prefs_form(client, path, keywords="language models\ncorpus 3",
                                             send_hour="21", max_papers="5", frequency="weekly",
                                             weekday="4"))
    assert page.status_code == 200
    assert "Saved." in text_of(page) and "Your next digest would include" in text_of(page)
    assert len(BeautifulSoup(page.text, "html.parser").select("aside .card")) == 5
    reasons = [r.get_text() for r in BeautifulSoup(page.text, "html.parser").select(
        "aside .card-reason")]
    assert reasons[0] == ("matches 'language models' in the title; "
                          "matches 'corpus 3' in the abstract")
    session.refresh(subscriber)
    assert (subscriber.send_hour, subscriber.max_papers, subscriber.weekday) == (21, 5, 4)
    assert lifecycle.interests(session, subscriber)["keywords"] == ["language models", "corpus 3"]


def test_it_refuses_bad_preferences_inline_without_changing_anything(client, session):
    subscriber = make_subscriber(session, keywords=("proteins",))
    path = f"/preferences/{token('preferences', subscriber)}"
    page = client.post(path, data=prefs_form(client, path, keywords="new", max_papers="50"))
    assert page.status_code == 422
    error = BeautifulSoup(page.text, "html.parser").find(id="max_papers-error").text
    assert "from 5 to 15" in error
    assert lifecycle.interests(session, subscriber)["keywords"] == ["proteins"]
    no_csrf = client.post(path, data=prefs_form(client, path, csrf_token="", keywords="x"))
    assert no_csrf.status_code == 403


def test_it_pauses_and_resumes_from_the_preferences_page(client, session):
    subscriber = make_subscriber(session)
    path = f"/preferences/{token('preferences', subscriber)}"
    page = client.post(path, data={"csrf_token": csrf(client, path), "action": "pause"})
    assert "Paused" in text_of(page)
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.PAUSED
    client.post(path, data={"csrf_token": csrf(client, path), "action": "resume"})
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.ACTIVE


def test_it_exports_my_data_as_a_json_download(client, session):
    subscriber = make_subscriber(session, keywords=("proteins",))
    response = client.get(f"/preferences/{token('preferences', subscriber)}/export")
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.json()["interests"]["keywords"] == ["proteins"]


def test_it_deletes_my_data_only_when_confirmed(client, session):
    subscriber = make_subscriber(session)
    path = f"/preferences/{token('preferences', subscriber)}"
    unconfirmed = client.post(path, data={"csrf_token": csrf(client, path), "action": "delete"})
    assert unconfirmed.status_code == 422 and count(session, Subscriber) == 1
    done = client.post(path, data={"csrf_token": csrf(client, path), "action": "delete",
                                   "confirm_delete": "yes"})
    assert "Your data is deleted" in text_of(done) and count(session, Subscriber) == 0
    assert client.get(path).status_code == 400


def test_it_lists_recent_digests_with_working_web_view_links(client, session, papers):
    subscriber = make_subscriber(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 25), status="sent",
                    subject="Language models, today", synthesis="Two papers agree [1] [2].")
    session.add(digest)
    session.flush()
    for rank, paper in enumerate(papers[:2], 1):
        session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=rank,
                               reason="matches 'language models'"))
    session.commit()
    prefs = client.get(f"/preferences/{token('preferences', subscriber)}")
    href = BeautifulSoup(prefs.text, "html.parser").find("a", href=re.compile("/d/"))["href"]
    view = client.get(href.removeprefix(BASE))
    assert view.status_code == 200
    assert "Two papers agree" in view.text and papers[1].title in view.text
    assert "01. arXiv (cs.CL) 2026-11-25" in view.text


def test_it_says_why_a_day_was_skipped_in_the_readers_language(client, session):
    from newsletter.scheduling.arxiv_calendar import quiet_reason
    from newsletter.scheduling.pipeline import NO_MATCH

    subscriber = make_subscriber(session, locale="zh", timezone="America/New_York")
    saturday, thanksgiving = dt.date(2026, 11, 28), dt.date(2026, 11, 26)
    for day, error in ((saturday, quiet_reason(saturday, "America/New_York", 7)),
                       (thanksgiving, quiet_reason(thanksgiving, "America/New_York", 7)),
                       (dt.date(2026, 11, 25), NO_MATCH.text()),
                       (dt.date(2026, 11, 24), "an operator's note")):
        session.add(Digest(subscriber_id=subscriber.id, local_date=day,
                           status=DigestStatus.SKIPPED, error=error))
    session.commit()
    page = client.get(f"/preferences/{token('preferences', subscriber)}")
    notes = [n.get_text() for n in BeautifulSoup(page.text, "html.parser").select(
        "ul.archive span.help")]
    assert notes == ["arXiv 没有发布新论文：arXiv 周五和周六晚不发布",
                     "arXiv 没有发布新论文：arXiv 假日（2026-11-26）",
                     "没有与你的主题匹配的新论文", "an operator's note"]
    subscriber.timezone = "Asia/Tokyo"  # the facts no longer give the stored words
    session.add(subscriber)
    session.commit()
    skipped = session.exec(select(Digest).where(Digest.local_date == saturday)).one()
    page = client.get(f"/d/{token('digest', subscriber, digest=skipped.id)}")
    assert skipped.error in page.text


def test_it_words_the_web_views_reasons_in_the_readers_language(client, session, papers):
    subscriber = make_subscriber(session, locale="zh")
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 25), status="sent")
    session.add(digest)
    session.flush()
    session.add(DigestItem(digest_id=digest.id, paper_id=papers[0].id, rank=1, reasons=[
        {"kind": "title", "value": "language models", "matched": ["language", "models"]}]))
    session.add(DigestItem(digest_id=digest.id, paper_id=papers[1].id, rank=2,
                           reason="matches 'language models'"))  # stored before 0004
    session.commit()
    view = client.get(f"/d/{token('digest', subscriber, digest=digest.id)}")
    reasons = [r.get_text() for r in BeautifulSoup(view.text, "html.parser").select(
        ".card-reason")]
    assert reasons == ["标题匹配“language models”", "matches 'language models'"]


# --- unsubscribe ------------------------------------------------------------------------------

def test_it_shows_a_one_button_page_on_get_and_changes_nothing(client, session):
    subscriber = make_subscriber(session)
    page = client.get(f"/u/{token('unsubscribe', subscriber)}")
    assert page.status_code == 200
    assert BeautifulSoup(page.text, "html.parser").find("button", {"type": "submit"})
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.ACTIVE


def test_it_unsubscribes_with_a_one_click_post_without_cookie_or_csrf(settings_env, session):
    subscriber = make_subscriber(session)
    path = f"/u/{token('unsubscribe', subscriber)}"
    with TestClient(create_app()) as fresh:  # like a mail provider: no cookie, no token
        first = fresh.post(path, content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        replay = fresh.post(path, content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert first.status_code == replay.status_code == 200
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    events = session.exec(select(Event).where(Event.type == "unsubscribe")).all()
    assert len(events) == 1 and events[0].payload["reason"] == "one-click"


def test_it_refuses_a_one_click_post_with_a_forged_token(client, session):
    subscriber = make_subscriber(session)
    for bad in (token("preferences", subscriber), token("unsubscribe", subscriber)[:-4] + "AAAA"):
        assert client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"}).status_code == 400
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.ACTIVE


# --- digest web view and feedback ---------------------------------------------------------------

def test_it_serves_a_stored_digest_with_a_no_script_policy(client, session):
    subscriber = make_subscriber(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 25),
                    html="<html><body><p style='color:red'>Stored digest</p></body></html>")
    session.add(digest)
    session.commit()
    page = client.get(f"/d/{token('digest', subscriber, digest=digest.id)}")
    assert page.status_code == 200 and "Stored digest" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_it_does_not_show_someone_elses_digest(client, session):
    owner = make_subscriber(session)
    other = make_subscriber(session, "eve@example.org")
    digest = Digest(subscriber_id=owner.id, local_date=dt.date(2026, 11, 25), html="secret")
    session.add(digest)
    session.commit()
    page = client.get(f"/d/{token('digest', other, digest=digest.id)}")
    assert page.status_code == 404 and "secret" not in page.text


def test_it_records_more_like_this_once_as_a_rating_and_thanks(client, session, papers):
    subscriber = make_subscriber(session)
    path = f"/f/{token('feedback', subscriber, paper=papers[0].id, signal='more')}"
    first, second = client.get(path), client.get(path)
    assert first.status_code == second.status_code == 200
    assert "Thank you" in text_of(first) and papers[0].title in text_of(first)
    [rating] = session.exec(select(Rating)).all()
    assert (rating.paper_id, rating.value, rating.origin) == (papers[0].id, 1, "email")
    client.get(f"/f/{token('feedback', subscriber, paper=papers[0].id, signal='less')}")
    session.expire_all()
    assert [r.value for r in session.exec(select(Rating))] == [-1]  # the last vote wins


def test_it_refuses_feedback_links_for_unknown_papers_or_signals(client, session, papers):
    subscriber = make_subscriber(session)
    for extra in ({"paper": "arxiv:0000.00000", "signal": "more"},
                  {"paper": papers[0].id, "signal": "delete-everything"}):
        assert client.get(f"/f/{token('feedback', subscriber, **extra)}").status_code == 404
    assert count(session, Feedback) == count(session, Rating) == 0


def test_it_reports_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_it_answers_unknown_pages_with_a_404_page(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "Nothing here" in text_of(page)


# --- JSON API ----------------------------------------------------------------------------------

def test_it_subscribes_through_the_api_with_the_same_answer_for_everyone(client, session,
                                                                        settings_env):
    make_subscriber(session, "known@example.org")
    body = {"email": "new@example.org", "keywords": ["proteins"], "timezone": "Asia/Shanghai",
            "locale": "zh"}
    new = client.post("/api/subscribe", json=body)
    known = client.post("/api/subscribe", json=body | {"email": "known@example.org"})
    assert new.status_code == known.status_code == 202 and new.json() == known.json()
    assert sorted(m["To"] for m in outbox(settings_env)) == ["known@example.org",
                                                             "new@example.org"]


@pytest.mark.parametrize("body, field", [
    ({"email": "bad"}, "email"),
    ({"email": "a@b.org\r\nBcc: c@d.org"}, "email"),
    ({"email": "a@b.org", "timezone": "Nowhere/Land"}, "timezone"),
    ({"email": "a@b.org", "send_hour": 24}, "send_hour"),
    ({"email": "a@b.org", "keywords": ["x" * 101]}, "keywords"),
    ({"email": "a@b.org", "keywords": ["t"] * 31}, "keywords"),
    ({"email": "a@b.org", "keywords": ["<img src=x onerror=alert(1)>"]}, "keywords"),
    ({"email": "a@b.org", "categories": ["nope nope"]}, "categories"),
    ({"email": "a@b.org", "unexpected": 1}, "unexpected"),
])
def test_it_answers_bad_api_input_with_422_naming_the_field(client, session, body, field):
    response = client.post("/api/subscribe", json=body)
    assert response.status_code == 422
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"])
    assert count(session, Subscriber) == 0


def test_it_refuses_malformed_api_bodies(client):
    for content, kind in ((b'{"email": "a@b.org"', "application/json"),
                          (b'{"email": "caf\xff@b.org"}', "application/json"),
                          (b"email=a%40b.org", "application/x-www-form-urlencoded")):
        response = client.post("/api/subscribe", content=content, headers={"Content-Type": kind})
        assert 400 <= response.status_code < 500


def test_it_pages_the_preview_through_the_api(client, papers):
    first = client.get("/api/preview", params={"keywords": ["language models"]}).json()
    second = client.get("/api/preview", params={"keywords": ["language models"], "page": 2}).json()
    assert first["has_more"] and [p["n"] for p in second["papers"]] == [6, 7, 8, 9, 10]
    assert second["papers"][0]["heading"] == "06. arXiv (cs.CL) 2026-11-25"
    assert {p["id"] for p in first["papers"]}.isdisjoint(p["id"] for p in second["papers"])
    excluded = client.get("/api/preview", params={"excludes": ["corpus"]}).json()
    assert excluded["papers"] == []
    assert client.get("/api/preview", params={"keywords": ["<b>"]}).status_code == 422
    assert client.get("/api/preview", params={"page": 0}).status_code == 422


def test_it_reads_and_updates_preferences_through_the_api(client, session):
    subscriber = make_subscriber(session, keywords=("proteins",))
    path = f"/api/preferences/{token('preferences', subscriber)}"
    assert client.get(path).json()["keywords"] == ["proteins"]
    updated = client.patch(path, json={"authors": ["Zhuokai Zhao"], "send_hour": 6, "paused": True})
    assert updated.status_code == 200
    assert updated.json()["authors"] == ["Zhuokai Zhao"] and updated.json()["status"] == "paused"
    assert updated.json()["keywords"] == ["proteins"]
    assert client.patch(path, json={"send_hour": 99}).status_code == 422
    assert client.patch(path, json={"email": "eve@evil.org"}).status_code == 422
    assert client.get(f"/api/preferences/{token('unsubscribe', subscriber)}").status_code == 400


def test_it_confirms_unsubscribes_exports_and_deletes_through_the_api(client, session):
    subscriber = lifecycle.subscribe(session, "ada@example.org", keywords=["proteins"])
    assert client.post(f"/api/confirm/{token('confirm', subscriber)}").json()["status"] == "active"
    assert client.post(f"/api/unsubscribe/{token('unsubscribe', subscriber)}").json() == {
        "status": "unsubscribed"}
    prefs = token("preferences", subscriber)
    assert client.get(f"/api/export/{prefs}").json()["interests"]["keywords"] == ["proteins"]
    assert client.delete(f"/api/preferences/{prefs}").json() == {"status": "deleted"}
    assert client.get(f"/api/export/{prefs}").status_code == 400
    assert count(session, Subscriber) == 0


def test_it_publishes_an_openapi_schema_for_the_api(client):
    schema = client.get("/api/openapi.json").json()
    for path in ("/api/subscribe", "/api/preview", "/api/preferences/{token}",
                 "/api/unsubscribe/{token}", "/api/export/{token}"):
        assert path in schema["paths"]


def test_it_reports_unhealthy_when_the_schema_is_missing(client):
    from sqlmodel import SQLModel

    from newsletter.core.db import get_engine

    SQLModel.metadata.drop_all(get_engine())
    assert client.get("/healthz").status_code == 503


def test_it_ranks_the_live_preview_like_the_digest(client, session):
    from tests.factories import make_paper

    make_paper(session, title="A survey of benchmarks", abstract="We distill many results.")
    make_paper(session, title="On-policy distillation for reasoning", abstract="Teachers help.")
    make_paper(session, title="Unrelated galaxies", abstract="Stars and dust.")
    found = client.get("/api/preview", params={"keywords": ["distill"]}).json()["papers"]
    assert [p["title"] for p in found] == ["On-policy distillation for reasoning",
                                          "A survey of benchmarks"]  # stemmed, title first


def test_it_explains_the_live_preview_with_the_digests_reasons(client, session, papers):
    found = client.get("/api/preview", params={"keywords": ["language models"],
                                               "authors": ["Lovelace, Ada"], "lang": "zh"})
    first = found.json()["papers"][0]
    assert first["reasons"] == [
        {"kind": "author", "value": "Lovelace, Ada", "matched": ["Ada Lovelace"]},
        {"kind": "title", "value": "language models", "matched": ["language", "models"]}]
    assert first["why"] == "关注的作者 Ada Lovelace；标题匹配“language models”"
    page = client.get("/", params={"keywords": "language models", "lang": "en"})
    reasons = [r.get_text() for r in BeautifulSoup(page.text, "html.parser").select(
        ".card-reason")]
    assert reasons == ["matches 'language models' in the title"] * 5
    plain = client.get("/api/preview").json()["papers"]  # no topics yet: nothing to explain
    assert plain and all(p["reasons"] == [] and p["why"] == "" for p in plain)


def test_it_drops_excluded_words_from_the_topicless_preview_as_the_digest_does(client, session):
    from tests.factories import make_paper

    make_paper(session, title="Surveys of parsing", abstract="We survey parsers.")
    make_paper(session, title="Parsing Finnish", abstract="We parse Finnish.")
    found = client.get("/api/preview", params={"excludes": ["survey"]}).json()["papers"]
    assert [p["title"] for p in found] == ["Parsing Finnish"]  # "Surveys": the stem matches


def test_it_styles_every_kind_of_text_box_the_pages_use():
    """A `type` missing from the stylesheet's one rule for text boxes renders as the browser's
    bare default (the archive's search box was a tiny-type black box on a phone)."""
    from pathlib import Path

    web = Path(__file__).parent.parent / "newsletter" / "web"
    used = {kind for page in (web / "templates").glob("*.html")
            for kind in re.findall(r'<input[^>]*\btype="(\w+)"', page.read_text())}
    typed = used - {"hidden", "checkbox", "radio", "file", "submit"}
    css = (web / "static" / "style.css").read_text()
    rule = css[:css.index("{", css.index("input[type=text]"))]
    assert "search" in typed and "password" in typed
    assert {kind for kind in typed if f"input[type={kind}]" not in rule} == set()
