"""Crossref enrichment of thin journal papers, against a local fake of the REST API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.core import config
from newsletter.core.models import CrossrefLookup, Paper, PaperSummary
from newsletter.harvest import crossref
from newsletter.ranking.candidates import Pick
from newsletter.subscribers import library
from newsletter.writing import prompts, synthesize
from tests.factories import make_paper, make_subscriber
from tests.fake_scholarly import ScholarlyServer, crossref_work

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
DOI = "10.1038/s41586-026-01234-5"
TEASER = "Superconductivity is found in a nickelate under pressure."
ABSTRACT = ("The discovery of superconductivity in La3Ni2O7 under pressure has opened a new "
            "family of high-temperature superconductors. Here we report bulk superconductivity "
            "with a transition temperature of 30 K in thin films grown on strained substrates at "
            "ambient pressure. We show that compressive strain alone reproduces the electronic "
            "structure that pressure gives, which identifies the relevant orbital and opens a "
            "route to devices.")
JATS = ("<jats:title>Abstract</jats:title><jats:sec><jats:title>Background</jats:title>"
        "<jats:p>The discovery of superconductivity in La<jats:sub>3</jats:sub>Ni<jats:sub>2"
        "</jats:sub>O<jats:sub>7</jats:sub> under pressure has opened a new family of "
        "high-temperature superconductors.</jats:p></jats:sec><jats:sec><jats:title>Results"
        "</jats:title><jats:p>Here we report <jats:italic>bulk</jats:italic> superconductivity "
        "with a transition temperature of 30&#x2009;K in thin films at ambient pressure."
        "</jats:p><jats:p>We show that compressive strain alone reproduces the electronic "
        "structure that pressure gives.</jats:p></jats:sec>")


def journal_paper(session, doi: str = DOI, **fields) -> Paper:
    values = dict(id=f"doi:{doi}", doi=doi, source="Nature", journal="Nature",
                  title="Ambient-pressure superconductivity in strained nickelate films",
                  abstract=TEASER, authors=[], categories=[], primary_category=None,
                  announce_type=None, url=f"https://www.nature.com/articles/{doi[8:]}",
                  pdf_url=None, first_seen=NOW - dt.timedelta(hours=2))
    values.update(fields)
    return make_paper(session, **values)


@pytest.fixture(autouse=True)
def fresh_state():
    crossref._paused_until[0] = None
    crossref._spacing[0] = 0.0
    yield
    crossref._paused_until[0] = None
    crossref._spacing[0] = 0.0


@pytest.fixture
def server(monkeypatch):
    fake = ScholarlyServer(crossref={
        DOI: crossref_work(DOI, "Ambient-pressure superconductivity in strained nickelate "
                           "films", None, [("Ada", "Zhou"), ("Bo", "Li")], 2026, jats=JATS)})
    monkeypatch.setenv("CROSSREF_API_URL", fake.url)
    monkeypatch.setenv("CROSSREF_MAILTO", "crossref@hub.example.org")
    monkeypatch.setenv("CROSSREF_MIN_INTERVAL", "0")
    config.get_settings.cache_clear()
    yield fake
    fake.close()


def works_requests(fake: ScholarlyServer) -> list[str]:
    return [r for r in fake.requests if r.startswith("/works/")]


def test_it_fills_a_teasers_abstract_and_missing_authors_from_crossref(session, server):
    paper = journal_paper(session)
    report = crossref.enrich(session, now=NOW)
    assert (report.candidates, report.asked, report.enriched) == (1, 1, 1)
    session.refresh(paper)
    assert paper.abstract == (
        "Background: The discovery of superconductivity in La3Ni2O7 under pressure has opened "
        "a new family of high-temperature superconductors. Results: Here we report bulk "
        "superconductivity with a transition temperature of 30 K in thin films at ambient "
        "pressure. We show that compressive strain alone reproduces the electronic structure "
        "that pressure gives.")
    assert paper.authors == ["Ada Zhou", "Bo Li"]
    assert works_requests(server) == [
        f"/works/{DOI}?mailto=crossref%40hub.example.org"]  # the polite pool's contact


def test_it_keeps_the_feeds_authors_and_a_longer_abstract(session, server):
    long_enough = "A full abstract. " * 20
    rich = journal_paper(session, authors=["Ada Zhou"], abstract=long_enough[:250])
    crossref.enrich(session, now=NOW)
    session.refresh(rich)
    assert rich.authors == ["Ada Zhou"] and rich.abstract.startswith("Background:")
    full = journal_paper(session, doi="10.1038/s41586-026-09999-9", abstract=long_enough)
    assert crossref.enrich(session, now=NOW).candidates == 0  # not thin: never asked
    assert full.abstract == long_enough


def test_it_asks_about_a_doi_once_whatever_the_cycles_and_the_library_imports(session, server):
    journal_paper(session)
    crossref.enrich(session, now=NOW)
    again = crossref.enrich(session, now=NOW + dt.timedelta(days=5))  # a hit is for good
    assert (again.candidates, again.asked) == (0, 0)
    subscriber = make_subscriber(session, keywords=())
    report = library.import_library(session, subscriber, f"{DOI}\n".encode(), "ids.txt")
    assert report.used[0].abstract.startswith("Background: The discovery")
    assert len(works_requests(server)) == 1  # the import read the cache


def test_it_remembers_an_unknown_doi_as_a_miss_until_the_retry_window_ends(session, server):
    journal_paper(session, doi="10.1038/unknown-doi")
    first = crossref.enrich(session, now=NOW)
    assert (first.asked, first.missing, first.enriched) == (1, 1, 0)
    row = session.get(CrossrefLookup, "10.1038/unknown-doi")
    assert row.status == "missing" and row.checked_at is not None
    assert crossref.enrich(session, now=NOW + dt.timedelta(days=1)).asked == 0
    assert crossref.enrich(session, now=NOW + dt.timedelta(days=3)).asked == 1
    assert len(works_requests(server)) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_it_backs_off_on_429_and_5xx_and_loses_nothing(session, server, status):
    paper = journal_paper(session)
    other = journal_paper(session, doi="10.1038/s41586-026-07777-7",
                          first_seen=NOW - dt.timedelta(hours=3))
    server.crossref_failures.append((status, {"Retry-After": "120"}))
    report = crossref.enrich(session, now=NOW)
    assert report.failed == 1 and report.enriched == 0 and report.stopped
    assert len(works_requests(server)) == 1  # stopped at once: the other DOI was not asked
    session.refresh(paper)
    assert paper.abstract == TEASER and paper.authors == []
    assert session.get(CrossrefLookup, DOI).status == "error"
    waiting = crossref.enrich(session, now=NOW + dt.timedelta(seconds=60))
    assert waiting.asked == 0 and "backing off" in waiting.stopped  # Retry-After honoured
    later = crossref.enrich(session, now=NOW + dt.timedelta(minutes=5))
    assert later.asked == 1  # the other paper; the failed DOI waits for its retry window
    assert crossref.enrich(session, now=NOW + dt.timedelta(minutes=61)).enriched == 1
    session.refresh(paper)
    assert paper.abstract.startswith("Background:")
    session.refresh(other)  # asked once, after the pause: unknown at Crossref, text kept
    assert other.abstract == TEASER and session.get(CrossrefLookup, other.doi).status == "missing"


def test_it_degrades_quietly_when_crossref_is_unreachable(session, monkeypatch):
    monkeypatch.setenv("CROSSREF_API_URL", "http://127.0.0.1:9")  # nothing listens there
    config.get_settings.cache_clear()
    paper = journal_paper(session)
    report = crossref.enrich(session, now=NOW)
    assert report.failed == 1 and report.stopped and "could not fetch" in report.stopped
    session.refresh(paper)
    assert paper.abstract == TEASER


def test_it_respects_the_per_cycle_cap_newest_first(session, server, monkeypatch):
    for n in range(5):
        journal_paper(session, doi=f"10.1038/s41586-026-0000{n}-x",
                      first_seen=NOW - dt.timedelta(hours=n + 1))
    assert crossref.enrich(session, now=NOW, limit=2).asked == 2
    assert works_requests(server) == [
        "/works/10.1038/s41586-026-00000-x?mailto=crossref%40hub.example.org",
        "/works/10.1038/s41586-026-00001-x?mailto=crossref%40hub.example.org"]
    monkeypatch.setenv("CROSSREF_ENRICH_LIMIT", "1")
    config.get_settings.cache_clear()
    assert crossref.enrich(session, now=NOW).asked == 1


def test_it_leaves_preprints_news_and_old_papers_alone(session, server):
    make_paper(session, abstract="Short.", doi="10.48550/arxiv.2611.00001")
    journal_paper(session, doi="10.1038/d41586-026-00001-1", article_type="news")
    journal_paper(session, doi="10.1038/s41586-025-00001-1",
                  first_seen=NOW - dt.timedelta(days=40))
    assert crossref.enrich(session, now=NOW).candidates == 0
    assert works_requests(server) == []


def test_it_paces_requests_inside_the_budget_crossref_announces(session, server):
    server.rate_limit = ("5", "1s")
    journal_paper(session)
    crossref.enrich(session, now=NOW)
    assert crossref.pace() == pytest.approx(0.2)  # 5 requests per second at most


def test_a_teaser_paper_is_summarised_from_crossrefs_abstract(session, server):
    paper = journal_paper(session)
    session.add(PaperSummary(paper_id=paper.id, locale="en", model="claude", prompt_version="1",
                             text="Written from the teaser."))
    session.commit()
    teaser = synthesize.write(session, [Pick(paper, 1.0)]).summaries[paper.id]
    crossref.enrich(session, now=NOW)
    session.refresh(paper)
    written = synthesize.write(session, [Pick(paper, 1.0)]).summaries[paper.id]
    assert "bulk superconductivity" not in teaser
    assert "bulk superconductivity" in written or "compressive strain" in written
    assert "compressive strain" in prompts.cards([paper])  # what the LLM would read
    assert session.exec(select(PaperSummary)).all() == []  # the teaser's summary is gone


def test_it_enriches_from_the_cli_with_a_limit(server):
    from newsletter.core.db import session_scope

    with session_scope() as session:
        journal_paper(session, first_seen=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    result = CliRunner().invoke(app, ["enrich", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "1 thin journal papers, 1 asked, 1 enriched" in result.output


@pytest.mark.parametrize("retry_after", ["1e400", "1e20", "inf", "nan"])
def test_an_absurd_retry_after_backs_off_for_the_cap_and_never_raises(session, server,
                                                                        retry_after):
    journal_paper(session)
    server.crossref_failures.append((429, {"Retry-After": retry_after}))
    report = crossref.enrich(session, now=NOW)
    assert report.failed == 1 and report.stopped
    assert crossref.paused(NOW + dt.timedelta(minutes=1))  # a pause, not a crash
    assert not crossref.paused(NOW + crossref.BACKOFF_CAP)


def test_an_announced_budget_never_spaces_requests_beyond_a_few_seconds(session, server):
    """'1 per hour' (a misconfigured proxy, a hostile answer) must not put every worker and
    a web request's library import to sleep for an hour; 429s then do the backing off."""
    server.rate_limit = ("1", "1h")
    journal_paper(session)
    crossref.enrich(session, now=NOW)
    assert crossref.pace() == crossref.MAX_SPACING


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_of_us_not_of_one_doi_stops_the_run(session, server, status):
    """401/403 say Crossref will not answer us (a blocked address, a missing token): asking
    about the other 199 DOIs of the cycle would only repeat it."""
    journal_paper(session)
    journal_paper(session, doi="10.1038/s41586-026-07777-7",
                  first_seen=NOW - dt.timedelta(hours=3))
    server.crossref_failures.append((status, {}))
    report = crossref.enrich(session, now=NOW)
    assert report.failed == 1 and report.stopped
    assert len(works_requests(server)) == 1
    assert crossref.paused(NOW + dt.timedelta(minutes=1))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_session(request, settings_env):
    from sqlmodel import Session

    from newsletter.core import db

    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
    with Session(db.get_engine(), expire_on_commit=False) as s:
        yield s


def test_two_workers_asking_about_one_doi_at_once_both_keep_the_answer(either_session, server,
                                                                       monkeypatch):
    """The hourly beat entry and the after-harvest task may enrich at the same time: the one
    that stores second must not fail on the other's row (the run stopped with an
    IntegrityError, the CLI crashed)."""
    from sqlmodel import Session

    session = either_session
    paper = journal_paper(session)
    asked = crossref.fetch_work

    def the_other_worker_answers_first(doi):
        work = asked(doi)
        with Session(session.get_bind()) as other:
            other.add(CrossrefLookup(doi=doi, status="missing", checked_at=NOW, title="",
                                     abstract="", authors=[]))
            other.commit()
        return work

    monkeypatch.setattr(crossref, "fetch_work", the_other_worker_answers_first)
    report = crossref.enrich(session, now=NOW)
    assert (report.enriched, report.failed) == (1, 0)
    session.refresh(paper)
    assert paper.abstract.startswith("Background:")
    assert session.get(CrossrefLookup, DOI).status == "found"


def test_a_backoff_holds_for_every_process_through_redis(session, server, redis_url):
    """Celery runs enrich in several worker processes: the one that got the 429 tells the
    others (a per-process pause let each of them ask again at once)."""
    journal_paper(session)
    journal_paper(session, doi="10.1038/s41586-026-07777-7",
                  first_seen=NOW - dt.timedelta(hours=3))
    server.crossref_failures.append((429, {"Retry-After": "120"}))
    crossref.enrich(session, now=NOW)
    crossref._paused_until[0] = None  # another worker process knows nothing of it
    waiting = crossref.enrich(session, now=NOW + dt.timedelta(seconds=60))
    assert waiting.asked == 0 and "backing off" in waiting.stopped
    assert len(works_requests(server)) == 1
