"""Citations out (BibTeX, RIS) for a card, a digest: what Zotero, JabRef and Mendeley import,
and what our own library import and bibtexparser / rispy read back, hostile titles included."""

from __future__ import annotations

import datetime as dt
import re

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from newsletter.compose.view import compose_digest
from newsletter.core import links
from newsletter.core.models import Digest, Paper
from newsletter.core.text import author_key
from newsletter.harvest.authors import name_parts
from newsletter.harvest.textclean import clean_html, clean_text, collapse
from newsletter.subscribers import citations
from newsletter.subscribers.library import parse_library
from newsletter.web.app import create_app
from tests.factories import make_digest, make_paper, make_subscriber

BASE = "https://hub.example.org"
HOSTILE_TITLES = [
    r"{Braces} & 100% of $x_1$ #1 ~ ^ back\slash: Ünïcödé 中文 “quoted” — ok}",
    "<script>alert('x')</script> a < b > c & <i>italic</i> d",
    "Unbalanced { brace and 50%",
]


def arxiv_paper(n: int = 1, **fields) -> Paper:
    values = dict(
        id=f"arxiv:2611.{n:05d}", title=f"Language models read paper {n}",
        authors=["Ada Lovelace", "Zhang A.", "ATLAS Collaboration", "张三",
                 "Ludwig van Beethoven", "Martin Luther King Jr."],
        abstract="We study 50% of {x} & more.", categories=["cs.CL"], primary_category="cs.CL",
        published=dt.date(2026, 11, 25), url=f"https://arxiv.org/abs/2611.{n:05d}",
        pdf_url=f"https://arxiv.org/pdf/2611.{n:05d}", source="arxiv",
        doi=f"10.48550/arXiv.2611.{n:05d}")
    values.update(fields)
    return Paper(**values)


def journal_paper(**fields) -> Paper:
    values = dict(
        id="doi:10.1038/s41586-026-00001-1", title="A journal paper on reading",
        authors=["Grace Hopper", "Hopper G."], abstract="Abstract.", source="nature",
        journal="Nature", doi="10.1038/s41586-026-00001-1", published=dt.date(2026, 3, 1),
        url="https://www.nature.com/articles/s41586-026-00001-1",
        pdf_url="https://arxiv.org/pdf/2603.00002v2")  # merged with its arXiv preprint
    values.update(fields)
    return Paper(**values)


def bibtex_entries(text: str) -> list:
    library = bibtexparser.parse_string(
        text, append_middleware=[middlewares.SeparateCoAuthors()])
    assert not library.failed_blocks
    return library.entries


def tex(value: str) -> str:
    """A BibTeX field value as text (the TeX escapes undone), markup left alone."""
    return clean_text(value, markup=False)


def keys(names) -> list[str]:
    return [author_key(n) for n in names]


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, parts", [
    ("Ada Lovelace", ("Lovelace", "Ada", "")),
    ("Zhang A.", ("Zhang", "A.", "")),
    ("O'Connell R. J.", ("O'Connell", "R. J.", "")),
    ("A. Zhang", ("Zhang", "A.", "")),
    ("Ludwig van Beethoven", ("van Beethoven", "Ludwig", "")),
    ("Martin Luther King Jr.", ("King", "Martin Luther", "Jr.")),
    ("Smith, John", ("Smith", "John", "")),
    ("ATLAS Collaboration", None), ("张三", None), ("Plato", None),
])
def test_it_reads_stored_names_as_surname_and_given_names(name, parts):
    assert name_parts(name) == parts


def test_it_writes_authors_last_first_and_keeps_groups_whole():
    assert citations.bibtex_name("Ada Lovelace") == "Lovelace, Ada"
    assert citations.bibtex_name("Martin Luther King Jr.") == "King, Jr., Martin Luther"
    assert citations.bibtex_name("ATLAS Collaboration") == "{ATLAS Collaboration}"
    assert citations.bibtex_name("Gabriel García Márquez") == "Márquez, Gabriel García"
    assert citations.ris_name("Zhang A.") == "Zhang, A."
    assert citations.ris_name("张三") == "张三"


# --- BibTeX -----------------------------------------------------------------------------------

def test_it_writes_bibtex_with_every_field_a_reference_manager_reads():
    entry, journal = bibtex_entries(citations.to_bibtex([arxiv_paper(), journal_paper()]))
    assert (entry.entry_type, entry.key) == ("misc", "lovelace2026language")
    fields = {k: f.value for k, f in entry.fields_dict.items()}
    assert fields["author"] == ["Lovelace, Ada", "Zhang, A.", "{ATLAS Collaboration}", "{张三}",
                                "van Beethoven, Ludwig", "King, Jr., Martin Luther"]
    assert (fields["year"], fields["month"], fields["date"]) == ("2026", "11", "2026-11-25")
    assert (fields["eprint"], fields["archiveprefix"], fields["primaryclass"]) == (
        "2611.00001", "arXiv", "cs.CL")
    assert fields["doi"] == "10.48550/arXiv.2611.00001"
    assert fields["url"] == "https://arxiv.org/abs/2611.00001"
    assert tex(fields["abstract"]) == "We study 50% of {x} & more."
    assert "journal" not in fields
    jfields = {k: f.value for k, f in journal.fields_dict.items()}
    assert (journal.entry_type, jfields["journal"], jfields["doi"]) == (
        "article", "Nature", "10.1038/s41586-026-00001-1")
    assert jfields["eprint"] == "2603.00002" and "primaryclass" not in jfields


def test_it_gives_each_paper_a_stable_citekey_unique_in_its_file():
    one, two = arxiv_paper(1), arxiv_paper(2)
    assert citations.citekey(one) == citations.citekey(arxiv_paper(1)) == "lovelace2026language"
    entries = bibtex_entries(citations.to_bibtex([one, two, arxiv_paper(3)]))
    assert [e.key for e in entries] == ["lovelace2026language", "lovelace2026languagea",
                                        "lovelace2026languageb"]
    nameless = arxiv_paper(authors=[], title="The Ünïcödé study", published=None)
    assert citations.citekey(nameless) == "anonunicode"


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_it_escapes_bibtex_specials_and_keeps_unicode(title):
    text = citations.to_bibtex([arxiv_paper(title=title)])
    assert "中文" in text or "中文" not in title  # Unicode as it is, not TeX-encoded
    (entry,) = bibtex_entries(text)
    assert tex(entry.fields_dict["title"].value) == collapse(title)
    kind, (imported,), skipped = parse_library(text.encode())
    assert (kind, skipped) == ("bibtex", [])
    assert imported.title == collapse(clean_html(title))  # the import drops real tags only


def test_it_round_trips_bibtex_through_the_library_import():
    papers = [arxiv_paper(1), arxiv_paper(2, title="Second: 100% & more"), journal_paper()]
    kind, entries, skipped = parse_library(citations.to_bibtex(papers).encode())
    assert (kind, skipped) == ("bibtex", [])
    assert [e.title for e in entries] == [p.title for p in papers]
    assert [e.arxiv_id for e in entries] == ["2611.00001", "2611.00002", "2603.00002"]
    # arXiv's own DOIs are read as the arXiv id; a journal's DOI stays a DOI
    assert [e.doi for e in entries] == [None, None, "10.1038/s41586-026-00001-1"]
    assert [keys(e.authors) for e in entries] == [keys(p.authors) for p in papers]
    assert [e.year for e in entries] == [2026, 2026, 2026]
    assert entries[0].abstract == "We study 50% of {x} & more."


def hostile_fields_paper() -> Paper:
    """Feed text in the fields that are not titles: braces and line breaks that would close
    a BibTeX value or start a RIS tag of their own."""
    return journal_paper(
        authors=["Ada} Lovelace", "Bob\nSmith"], journal="Nature}\n@misc{evil, title={pwn}",
        doi="10.1/x}, note = {injected", url="https://e.org/a}b},note={injected")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>x</script>",
                                 "https://e.org/a\n@misc{evil2,\nTY  - JOUR"])
def test_a_feeds_link_that_is_no_web_address_is_left_out_of_the_export(url):
    """A reference manager opens the url field on a click: only http(s) links go in."""
    paper = journal_paper(url=url)
    (entry,) = bibtex_entries(citations.to_bibtex([paper]))
    assert "url" not in entry.fields_dict
    (record,) = rispy.loads(citations.to_ris([paper]))
    assert record.get("urls", []) == []


def test_no_bibtex_field_breaks_out_of_its_braces():
    text = citations.to_bibtex([hostile_fields_paper()])
    (entry,) = bibtex_entries(text)
    assert sorted(entry.fields_dict) == sorted(
        ["title", "author", "year", "month", "date", "journal", "abstract", "url", "doi",
         "eprint", "archiveprefix"])  # no injected `note`, no second entry
    assert [line for line in text.splitlines() if line.startswith("@")] == [
        "@article{lovelace2026journal,"]
    assert all("\n" not in field.value for field in entry.fields)


def test_no_ris_value_starts_a_line_of_its_own():
    text = citations.to_ris([hostile_fields_paper()])
    tags = [(line + " ")[:6] for line in text.strip().splitlines()]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]  - ", tag) for tag in tags), text
    assert tags.count("TY  - ") == 1 and len(rispy.loads(text)) == 1


# --- RIS --------------------------------------------------------------------------------------

def test_it_writes_ris_with_the_standard_tags():
    text = citations.to_ris([arxiv_paper(), journal_paper()])
    assert not text.startswith("1.")  # no counter line before a record
    first, second = text.strip().split("\n\n")
    tags = [line[:2] for line in first.splitlines()]
    assert tags[0] == "TY" and tags[-1] == "ER"
    assert {"TY", "AU", "TI", "AB", "PY", "DA", "DO", "UR", "ER"} <= set(tags)
    assert "DA  - 2026/11/25/" in first and "AU  - King, Martin Luther, Jr." in first
    assert "TY  - JOUR" in second and "JO  - Nature" in second
    records = rispy.loads(text)
    assert records[0]["type_of_reference"] == "UNPB"
    assert records[0]["authors"][:2] == ["Lovelace, Ada", "Zhang, A."]
    assert records[1]["doi"] == "10.1038/s41586-026-00001-1"


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_it_round_trips_ris_through_rispy_and_the_library_import(title):
    papers = [arxiv_paper(title=title), journal_paper()]
    text = citations.to_ris(papers)
    assert [r["title"] for r in rispy.loads(text)] == [collapse(title), papers[1].title]
    kind, entries, skipped = parse_library(text.encode())
    assert (kind, skipped) == ("ris", [])
    assert [e.title for e in entries] == [collapse(clean_html(title)), papers[1].title]
    assert [e.arxiv_id for e in entries] == ["2611.00001", "2603.00002"]
    assert [e.doi for e in entries] == [None, "10.1038/s41586-026-00001-1"]
    assert [keys(e.authors) for e in entries] == [keys(p.authors) for p in papers]


# --- downloads --------------------------------------------------------------------------------

@pytest.fixture
def client(settings_env):
    with TestClient(create_app()) as c:
        yield c


def sent_digest(session, subscriber, papers, *, html: bool = False) -> Digest:
    digest = make_digest(session, subscriber, papers, status="pending")
    if html:
        compose_digest(session, digest)
    return digest


def local(url: str) -> str:
    assert url.startswith(BASE + "/x/")
    return url.removeprefix(BASE)


def test_it_links_every_card_and_the_whole_digest_from_the_email(session, client):
    subscriber = make_subscriber(session)
    papers = [make_paper(session, title=f"Language models read {n}") for n in range(3)]
    digest = sent_digest(session, subscriber, papers, html=True)
    soup = BeautifulSoup(digest.html, "html.parser")
    per_card = [a["href"] for a in soup.select("div.links a") if a.get_text() == "Zotero/BibTeX"]
    assert len(per_card) == 3
    first = client.get(local(per_card[0]))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/x-bibtex")
    assert first.headers["content-disposition"].startswith(
        f'attachment; filename="{citations.citekey(papers[0])}.bib"')
    assert [e.key for e in bibtex_entries(first.text)] == [citations.citekey(papers[0])]
    footer = {a.get_text(): a["href"] for a in soup.select("a.footer-link")}
    everything = client.get(local(footer["All papers: Zotero/BibTeX"]))
    assert [tex(e.fields_dict["title"].value) for e in bibtex_entries(everything.text)] == [
        p.title for p in papers]
    assert 'filename="academichub-2026-11-25.bib"' in everything.headers["content-disposition"]
    ris = client.get(local(footer["RIS"]))
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    assert [r["title"] for r in rispy.loads(ris.text)] == [p.title for p in papers]
    assert "Zotero/BibTeX" in digest.text  # the plain-text part has them too


def test_it_links_exports_from_the_web_view(session, client):
    subscriber = make_subscriber(session)
    papers = [make_paper(session, title=f"Language models read {n}") for n in range(2)]
    digest = sent_digest(session, subscriber, papers)
    view = client.get(f"/d/{links.make_token('digest', subscriber.public_id, 1, digest=digest.id)}")
    soup = BeautifulSoup(view.text, "html.parser")
    per_card = [a["href"] for a in soup.select(".card-links a")]
    assert len(per_card) == 2
    got = client.get(local(per_card[1]))
    assert [e.fields_dict["eprint"].value for e in bibtex_entries(got.text)] == [
        papers[1].id.removeprefix("arxiv:")]
    whole = [a["href"] for a in soup.select("p.exports a")]
    assert [client.get(local(u)).headers["content-type"].split(";")[0] for u in whole] == [
        "application/x-bibtex", "application/x-research-info-systems"]


def test_it_refuses_tampered_revoked_and_someone_elses_links(session, client):
    subscriber = make_subscriber(session)
    other = make_subscriber(session, email="eve@example.org")
    digest = sent_digest(session, subscriber, [make_paper(session)])
    url = local(links.export_url(subscriber, digest=digest.id))
    assert client.get(url).status_code == 200
    assert client.get(url[:-3] + ("xyz" if not url.endswith("xyz") else "abc")).status_code == 400
    theirs = local(links.export_url(other, digest=digest.id))
    assert client.get(theirs).status_code == 404
    odd = links.make_token("export", subscriber.public_id, 1, digest=digest.id, fmt="pdf")
    assert client.get(f"/x/{odd}").status_code == 404
    subscriber.token_version += 1  # every link of theirs revoked at once
    session.add(subscriber)
    session.commit()
    assert client.get(url).status_code == 400
    assert re.search("not valid", BeautifulSoup(client.get(url).text, "html.parser").get_text())


def test_it_exports_from_the_archive_and_the_reading_list(session, client):
    from newsletter.subscribers import saved

    subscriber = make_subscriber(session)
    papers = [make_paper(session, title=f"Language models read {n}") for n in range(3)]
    make_digest(session, subscriber, papers[:2], status="sent", subject="Two papers")
    saved.save(session, subscriber, papers[0])
    saved.save(session, subscriber, papers[2])
    archive = "/a/" + links.make_token("archive", subscriber.public_id, 1)
    soup = BeautifulSoup(client.get(archive).text, "html.parser")
    (row,) = [a["href"] for a in soup.select(".digest-list a.digest-export")]
    assert len(bibtex_entries(client.get(local(row)).text)) == 2
    bib, ris = [a["href"] for a in soup.select(".reading-list p.exports a")]
    listed = client.get(local(bib))
    assert 'filename="academichub-reading-list.bib"' in listed.headers["content-disposition"]
    kind, entries, _ = parse_library(listed.content)
    assert {e.arxiv_id for e in entries} == {p.id.removeprefix("arxiv:")
                                             for p in (papers[0], papers[2])}
    assert len(rispy.loads(client.get(local(ris)).text)) == 2
    assert len(soup.select(".reading-list .card-links a")) == 2
    found = BeautifulSoup(client.get(archive, params={"q": "read 1"}).text, "html.parser")
    (hit,) = [a["href"] for a in found.select(".hits .card-links a")]
    (entry,) = bibtex_entries(client.get(local(hit)).text)
    assert entry.fields_dict["eprint"].value == papers[1].id.removeprefix("arxiv:")
