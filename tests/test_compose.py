"""The digest, confirmation and welcome emails: structure, languages, safety, size, storage.

Structure is checked by parsing the HTML (BeautifulSoup), not by byte snapshots.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from functools import cache

import pytest
import time_machine
from bs4 import BeautifulSoup, Comment
from jinja2 import Template
from mjml import mjml2html
from sqlmodel import select

from newsletter.compose import render
from newsletter.compose.notices import render_confirmation, render_welcome
from newsletter.compose.view import (
    HTML_BUDGET,
    CardView,
    DigestView,
    compose_digest,
    render_digest,
)
from newsletter.core import config
from newsletter.core.models import Digest, DigestItem, DigestStatus, Subscriber
from newsletter.locale import i18n
from newsletter.writing import llm
from tests import factories

WEB = "https://hub.example.org"
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "<a href=\"javascript:alert(1)\">click</a>",
    "\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "Emoji 🧬🤖🔬 and ZWJ 👩‍🔬",
    "{{ 7*7 }} {% raw %}",
]


def card(n: int, **fields) -> CardView:
    return dataclasses.replace(CardView(
        n=n, title=f"Paper {n} on distillation", authors=["Ada Lovelace", "Alan Turing"],
        summary="We study a problem. We find a result.", category="cs.CL",
        date=dt.date(2026, 6, 19), reason="matches 'distillation' in the title",
        url=f"{WEB}/c/click-{n}", abstract_url=f"https://arxiv.org/abs/2606.{n:05d}",
        pdf_url=f"https://arxiv.org/pdf/2606.{n:05d}", more_url=f"{WEB}/f/more-{n}",
        less_url=f"{WEB}/f/less-{n}",
    ), **fields)


def digest_view(cards: int | list[CardView] = 3, locale: str = "en", **fields) -> DigestView:
    return dataclasses.replace(DigestView(
        locale=locale, date=dt.date(2026, 6, 19), email="ada@example.org",
        cards=cards if isinstance(cards, list) else [card(n) for n in range(1, cards + 1)],
        synthesis="Distillation is everywhere today [1]. Two papers agree [2, 3].\n\n"
                  "A second paragraph cites [2] and a paper that is not here [42].",
        theme="Distillation", preheader="Three papers on distillation",
        topics=["distillation", "cs.CL"], preferences_url=f"{WEB}/preferences/p",
        unsubscribe_url=f"{WEB}/u/u", web_url=f"{WEB}/d/d",
    ), **fields)


def worst_case_view(locale: str, cards: int = 15) -> DigestView:
    """Issue 3's worst case: 15 cards, 2,000-character abstracts, 50 authors each."""
    base = ("我们研究大型语言模型如何在不同领域之间迁移知识。" if locale == "zh"
            else "We study how large models distil knowledge across many domains. ")
    abstract = (base * 100)[:2000]
    return digest_view(locale=locale, cards=[
        card(n, summary=render.cut_at_sentence(abstract), title="A long title " * 8,
             authors=[f"Author Number{a} Surname" for a in range(50)])
        for n in range(1, cards + 1)])


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def cards_in(soup: BeautifulSoup) -> list:
    return soup.select("div.card-box[id^=card-]")


# --- structure, per language ------------------------------------------------------------

@pytest.mark.parametrize("locale, brand, date", [
    ("en", "AcademicHub · Curated Daily", "Friday, June 19, 2026"),
    ("zh", "AcademicHub · 每日精选", "2026年6月19日星期五")])
def test_it_renders_a_header_band_with_the_brand_and_the_date(locale, brand, date):
    soup = parse(render_digest(digest_view(locale=locale)).html)
    assert [h.get_text() for h in soup.select("h1")] == [brand]  # the email's one title
    assert soup.select_one("div.band-date").get_text() == date


@pytest.mark.parametrize("locale, date", [("en", "Jun 19"), ("zh", "6月19日")])
def test_it_puts_the_date_and_lead_theme_in_the_subject_and_a_preheader(locale, date):
    rendered = render_digest(digest_view(locale=locale))
    assert rendered.subject == f"{date} · Distillation | AcademicHub"
    assert rendered.preheader == "Three papers on distillation"
    soup = parse(rendered.html)
    assert soup.title.get_text() == rendered.subject
    assert "Three papers on distillation" in soup.body.find("div").get_text()


def test_it_counts_papers_in_the_subject_when_there_is_no_theme():
    rendered = render_digest(digest_view(cards=1, theme="", preheader=""))
    assert rendered.subject == "Jun 19 · 1 new paper | AcademicHub"
    assert rendered.preheader == "1 new paper picked for you today."


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_it_numbers_cards_with_source_category_and_date(locale):
    soup = parse(render_digest(digest_view(cards=12, locale=locale)).html)
    badges = [" ".join(c.select_one("div.badge").get_text().split()) for c in cards_in(soup)]
    assert badges[0] == "01. arXiv (cs.CL) 2026-06-19"
    assert badges[11].startswith("12. ")
    assert [c["id"] for c in cards_in(soup)] == [f"card-{n}" for n in range(1, 13)]


def test_it_links_each_title_through_the_click_redirect():
    soup = parse(render_digest(digest_view()).html)
    link = cards_in(soup)[1].select_one("h3.title a")
    assert link["href"] == f"{WEB}/c/click-2" and link.get_text() == "Paper 2 on distillation"


def test_it_links_citations_to_the_cards_in_this_email_only():
    soup = parse(render_digest(digest_view()).html)
    cites = soup.select("p.syn a.cite")
    assert [a["href"] for a in cites] == ["#card-1", "#card-2", "#card-3", "#card-2"]
    assert all(soup.find(id=a["href"][1:]) for a in cites)
    assert "[42]" in soup.select("p.syn")[1].get_text()  # no card 42: stays plain text


def test_it_shortens_long_author_lists_but_always_shows_followed_authors():
    authors = [f"Author {i}" for i in range(50)]
    authors[40], authors[45] = "José Núñez-García", "Zhuokai Zhao"
    view = digest_view(cards=[card(1, authors=authors,
                                   followed=["jose nunez garcia", "ZHUOKAI ZHAO"])])
    rendered = render_digest(view)
    line = parse(rendered.html).select_one("div.authors")
    assert [s.get_text() for s in line.select("strong.followed")] == \
        ["José Núñez-García", "Zhuokai Zhao"]
    assert " ".join(line.get_text().split()) == \
        "Author 0, Author 1, Author 2, José Núñez-García, Zhuokai Zhao +45 more"
    assert "José Núñez-García ★, Zhuokai Zhao ★ +45 more" in " ".join(rendered.text.split())


def test_it_shows_why_and_the_abstract_pdf_and_feedback_links():
    soup = parse(render_digest(digest_view(cards=1)).html)
    first = cards_in(soup)[0]
    assert " ".join(first.select_one("p.why").get_text().split()) == \
        "Why you got this: matches 'distillation' in the title"
    assert [(a.get_text(), a["href"]) for a in first.select("div.links a")] == [
        ("Abstract", "https://arxiv.org/abs/2606.00001"),
        ("PDF", "https://arxiv.org/pdf/2606.00001"),
        ("More like this", f"{WEB}/f/more-1"), ("Less like this", f"{WEB}/f/less-1")]


@pytest.mark.parametrize("locale, line", [
    ("en", "Why you got this: matches 'distillation' in the title"),
    ("zh", "推荐理由：matches 'distillation' in the title")])
def test_it_puts_no_space_after_a_full_width_colon(locale, line):
    rendered = render_digest(digest_view(cards=1, locale=locale))
    assert parse(rendered.html).select_one("p.why").get_text() == line
    assert line in rendered.text


def test_it_keeps_each_separator_on_the_line_of_the_link_before_it():
    """On a phone a row of links wraps between links only: never inside a label, and a line
    never starts with a lone '·'."""
    soup = parse(render_digest(digest_view(cards=1)).html)
    rows = soup.select("div.links, div.footer")
    assert len(rows) == 2
    for row in rows:
        gaps = [str(node) for node in row.children if isinstance(node, str)]
        assert gaps == ["\u00a0· "] * (len(row.select("a")) - 1)
        # ... and a label is never split ('More like' / 'this')
        assert all("white-space:nowrap" in a["style"] for a in row.select("a"))


@pytest.mark.parametrize("locale, words, topics", [
    ("en", ["Preferences", "Unsubscribe", "View in browser"], "distillation, cs.CL"),
    ("zh", ["偏好设置", "退订", "在浏览器中查看"], "distillation、cs.CL")])
def test_it_has_a_footer_with_links_address_and_why(locale, words, topics):
    soup = parse(render_digest(digest_view(locale=locale)).html)
    links = {a.get_text(): a["href"] for a in soup.select("a.footer-link")}
    assert links == dict(zip(words, [f"{WEB}/preferences/p", f"{WEB}/u/u", f"{WEB}/d/d"]))
    footer = " ".join(p.get_text() for p in soup.select("p.footer"))
    assert "ada@example.org" in footer
    assert topics in footer


def test_it_writes_every_fixed_string_in_chinese():
    rendered = render_digest(digest_view(locale="zh", theme=""))
    text = parse(rendered.html).get_text()
    for zh, en in (("今日综述", "Today's synthesis"), ("推荐理由：", "Why you got this:"),
                   ("多推荐类似的", "More like this"), ("退订", "Unsubscribe"),
                   ("每日精选", "Curated Daily"), ("你的论文", "Your papers")):
        assert zh in text and zh in rendered.text
        assert en not in text and en.upper() not in rendered.text
    assert rendered.subject == "6月19日 · 3 篇新论文 | AcademicHub"
    assert 'lang="zh-CN"' in rendered.html


def test_it_formats_dates_and_counts_per_language():
    day = dt.date(2026, 11, 26)
    en, zh = i18n.translator("en"), i18n.translator("zh-CN")
    assert en.date(day) == "Thursday, November 26, 2026"
    assert zh.date(day) == "2026年11月26日星期四"
    assert (en.date(day, "short"), zh.date(day, "short")) == ("Nov 26", "11月26日")
    more = "%(num)s more paper on the web", "%(num)s more papers on the web"
    assert en.ngettext(*more, 1) == "1 more paper on the web"
    assert en.ngettext(*more, 1200) == "1,200 more papers on the web"
    assert zh.ngettext(*more, 1200) == "网页上还有 1,200 篇论文"


# --- email-client engineering -----------------------------------------------------------

def test_it_is_built_for_email_clients():
    html = render_digest(digest_view()).html
    soup = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    assert soup.find("meta", attrs={"name": "color-scheme"})["content"] == "light dark"
    assert all(t.get("role") == "presentation" for t in soup.find_all("table"))
    comments = [c for c in soup.find_all(string=lambda s: isinstance(s, Comment))]
    assert any(c.startswith("[if mso") for c in comments)  # Outlook conditionals kept
    styles = " ".join(s.get_text() for s in soup.find_all("style"))
    assert "@media (prefers-color-scheme: dark)" in styles and "max-width: 479px" in styles
    assert "data-premailer" not in html
    assert "googleapis" not in html and not soup.find("link")
    assert all(img.get("alt") is not None for img in soup.find_all("img"))
    # premailer inlined our classes after rendering
    assert "font-size:15px" in soup.select_one("p.summary")["style"].replace(" ", "")


def test_it_compiles_each_template_once_per_process():
    render.compiled.cache_clear()
    render_digest(digest_view(locale="en"))
    render_digest(digest_view(locale="en", cards=5))
    render_digest(digest_view(locale="zh"))
    info = render.compiled.cache_info()
    assert (info.misses, info.hits) == (2, 1)


def test_it_builds_the_plain_text_from_the_same_data():
    rendered = render_digest(digest_view(cards=3))
    text = rendered.text
    assert "<" not in text.replace("<=", "")
    assert re.findall(r"^(\d\d)\. arXiv \(cs\.CL\) 2026-06-19$", text, re.MULTILINE) == \
        ["01", "02", "03"]
    assert "Distillation is everywhere today [1]." in text
    html_links = {a["href"] for a in parse(rendered.html).select(
        "h3.title a, div.links a, a.footer-link")}
    assert all(url in text for url in html_links)
    assert max(len(line) for line in text.splitlines() if "://" not in line) <= 72


# --- hostile input ----------------------------------------------------------------------

def assert_inert(html: str) -> None:
    soup = parse(html)
    assert not soup.find_all(["script", "iframe", "object", "embed", "form"])
    assert not soup.find_all("img")  # the digest has no images; a hostile one would be
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], tag
    for a in soup.find_all("a"):
        assert re.match(r"^(https?://|#card-\d+$)", a["href"]), a["href"]


@pytest.mark.parametrize("evil", HOSTILE)
def test_it_escapes_hostile_text_everywhere(evil):
    view = digest_view(
        cards=[card(1, title=evil, authors=[evil, "Ada"], summary=evil + " " + "x" * 5000,
                    reason=evil, category=evil, source=evil, followed=[evil])],
        synthesis=f"{evil} [1]", theme=evil, preheader=evil, topics=[evil],
        email=f"ada+{evil}@example.org")
    rendered = render_digest(view)
    assert_inert(rendered.html)
    soup = parse(rendered.html)
    assert " ".join(evil.split())[:40] in soup.select_one("h3.title").get_text()
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert len(soup.select_one("p.summary").get_text()) <= render.MAX_SUMMARY


def test_it_drops_links_that_are_not_http():
    view = digest_view(cards=[card(
        1, url="javascript:alert(1)", abstract_url="data:text/html,<script>x</script>",
        pdf_url="  https://arxiv.org/pdf/1", more_url="/relative", less_url="vbscript:x")],
        web_url="javascript:alert(2)")
    rendered = render_digest(view)
    soup = parse(rendered.html)
    assert soup.select_one("h3.title a") is None
    assert soup.select("div.links a") == []
    assert "View in browser" not in [a.get_text() for a in soup.select("a.footer-link")]
    assert "javascript" not in rendered.html + rendered.text
    assert_inert(rendered.html)


def test_it_keeps_llm_text_to_plain_text_and_citations():
    synthesis = ('See <a href="https://evil.example.com">this</a> and '
                 "[the code](https://evil.example.com/x) at https://evil.example.com/y [1].\n\n"
                 "<b>Bold</b> claim [2]")
    rendered = render_digest(digest_view(synthesis=synthesis))
    soup = parse(rendered.html)
    assert [a["href"] for a in soup.select("p.syn a")] == ["#card-1", "#card-2"]
    assert "evil.example.com" not in rendered.html.replace('href="https://evil', "")
    assert "evil.example.com/x" not in rendered.html and "/y" not in rendered.text
    assert "<b>Bold</b> claim [2]" in soup.select("p.syn")[1].get_text()


def test_it_holds_rtl_and_emoji_text():
    title = "\u05de\u05d5\u05d3\u05dc\u05d9\u05dd \u05d2\u05d3\u05d5\u05dc\u05d9\u05dd 🤖"
    soup = parse(render_digest(digest_view(cards=[card(1, title=title)])).html)
    heading = soup.select_one("h3.title")
    assert heading["dir"] == "auto" and heading.get_text() == title


# --- size budget ------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["en", "zh"])
def test_it_keeps_the_worst_case_digest_under_100_kb(locale):
    rendered = render_digest(worst_case_view(locale))
    assert len(rendered.html.encode()) <= HTML_BUDGET
    soup = parse(rendered.html)
    shown = len(cards_in(soup))
    assert shown >= 10
    assert shown == 15 or soup.select_one("p.more a")["href"] == f"{WEB}/d/d"


def test_it_drops_cards_from_the_end_and_links_the_rest_on_the_web():
    view = worst_case_view("en")
    full = len(render_digest(view).html.encode())
    rendered = render_digest(view, budget=full - 1)
    soup = parse(rendered.html)
    shown = len(cards_in(soup))
    assert len(rendered.html.encode()) <= full - 1 and 0 < shown < 15
    more = soup.select_one("p.more a")
    words = f"{15 - shown} more paper{'s' if 15 - shown > 1 else ''} on the web"
    assert more.get_text() == words
    assert more["href"] == f"{WEB}/d/d"
    assert words in rendered.text
    assert f"{shown:02d}. arXiv" in rendered.text and f"{shown + 1:02d}. arXiv" not in rendered.text


def test_it_does_not_link_citations_to_dropped_cards():
    view = digest_view(cards=4, synthesis="One [1] and four [4].")
    small = len(render_digest(digest_view(cards=2, synthesis="One [1] and four [4].")).html)
    rendered = render_digest(view, budget=small + 600)
    soup = parse(rendered.html)
    assert len(cards_in(soup)) in (2, 3)
    assert [a["href"] for a in soup.select("a.cite")] == ["#card-1"]


# --- confirmation and welcome -----------------------------------------------------------

@pytest.mark.parametrize("locale, subject, heading, button, expiry", [
    ("en", "Confirm your AcademicHub subscription", "Confirm your subscription",
     "Confirm my subscription", "This link expires in 7 days."),
    ("zh", "请确认你的 AcademicHub 订阅", "确认订阅", "确认订阅", "此链接 7 天内有效。")])
def test_it_renders_the_confirmation_email(locale, subject, heading, button, expiry):
    subscriber = Subscriber(id=7, email="ada@example.org", locale=locale)
    rendered = render_confirmation(subscriber, f"{WEB}/confirm/token")
    soup = parse(rendered.html)
    assert rendered.subject == subject
    assert soup.select_one("h1.brand") and soup.select_one("h2.heading").get_text() == heading
    assert soup.select_one("a.button")["href"] == f"{WEB}/confirm/token"
    assert soup.select_one("a.button").get_text() == button
    assert expiry in soup.select_one("p.small").get_text() and expiry in rendered.text
    assert f"{WEB}/confirm/token" in rendered.text and "ada@example.org" in rendered.text
    assert soup.select("a.footer-link") == []  # nothing to unsubscribe from yet
    assert_inert(rendered.html)


def test_it_breaks_only_the_copyable_address_anywhere_not_the_words_beside_it():
    """A long link must wrap on a phone; 'ignore' must not ('ign' / 'ore' at 375 px)."""
    subscriber = Subscriber(id=7, email="ada@example.org", locale="en")
    soup = parse(render_confirmation(subscriber, f"{WEB}/confirm/{'t' * 120}").html)
    for small in soup.select("p.small"):
        assert "break-all" not in small["style"] and "overflow-wrap:break-word" in small["style"]
    address = soup.select_one("p.small span.url")
    assert address.get_text() == f"{WEB}/confirm/{'t' * 120}"
    assert "word-break:break-all" in address["style"]


def test_it_refuses_a_non_http_confirmation_link():
    subscriber = Subscriber(id=7, email="ada@example.org", locale="en")
    rendered = render_confirmation(subscriber, "javascript:alert(1)")
    assert "javascript" not in rendered.html and parse(rendered.html).select("a") == []


@pytest.mark.parametrize("locale, subject, count", [
    ("en", "Welcome to AcademicHub", "up to 12 papers"),
    ("zh", "欢迎订阅 AcademicHub", "最多 12 篇")])
def test_it_renders_the_welcome_email(locale, subject, count):
    subscriber = Subscriber(id=7, email="ada@example.org", locale=locale, send_hour=6,
                            timezone="Asia/Shanghai", max_papers=12)
    rendered = render_welcome(subscriber, topics=["distillation", "<script>x</script>"])
    soup = parse(rendered.html)
    assert rendered.subject == subject
    assert count in soup.select("p.lead")[0].get_text()
    lead = soup.select("p.lead")
    assert "06:00" in lead[0].get_text() and "Asia/Shanghai" in lead[0].get_text()
    assert "<script>x</script>" in lead[1].get_text()
    hrefs = [a["href"] for a in soup.select("a.footer-link")]
    assert [h.split("/")[3] for h in hrefs] == ["preferences", "u"]
    assert all(h in rendered.text for h in hrefs)
    assert_inert(rendered.html)


# --- the compose stage, with a database -------------------------------------------------

def now():
    return dt.datetime.now(dt.UTC)


def make_digest(session, *, papers=3, locale="en", status=DigestStatus.PENDING, **paper_fields):
    subscriber = factories.make_subscriber(session, locale=locale, keywords=("distillation",),
                                           authors=("Zhuokai Zhao",), created_at=now())
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 6, 19), status=status,
                    created_at=now())
    session.add(digest)
    session.commit()
    for rank in range(papers):
        paper = factories.make_paper(session, first_seen=now(), updated_at=now(),
                                     title=f"Distillation study {rank}", **paper_fields)
        session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=rank + 1,
                               score=3.0 - rank, reason=f"matches 'distillation' ({rank})"))
    session.commit()
    return digest


def test_it_composes_and_stores_a_digest(session):
    digest = make_digest(session)
    compose_digest(session, digest)
    stored = session.get(Digest, digest.id)
    assert stored.status == DigestStatus.COMPOSED and stored.composed_at
    assert stored.subject.startswith("Jun 19 · ") and stored.preheader
    assert stored.writer == "offline" and stored.synthesis and stored.error is None
    soup = parse(stored.html)
    assert [" ".join(c.select_one("p.why").get_text().split()) for c in cards_in(soup)] == [
        f"Why you got this: matches 'distillation' ({n})" for n in range(3)]
    links = [a["href"] for a in soup.select("h3.title a, div.links a, a.footer-link")]
    assert all(link.startswith(("https://hub.example.org/", "https://arxiv.org/"))
               for link in links)
    assert "01. arXiv (cs.CL)" in stored.text


def test_it_links_cards_to_the_click_redirect_and_feedback_links_that_resolve(session):
    from newsletter.core import links
    from newsletter.tracking import clicks

    digest = make_digest(session, papers=1)
    compose_digest(session, digest)
    paper_id = session.exec(select(DigestItem)).one().paper_id
    soup = parse(digest.html)
    click = soup.select_one("h3.title a")["href"]
    assert clicks.record_click(session, click.rsplit("/", 1)[1]).startswith("https://arxiv.org/")
    *_, save, more, less = [a["href"] for a in soup.select("div.links a")]
    data = [links.read_token("feedback", url.rsplit("/", 1)[1]).extra for url in (more, less)]
    assert data == [{"paper": paper_id, "signal": "more"}, {"paper": paper_id, "signal": "less"}]
    assert links.read_token("save", save.rsplit("/", 1)[1]).extra == {"paper": paper_id}
    web = soup.find("a", string="View in browser")["href"]
    assert links.read_token("digest", web.rsplit("/", 1)[1]).extra == {"digest": digest.id}


def test_it_uses_the_abstract_cut_at_a_sentence_when_there_is_no_summary(session):
    abstract = "First finding is here. " * 40
    digest = make_digest(session, papers=1, abstract=abstract)
    compose_digest(session, digest)
    summary = parse(digest.html).select_one("p.summary").get_text()
    assert summary.endswith("here.") and len(summary) <= 320
    assert abstract.startswith(summary)


def test_it_is_idempotent(session):
    digest = make_digest(session)
    # Frozen: the signed links carry their signing second, which may tick between two runs.
    with time_machine.travel(dt.datetime(2026, 6, 19, 6, tzinfo=dt.UTC), tick=False):
        compose_digest(session, digest)
        first = (digest.subject, digest.html)
        compose_digest(session, digest)
    assert (digest.subject, digest.html) == first
    assert len(session.exec(select(DigestItem)).all()) == 3
    assert len(session.exec(select(Digest)).all()) == 1


def test_it_leaves_a_digest_that_delivery_has_claimed(session):
    digest = make_digest(session, status=DigestStatus.SENDING)
    compose_digest(session, digest)
    assert session.get(Digest, digest.id).html is None
    assert digest.status == DigestStatus.SENDING


def test_it_does_not_crash_on_a_digest_without_items(session):
    digest = make_digest(session, papers=0)
    assert compose_digest(session, digest).status == DigestStatus.PENDING


def test_it_refuses_paper_links_that_are_not_http(session):
    digest = make_digest(session, papers=1, url="javascript:alert(1)",
                         pdf_url="https://arxiv.org/pdf/2606.00001")
    compose_digest(session, digest)
    soup = parse(digest.html)
    assert soup.select_one("h3.title a") is None
    assert [a.get_text() for a in soup.select("div.links a")][:1] == ["PDF"]
    assert_inert(digest.html)


def test_it_records_why_the_writer_fell_back(session, monkeypatch):
    from tests.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as server:
        for name, value in {"ANTHROPIC_API_KEY": "wrong-key", "ANTHROPIC_BASE_URL": server.url,
                            "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT": "2"}.items():
            monkeypatch.setenv(name, value)
        config.get_settings.cache_clear()
        llm.breaker.reset()
        digest = make_digest(session)
        compose_digest(session, digest)
    assert digest.status == DigestStatus.COMPOSED and digest.writer == "offline"
    assert digest.error.startswith("synthesis fell back: ")


@pytest.mark.postgres
def test_it_composes_on_postgresql(pg_url):
    from sqlmodel import Session

    from newsletter.core import db

    with Session(db.engine_for(pg_url), expire_on_commit=False) as pg:
        digest = make_digest(pg, locale="zh")
        compose_digest(pg, digest)
        compose_digest(pg, digest)
        stored = pg.get(Digest, digest.id)
        assert stored.status == DigestStatus.COMPOSED and "6月19日" in stored.subject
        assert len(cards_in(parse(stored.html))) == 3


@pytest.mark.parametrize(("locale", "why"), [
    ("en", "Why you got this: by Zhuokai Zhao; matches 'distillation' in the title"),
    ("zh", "推荐理由：关注的作者 Zhuokai Zhao；标题匹配“distillation”"),
])
def test_it_says_why_in_the_subscribers_language(session, locale, why):
    digest = make_digest(session, papers=1, locale=locale, authors=["Zhuokai Zhao"])
    item = session.exec(select(DigestItem)).one()
    item.reason, item.reasons = "", [  # what prepare stores: data, no words
        {"kind": "author", "value": "Zhao, Zhuokai", "matched": ["Zhuokai Zhao"]},
        {"kind": "title", "value": "distillation", "matched": ["distillation"]}]
    session.add(item)
    session.commit()
    compose_digest(session, digest)
    card_ = cards_in(parse(digest.html))[0]
    assert " ".join(card_.select_one("p.why").get_text().split()) == why
    assert " ".join(why.split()) in " ".join(digest.text.split())


def test_it_shows_the_stored_words_of_items_prepared_before_reasons_were_data(session):
    digest = make_digest(session, papers=1, locale="zh")  # items with words only (before 0004)
    compose_digest(session, digest)
    card_ = cards_in(parse(digest.html))[0]
    assert " ".join(card_.select_one("p.why").get_text().split()) == \
        "推荐理由：matches 'distillation' (0)"
    assert digest.status == DigestStatus.COMPOSED


@pytest.mark.parametrize(("locale", "theme", "why"), [
    ("en", "New from Torsten Schön", "Why you got this: by %s"),
    ("zh", "关注的作者 Torsten Schön", "推荐理由：关注的作者 %s"),
])
def test_it_stars_followed_authors_however_typed_and_names_them_as_the_paper_does(
        session, locale, theme, why):
    from newsletter.scheduling import pipeline

    moment = dt.datetime(2026, 6, 19, 5, 0, tzinfo=dt.UTC)
    subscriber = factories.make_subscriber(
        session, locale=locale, keywords=(), authors=("Schon, Torsten", "Cedric Demonceaux"))
    factories.make_paper(session, title="Event cameras for visual odometry",
                         authors=["Ana Pérez", "Cédric Demonceaux"],
                         first_seen=moment - dt.timedelta(hours=3))
    factories.make_paper(session, title="Sequential Monte Carlo for system identification",
                         authors=["Fredrik Lindsten", "Torsten Schön"],
                         first_seen=moment - dt.timedelta(hours=2))
    factories.make_paper(session, title="Tokenizers for Finnish", first_seen=moment)
    digest = Digest(subscriber_id=subscriber.id, local_date=moment.date(), created_at=moment)
    session.add(digest)
    session.commit()
    assert pipeline.prepare(session, digest.id, now=moment, refresh=False) == "pending"
    compose_digest(session, digest)

    cards = cards_in(parse(digest.html))
    assert [[s.get_text() for s in c.select("strong.followed")] for c in cards] == [
        ["Torsten Schön"], ["Cédric Demonceaux"]]
    text = " ".join(digest.text.split())
    assert "Fredrik Lindsten, Torsten Schön ★" in text
    assert "Ana Pérez, Cédric Demonceaux ★" in text
    assert theme in digest.subject and "Schon, Torsten" not in digest.subject
    assert [" ".join(c.select_one("p.why").get_text().split()) for c in cards] == [
        why % name for name in ("Torsten Schön", "Cédric Demonceaux")]


@cache
def _unbaked(name: str, locale: str) -> Template:
    source = mjml2html(render.mjml_source(name, locale), fonts={})
    return render.ENV.from_string(render.finish_compiled(source))


def render_html_unbaked(name: str, locale: str, context: dict) -> str:
    """Compiled once, but every style inlined by premailer per email (the path before
    `render.bake_styles`): the reference the baked output must equal, and bench/compose.py's
    comparison."""
    return render.inline(_unbaked(name, locale).render(context))


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_it_writes_the_same_inline_styles_as_premailer_alone(monkeypatch, locale):
    """Styles written into the template at compile time (render.bake_styles) must give the
    very bytes premailer gives when it inlines every rule after rendering."""
    hostile = card(2, title=HOSTILE[0], summary=HOSTILE[1], reason=HOSTILE[3],
                   authors=HOSTILE, followed=[HOSTILE[2]])
    view = digest_view([card(1), hostile, card(3)], locale=locale, synthesis=HOSTILE[6] + " [1]")
    subscriber = Subscriber(id=7, email="ada@example.org", locale=locale, send_hour=6,
                            timezone="Asia/Shanghai", frequency="daily", max_papers=10)
    emails = [lambda: render_digest(view), lambda: render_digest(view, budget=8_000),
              lambda: render_confirmation(subscriber, f"{WEB}/confirm/token"),
              lambda: render_welcome(subscriber, topics=["distillation", HOSTILE[0]])]
    # Signed links carry a timestamp: two renders a second apart differ only there.
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp",
                        lambda self: 1_795_000_000)
    baked = [email().html for email in emails]
    monkeypatch.setattr("newsletter.compose.view.render_html", render_html_unbaked)
    assert baked == [email().html for email in emails]
    assert all('class="cite"' not in html or 'class="cite" href="#card-1" style=' in html
               for html in baked)


def test_it_leaves_per_email_inlining_only_to_classes_the_template_lacks():
    css = render.compiled("digest", "en").css
    assert "a.cite" in css  # built in Python by synthesis_paragraphs, so inlined per email
    assert "p.summary" not in css and "div.card-box" not in css
    html, leftover = render.bake_styles(
        '<div class="x {{ a }}">{% if b %}<p class="summary" dir="auto">{{ b }}</p>{% endif %}'
        '<p class="summary" style="color: red">x</p></div>',
        "p.summary { margin: 0; color: #111; }\ndiv.x p.lead { color: red; }")
    assert '{% if b %}<p class="summary" dir="auto" style="margin:0; color:#111">{{ b }}' in html
    assert '<p class="summary" style="margin:0; color:red">' in html
    assert '<div class="x {{ a }}">' in html and leftover == "div.x p.lead { color: red; }"


def test_it_hands_premailer_only_the_leftover_rules_an_email_can_use():
    compiled = render.Compiled(render.ENV.from_string(""),
                               "a.cite { color: blue; }\np.lead { margin: 0; }\n"
                               "div.x p.y { color: red; }")
    assert compiled.css_for('<p class="summary"><a class="cite" href="#card-1">1</a></p>') == (
        "a.cite { color: blue; }\ndiv.x p.y { color: red; }")  # a compound rule always stays
    assert compiled.css_for("<p class='lead'>x</p>") == compiled.css  # not sure: keep them all

