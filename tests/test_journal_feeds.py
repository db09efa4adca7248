"""Journal feeds: what feedparser drops is read from the raw XML (every dc:identifier, JOSS's
author lists), the DOI wins over other identifiers, and the same paper from two sources is
one row in the store."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlmodel import select

from newsletter.core.models import Paper
from newsletter.harvest.feeds import parse, read_feed
from newsletter.harvest.rawxml import item_extras
from newsletter.harvest.store import store

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def fixture(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


ARXIV_WITH_SCIENCE_DOI = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/q</id><title>arXiv Query: id_list=2611.40001</title>
  <updated>2026-11-27T06:00:00Z</updated>
  <entry>
    <id>http://arxiv.org/abs/2611.40001v2</id>
    <title>Deep mutational scans chart the fitness landscape of a viral polymerase</title>
    <updated>2026-11-26T17:00:00Z</updated>
    <summary>Saturation mutagenesis of 2,100 residues shows where it tolerates change.</summary>
    <category term="q-bio.BM" scheme="http://arxiv.org/schemas/atom"/>
    <published>2026-11-02T18:00:00Z</published>
    <arxiv:doi>10.1126/science.adq4521</arxiv:doi>
    <arxiv:primary_category term="q-bio.BM"/>
    <author><name>Agustin Fuentes</name></author>
  </entry>
</feed>"""

PUBMED_STYLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel><title>PubMed: polymerase fitness</title><link>https://pubmed.example.org/</link>
    <description>search results</description>
    <item>
      <title>Deep mutational scans chart the fitness landscape of a viral polymerase.</title>
      <link>https://pubmed.example.org/41000001/</link>
      <description>Saturation mutagenesis of 2,100 residues.</description>
      <dc:creator>Fuentes A</dc:creator>
      <dc:identifier>pmid:41000001</dc:identifier>
      <dc:identifier>doi:10.1126/science.adq4521</dc:identifier>
    </item>
  </channel>
</rss>"""


def test_it_reads_every_dc_identifier_and_prefers_the_doi():
    papers = {p.id: p for p in parse("rss", fixture("science_identifiers.rdf.xml"))}
    # doi: first and url: last (feedparser keeps only the url:), and info:doi/ + hwp:
    assert list(papers)[:2] == ["doi:10.1126/science.adq4521", "doi:10.1126/science.adq9000"]
    first = papers["doi:10.1126/science.adq4521"]
    assert first.doi == "10.1126/science.adq4521" and first.journal == "Science"
    assert first.url == "http://www.sciencemag.org/cgi/content/short/394/6712/1021"


def test_an_item_whose_identifiers_hold_no_doi_is_named_by_its_link():
    papers = parse("rss", fixture("science_identifiers.rdf.xml"))
    assert papers[2].id == "url:http://www.sciencemag.org/cgi/content/short/394/6712/1040"
    assert papers[2].doi is None and papers[2].authors == []


def test_the_same_paper_from_two_sources_is_one_row_merged_by_doi(session):
    store(session, parse("arxiv_api", ARXIV_WITH_SCIENCE_DOI))
    science = store(session, parse("rss", fixture("science_identifiers.rdf.xml"), source="Science"))
    pubmed = store(session, parse("rss", PUBMED_STYLE, source="PubMed"))
    assert (science.new, pubmed.new) == (2, 0)  # the polymerase paper merged both times
    rows = session.exec(select(Paper).where(Paper.doi == "10.1126/science.adq4521")).all()
    assert [row.id for row in rows] == ["arxiv:2611.40001"]
    assert rows[0].journal == "Science" and rows[0].source == "arxiv"


def test_a_pubmed_style_item_with_a_pmid_first_still_gets_its_doi():
    [paper] = parse("rss", PUBMED_STYLE)
    assert paper.id == "doi:10.1126/science.adq4521"


def test_joss_entries_keep_doi_pdf_tags_and_date():
    papers = {p.id: p for p in parse("rss", fixture("joss.atom.xml"))}
    paper = papers["doi:10.21105/joss.09001"]
    assert paper.pdf_url == "https://www.theoj.org/joss-papers/joss.09001/10.21105.joss.09001.pdf"
    assert paper.categories == ["Python", "RSS", "metadata"]
    assert paper.published == dt.date(2026, 11, 23)
    assert paper.journal == "Journal of Open Source Software"


def test_read_feed_gives_the_feeds_own_title_and_address():
    feed = read_feed("rss", fixture("joss.atom.xml"))
    assert feed.title == "Journal of Open Source Software"
    assert feed.url == "https://joss.theoj.org/papers/published.atom"
    assert feed.home == "https://joss.theoj.org"
    arxiv = read_feed("arxiv_rss", fixture("authors_arxiv_rss.xml"))
    assert arxiv.url == "http://rss.arxiv.org/rss/cs.CL" and len(arxiv.papers) == 4


def test_an_xml_bomb_is_neither_expanded_nor_fatal():
    laughs = '<!ENTITY lol0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f"""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [{laughs}]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://x.example.org/"><title>Bomb</title>
    <link>https://x.example.org/</link><description>d</description></channel>
  <item rdf:about="https://x.example.org/1"><title>Laughs &lol9;</title>
    <link>https://x.example.org/1</link>
    <dc:identifier>doi:10.5555/bomb.1</dc:identifier><dc:identifier>url:x</dc:identifier>
  </item>
</rdf:RDF>""".encode()
    started = time.monotonic()
    extras = item_extras(bomb)  # the raw-XML pass never expands entities either
    [paper] = parse("rss", bomb)
    assert len(paper.title) < 100 and time.monotonic() - started < 30
    assert extras is None or all(len(" ".join(e.identifiers)) < 100 for e in extras)


def test_a_slightly_broken_feed_still_gets_every_identifier():
    broken = fixture("science_identifiers.rdf.xml").replace(
        b"<title>Science current issue</title>", b"<title>Science & Society</title>")
    papers = parse("rss", broken)  # a bare &: not well-formed, as real feeds sometimes are
    assert len(papers) == 3 and papers[1].id == "doi:10.1126/science.adq9000"
