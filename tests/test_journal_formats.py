"""Every publisher family of the catalogue, in its own real feed format.

tests/fixtures/feeds/journals/ holds one small feed per publisher, written by us in the
structure, namespaces, date formats and quirks of that publisher's real feed (README.md there
says which). Each item must parse to the paper a reader expects: the title readable (markup
kept safe), the DOI where the publisher gives one (or where its link carries it), the authors
one per person, a date, the catalogue's badge and the right article type. End to end, the
feed is served at the catalogue URL's path by a local server (FEED_BASE_OVERRIDE) and a
subscriber of that journal alone gets its research first, with badge, markup and DOI link.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.compose.view import source_label
from newsletter.core.models import Source
from newsletter.core.richtext import sanitize
from newsletter.harvest.feeds import parse
from newsletter.harvest.fetch import fetch
from newsletter.harvest.sources import journal_catalogue
from tests.feedserver import FeedServer

FORMATS = Path(__file__).parent / "fixtures" / "feeds" / "journals"
CATALOGUE = {spec.name: spec for spec in journal_catalogue()}
R, N, C, E, X = "research", "news", "comment", "editorial", "correction"

# fixture -> (catalogue source it stands for, [(id, type, authors, date)] in feed order)
EXPECTED: dict[str, tuple[str, list[tuple[str, str, list[str], str | None]]]] = {
    "science_atypon.rdf.xml": ("science", [
        ("doi:10.1126/science.adz4410", R,
         ["Wenjie Hao", "Ingrid Solberg", "Tomás R. Echeverría"], "2026-11-26"),
        ("doi:10.1126/science.adz5127", R, ["Priya Ramaswamy", "Olusegun Adeyemi"], "2026-11-26"),
        ("doi:10.1126/science.aeb0312", N, [], "2026-11-26"),
        ("doi:10.1126/science.aeb0388", N, ["Michael A. Funk", "Di Jiang"], "2026-11-26"),
        ("doi:10.1126/science.aeb1005", C, ["Hannah K. Oduya"], "2026-11-26"),
        ("doi:10.1126/science.ady2230", C, ["Amaka Nwosu-Bello", "Lars Øvergaard"],
         "2026-11-26"),  # three pages: a policy forum, not a research article
        ("doi:10.1126/science.aeb1190", X, ["Holden Thorp"], "2026-11-26"),
        ("doi:10.1126/science.aeb1204", X, [], "2026-11-26"),
    ]),
    "pnas_atypon.rdf.xml": ("pnas", [
        ("doi:10.1073/pnas.2519877123", R,
         ["Luiza M. Carvalho", "Kwame Boateng", "Anja Richter"], "2026-11-24"),
        ("doi:10.1073/pnas.2520114123", R, ["Gabriel Esteban Ruiz", "Mei-Ling Tsao"],
         "2026-11-23"),
        ("doi:10.1073/iti4726123", N, [], "2026-11-24"),
        ("doi:10.1073/pnas.2531006123", X, [], "2026-11-24"),
    ]),
    "nejm_atypon.rss.xml": ("nejm", [
        ("doi:10.1056/nejmoa2611482", R,
         ["M. Delacroix", "S. Y. Park", "R. Nwosu", "H. Lindqvist"], "2026-11-25"),
        ("doi:10.1056/nejme2612950", E, ["J. B. Feldman"], "2026-11-25"),
        ("doi:10.1056/nejmp2613307", C, ["A. Quintero", "T. Abernathy"], "2026-11-21"),
        ("doi:10.1056/nejmoa2609931", R,
         ["K. Achterberg", "L. M. Fofana", "P. Rao", "E. Moreau", "D. C. Whitfield"],
         "2026-11-21"),
        ("doi:10.1056/nejmc2614020", C, ["F. Osei"], "2026-11-25"),
    ]),
    "acs_jacs.rss.xml": ("jacs", [
        ("doi:10.1021/jacs.6c14021", R,
         ["Yuki Tanabe", "Rafael Ortiz-Blanco", "Chen Xiaoming", "Marta Kowalczyk"],
         "2026-11-26"),
        ("doi:10.1021/jacs.6c13877", R, ["Amelia Grant", "Sebastián Pérez"], "2026-11-25"),
        ("doi:10.1021/jacs.6c15002", X, ["Hyun-Woo Lim"], "2026-11-25"),
        ("doi:10.1021/jacs.6c12950", R,
         ["Olga Petrenko", "Daniel J. Whitmore", "Aiko Shimizu"], "2026-11-24"),
    ]),
    "acm_jacm.rss.xml": ("jacm", [
        ("doi:10.1145/3771204", R, ["Sigrid Halvorsen", "Tarun Mehta", "Jiří Novotný"],
         "2026-11-23"),
        ("doi:10.1145/3771560", R, ["Irene Castellanos", "Kofi Mensah"], "2026-11-23"),
        ("doi:10.1145/3772001", E, ["Venkatesan Iyer"], "2026-11-23"),
    ]),
    "cell_press.rss.xml": ("cell", [
        ("url:https://www.cell.com/cell/fulltext/S0092-8674(26)01187-2", R,
         ["Aurélie Fontaine", "Jonah Weiss", "Mariam Haddad", "Keiko Fujimoto"], "2026-11-26"),
        ("url:https://www.cell.com/cell/fulltext/S0092-8674(26)01203-8", R,
         ["Rohan Bhattacharya", "Elise Vandenberghe", "Tomasz Zielinski"], "2026-11-24"),
        ("url:https://www.cell.com/cell/fulltext/S0092-8674(26)01240-3", C,
         ["Hannah Lindgren"], "2026-11-26"),
        ("url:https://www.cell.com/cell/fulltext/S0092-8674(26)01099-4", R,
         ["Paolo Ferraresi", "Amara Nwachukwu"], "2026-11-24"),
        ("url:https://www.cell.com/cell/fulltext/S0092-8674(26)01255-5", X, [], "2026-11-24"),
    ]),
    "lancet.rss.xml": ("lancet", [
        ("doi:10.1016/s0140-6736(26)02117-3", R,
         ["Chisomo Banda", "Eleanor Whitcombe", "Mphatso Phiri", "Raj Patel"], "2026-11-26"),
        ("doi:10.1016/s0140-6736(26)01988-5", R,
         ["Ingeborg Solheim", "Mateus Vieira", "Akua Mensah-Bonsu"], "2026-11-24"),
        ("doi:10.1016/s0140-6736(26)02240-3", C, ["Kathleen Morrow"], "2026-11-26"),
        ("doi:10.1016/s0140-6736(26)02301-9", E, [], "2026-11-26"),
        ("doi:10.1016/s0140-6736(26)01876-4", C, ["Lucía Fernández-Ortega", "Pieter de Vries"],
         "2026-11-24"),
        ("doi:10.1016/s0140-6736(26)02322-6", N, ["Talha Burki"], "2026-11-26"),
    ]),
    "jama.rss.xml": ("jama", [
        ("url:https://jamanetwork.com/journals/jama/fullarticle/2841177", R, [], "2026-11-24"),
        ("url:https://jamanetwork.com/journals/jama/fullarticle/2841203", R, [], "2026-11-24"),
        ("url:https://jamanetwork.com/journals/jama/fullarticle/2841090", N, [], "2026-11-20"),
        ("url:https://jamanetwork.com/journals/jama/fullarticle/2841125", C, [], "2026-11-24"),
        ("url:https://jamanetwork.com/journals/jama/fullarticle/2841301", X, [], "2026-11-24"),
    ]),
    "aps_prl.rdf.xml": ("prl", [
        ("doi:10.1103/kx7q-2m3d", R, ["Mirela Constantin", "Hugo Lefebvre", "Sun-Hee Cho"],
         "2026-11-25"),
        ("doi:10.1103/physrevlett.137.226401", R, ["Farid Haddadi", "Lena Brandt"],
         "2026-11-24"),
        ("doi:10.1103/physrevlett.137.229902", X, ["Arjun Nair"], "2026-11-24"),
    ]),
    "wiley_angewandte.rss.xml": ("angewandte", [
        ("doi:10.1002/anie.202521187", R,
         ["Lukas Hoffmann", "Sara Bianchi", "Wei‐Ling Zhou", "Matthias Brenner"], "2026-11-26"),
        ("doi:10.1002/anie.202519940", R, ["Noémie Garnier", "Takeshi Ueda"], "2026-11-25"),
        ("doi:10.1002/anie.202581101", N, ["Lukas Hoffmann", "Matthias Brenner"], "2026-11-24"),
        ("doi:10.1002/anie.202522370", X, [], "2026-11-24"),
        ("doi:10.1002/anie.202520455", C, ["Ewa Kamińska"], "2026-11-23"),
    ]),
    "plos_one.atom.xml": ("plos-one", [
        ("doi:10.1371/journal.pone.0331742", R,
         ["Dawit Bekele", "Rosa Marín-Gutiérrez", "Ferhat Yıldız"], "2026-11-26"),
        ("doi:10.1371/journal.pone.0331901", R, ["Anneke Visser", "Jun-ho Baek"], "2026-11-25"),
        ("doi:10.1371/journal.pone.0334410", X, ["The PLOS ONE Staff"], "2026-11-25"),
    ]),
    "elife.rss.xml": ("elife", [
        ("doi:10.7554/elife.104417", R,
         ["Ines Carvalho", "Benjamin Osei-Tutu", "Laura Engström"], "2026-11-25"),
        ("url:https://elifesciences.org/reviewed-preprints/106022", R,
         ["Yusuf Demir", "Clara Hoffmeister"], "2026-11-24"),
        ("doi:10.7554/elife.108890", C, ["Rachel Adeyinka"], "2026-11-25"),
        ("doi:10.7554/elife.109101", X, [], "2026-11-23"),
    ]),
    "jmlr.rss.xml": ("jmlr", [  # JMLR dates nothing: the harvest dates it the day it is fetched
        ("url:https://jmlr.org/papers/v27/24-1187.html", R,
         ["Aleksandra Nowak", "Pedro H. Salgado", "Rin Takahashi"], None),
        ("url:https://jmlr.org/papers/v27/25-0042.html", R,
         ["Jonas Lindberg", "Fatima Zahra El Amrani"], None),
        ("url:https://jmlr.org/papers/v27/25-0310.html", R,
         ["Marcus Oyelaran", "Yiting Qian", "Hélène Marchetti", "Dmitri Volkov"], None),
    ]),
    "ieee_tpami.rss.xml": ("ieee-tpami", [
        ("url:http://ieeexplore.ieee.org/document/11254031", R, [], "2026-11-24"),
        ("url:http://ieeexplore.ieee.org/document/11254102", R, [], "2026-11-23"),
        ("url:http://ieeexplore.ieee.org/document/11260007", N, [], "2026-11-23"),
    ]),
}


def papers_of(name: str) -> list:
    return parse("rss", (FORMATS / name).read_bytes(), source=CATALOGUE[EXPECTED[name][0]].label)


def test_every_fixture_is_described_and_expected():
    files = sorted(p.name for p in FORMATS.glob("*.xml"))
    assert files == sorted(EXPECTED)
    readme = (FORMATS / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in files)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_publishers_items_parse_to_the_papers_a_reader_expects(name):
    source, expected = EXPECTED[name]
    papers = papers_of(name)
    assert [(p.id, p.article_type, p.authors, p.published and p.published.isoformat())
            for p in papers] == expected
    for paper in papers:
        assert paper.title and "<" not in paper.title and "&lt;" not in paper.title
        assert not re.match(r"^\[\w", paper.title)  # "[Articles] ", "[ASAP] " are not the title
        if paper.title_html:
            assert sanitize(paper.title_html) == paper.title_html  # only sub/sup/i/b survive
            assert re.sub(r"</?(?:sub|sup|i|b)>", "", paper.title_html) == paper.title
        if paper.id.startswith("doi:"):
            assert paper.doi == paper.id.removeprefix("doi:")
        assert paper.url.startswith("http") and not re.search(r"[?&](?:af=R|rss=)", paper.url)
        assert source_label(paper) == CATALOGUE[source].label  # the badge names the journal
        assert "Volume " not in paper.abstract and "Author(s)" not in paper.abstract


@pytest.mark.parametrize(("name", "pid", "html", "text"), [
    ("acs_jacs.rss.xml", "doi:10.1021/jacs.6c14021",
     "Ambient-Pressure Synthesis of La<sub>4</sub>Ni<sub>3</sub>O<sub>10</sub> Thin Films with "
     "<i>T</i><sub>c</sub> above 30 K",
     "Ambient-Pressure Synthesis of La4Ni3O10 Thin Films with Tc above 30 K"),
    ("science_atypon.rdf.xml", "doi:10.1126/science.adz4410",  # markup written as entities
     "Bulk superconductivity near 60 K in pressurized La<sub>3</sub>Ni<sub>2</sub>O<sub>7</sub>"
     " single crystals",
     "Bulk superconductivity near 60 K in pressurized La3Ni2O7 single crystals"),
    ("pnas_atypon.rdf.xml", "doi:10.1073/pnas.2520114123",
     "Exact enumeration of <i>k</i>-regular graphs with prescribed girth via transfer matrices",
     "Exact enumeration of k-regular graphs with prescribed girth via transfer matrices"),
    ("elife.rss.xml", "url:https://elifesciences.org/reviewed-preprints/106022",
     "Structural basis of Ca<sup>2+</sup>-dependent gating in a bacterial mechanosensitive channel",
     "Structural basis of Ca2+-dependent gating in a bacterial mechanosensitive channel"),
])
def test_chemistry_and_maths_titles_keep_their_markup_and_read_plainly(name, pid, html, text):
    paper = next(p for p in papers_of(name) if p.id == pid)
    assert (paper.title_html, paper.title) == (html, text)


def test_a_chemistry_title_starting_with_brackets_is_not_a_section():
    paper = papers_of("wiley_angewandte.rss.xml")[1]
    assert paper.title.startswith("Photocatalytic [2+2] Cycloaddition")


# -- end to end: the catalogue's URL, a subscriber of that journal alone, the email ------------

runner = CliRunner()
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)


def served(monkeypatch, *names: str) -> FeedServer:
    """Each fixture at its catalogue source's own path and query, through FEED_BASE_OVERRIDE,
    as an outside harness would serve the real feed at the real URL."""
    routes = {}
    for name in names:
        url = urlsplit(CATALOGUE[EXPECTED[name][0]].url)
        routes[url.path + (f"?{url.query}" if url.query else "")] = (FORMATS / name).read_bytes()
    server = FeedServer(routes)
    monkeypatch.setenv("FEED_BASE_OVERRIDE", server.url)
    from newsletter.core import config

    config.get_settings.cache_clear()
    return server


def subscribe(*args: str) -> None:
    result = runner.invoke(app, ["subscribe", *args, "--tz", "UTC", "--hour", "6", "--confirmed"])
    assert result.exit_code == 0, result.output


def send_due(outbox: Path) -> dict[str, tuple[BeautifulSoup, str, str]]:
    """One scheduler tick at 06:30 UTC; each recipient's email as (soup, html, text)."""
    result = runner.invoke(app, ["send-due", "--now", "2026-11-27T06:30:00+00:00"])
    assert result.exit_code == 0, result.output
    sent = {}
    for eml in outbox.glob("*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        sent[str(message["To"])] = (BeautifulSoup(html, "html.parser"), html, text)
    return sent


def delivered(monkeypatch, outbox: Path, name: str,
              *subscribers: str | tuple[str, ...]) -> dict[str, tuple[BeautifulSoup, str, str]]:
    """Serve one fixture at its catalogue URL, subscribe each (address, or address, source,
    extra options) to that journal alone, run one send-due tick: the emails by recipient."""
    source = EXPECTED[name][0]
    server = served(monkeypatch, name)
    try:
        with time_machine.travel(NOW, tick=True):
            for who in subscribers:
                address, chosen, *extra = (who, source) if isinstance(who, str) else who
                subscribe(address, "--source", chosen, *extra)
            sent = send_due(outbox)
    finally:
        server.close()
    assert sum(server.hits.values()) == 1  # fetched once, whatever the number of subscribers
    return sent


def cards(soup: BeautifulSoup) -> list[tuple[str, str]]:
    return [(" ".join(b.get_text().split()), " ".join(t.get_text().split()))
            for b, t in zip(soup.select(".badge"), soup.select("h3.title"), strict=True)]


@pytest.mark.parametrize(("name", "research", "news"), [
    ("acs_jacs.rss.xml", ["doi:10.1021/jacs.6c14021", "doi:10.1021/jacs.6c13877",
                          "doi:10.1021/jacs.6c12950"], ["doi:10.1021/jacs.6c15002"]),
    ("science_atypon.rdf.xml", ["doi:10.1126/science.adz4410", "doi:10.1126/science.adz5127"],
     ["doi:10.1126/science.aeb0312", "doi:10.1126/science.aeb0388",
      "doi:10.1126/science.aeb1005", "doi:10.1126/science.ady2230",
      "doi:10.1126/science.aeb1190", "doi:10.1126/science.aeb1204"]),
    ("lancet.rss.xml", ["doi:10.1016/s0140-6736(26)02117-3", "doi:10.1016/s0140-6736(26)01988-5"],
     ["doi:10.1016/s0140-6736(26)02240-3", "doi:10.1016/s0140-6736(26)02301-9",
      "doi:10.1016/s0140-6736(26)01876-4", "doi:10.1016/s0140-6736(26)02322-6"]),
    ("aps_prl.rdf.xml", ["doi:10.1103/kx7q-2m3d", "doi:10.1103/physrevlett.137.226401"],
     ["doi:10.1103/physrevlett.137.229902"]),
])
def test_a_subscriber_of_one_journal_alone_gets_its_research_first_as_the_check_does(
        session, monkeypatch, settings_env, name, research, news):
    source = CATALOGUE[EXPECTED[name][0]]
    # By name and by label; the second asks for news too. One fetch serves both.
    sent = delivered(monkeypatch, settings_env.outbox_dir, name, "ada@example.org",
                     ("bob@example.org", source.label, "--news"))
    soup, html, text = sent["ada@example.org"]
    by_id = {p.id: p for p in papers_of(name)}
    expected = [(f"{n:02d}. {source.label} {by_id[pid].published.isoformat()}", by_id[pid].title)
                for n, pid in enumerate(research, 1)]
    assert cards(soup) == expected  # research only, newest first, the catalogue's badge
    shown = {" ".join(h.get_text().split()): " ".join(h.decode_contents().split())
             for h in soup.select("h3.title")}
    flat_text = " ".join(text.split())
    for paper in (by_id[pid] for pid in research):
        if paper.doi:
            assert f'href="https://doi.org/{paper.doi}"' in html
        if paper.title_html:  # subscripts as tags in HTML, plain in text
            assert paper.title_html in shown[paper.title] and paper.title in flat_text
    assert "&lt;sub&gt;" not in html and "<sub>" not in text and "&lt;" not in text
    assert [pid for pid in news if by_id[pid].title in html + flat_text] == []
    # Asked for, the news comes after all the research.
    news_soup, _, news_text = sent["bob@example.org"]
    titles = [title for _, title in cards(news_soup)]
    assert titles[:len(research)] == [by_id[pid].title for pid in research]
    assert sorted(titles[len(research):]) == sorted(by_id[pid].title for pid in news)
    assert all(by_id[pid].title in " ".join(news_text.split()) for pid in news)


def test_send_due_delivers_a_jacs_only_subscriber_the_chemistry_as_subscripts(
        session, monkeypatch, settings_env):
    soup, html, text = delivered(monkeypatch, settings_env.outbox_dir, "acs_jacs.rss.xml",
                                 "ada@example.org")["ada@example.org"]
    first = soup.select("h3.title")[0]
    assert [s.get_text() for s in first.find_all("sub")] == ["4", "3", "10", "c"]
    assert [s.get_text() for s in first.find_all("i")] == ["T"]
    assert " ".join(soup.select(".badge")[0].get_text().split()) == \
        "01. J. Am. Chem. Soc. 2026-11-26"
    assert 'href="https://doi.org/10.1021/jacs.6c14021"' in html
    assert "La4Ni3O10 Thin Films with Tc above 30 K" in text and "<sub>" not in text
    assert "Correction to" not in html + text


def test_a_feed_without_dates_is_dated_the_day_it_was_fetched(session, monkeypatch, settings_env):
    soup, _, _ = delivered(monkeypatch, settings_env.outbox_dir, "jmlr.rss.xml",
                           "ada@example.org")["ada@example.org"]
    assert [badge for badge, _ in cards(soup)] == [
        f"{n:02d}. JMLR 2026-11-27" for n in (1, 2, 3)]


@pytest.mark.usefixtures("settings_env")
def test_a_preview_fetches_the_chosen_journal_first_and_shows_its_research(
        tmp_path, monkeypatch):
    server = served(monkeypatch, "pnas_atypon.rdf.xml")
    try:
        with time_machine.travel(NOW, tick=True):
            subscribe("ada@example.org", "--source", "PNAS")
            result = runner.invoke(app, ["preview", "ada@example.org", "--out", str(tmp_path)])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert sum(server.hits.values()) == 1
    soup = BeautifulSoup((tmp_path / "digest.html").read_text(), "html.parser")
    assert cards(soup) == [
        ("01. PNAS 2026-11-24", "Hydraulic redistribution by deep roots buffers tropical forests "
                                "against multiyear drought"),
        ("02. PNAS 2026-11-23", "Exact enumeration of k-regular graphs with prescribed girth via "
                                "transfer matrices")]
    assert [i.get_text() for i in soup.select("h3.title")[1].find_all("i")] == ["k"]


def test_the_fetch_layer_honours_the_standard_proxy_variables(monkeypatch):
    """An outside harness may intercept the catalogue's real URLs through HTTP(S)_PROXY (with
    SSL_CERT_FILE for its own CA): the one HTTP seam keeps httpx's `trust_env`."""
    url = "http://feeds.aps.org/rss/recent/prl.xml"
    proxy = FeedServer({url: (FORMATS / "aps_prl.rdf.xml").read_bytes()})
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    try:
        fetched = fetch(Source(name="prl", label="Phys. Rev. Lett.", kind="rss", url=url))
    finally:
        proxy.close()
    assert proxy.hits == {url: 1}  # the absolute URL: the request went through the proxy
    assert len(parse("rss", fetched.data)) == 3


def test_a_teaser_starting_with_by_is_kept_only_plos_lowercase_byline_goes():
    """PLOS's byline is '<p>by A, B</p>'; a teaser that opens 'By 2050, ...' is the text."""
    feed = """<?xml version="1.0"?><rss version="2.0"><channel><title>Some Journal</title>
      <item><title>Crop yields under warming across forty countries</title>
        <link>https://journal.example.org/articles/10.5555/crop.2026.1</link>
        <description>&lt;p&gt;By 2050, food demand will rise by half; we model crop
          yields under warming.&lt;/p&gt;</description></item>
      <item><title>Seasonal shifts in the gut microbiome of wild bees</title>
        <link>https://journal.example.org/articles/10.5555/bees.2026.2</link>
        <description>&lt;p&gt;by Dawit Bekele, Rosa Marin&lt;/p&gt;&lt;p&gt;Colonies sampled
          at 12 sites.&lt;/p&gt;</description></item>
    </channel></rss>"""
    crops, bees = parse("rss", feed.encode())
    assert crops.abstract == ("By 2050, food demand will rise by half; we model crop yields "
                              "under warming.")
    assert bees.abstract == "Colonies sampled at 12 sites."
