"""`newsletter harvest --file F --kind K`: a local feed file is imported into the store like a
fetched feed, attributed to a source; `--dry-run` and `--json` store nothing; bad files are
one-line errors with exit code 2 and store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core.models import Paper, Source
from newsletter.harvest import fetch as fetch_module
from tests.feedserver import FeedServer, arxiv_rss

runner = CliRunner()
FEEDS = Path(__file__).parent / "fixtures" / "feeds"

BACKFILL = [
    dict(id="2611.50001", title="Speculative decoding for long-context summarization",
         abstract="Speculative decoding speeds up summarization of long documents by language "
                  "models without changing their output.",
         authors=["Zhang, a.", "Jiang, x."], categories=["cs.CL"]),
    dict(id="2611.50002", title="Retrieval heads in small language models",
         abstract="We find attention heads that copy from retrieved passages in language models.",
         authors=["Cássio van den Berg", "Deepti"], categories=["cs.CL", "cs.LG"]),
]


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def backfill(tmp_path) -> Path:
    path = tmp_path / "cs.CL-2026-11-24.xml"
    path.write_bytes(arxiv_rss("cs.CL", BACKFILL))
    return path


def papers(session) -> dict[str, Paper]:
    session.expire_all()
    return {p.id: p for p in session.exec(select(Paper)).all()}


def sources(session) -> dict[str, Source]:
    session.expire_all()
    return {s.name: s for s in session.exec(select(Source)).all()}


@pytest.mark.usefixtures("offline_feeds")
def test_an_imported_file_becomes_a_digest(backfill, tmp_path, session):
    result = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss")
    assert result.exit_code == 0, result.stderr
    assert "arxiv-cs.CL" in result.stdout and "ok" in result.stdout  # the harvest table
    assert set(papers(session)) == {"arxiv:2611.50001", "arxiv:2611.50002"}

    subscribed = run("subscribe", "reader@example.org", "--topic", "language models",
                     "--category", "cs.CL", "--confirmed")
    assert subscribed.exit_code == 0, subscribed.stderr
    out = tmp_path / "preview"
    preview = run("preview", "reader@example.org", "--date", "2026-11-25", "--out", str(out))
    assert preview.exit_code == 0, preview.stderr
    html = (out / "digest.html").read_text(encoding="utf-8")
    text = (out / "digest.txt").read_text(encoding="utf-8")
    assert "Speculative decoding for long-context summarization" in html
    assert "Retrieval heads in small language models" in text
    assert "Zhang A." in text  # the file's "Zhang, a." as one author


def table_row(stdout: str, source: str) -> list[str]:
    """The cells of the harvest table's row for `source` (rich draws them between │)."""
    line = next(line for line in stdout.splitlines() if f" {source} " in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_the_summary_table_counts_new_then_unchanged_papers(backfill, session):
    first = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss")
    again = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss")
    assert first.exit_code == again.exit_code == 0
    assert first.stdout.splitlines()[1].split() == [
        "┃", "source", "┃", "status", "┃", "papers", "┃", "new", "┃", "updated", "┃", "note", "┃"]
    assert table_row(first.stdout, "arxiv-cs.CL")[:5] == ["arxiv-cs.CL", "ok", "2", "2", "0"]
    assert table_row(again.stdout, "arxiv-cs.CL")[:5] == ["arxiv-cs.CL", "ok", "2", "0", "0"]


def test_an_import_leaves_the_sources_fetch_state_alone(backfill, session):
    run("harvest", "--file", str(backfill), "--kind", "arxiv_rss")
    source = sources(session)["arxiv-cs.CL"]
    assert source.last_fetch is None and source.last_success is None and source.etag is None


def test_a_dry_run_parses_the_file_and_stores_nothing(backfill, session):
    result = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss", "--dry-run")
    assert result.exit_code == 0
    assert "2 papers parsed" in result.stdout and "nothing stored" in result.stdout
    assert papers(session) == {} and sources(session) == {}


def test_json_prints_the_papers_and_stores_nothing(backfill, session):
    result = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss", "--json")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    assert papers(session) == {} and sources(session) == {}


def test_a_journal_file_is_attributed_to_a_new_source_named_after_the_feed(session):
    result = run("harvest", "--file", str(FEEDS / "joss.atom.xml"), "--kind", "rss")
    assert result.exit_code == 0, result.stderr
    source = sources(session)["journal-of-open-source-software"]
    assert source.kind == "rss" and not source.enabled  # not a URL to poll unasked
    assert source.url == "https://joss.theoj.org/papers/published.atom"
    assert source.label == "Journal of Open Source Software"
    assert papers(session)["doi:10.21105/joss.09002"].authors == [
        "Mattan S. Ben-Shachar", "Daniel Lüdecke"]


def test_the_named_source_gets_the_file_and_labels_its_papers(session):
    result = run("harvest", "--file", str(FEEDS / "nature_style.rdf.xml"), "--kind", "rss",
                 "--source", "nature")
    assert result.exit_code == 0, result.stderr
    assert "nature" in result.stdout
    stored = papers(session)
    assert len(stored) == 3 and {p.source for p in stored.values()} == {"Nature"}
    assert sources(session)["nature"].url == "https://www.nature.com/nature.rss"  # the default


def test_a_new_named_source_is_created_for_a_journal_that_only_emails(tmp_path, session):
    result = run("harvest", "--file", str(FEEDS / "science_identifiers.rdf.xml"),
                 "--kind", "rss", "--source", "science-toc-email")
    assert result.exit_code == 0, result.stderr
    source = sources(session)["science-toc-email"]
    assert source.label == "Science current issue" and not source.enabled
    assert "doi:10.1126/science.adq4521" in papers(session)


def test_a_source_that_reads_another_kind_is_refused(backfill, session):
    result = run("harvest", "--file", str(backfill), "--kind", "rss", "--source", "arxiv-cs.CL")
    assert result.exit_code == 2
    assert "arxiv_rss" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert papers(session) == {}


@pytest.mark.parametrize("flags", [(), ("--json",), ("--dry-run",)])
def test_dev_zero_is_a_one_line_error_not_a_memory_error(flags, session):
    result = run("harvest", "--file", "/dev/zero", "--kind", "rss", *flags)
    assert result.exit_code == 2 and result.stdout == ""
    assert "larger than 50 MB" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert papers(session) == {}


def test_a_file_over_the_cap_is_refused_with_the_networks_limit(tmp_path, monkeypatch, session):
    monkeypatch.setattr(fetch_module, "MAX_FEED_BYTES", 64 * 1024)
    big = tmp_path / "big.xml"
    big.write_bytes(arxiv_rss("cs.CL", BACKFILL * 400))
    result = run("harvest", "--file", str(big), "--kind", "arxiv_rss")
    assert result.exit_code == 2 and "larger than 64 KB" in result.stderr
    assert papers(session) == {}


@pytest.mark.parametrize(("name", "words"), [("missing.xml", "No such file"), (".", "directory")])
def test_an_unreadable_path_is_a_one_line_error(name, words, tmp_path):
    result = run("harvest", "--file", str(tmp_path / name), "--kind", "rss")
    assert result.exit_code == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_error_document_is_refused_and_stores_nothing(tmp_path, session):
    page = tmp_path / "captcha.html"
    page.write_text("<!DOCTYPE html><html><title>Are you a robot?</title><body>no</body></html>")
    result = run("harvest", "--file", str(page), "--kind", "rss")
    assert result.exit_code == 2 and "HTML page" in result.stderr
    assert papers(session) == {} and sources(session) == {}


def test_file_takes_one_source_and_a_known_kind(backfill):
    two = run("harvest", "--file", str(backfill), "--kind", "arxiv_rss",
              "--source", "a", "--source", "b")
    assert two.exit_code == 2 and "one --source" in two.stderr
    assert run("harvest", "--file", str(backfill)).exit_code == 2  # --kind is required


def test_a_network_dry_run_fetches_and_parses_but_stores_nothing(monkeypatch, session):
    server = FeedServer({"/rss/cs.CL": arxiv_rss("cs.CL", BACKFILL)})
    monkeypatch.setenv("FEED_BASE_OVERRIDE", server.url)
    from newsletter.core import config

    config.get_settings.cache_clear()
    try:
        result = run("harvest", "--source", "arxiv-cs.CL", "--dry-run")
    finally:
        server.close()
    assert result.exit_code == 0, result.stderr
    assert "dry run" in result.stdout and "arxiv-cs.CL" in result.stdout
    assert server.hits == {"/rss/cs.CL": 1}
    assert papers(session) == {} and sources(session) == {}
