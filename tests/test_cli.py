"""The operator's CLI, as outside tools call it (names and flags from the CLI contract)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
import time_machine
from typer.testing import CliRunner

from newsletter.cli import app
from tests.feedserver import arxiv_rss
from tests.test_pipeline import PAPERS

runner = CliRunner()

API_ERROR = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/</id>
  <title>arXiv Search Results</title>
  <updated>2026-11-20T00:41:35Z</updated>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>https://arxiv.org/api/errors#max_results_must_be_an_integer</id>
    <title>Error</title>
    <updated>2026-11-20T00:41:35Z</updated>
    <link href="https://arxiv.org/api/errors#max_results_must_be_an_integer" rel="alternate"
          type="text/html"/>
    <summary>max_results must be an integer</summary>
    <author>
      <name>arXiv api core</name>
    </author>
  </entry>
</feed>
"""
EMPTY_RSS = arxiv_rss("cs.CL", [])


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_it_prints_one_json_paper_per_line_from_a_local_feed(tmp_path):
    feed = tmp_path / "cs.CL.xml"
    feed.write_bytes(arxiv_rss("cs.CL", PAPERS))
    result = run("harvest", "--file", str(feed), "--kind", "arxiv_rss", "--json")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["arxiv:2611.20001", "arxiv:2611.20002", "arxiv:2611.20003"]
    assert set(rows[0]) >= {"id", "version", "title", "authors", "abstract", "categories",
                            "primary_category", "published", "url", "pdf_url", "doi", "source"}
    assert rows[0]["authors"] == ["Ada Lovelace", "Grace Hopper"]
    assert rows[0]["categories"] == ["cs.CL", "cs.LG"]
    assert rows[0]["published"] == "2026-11-24"


def test_it_exits_2_with_the_reason_on_stderr_for_an_error_feed(tmp_path):
    feed = tmp_path / "error.atom.xml"
    feed.write_bytes(API_ERROR)
    result = run("harvest", "--file", str(feed), "--kind", "arxiv_api", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "max_results must be an integer" in result.stderr


def test_it_prints_nothing_and_exits_0_for_an_empty_feed(tmp_path):
    feed = tmp_path / "empty.xml"
    feed.write_bytes(EMPTY_RSS)
    result = run("harvest", "--file", str(feed), "--kind", "arxiv_rss", "--json")
    assert result.exit_code == 0 and result.stdout == ""


def test_it_refuses_an_unknown_kind_and_a_missing_file(tmp_path):
    assert run("harvest", "--file", "nope.xml", "--kind", "atomz").exit_code == 2
    missing = run("harvest", "--file", str(tmp_path / "nope.xml"), "--kind", "rss")
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


@pytest.mark.usefixtures("offline_feeds")
def test_it_subscribes_confirmed_and_previews_with_explanations(tmp_path, session):
    from newsletter.harvest import harvester

    harvester.store(session, harvester.parse("arxiv_rss", arxiv_rss("cs.CL", PAPERS)))
    result = run("subscribe", "Ada@Example.org", "--topic", "language models", "--category",
                 "cs.CL", "--author", "Grace Hopper", "--lang", "zh", "--tz", "Asia/Shanghai",
                 "--hour", "8", "--confirmed")
    assert result.exit_code == 0, result.stdout
    assert "ada@example.org: active" in result.stdout
    out = tmp_path / "pv"
    result = run("preview", "ada@example.org", "--out", str(out), "--explain")
    assert result.exit_code == 0, result.stdout
    assert "by Grace Hopper" in result.stdout  # the followed author's paper is explained
    assert {p.name for p in out.iterdir()} == {"digest.html", "digest.txt", "digest.eml"}
    assert b"List-Unsubscribe:" in (out / "digest.eml").read_bytes()


@pytest.mark.usefixtures("offline_feeds")
def test_it_previews_the_subscribers_own_today_by_default(tmp_path, session):
    from newsletter.harvest import harvester

    # 20:00 UTC on Tuesday the 24th is already Wednesday the 25th in Shanghai.
    with time_machine.travel(dt.datetime(2026, 11, 24, 20, tzinfo=dt.UTC), tick=True):
        harvester.store(session, harvester.parse("arxiv_rss", arxiv_rss("cs.CL", PAPERS)))
        run("subscribe", "ada@example.org", "--topic", "language models", "--tz",
            "Asia/Shanghai", "--confirmed")
        result = run("preview", "ada@example.org", "--out", str(tmp_path / "pv"))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("Nov 25 · ")


@pytest.mark.parametrize(("args", "words"), [
    (("bad-address",), "email"),
    (("a@example.org", "--tz", "Mars/Olympus"), "time zone"),
    (("a@example.org", "--hour", "25"), "hour"),
])
def test_it_rejects_bad_subscriptions_with_a_clear_message(args, words):
    result = run("subscribe", *args, "--confirmed")
    assert result.exit_code == 2
    assert words in result.stderr.lower()


def test_it_shows_who_is_due_on_a_dry_run_without_claiming(session):
    from sqlmodel import select

    from newsletter.core.models import Digest
    from tests.factories import make_subscriber

    make_subscriber(session, "due@example.org", timezone="Asia/Shanghai", send_hour=7)
    result = run("send-due", "--now", "2026-11-24T08:30:00+08:00", "--dry-run")
    assert result.exit_code == 0
    assert "due (dry run)" in result.stdout
    assert session.exec(select(Digest)).all() == []


def test_it_words_each_outcome_of_a_tick_for_the_operator():
    from newsletter.cli import tick_outcome
    from newsletter.core.models import Digest, DigestStatus, Outcome
    from newsletter.scheduling.pipeline import TickResult

    sent, skipped, broken, queued = (
        Digest(id=1, subscriber_id=1, local_date=dt.date(2026, 11, 24)),
        Digest(id=2, subscriber_id=2, local_date=dt.date(2026, 11, 24),
               error="no new papers matched the topics"),
        Digest(id=3, subscriber_id=3, local_date=dt.date(2026, 11, 24)),
        Digest(id=4, subscriber_id=4, local_date=dt.date(2026, 11, 24)))
    result = TickResult([sent, skipped, broken, queued],
                        {1: DigestStatus.SENT, 2: DigestStatus.SKIPPED, 3: Outcome.ERROR,
                         4: Outcome.QUEUED}, [], {3: "SMTP unavailable: refused"})
    assert [tick_outcome(result, d) for d in result.claimed] == [
        "sent", "skipped - no new papers matched the topics", "error: SMTP unavailable: refused",
        "queued"]


def test_it_runs_the_demo_offline_and_says_where_the_email_is(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    from newsletter.core import config

    config.get_settings.cache_clear()
    result = run("demo", "--offline")
    assert result.exit_code == 0, result.stdout
    assert "bundled sample" in result.stdout
    html = list((tmp_path / "outbox").glob("*.html"))
    assert len(html) == 1 and str(html[0].name) in result.stdout.replace("\n", "")


@pytest.mark.parametrize("command", [["stats"], ["db", "upgrade"]])
def test_it_reports_an_unreachable_database_in_one_line_without_the_password(
        monkeypatch, command):
    monkeypatch.setenv("DATABASE_URL", "postgresql://root:hunter2@127.0.0.1:9/hub")
    done = subprocess.run([sys.executable, "-m", "newsletter", *command], capture_output=True,
                          text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and done.stdout == ""
    assert len(lines) == 1 and "database" in lines[0].lower(), done.stderr
    assert "127.0.0.1" in lines[0] and "hunter2" not in done.stderr


def test_it_explains_every_command_and_option_in_its_help():
    """`newsletter --help` lists each command on one line of its own words, and every option
    says what it does (a bare `--json` or a summary cut mid-sentence reads as unfinished)."""
    import typer.main

    def commands(group, path=""):
        for name, command in group.commands.items():
            yield f"{path}{name}", command
            if hasattr(command, "commands"):
                yield from commands(command, f"{path}{name} ")

    missing = []
    for name, command in commands(typer.main.get_command(app)):
        summary = (command.help or "").strip().split("\n\n")[0]
        if not summary or "\n" in summary:
            missing.append(f"{name}: summary {summary!r}")
        missing += [f"{name} {param.opts[0]}" for param in command.params
                    if param.param_type_name == "option" and not param.help]
    assert missing == []


def test_it_fits_the_stats_table_in_an_80_column_terminal(session, monkeypatch):
    """Every column header whole at 80 columns (it was one too wide: 'unsub' became 'uns…')."""
    from newsletter.core.models import DigestStatus
    from tests.factories import make_digest, make_paper, make_subscriber

    with time_machine.travel(dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC), tick=False):
        make_digest(session, make_subscriber(session), [make_paper(session)],
                    status=DigestStatus.SENT)
        session.commit()
        monkeypatch.setenv("COLUMNS", "80")
        result = runner.invoke(app, ["stats", "--days", "1"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "day" in line)
    assert "…" not in result.output and "unsub" in header, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_it_says_to_migrate_when_the_database_has_no_schema_yet(tmp_path, monkeypatch):
    """A new operator's first `stats` before any `demo`, `serve` or `db upgrade`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    done = subprocess.run([sys.executable, "-m", "newsletter", "stats"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert "no such table" in done.stderr and "run: newsletter db upgrade" in done.stderr
