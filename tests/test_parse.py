"""Parsing: every feed format becomes the same normalized papers (fixtures in tests/fixtures/feeds,
written by us in the real formats of rss.arxiv.org, the arXiv API, api.biorxiv.org and journals)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from newsletter.harvest.authors import split_authors
from newsletter.harvest.feeds import FeedError, arxiv_id, parse
from newsletter.harvest.harvester import harvest_file, paper_json
from newsletter.harvest.textclean import clean_text

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def load(name: str, kind: str, **kwargs):
    return {p.id: p for p in parse(kind, (FEEDS / name).read_bytes(), **kwargs)}


# -- arXiv RSS -----------------------------------------------------------------------------


def test_it_reads_arxiv_rss_ids_without_version_and_keeps_the_version_number():
    papers = load("arxiv_rss_cs.CL.xml", "arxiv_rss")
    assert list(papers) == [
        "arxiv:2611.10001",
        "arxiv:2611.10002",
        "arxiv:2611.10003",
        "arxiv:2609.04512",
        "arxiv:2605.01234",
    ]
    assert papers["arxiv:2609.04512"].version == 2
    assert papers["arxiv:2605.01234"].version == 3
    assert papers["arxiv:2611.10001"].url == "https://arxiv.org/abs/2611.10001"
    assert papers["arxiv:2611.10001"].pdf_url == "https://arxiv.org/pdf/2611.10001"
    assert all(p.source == "arxiv" for p in papers.values())


def test_it_keeps_every_cross_listed_category_and_the_announce_type():
    papers = load("arxiv_rss_cs.CL.xml", "arxiv_rss")
    cross = papers["arxiv:2611.10003"]
    assert cross.categories == ["cs.LG", "cs.AI", "cs.CL"]
    assert cross.primary_category == "cs.LG"
    assert cross.announce_type == "cross"
    assert papers["arxiv:2605.01234"].announce_type == "replace-cross"
    assert papers["arxiv:2609.04512"].announce_type == "replace"


def test_it_strips_the_announce_line_from_the_abstract():
    paper = load("arxiv_rss_cs.CL.xml", "arxiv_rss")["arxiv:2611.10002"]
    assert paper.abstract.startswith("We cast unsupervised translation")
    assert "Announce Type" not in paper.abstract and "arXiv:" not in paper.abstract


def test_it_turns_tex_into_readable_text():
    papers = load("arxiv_rss_cs.CL.xml", "arxiv_rss")
    first = papers["arxiv:2611.10001"]
    assert first.title == (
        "Calibrated Retrieval: Raising F_max of Open-Domain QA with Entropy-Aware Reranking"
    )
    assert "(p < 0.01)" in first.abstract
    assert "80% of the questions and for ~100 held-out domains" in first.abstract
    assert "≈ 2×" in first.abstract and "& more accurate" in first.abstract
    assert not any(c in first.abstract for c in "$\\{}")
    second = papers["arxiv:2611.10002"]
    assert second.title == "Schrödinger Bridges for Low-Resource Machine Translation"
    assert "report +3.1 BLEU over back-translation on FLORES-200." in second.abstract


def test_it_splits_the_comma_separated_creator_into_clean_author_names():
    papers = load("arxiv_rss_cs.CL.xml", "arxiv_rss")
    assert papers["arxiv:2611.10001"].authors == [
        "Ana María Peña",
        "Jonas Müller",
        "Deepti",
        "Zhuokai Zhao",
    ]
    assert papers["arxiv:2611.10002"].authors == ["François Dubois", "Mei Lin"]
    assert papers["arxiv:2611.10003"].authors == ["Priya Raman", "Tomáš Novak"]


def test_it_reads_the_doi_and_the_announcement_date():
    papers = load("arxiv_rss_cs.CL.xml", "arxiv_rss")
    assert papers["arxiv:2609.04512"].doi == "10.18653/v1/2026.emnlp-main.812"
    assert papers["arxiv:2605.01234"].doi == "10.1038/s41586-026-01234-x"  # lower-cased
    assert papers["arxiv:2611.10001"].doi is None
    assert papers["arxiv:2611.10001"].published == dt.date(2026, 11, 24)


def test_an_empty_arxiv_feed_is_no_papers_not_an_error():
    assert load("arxiv_rss_empty.xml", "arxiv_rss") == {}


# -- arXiv API -----------------------------------------------------------------------------


def test_it_reads_arxiv_api_entries_with_primary_category_doi_and_journal():
    papers = load("arxiv_api_query.atom.xml", "arxiv_api")
    assert list(papers) == ["arxiv:2611.10001", "arxiv:2610.20417", "arxiv:cmp-lg/9406033"]
    first = papers["arxiv:2611.10001"]
    assert first.version == 2
    assert first.authors == ["Ana María Peña", "Jonas Müller", "Zhuokai Zhao"]
    assert first.published == dt.date(2026, 11, 20)
    speech = papers["arxiv:2610.20417"]
    assert speech.title == "Speech Tokenizers as Universal Phoneme Inventories"
    assert speech.primary_category == "eess.AS" and speech.categories == ["eess.AS", "cs.CL"]
    assert speech.doi == "10.21437/interspeech.2026-1187"
    assert speech.journal == "Proc. Interspeech 2026, 1201-1205"
    assert speech.authors[0] == "Rosa Ibáñez"
    assert "92% of the phoneme inventory of unseen languages" in speech.abstract


def test_it_keeps_old_style_arxiv_ids():
    paper = load("arxiv_api_query.atom.xml", "arxiv_api")["arxiv:cmp-lg/9406033"]
    assert paper.version == 2
    assert paper.url == "https://arxiv.org/abs/cmp-lg/9406033"
    assert arxiv_id("http://arxiv.org/abs/hep-th/9711200v3") == ("hep-th/9711200", 3)
    assert arxiv_id("oai:arXiv.org:math.GT/0309136v1") == ("math.GT/0309136", 1)
    assert arxiv_id("https://arxiv.org/abs/2608.11232") == ("2608.11232", 1)


def test_the_arxiv_api_error_entry_raises_with_its_message():
    with pytest.raises(FeedError, match="arXiv API error: max_results must be an integer"):
        load("arxiv_api_error.atom.xml", "arxiv_api")


def test_an_api_query_with_no_results_is_empty():
    assert load("arxiv_api_empty.atom.xml", "arxiv_api") == {}


def test_it_accepts_a_recorded_exchange_wrapping_the_body():
    body = (FEEDS / "arxiv_api_error.atom.xml").read_text()
    import json

    wrapped = json.dumps(
        {"url": "https://export.arxiv.org/api/query", "status_code": 400, "body": body}
    ).encode()
    with pytest.raises(FeedError, match="max_results"):
        parse("arxiv_api", wrapped)


# -- bioRxiv / medRxiv -------------------------------------------------------------------------


def test_it_reads_the_biorxiv_details_api():
    papers = load("biorxiv_details.json", "biorxiv")
    atlas = papers["doi:10.1101/2026.11.20.689012"]
    assert atlas.source == "biorxiv" and atlas.version == 1
    assert atlas.authors == ["Okonkwo C. A.", "Lindqvist E.", "Tanaka H."]
    assert atlas.categories == ["developmental biology"]
    assert atlas.abstract.startswith("We profile 310,000 cells") and "<i>" not in atlas.abstract
    assert atlas.url == "https://www.biorxiv.org/content/10.1101/2026.11.20.689012"
    oat = papers["doi:10.1101/2026.10.02.680455"]
    assert oat.version == 2 and oat.pdf_url.endswith("680455v2.full.pdf")
    flu = papers["doi:10.1101/2026.11.21.26352210"]
    assert flu.source == "medrxiv" and flu.url.startswith("https://www.medrxiv.org/content/")
    assert flu.published == dt.date(2026, 11, 23)


def test_a_biorxiv_window_without_posts_is_empty():
    assert load("biorxiv_details_empty.json", "biorxiv") == {}


def test_it_reads_the_biorxiv_rdf_feed_and_keeps_last_name_initials_together():
    papers = load("biorxiv_subject.rdf.xml", "biorxiv")
    oat = papers["doi:10.1101/2026.10.02.680455"]
    assert oat.title == "Long-read assembly of the hexaploid oat genome"
    assert oat.version == 2
    assert oat.authors == ["Moreau J.-P.", "Singh R.", "O'Neill K. M."]
    assert oat.categories == ["genomics"]
    assert oat.published == dt.date(2026, 11, 23)
    assert papers["doi:10.1101/2026.11.19.688731"].authors == ["NAKAMURA Y.", "Abebe T."]


def test_the_same_preprint_from_the_api_and_the_rss_gets_the_same_id():
    api = load("biorxiv_details.json", "biorxiv")
    rss = load("biorxiv_subject.rdf.xml", "biorxiv")
    assert "doi:10.1101/2026.10.02.680455" in api and "doi:10.1101/2026.10.02.680455" in rss


# -- journals --------------------------------------------------------------------------------


def test_it_reads_a_nature_style_rdf_feed_with_prism_and_dublin_core():
    papers = load("nature_style.rdf.xml", "rss", source="Nature")
    assert list(papers) == [
        "doi:10.1038/s41586-026-01234-x",
        "doi:10.1038/s41586-026-05555-2",
        "doi:10.1038/d41586-026-03310-7",
    ]
    first = papers["doi:10.1038/s41586-026-01234-x"]
    assert first.journal == "Nature" and first.source == "Nature"
    assert first.published == dt.date(2026, 11, 24)
    assert first.authors == ["Hannah Cole", "Ibrahim Diallo", "Sofia Rossi"]
    # the "Nature, Published online: ...; doi:..." line is boilerplate, not the teaser
    assert first.abstract == (
        "Zero-shot predictions from protein language models track deep "
        "mutational scans across 200 proteins."
    )
    assert first.url == "https://www.nature.com/articles/s41586-026-01234-x"


def test_it_strips_html_markup_and_entities_from_journal_titles():
    paper = load("nature_style.rdf.xml", "rss")["doi:10.1038/s41586-026-05555-2"]
    assert paper.title == "A LaCl3-based electrolyte for cis-selective lithium plating at T = 250 K"
    assert paper.abstract.endswith("stable for 5,000 cycles & more.")
    assert paper.authors == ["Li Wei", "Ángela Crespo"]


def test_a_journal_item_without_creators_has_no_authors():
    assert load("nature_style.rdf.xml", "rss")["doi:10.1038/d41586-026-03310-7"].authors == []


def test_it_reads_an_atom_journal_feed():
    papers = load("journal.atom.xml", "rss")
    article = papers["doi:10.5555/jclr.2026.0142"]
    assert article.title == "Morphological inflection with k-nearest neighbours"
    assert article.authors == ["Aino Virtanen", "Marco Bianchi"]
    assert (
        article.abstract
        == "We retrieve k analogous paradigms and edit them: 97.1% accuracy on 90 languages."
    )
    assert article.pdf_url == "https://journal.example.org/article/10.5555/jclr.2026.0142/pdf"
    assert article.published == dt.date(2026, 11, 23)  # the date as written, not shifted to UTC
    assert article.journal.startswith("Journal of Computational Linguistics Research")
    editorial = papers["url:https://journal.example.org/article/143"]  # no DOI: the link is the id
    assert editorial.doi is None


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["arxiv_rss", "arxiv_api", "biorxiv", "rss"])
def test_garbage_raises_a_feed_error_whatever_the_kind(kind):
    with pytest.raises(FeedError, match="not a feed"):
        load("garbage.bin", kind)


def test_an_html_error_page_is_an_error_not_an_empty_feed():
    with pytest.raises(FeedError, match=r"HTML page.*Page not found"):
        load("html_error.html", "rss")


def test_a_truncated_feed_without_entries_is_an_error():
    with pytest.raises(FeedError, match="malformed"):
        load("truncated.xml", "arxiv_rss")


def test_an_empty_body_is_an_error():
    with pytest.raises(FeedError, match="empty response"):
        parse("arxiv_rss", b"  \n")


def test_invalid_json_for_biorxiv_is_an_error():
    with pytest.raises(FeedError):
        parse("biorxiv", b'{"messages": [{"status": "ok"')


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown feed kind"):
        parse("atomz", b"<rss/>")


# -- helpers and the CLI's JSON ----------------------------------------------------------------


def test_clean_text_leaves_plain_text_alone_and_handles_markup_and_tex():
    assert clean_text("  A   plain\n title ") == "A plain title"
    assert clean_text("costs $8.1 per manuscript") == "costs $8.1 per manuscript"
    assert clean_text(r"$\alpha$-$\beta$ pruning at $<$2%") == "α-β pruning at <2%"
    assert clean_text(r"G\"{o}del and {\'E}cole \emph{normale}") == "Gödel and École normale"
    assert clean_text("p<sub>T</sub> &amp; <b>bold</b>") == "pT & bold"


def test_split_authors_keeps_affiliations_with_their_author():
    assert split_authors(["Ada Lovelace (Univ. London, UK), Alan Turing"]) == [
        "Ada Lovelace (Univ. London, UK)",
        "Alan Turing",
    ]


def test_harvest_file_and_paper_json_give_exactly_the_cli_fields():
    papers = harvest_file(FEEDS / "arxiv_rss_cs.CL.xml", "arxiv_rss")
    row = paper_json(papers[0])
    assert list(row) == [
        "id",
        "version",
        "title",
        "authors",
        "abstract",
        "categories",
        "primary_category",
        "published",
        "url",
        "pdf_url",
        "doi",
        "source",
    ]
    assert row["published"] == "2026-11-24" and row["id"] == "arxiv:2611.10001"


def test_the_bundled_demo_sample_is_a_valid_arxiv_feed_of_twenty_papers():
    path = (
        Path(__file__).resolve().parents[1] / "newsletter" / "sample_data" / "arxiv_sample.rss.xml"
    )
    papers = parse("arxiv_rss", path.read_bytes())
    assert len(papers) == 20 and len({p.id for p in papers}) == 20
    assert {p.announce_type for p in papers} == {"new", "cross", "replace", "replace-cross"}
    assert {"cs.CL", "cs.LG", "cs.AI", "q-bio.GN"} <= {c for p in papers for c in p.categories}
    assert all(p.title and p.abstract and p.authors for p in papers)


def test_an_arxiv_feed_read_as_plain_rss_still_gets_arxiv_ids():
    papers = load("arxiv_rss_cs.CL.xml", "rss")
    assert "arxiv:2611.10001" in papers and "arxiv:2605.01234" in papers


def test_it_keeps_a_feed_whose_item_has_an_overlong_category():
    long_category = "Biological Sciences: Ecology, Evolution and Environmental Microbiology" * 2
    feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
  <channel><title>PNAS: Latest articles</title><link>https://www.pnas.org</link>
    <description>Latest</description>
    <item><title>Soil microbes and drought</title><link>https://www.pnas.org/doi/10.1073/pnas.2611001</link>
      <category>{long_category}</category><dc:creator>Mei Chen</dc:creator>
      <prism:doi>10.1073/pnas.2611001</prism:doi><description>Microbes adapt.</description></item>
    <item><title>Coral heat tolerance</title><link>https://www.pnas.org/doi/10.1073/pnas.2611002</link>
      <dc:creator>Ana Souza</dc:creator><prism:doi>10.1073/pnas.2611002</prism:doi>
      <description>Corals adapt.</description></item>
  </channel>
</rss>""".encode()
    papers = parse("rss", feed, source="PNAS")
    assert [p.title for p in papers] == ["Soil microbes and drought", "Coral heat tolerance"]
    assert len(papers[0].primary_category) <= 64
