"""Journals for real: research first, readable titles, the journal's badge, the DOI link.

The end-to-end test serves our own Nature-format feed (tests/fixtures/feeds/nature_week.rdf.xml,
written in the real RDF/PRISM/Dublin Core layout of nature.com/nature.rss) at the catalogue's
URL through the local feed server, as the withheld check serves the real feed.
"""

from __future__ import annotations

import datetime as dt
import email
import os
from email.policy import default as default_policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from newsletter.compose.view import preprint_url
from newsletter.core.models import Digest, DigestItem, DigestStatus, Interest, Paper, PaperBase
from newsletter.core.richtext import safe_markup, title_markup
from newsletter.harvest import harvester
from newsletter.harvest.articletype import classify
from newsletter.harvest.feeds import parse
from newsletter.harvest.store import store
from newsletter.ranking import rank
from newsletter.ranking.candidates import select_papers
from newsletter.scheduling import pipeline
from tests.factories import make_subscriber
from tests.feedserver import FeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SHARED = (Path(os.environ.get("SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
          / "fixtures" / "feeds" / "journals")
NATURE = (FIXTURES / "nature_week.rdf.xml").read_bytes()
RESEARCH = ["doi:10.1038/s41586-026-07001-3", "doi:10.1038/s41586-026-07002-1",
            "doi:10.1038/s41586-026-07004-8"]  # newest first: 25, 24, 23 November
NEWS = ["doi:10.1038/d41586-026-03801-9", "doi:10.1038/d41586-026-03802-7"]
CORRECTION = "doi:10.1038/s41586-026-07003-x"


# -- what an item is -----------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "doi", "sections", "kind"), [
    ("A superconductor", "10.1038/s41586-024-07553-3", (), "research"),
    ("The nickelate race", "10.1038/d41586-024-02345-6", (), "news"),
    ("Author Correction: A superconductor", "10.1038/s41586-024-07999-1", (), "correction"),
    ("Publisher Correction: X", None, (), "correction"),
    ("Retraction Note: Y", None, (), "correction"),
    ("Correction to “Total Synthesis of Z”", "10.1021/jacs.4c01234", (), "correction"),
    ("Trial of drug X", "10.1056/NEJMoa2401234", (), "research"),
    ("A new era", "10.1056/NEJMe2401234", (), "editorial"),
    ("Doctors and AI", "10.1056/NEJMp2401234", (), "comment"),
    ("On proposals", None, ("editorial",), "editorial"),
    ("Why taxonomy", None, ("POINT OF VIEW",), "comment"),
    ("A new genus", None, ("RESEARCH ARTICLE",), "research"),
    ("Quantum dots", None, ("News & Views",), "news"),
    ("Plain preprint", "10.1101/2024.01.01.123456", (), "research"),
    ("Erratum: Qubits [Phys. Rev. Lett. 136, 130502 (2026)]", None, (), "correction"),
    ("Editorial Expression of Concern", "10.1126/science.aeb1190", (), "correction"),
    ("Correction for Okafor et al., Sleep spindles", None, (), "correction"),
    ("Error in Figure", None, (), "correction"),
    ("Errors in Table 2 and Figure 3", None, (), "correction"),
    ("Incorrect data in a trial of ten thousand patients shows no harm from statins", None, (),
     "research"),  # a long title is an article, not a notice
    ("Incorrect Affiliation", None, (), "correction"),
    ("Omitted Funding Information", None, (), "correction"),
    ("Error in Key Points, Abstract, and Results", None, (), "correction"),
    ("Errors in eTable 3 and Supplement 1", None, (), "correction"),
    # short research titles that open like a notice: words no notice uses make them articles
    ("Missing data imputation with diffusion models", None, (), "research"),
    ("Missing values in electronic health records", None, (), "research"),
    ("Errors in text classification labels", None, (), "research"),
    ("News at a glance", "10.1126/science.aeb0312", (), "news"),
    ("In This Issue", None, (), "news"),
    ("2026 Index IEEE Transactions on Pattern Analysis Vol. 48", None, (), "news"),
    ("Index theorems for twisted Dirac operators", None, (), "research"),
    ("Cover Picture: Copper hydrides", None, ("Cover Picture",), "news"),
    ("Glia keep the gut on time", None, ("Preview",), "comment"),
    ("Sudan's cholera outbreak", None, ("World Report",), "news"),
    ("Featured in Physics: spin waves", None, ("Featured in Physics",), "research"),
    ("A new genus of orchid", None, ("NOMENCLATURE",), "research"),  # a section we don't know
])
def test_it_classifies_items_by_title_section_and_publisher_doi(title, doi, sections, kind):
    assert classify(title, doi, sections) == kind


@pytest.mark.parametrize(("lead", "kind"), [
    ("This Viewpoint discusses federal prior authorization rules.", "comment"),
    ("This Medical News article discusses clinic closures.", "news"),
    ("This randomized clinical trial compares two monitors.", "research"),
    ("This cohort study examines heat and emergency visits.", "research"),
    ("Science, Volume 390, Issue 6777, Page 871-873, November 2026. <br/>", "comment"),
    ("Science, Volume 390, Issue 6777, Page 912-918, November 2026. <br/>", "research"),
    ("Science, Volume 390, Issue 6777, November 2026. <br/>", "research"),  # e-located
    # a research abstract opening with "This ...": the head noun says the type, not a word
    # inside another ("notebook" is no book review, an opinion model no opinion piece)
    ("This opinion dynamics model explores polarization on networks.", "research"),
    ("This notebook describes a reproducible pipeline for cryo-EM.", "research"),
    ("This newsvendor model examines inventory under demand shocks.", "research"),
])
def test_without_a_section_the_description_says_what_an_item_is(lead, kind):
    assert classify("A title", "10.1126/science.adz0001", (), lead=lead) == kind
    assert classify("A title", None, ("Research Article",), lead=lead) == "research"


def test_it_types_each_item_of_a_nature_feed_and_keeps_the_title_markup():
    papers = {p.id: p for p in parse("rss", NATURE, source="Nature")}
    assert {pid for pid, p in papers.items() if p.article_type == "research"} == set(RESEARCH)
    assert {pid for pid, p in papers.items() if p.article_type == "news"} == set(NEWS)
    assert papers[CORRECTION].article_type == "correction"
    nickelate = papers[RESEARCH[0]]
    assert nickelate.title.endswith("nickelate La4Ni3O10 under pressure")
    assert nickelate.title_html.endswith(
        "nickelate La<sub>4</sub>Ni<sub>3</sub>O<sub>10</sub> under pressure")
    assert papers[NEWS[0]].title_html is None  # nothing to keep: the plain title is all


def captured(name: str, source: str) -> list:
    """A real publisher's feed from the shared captures (never copied here); skip if absent."""
    capture = SHARED / name
    if not capture.exists():
        pytest.skip(f"shared capture not found at {capture}")
    return parse("rss", capture.read_bytes(), source=source)


@pytest.mark.conformance
def test_it_separates_research_from_news_in_the_real_nature_feed():
    papers = captured("springernature_nature_2023-04.rdf.xml", "Nature")
    kinds = {p.article_type for p in papers if p.doi.startswith("10.1038/d41586")}
    assert kinds == {"news"}
    research = [p for p in papers if p.article_type == "research"]
    assert len(research) == 27 and all(p.doi.startswith("10.1038/s41586") for p in research)
    assert [p.title for p in papers if p.article_type == "correction"] == [
        "Author Correction: Basin-scale reconstruction of euxinia and Late Devonian mass "
        "extinctions"]
    marked = {p.title: p.title_html for p in papers if p.title_html}
    assert marked["A LaCl3-based lithium superionic conductor compatible with lithium metal"] == (
        "A LaCl<sub>3</sub>-based lithium superionic conductor compatible with lithium metal")


@pytest.mark.conformance
def test_it_reads_sections_of_the_real_wiley_feed_as_article_types():
    papers = captured("wiley_taxon_2021-12.rss.xml", "Taxon")
    kinds = sorted(p.article_type for p in papers)
    assert kinds.count("editorial") == 1 and kinds.count("comment") == 2
    assert [p.title for p in papers if p.article_type == "news"] == ["Issue Information"]
    assert kinds.count("research") == len(papers) - 4


# -- the allow-list ------------------------------------------------------------------------------

def test_it_keeps_only_sub_sup_i_and_b_and_escapes_everything_else():
    raw = ('H<sub>2</sub>O <sup>13</sup>C <em>E. coli</em> <strong>bold</strong> '
           '<a href="javascript:x">link</a> <img src=x onerror=alert(1)> <i class="x">cis</i>'
           ' <script>alert(1)</script> 1 &lt; 2')
    assert title_markup(raw) == ('H<sub>2</sub>O <sup>13</sup>C <i>E. coli</i> <b>bold</b> link'
                                 ' <i>cis</i> 1 &lt; 2')
    assert title_markup("no markup at all") is None
    assert title_markup("<p>only a paragraph</p>") is None


def test_it_sanitises_a_stored_title_again_when_it_renders_it():
    assert safe_markup('x<sub>2</sub><img src=x onerror="alert(1)">', "x2") == "x<sub>2</sub>"
    assert safe_markup(None, "<b>not markup</b>") == "&lt;b&gt;not markup&lt;/b&gt;"


# -- ranking ---------------------------------------------------------------------------------------

def test_a_profile_of_sources_alone_gets_every_paper_of_theirs_newest_first():
    docs = [rank.Doc(title="Older Nature paper", source="Nature", timestamp=1.0),
            rank.Doc(title="A Science paper", source="Science", timestamp=3.0),
            rank.Doc(title="Newer Nature paper", source="Nature", timestamp=2.0)]
    ranking = rank.rank(rank.Corpus(docs), [rank.Profile(sources=["Nature"])], limit=5)
    assert [i for i, _, _ in ranking.for_profile(0)] == [2, 0]


def _store_nature(session):
    store(session, parse("rss", NATURE, source="Nature"))


def test_a_subscriber_of_nature_alone_gets_its_research_newest_first_and_no_news(session):
    _store_nature(session)
    subscriber = make_subscriber(session, keywords=())
    session.add(Interest(subscriber_id=subscriber.id, kind="source", value="nature"))
    session.commit()
    picks = select_papers(session, subscriber, now=dt.datetime.now(dt.UTC))
    assert [p.paper.id for p in picks] == RESEARCH


def test_a_subscriber_who_asks_for_news_gets_it_after_all_the_research(session):
    _store_nature(session)
    subscriber = make_subscriber(session, keywords=(), include_news=True)
    session.add(Interest(subscriber_id=subscriber.id, kind="source", value="Nature"))
    session.commit()
    picks = [p.paper for p in select_papers(session, subscriber, now=dt.datetime.now(dt.UTC))]
    assert [p.id for p in picks[:3]] == RESEARCH
    assert {p.id for p in picks[3:]} == {*NEWS, CORRECTION}


def test_topics_still_rank_research_above_a_matching_news_item(session):
    _store_nature(session)
    subscriber = make_subscriber(session, keywords=("nickelate",), include_news=True)
    picks = [p.paper.id for p in select_papers(session, subscriber, now=dt.datetime.now(dt.UTC))]
    assert picks == [RESEARCH[0], NEWS[0]]


# -- end to end ----------------------------------------------------------------------------------

@pytest.fixture
def nature_feed(session, monkeypatch, settings_env):
    """nature.rss served at its catalogue path through FEED_BASE_OVERRIDE."""
    server = FeedServer({"/nature.rss": NATURE})
    monkeypatch.setenv("FEED_BASE_OVERRIDE", server.url)
    from newsletter.core import config

    config.get_settings.cache_clear()
    yield server
    server.close()


def test_it_sends_a_nature_only_subscriber_natures_research_with_badge_title_and_doi(
        session, nature_feed, settings_env):
    subscriber = make_subscriber(session, keywords=())
    session.add(Interest(subscriber_id=subscriber.id, kind="source", value="nature"))
    session.commit()
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 27))
    session.add(digest)
    session.commit()

    assert pipeline.run_digest(digest.id) == DigestStatus.SENT

    assert nature_feed.hits == {"/nature.rss": 1}
    session.expire_all()
    picked = session.exec(select(DigestItem.paper_id).where(DigestItem.digest_id == digest.id)
                          .order_by(DigestItem.rank)).all()
    assert picked == RESEARCH
    stored = session.get(Paper, NEWS[0])
    assert stored.article_type == "news"  # harvested and kept, just not sent
    html = next(settings_env.outbox_dir.glob("*.html")).read_text()
    soup = BeautifulSoup(html, "html.parser")
    badges = [" ".join(b.get_text().split()) for b in soup.select(".badge")]
    assert badges == ["01. Nature 2026-11-25", "02. Nature 2026-11-24", "03. Nature 2026-11-23"]
    first = soup.select("h3.title")[0]
    assert [s.get_text() for s in first.find_all("sub")] == ["4", "3", "10"]
    assert "&lt;sub&gt;" not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # a hostile title, escaped
    dois = [a["href"] for a in soup.find_all("a") if a["href"].startswith("https://doi.org/")]
    assert dois == [f"https://doi.org/{pid.removeprefix('doi:')}" for pid in RESEARCH]
    assert "nickelate race" not in html and "Author Correction" not in html
    message = email.message_from_bytes(next(settings_env.outbox_dir.glob("*.eml")).read_bytes(),
                                       policy=default_policy)
    text = message.get_body(("plain",)).get_content()
    assert "La4Ni3O10" in text and "<sub>" not in text and "&lt;" not in text
    assert "<sub>" not in str(message["Subject"])


def test_the_harvest_of_the_catalogue_reads_nature_through_its_real_url(session, nature_feed):
    [result] = harvester.harvest(session, ["nature"])
    assert result.status == "ok" and result.count == 6
    assert nature_feed.hits == {"/nature.rss": 1}


# -- one paper, once -------------------------------------------------------------------------

def preprint(doi=None, title="Signatures of superconductivity near 80 K in a nickelate "
             "La4Ni3O10 under pressure", authors=("M. Zhang", "R. Ortega")) -> PaperBase:
    return PaperBase(id="arxiv:2611.30001", title=title, authors=list(authors),
                     abstract="We see superconductivity in La4Ni3O10.", categories=["cond-mat"],
                     primary_category="cond-mat", url="https://arxiv.org/abs/2611.30001",
                     pdf_url="https://arxiv.org/pdf/2611.30001", doi=doi, source="arxiv",
                     published=dt.date(2026, 11, 20))


def nature_subscriber(session):
    subscriber = make_subscriber(session, keywords=())
    session.add(Interest(subscriber_id=subscriber.id, kind="source", value="nature"))
    session.commit()
    return subscriber


def test_a_preprint_whose_doi_is_the_journals_is_one_paper_that_a_nature_reader_gets(session):
    store(session, [preprint(doi="10.1038/s41586-026-07001-3")])
    _store_nature(session)
    rows = session.exec(select(Paper).where(Paper.doi == "10.1038/s41586-026-07001-3")).all()
    assert [r.id for r in rows] == ["arxiv:2611.30001"]
    assert rows[0].journal == "Nature" and rows[0].title_html  # the journal's markup kept
    picks = [p.paper.id for p in select_papers(session, nature_subscriber(session),
                                               now=dt.datetime.now(dt.UTC))]
    assert picks.count("arxiv:2611.30001") == 1 and RESEARCH[0] not in picks


def test_a_journal_paper_merged_with_its_preprint_links_both_on_the_card(session):
    _store_nature(session)
    store(session, [preprint(doi="10.1038/s41586-026-07001-3")])
    row = session.get(Paper, RESEARCH[0])
    assert session.get(Paper, "arxiv:2611.30001") is None  # merged into the journal's row
    assert preprint_url(row) == "https://arxiv.org/abs/2611.30001"
    assert row.url == "https://www.nature.com/articles/s41586-026-07001-3"


def test_a_preprint_with_the_same_title_and_an_author_in_common_is_not_sent_twice(session):
    store(session, [preprint()])  # no DOI on the preprint: only the title and authors tell
    _store_nature(session)
    subscriber = make_subscriber(session, keywords=("nickelate",))
    picks = [p.paper.id for p in select_papers(session, subscriber, now=dt.datetime.now(dt.UTC))]
    assert len({"arxiv:2611.30001", RESEARCH[0]} & set(picks)) == 1


def test_the_same_title_by_other_people_is_another_paper(session):
    store(session, [preprint(authors=("Q. Someone",))])
    _store_nature(session)
    subscriber = make_subscriber(session, keywords=("nickelate",))
    picks = [p.paper.id for p in select_papers(session, subscriber, now=dt.datetime.now(dt.UTC))]
    assert {"arxiv:2611.30001", RESEARCH[0]} <= set(picks)
