"""One paper, once: a preprint and its journal version are one card that links both, and
neither comes back on a later day, whichever source brings it (issue 17, item 6)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from bs4 import BeautifulSoup
from sqlmodel import select

from newsletter.compose.versions import versions
from newsletter.compose.view import source_label
from newsletter.core.models import Digest, DigestItem, DigestStatus, Interest, Paper, PaperBase
from newsletter.core.text import title_key
from newsletter.harvest.feeds import parse
from newsletter.harvest.store import store
from newsletter.scheduling import pipeline
from tests.factories import make_subscriber

DAY1 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
DOI = "10.1038/s41586-026-07001-3"
PREPRINT_ID, JOURNAL_ID = "arxiv:2611.30001", f"doi:{DOI}"


def preprint() -> PaperBase:
    # arXiv writes La$_4$Ni$_3$O$_{10}$; the harvest's cleaner leaves La_4Ni_3O_10
    return PaperBase(
        id=PREPRINT_ID, title="Signatures of superconductivity near 80 K in a nickelate "
        "La_4Ni_3O_10 under pressure", authors=["M. Zhang", "R. Ortega"],
        abstract="We report signatures of superconductivity near 80 K in the nickelate "
                 "La4Ni3O10 under pressure. Resistance drops to zero above 20 GPa.",
        categories=["cond-mat.supr-con"], primary_category="cond-mat.supr-con",
        announce_type="new", url="https://arxiv.org/abs/2611.30001",
        pdf_url="https://arxiv.org/pdf/2611.30001", source="arxiv",
        published=dt.date(2026, 11, 20))


def journal_version() -> PaperBase:
    return PaperBase(
        id=JOURNAL_ID, title="Signatures of superconductivity near 80 K in a nickelate "
        "La4Ni3O10 under pressure",
        title_html="Signatures of superconductivity near 80 K in a nickelate "
                   "La<sub>4</sub>Ni<sub>3</sub>O<sub>10</sub> under pressure",
        authors=["Meng Zhang", "Hui Li"], abstract="Nickelate superconductivity under pressure.",
        doi=DOI, source="Nature", journal="Nature",
        url=f"https://www.nature.com/articles/{DOI[8:]}", published=dt.date(2026, 11, 25))


def other_paper(n: int) -> PaperBase:
    return PaperBase(
        id=f"arxiv:2611.4000{n}", title=f"Strain tuning of a nickelate superconductor, part {n}",
        authors=["Q. Someone"], abstract="We tune a nickelate superconductor with strain.",
        categories=["cond-mat.supr-con"], announce_type="new",
        url=f"https://arxiv.org/abs/2611.4000{n}", source="arxiv")


def harvested(session, when: dt.datetime, *papers: PaperBase) -> None:
    with time_machine.travel(when - dt.timedelta(hours=1), tick=False):
        store(session, list(papers))


def send(session, subscriber, when: dt.datetime) -> tuple[Digest, list[DigestItem]]:
    with time_machine.travel(when, tick=False):
        digest = Digest(subscriber_id=subscriber.id, local_date=when.date())
        session.add(digest)
        session.commit()
        assert pipeline.run_digest(digest.id, refresh=False) == DigestStatus.SENT
    session.expire_all()
    items = session.exec(select(DigestItem).where(DigestItem.digest_id == digest.id)
                         .order_by(DigestItem.rank)).all()
    return session.get(Digest, digest.id), list(items)


def test_one_title_key_reads_tex_and_unicode_subscripts_as_the_journals_plain_digits():
    plain = title_key("Superconductivity in La4Ni3O10 at ambient pressure")
    assert title_key("Superconductivity in La_4Ni_3O_10 at ambient pressure") == plain
    assert title_key("Superconductivity in La₄Ni₃O₁₀ at Ambient Pressure!") == plain
    assert title_key("Fe^2+ sites in CO_2 capture") == title_key("Fe2+ sites in CO2 capture")


def test_a_preprint_and_its_journal_version_are_one_card_that_links_both(session):
    harvested(session, DAY1, preprint(), journal_version())
    subscriber = make_subscriber(session, keywords=("nickelate",))
    digest, items = send(session, subscriber, DAY1)

    assert [(i.paper_id, i.versions) for i in items] == [(PREPRINT_ID, [JOURNAL_ID])]
    soup = BeautifulSoup(digest.html, "html.parser")
    links = {" ".join(a.get_text().split()): a["href"] for a in soup.select(".versions a")}
    assert links == {"Journal version: Nature": f"https://doi.org/{DOI}",
                     "Preprint: arXiv:2611.30001": "https://arxiv.org/abs/2611.30001"}
    assert len(soup.select("h3.title")) == 1
    assert f"  Journal version: Nature: https://doi.org/{DOI}" in digest.text
    assert "  Preprint: arXiv:2611.30001: https://arxiv.org/abs/2611.30001" in digest.text


@pytest.mark.parametrize("later", [dt.timedelta(days=1), dt.timedelta(days=40)])
def test_neither_version_comes_back_the_next_day_from_either_source(session, later):
    """A day later both rows are in the window's index; 40 days later the preprint has left
    it, and only what the subscriber was sent (title, authors, source) tells."""
    harvested(session, DAY1, preprint(), other_paper(1))
    subscriber = make_subscriber(session, keywords=("nickelate",))
    _, first = send(session, subscriber, DAY1)
    assert PREPRINT_ID in [i.paper_id for i in first]

    harvested(session, DAY1 + later, journal_version(), other_paper(2))  # Nature publishes it
    _, second = send(session, subscriber, DAY1 + later)
    assert [i.paper_id for i in second] == ["arxiv:2611.40002"]


def test_a_journal_paper_sent_first_keeps_its_later_preprint_away(session):
    harvested(session, DAY1, journal_version(), other_paper(1))
    subscriber = make_subscriber(session, keywords=("nickelate",))
    _, first = send(session, subscriber, DAY1)
    assert JOURNAL_ID in [i.paper_id for i in first]

    harvested(session, DAY2, preprint(), other_paper(2))
    _, second = send(session, subscriber, DAY2)
    assert [i.paper_id for i in second] == ["arxiv:2611.40002"]


def test_a_nature_reader_gets_the_journal_row_of_the_pair_in_chinese(session):
    harvested(session, DAY1, preprint(), journal_version())
    subscriber = make_subscriber(session, keywords=(), locale="zh")
    session.add(Interest(subscriber_id=subscriber.id, kind="source", value="nature"))
    session.commit()
    digest, items = send(session, subscriber, DAY1)

    assert [(i.paper_id, i.versions) for i in items] == [(JOURNAL_ID, [PREPRINT_ID])]
    soup = BeautifulSoup(digest.html, "html.parser")
    labels = [" ".join(a.get_text().split()) for a in soup.select(".versions a")]
    assert labels == ["期刊版本：Nature", "预印本：arXiv:2611.30001"]
    assert [s.get_text() for s in soup.select("h3.title sub")] == ["4", "3", "10"]


def test_a_doi_merged_row_links_both_and_a_lone_paper_links_no_versions(session):
    store(session, [preprint().model_copy(update={"doi": DOI}), journal_version()])
    merged = session.get(Paper, PREPRINT_ID)
    assert session.get(Paper, JOURNAL_ID) is None and merged.journal == "Nature"
    assert [(v.kind, v.name, v.url) for v in versions(merged, [], source_label)] == [
        ("journal", "Nature", f"https://doi.org/{DOI}"),
        ("preprint", "arXiv:2611.30001", "https://arxiv.org/abs/2611.30001")]
    lone = PaperBase(**other_paper(3).model_dump())
    assert versions(Paper(**lone.model_dump()), [], source_label) == []
    biorxiv = Paper(id="doi:10.1101/2026.11.20.123456", title="A bioRxiv preprint",
                    doi="10.1101/2026.11.20.123456", source="biorxiv",
                    url="https://www.biorxiv.org/content/10.1101/2026.11.20.123456")
    assert versions(biorxiv, [], source_label) == []  # its own DOI is no journal version


ARXIV_ITEM = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     version="2.0"><channel><title>cs.SE updates on arXiv.org</title>
  <link>http://rss.arxiv.org/rss/cs.SE</link><description>cs.SE</description>
  <item>
    <title>Flaky tests in the wild</title>
    <link>https://arxiv.org/abs/2608.01234</link>
    <description>arXiv:2608.01234v2 Announce Type: replace
Abstract: We study flaky tests.</description>
    <guid isPermaLink="false">oai:arXiv.org:2608.01234v2</guid>
    <category>cs.SE</category>
    <pubDate>Thu, 13 Aug 2026 00:00:00 -0400</pubDate>
    <arxiv:announce_type>replace</arxiv:announce_type>
    <arxiv:DOI>10.1007/s10664-026-10934-z</arxiv:DOI>
    <arxiv:journal_reference>Empirical Software Engineering 32 (2026) 13</arxiv:journal_reference>
    <dc:creator>Alex Deaconu, Anubhav Gupta</dc:creator>
  </item></channel></rss>"""


def test_an_arxiv_item_that_names_its_journal_version_links_it():
    [paper] = parse("arxiv_rss", ARXIV_ITEM.encode())
    assert (paper.doi, paper.journal) == ("10.1007/s10664-026-10934-z",
                                          "Empirical Software Engineering 32 (2026) 13")
    found = versions(Paper(**paper.model_dump()), [], source_label)
    assert [(v.kind, v.name, v.url) for v in found] == [
        ("journal", "Empirical Software Engineering 32 (2026) 13",
         "https://doi.org/10.1007/s10664-026-10934-z"),
        ("preprint", "arXiv:2608.01234", "https://arxiv.org/abs/2608.01234")]


def test_the_landing_preview_shows_the_pair_as_one_card_too(session):
    from newsletter.web.preview import preview

    harvested(session, DAY1, preprint(), journal_version(), other_paper(1))
    with time_machine.travel(DAY1, tick=False):
        cards, _ = preview(session, keywords=("nickelate",), per_page=10)
        newest, _ = preview(session, per_page=10)
    for shown in (cards, newest):
        assert len({PREPRINT_ID, JOURNAL_ID} & {c.id for c in shown}) == 1


def test_two_papers_with_one_title_and_only_an_initial_in_common_stay_two():
    """'Smith J.' and 'Jones J.' share the initial J, not a surname: two different papers
    with the same title are both kept; 'Zhang A.' and 'Ang Zhang' still share 'Zhang'."""
    from newsletter.ranking.candidates import same_work
    from newsletter.ranking.rank import Doc

    title = "Deep learning for protein structure prediction in the wild"
    two = [Doc(title=title, authors=["Smith J.", "Brown K."], source="PLOS ONE"),
           Doc(title=title, authors=["Jones J."], source="Scientific Reports")]
    assert same_work(two) == []
    one = [Doc(title=title, authors=["Zhang A."], source="biorxiv"),
           Doc(title=title, authors=["Ang Zhang", "Martin King Jr."], source="Nature")]
    assert same_work(one) == [[0, 1]]
    juniors = [Doc(title=title, authors=["Martin King Jr."], source="arxiv"),
               Doc(title=title, authors=["Ada Lovelace Jr."], source="Nature")]
    assert same_work(juniors) == []
    groups = [Doc(title=title, authors=["ATLAS Collaboration"], source="arxiv"),
              Doc(title=title, authors=["CMS Collaboration"], source="Phys. Rev. Lett.")]
    assert same_work(groups) == []  # two collaborations, not one "Collaboration"
    assert same_work([groups[0], Doc(title=title, authors=["The ATLAS Collaboration"],
                                     source="Phys. Rev. Lett.")]) == [[0, 1]]


@pytest.mark.parametrize(("written", "doi"), [
    ("10.1103/PhysRevB.110.014501 10.1103/PhysRevB.110.014502", "10.1103/physrevb.110.014501"),
    ("https://doi.org/10.1007/S10664-026-10934-z", "10.1007/s10664-026-10934-z"),
    ("doi:10.1007/s10664-026-10934-z.", "10.1007/s10664-026-10934-z"),
    ("to appear", None),
])
def test_an_arxiv_items_doi_field_is_read_as_one_doi(written, doi):
    """arXiv's DOI field is typed by the authors: several DOIs, a resolver URL, prose."""
    item = ARXIV_ITEM.replace("10.1007/s10664-026-10934-z", written)
    [paper] = parse("arxiv_rss", item.encode())
    assert paper.doi == doi


def test_a_doi_link_is_only_built_from_a_doi_and_stays_one_url():
    from newsletter.compose.versions import doi_url

    def link(doi):
        return doi_url(Paper(id="doi:x", title="t", doi=doi))

    assert link("10.1016/s0140-6736(26)02117-3") == \
        "https://doi.org/10.1016/s0140-6736(26)02117-3"
    assert link('10.1000/a"b<c>#d?e') == "https://doi.org/10.1000/a%22b%3Cc%3E%23d%3Fe"
    assert link("javascript:alert(1)") is None
    assert link("see the journal") is None
    assert link("10.48550/arxiv.2611.30001") is None  # arXiv's own DOI adds nothing


def test_a_journal_only_preview_shows_the_journal_row_of_the_pair(session):
    """The landing preview of a Nature reader keeps Nature's row of the pair, as the email
    does, whichever row the index lists first."""
    from newsletter.web.preview import preview

    harvested(session, DAY1, preprint(), journal_version(), other_paper(1))
    with time_machine.travel(DAY1, tick=False):
        cards, _ = preview(session, sources=("nature",), per_page=10)
    assert [c.id for c in cards] == [JOURNAL_ID]
