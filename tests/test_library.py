"""Importing a researcher's own papers: every export format, caps, broken files, id lookups."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core import config
from newsletter.core.models import LibraryItem, Subscriber
from newsletter.subscribers import library
from tests.factories import make_subscriber
from tests.fake_scholarly import ScholarlyServer, crossref_work

DATA = Path(__file__).parent / "data" / "library"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_it_reads_a_zotero_bibtex_export_with_tex_and_arxiv_ids():
    kind, entries, skipped = library.parse_library(read("zotero.bib"), "zotero.bib")
    assert kind == "bibtex"
    first = entries[0]
    assert first.title == "3D Gaussian Splatting for Real-Time Radiance Field Rendering"
    assert first.arxiv_id == "2308.04079" and first.year == 2023
    assert "Leimkühler, Thomas" in first.authors
    assert first.abstract.startswith("Radiance Field methods")
    assert entries[1].doi == "10.1007/978-3-030-58452-8_24" and entries[1].arxiv_id is None
    assert [(label, why.text("en")) for label, why in skipped] == [
        ("noauthor_untitled_2024", "no title, arXiv id or DOI")]


def test_it_reads_jabref_biblatex_and_mendeley_eprints():
    _, (jabref,), _ = library.parse_library(read("jabref_biblatex.bib"))
    assert (jabref.arxiv_id, jabref.year) == ("2311.16493", 2024)
    assert jabref.title == "Mip-Splatting: Alias-free 3D Gaussian Splatting"
    _, (mendeley,), _ = library.parse_library(read("mendeley.bib"))
    assert mendeley.arxiv_id == "2403.17888"
    assert mendeley.authors[0] == "Huang, Binbin"


def test_it_reads_ris_and_csl_json_exports():
    kind, entries, _ = library.parse_library(read("zotero.ris"), "zotero.ris")
    assert kind == "ris"
    assert [e.arxiv_id for e in entries] == ["2304.06706", None]
    assert entries[1].doi == "10.1109/cvpr52688.2022.00542" and entries[1].year == 2022
    kind, entries, _ = library.parse_library(read("zotero.csl.json"))
    assert kind == "csl-json"
    assert entries[0].arxiv_id == "2308.09713" and entries[0].authors[0] == "Jonathon Luiten"
    assert entries[1].authors == ["Antoine Guédon"] and entries[1].year == 2024


def test_it_reads_a_list_of_ids_and_reports_the_lines_it_cannot_use():
    kind, entries, skipped = library.parse_library(read("ids.txt"), "ids.txt")
    assert kind == "ids"
    assert [e.arxiv_id for e in entries[:3]] == ["2308.04079", "2311.16493", "2403.17888"]
    assert [e.doi for e in entries[3:]] == ["10.1038/s41586-021-03819-2", "10.1145/3592433"]
    assert [(label, why.text("zh")) for label, why in skipped] == [
        ("not a paper id at all", "不是 arXiv 编号或 DOI")]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"\xff\xfe\x00junk", "not UTF-8"),
    (b"@article{broken, title = {never closed", "not valid BibTeX"),
    (b"[{\"title\": ", "not valid JSON"),
    (b"hello\nworld\n", "no usable paper found"),
])
def test_it_refuses_a_broken_file_with_one_line(data, message):
    with pytest.raises(library.LibraryError) as error:
        library.parse_library(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_it_caps_size_and_entries(monkeypatch):
    with pytest.raises(library.LibraryError, match="larger than 5 MB"):
        library.parse_library(b"x" * (5 * 2**20 + 1))
    monkeypatch.setattr(library, "MAX_ENTRIES", 3)
    with pytest.raises(library.LibraryError, match="has 5 entries; at most 3"):
        library.parse_library(b"\n".join(f"2401.0000{i}".encode() for i in range(5)))


def test_it_stores_a_library_once_and_updates_it_on_reimport(session):
    subscriber = make_subscriber(session, keywords=())
    report = library.import_library(session, subscriber, read("zotero.bib"), "zotero.bib",
                                    lookup=False)
    assert (len(report.used), report.added, report.updated) == (2, 2, 0)
    assert report.lines()[0] == "bibtex: used 2 papers (2 new, 0 updated), skipped 1"
    again = library.import_library(session, subscriber, read("zotero.bib"), lookup=False)
    assert (again.added, again.updated) == (0, 2)
    keys = session.exec(select(LibraryItem.key).where(
        LibraryItem.subscriber_id == subscriber.id)).all()
    assert sorted(keys) == ["arxiv:2308.04079", "doi:10.1007/978-3-030-58452-8_24"]


@pytest.fixture
def scholarly(monkeypatch):
    server = ScholarlyServer(
        arxiv={"2308.04079": {"title": "3D Gaussian Splatting for Real-Time Radiance Field "
                                       "Rendering", "abstract": "We introduce 3D Gaussians.",
                              "authors": ["Bernhard Kerbl", "George Drettakis"],
                              "published": "2023-08-08"},
               "2403.17888": {"title": "2D Gaussian Splatting", "abstract": "Planar disks.",
                              "authors": ["Binbin Huang"]}},
        crossref={"10.1038/s41586-021-03819-2": crossref_work(
            "10.1038/s41586-021-03819-2", "Highly accurate protein structure prediction with "
            "AlphaFold", "Proteins are essential to life.", [("John", "Jumper")], 2021)})
    monkeypatch.setenv("FEED_BASE_OVERRIDE", server.url)
    monkeypatch.setenv("CONTACT_EMAIL", "ops@hub.example.org")
    config.get_settings.cache_clear()
    yield server
    server.close()


def test_it_resolves_bare_ids_through_the_arxiv_api_and_crossref(session, scholarly):
    subscriber = make_subscriber(session, keywords=())
    report = library.import_library(session, subscriber, read("ids.txt"), "ids.txt")
    titles = {e.title for e in report.used}
    assert "Highly accurate protein structure prediction with AlphaFold" in titles
    assert "2D Gaussian Splatting" in titles
    alphafold = next(e for e in report.used if e.doi == "10.1038/s41586-021-03819-2")
    assert (alphafold.abstract, alphafold.authors, alphafold.year) == (
        "Proteins are essential to life.", ["John Jumper"], 2021)
    reasons = {label: why.text("en") for label, why in report.skipped}
    assert reasons["arXiv:2311.16493v2"] == "arXiv does not know this id"
    assert reasons["https://doi.org/10.1145/3592433"] == "Crossref does not know this DOI"
    arxiv_calls = [r for r in scholarly.requests if r.startswith("/api/query")]
    assert len(arxiv_calls) == 1 and "2308.04079,2311.16493,2403.17888" in arxiv_calls[0]
    assert all("mailto=ops%40hub.example.org" in r for r in scholarly.requests
               if r.startswith("/works/"))


def test_it_imports_what_it_can_when_the_services_are_unreachable(session, monkeypatch):
    monkeypatch.setenv("FEED_BASE_OVERRIDE", "http://127.0.0.1:9")  # nothing listens there
    config.get_settings.cache_clear()
    subscriber = make_subscriber(session, keywords=())
    report = library.import_library(session, subscriber, read("zotero.ris"))
    assert len(report.used) == 2  # both have a title and an abstract: nothing to look up
    ids = library.import_library(session, subscriber, b"2401.00001\n10.1000/xyz\n")
    assert ids.used == []
    assert [why.text("en").split(":")[0] for _, why in ids.skipped] == [
        "arXiv lookup failed", "Crossref lookup failed"]


def test_it_subscribes_from_the_cli_with_a_library_and_no_topic(settings_env):
    result = CliRunner().invoke(app, ["subscribe", "ada@example.org", "--library",
                                      str(DATA / "zotero.bib"), "--library",
                                      str(DATA / "zotero.csl.json"), "--confirmed"])
    assert result.exit_code == 0, result.output
    assert "zotero.bib: bibtex: used 2 papers (2 new, 0 updated), skipped 1" in result.output
    assert "zotero.csl.json: csl-json: used 2 papers" in result.output
    from newsletter.core.db import session_scope

    with session_scope() as session:
        subscriber = session.exec(select(Subscriber)).one()
        assert subscriber.status == "active"
        assert len(session.exec(select(LibraryItem)).all()) == 4


def test_it_changes_nothing_when_a_library_file_is_broken(settings_env, tmp_path):
    broken = tmp_path / "broken.bib"
    broken.write_text("@article{x, title = {never closed")
    result = CliRunner().invoke(app, ["subscribe", "ada@example.org", "--topic", "nerf",
                                      "--library", str(broken), "--confirmed"])
    assert result.exit_code == 2
    assert "--library" in result.output and "not valid BibTeX" in result.output
    from newsletter.core.db import session_scope

    with session_scope() as session:
        assert session.exec(select(Subscriber)).first() is None
