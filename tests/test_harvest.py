"""Harvest end to end against a real HTTP server on 127.0.0.1: conditional GET, errors, timeouts,
freshness, claims, the arXiv rate limit; and the store's upsert rules on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import time_machine
from sqlmodel import Session, select

from newsletter.core import config, db
from newsletter.core.models import Paper, Source
from newsletter.core.time import utcnow
from newsletter.harvest import fetch as fetch_module
from newsletter.harvest.feeds import FeedError, parse
from newsletter.harvest.fetch import fetch
from newsletter.harvest.harvester import harvest, harvest_source, store
from newsletter.harvest.sources import DEFAULT_SOURCES, ensure_sources, sources_for

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    content_type: str = "application/rss+xml; charset=utf-8"


@dataclass
class FeedServer:
    """Serves `routes[path]`; answers 304 to a matching If-None-Match / If-Modified-Since."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict, float]] = field(default_factory=list)

    def __post_init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append((self.path, dict(self.headers), time.monotonic()))
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if route.delay:
                    time.sleep(route.delay)
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                )
                self.send_response(304 if fresh else route.status)
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                body = b"" if fresh else route.body
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with _suppress_broken_pipe():
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def hits(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p.split("?")[0] == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _suppress_broken_pipe:
    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is not None and issubclass(kind, (BrokenPipeError, ConnectionResetError))


@pytest.fixture
def server(monkeypatch):
    feeds = FeedServer()
    monkeypatch.setenv("FEED_BASE_OVERRIDE", feeds.url)
    monkeypatch.setenv("HTTP_TIMEOUT", "2")
    monkeypatch.setenv("FRESHNESS_MINUTES", "60")
    monkeypatch.setenv("CONTACT_EMAIL", "ops@hub.example.org")
    config.get_settings.cache_clear()
    yield feeds
    feeds.close()


def fixture(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def add_source(
    session,
    name="arxiv-cs.CL",
    kind="arxiv_rss",
    url="https://rss.arxiv.org/rss/cs.CL",
    label="arXiv",
) -> Source:
    source = Source(name=name, kind=kind, url=url, label=label)
    session.add(source)
    session.commit()
    return source


def stored(session) -> dict[str, Paper]:
    session.expire_all()
    return {p.id: p for p in session.exec(select(Paper)).all()}


# -- fetch --------------------------------------------------------------------------------------


def test_it_sends_a_user_agent_with_the_contact_address_and_answers_304_as_not_modified(
    session, server
):
    server.routes["/rss/cs.CL"] = Route(
        fixture("arxiv_rss_cs.CL.xml"), etag='"v1"', last_modified="Tue, 24 Nov 2026 05:00:11 GMT"
    )
    source = add_source(session)
    first = fetch(source)
    assert first.status == "ok" and first.etag == '"v1"' and b"<rss" in first.data
    headers = server.requests[-1][1]
    assert headers["User-Agent"] == "AcademicHub/0.1 (mailto:ops@hub.example.org)"
    source.etag, source.last_modified = first.etag, first.last_modified
    second = fetch(source)
    assert second.status == "not-modified" and second.data == b""
    assert server.requests[-1][1]["If-None-Match"] == '"v1"'
    assert server.requests[-1][1]["If-Modified-Since"] == "Tue, 24 Nov 2026 05:00:11 GMT"


def test_it_raises_a_clear_error_for_http_errors_timeouts_and_refused_connections(
    session, server, monkeypatch
):
    server.routes["/rss/cs.CL"] = Route(b"Internal Server Error", status=500)
    source = add_source(session)
    with pytest.raises(
        FeedError, match=r"HTTP 500 Internal Server Error from https://rss.arxiv.org/rss/cs.CL"
    ):
        fetch(source)
    monkeypatch.setenv("HTTP_TIMEOUT", "0.3")
    config.get_settings.cache_clear()
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"), delay=1.0)
    with pytest.raises(
        FeedError, match=r"timed out after 0.3 s fetching https://rss.arxiv.org/rss/cs.CL"
    ):
        fetch(source)
    monkeypatch.setenv("FEED_BASE_OVERRIDE", "http://127.0.0.1:9")  # nothing listens on port 9
    config.get_settings.cache_clear()
    with pytest.raises(
        FeedError, match="could not fetch https://rss.arxiv.org/rss/cs.CL: ConnectError"
    ):
        fetch(source)


def test_it_reports_the_arxiv_api_error_message_behind_an_http_400(session, server):
    server.routes["/api/query"] = Route(fixture("arxiv_api_error.atom.xml"), status=400)
    source = add_source(
        session,
        "arxiv-api",
        "arxiv_api",
        "https://export.arxiv.org/api/query?search_query=cat:cs.CL&max_results=x",
    )
    with pytest.raises(
        FeedError, match="HTTP 400 .*arXiv API error: max_results must be an integer"
    ):
        fetch(source)


def test_it_follows_the_biorxiv_cursor_until_the_window_is_complete(session, server):
    def page(cursor, items, total):
        return json.dumps(
            {
                "messages": [
                    {"status": "ok", "cursor": cursor, "count": len(items), "total": str(total)}
                ],
                "collection": items,
            }
        ).encode()

    items = [
        {
            "doi": f"10.1101/2026.11.2{i}.600{i:03d}",
            "title": f"Preprint {i}",
            "authors": "Doe, J.",
            "date": "2026-11-24",
            "version": "1",
            "category": "genomics",
            "abstract": "A.",
            "server": "bioRxiv",
        }
        for i in range(5)
    ]
    base = "/details/biorxiv/2026-11-24/2026-11-26"  # the window ends today (UTC)
    server.routes[f"{base}/0/json"] = Route(page(0, items[:2], 5), content_type="application/json")
    server.routes[f"{base}/2/json"] = Route(page(2, items[2:4], 5), content_type="application/json")
    server.routes[f"{base}/4/json"] = Route(page(4, items[4:], 5), content_type="application/json")
    source = add_source(
        session,
        "biorxiv",
        "biorxiv",
        "https://api.biorxiv.org/details/biorxiv/{from}/{to}/{cursor}/json",
        "bioRxiv",
    )
    with time_machine.travel(dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC), tick=True):
        result = harvest_source(session, source)
    assert (result.status, result.count, result.new) == ("ok", 5, 5)
    assert [p for p, _, _ in server.requests] == [
        f"{base}/0/json",
        f"{base}/2/json",
        f"{base}/4/json",
    ]


def test_it_spaces_arxiv_requests_by_the_minimum_interval(session, server, monkeypatch):
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "0.4")
    config.get_settings.cache_clear()
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_empty.xml"))
    source = add_source(session)
    with httpx.Client() as client:
        for _ in range(3):
            fetch(source, client=client)
    times = [t for _, _, t in server.requests]
    assert len(times) == 3
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.35


def test_the_arxiv_rate_limit_is_shared_through_redis(session, server, monkeypatch, redis_url):
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "0.4")
    config.get_settings.cache_clear()
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_empty.xml"))
    source = add_source(session)
    import redis

    redis.Redis.from_url(redis_url).set(
        "academichub:ratelimit:arxiv", "1", px=400
    )  # another process
    started = time.monotonic()
    fetch(source)
    assert time.monotonic() - started >= 0.3


def test_one_services_wait_does_not_hold_up_another_without_redis(monkeypatch):
    """Without Redis each process spaces its own requests; a thread waiting out arXiv's
    interval must not keep a Crossref request (another thread) waiting behind it."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    config.get_settings.cache_clear()
    asleep, release = threading.Event(), threading.Event()

    def sleep(_seconds: float) -> None:  # the arXiv waiter "sleeps" until released
        if threading.current_thread().name == "arxiv-waiter":
            asleep.set()
            release.wait(10)

    monkeypatch.setattr(fetch_module.time, "sleep", sleep)
    monkeypatch.setattr(fetch_module, "_local_last", {})
    fetch_module.throttle("arxiv", 30)  # the first request goes at once
    waiter = threading.Thread(target=fetch_module.throttle, args=("arxiv", 30),
                              name="arxiv-waiter")
    waiter.start()
    try:
        assert asleep.wait(10)
        crossref = threading.Thread(target=fetch_module.throttle, args=("crossref", 30))
        crossref.start()
        crossref.join(10)
        assert not crossref.is_alive()
    finally:
        release.set()
        waiter.join(10)


# -- harvest_source -----------------------------------------------------------------------------


def test_it_harvests_a_source_and_records_the_outcome_on_it(session, server):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"), etag='"a1"')
    source = add_source(session)
    result = harvest_source(session, source)
    assert (result.status, result.count, result.new, result.updated) == ("ok", 5, 5, 0)
    session.refresh(source)
    assert source.last_status == "ok" and source.last_error is None and source.last_count == 5
    assert source.etag == '"a1"' and source.last_success is not None
    assert len(stored(session)) == 5


def test_it_skips_a_source_fetched_within_the_freshness_window_unless_forced(session, server):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"))
    source = add_source(session)
    harvest_source(session, source)
    assert harvest_source(session, source).status == "fresh"
    assert server.hits("/rss/cs.CL") == 1
    forced = harvest_source(session, source, force=True)
    assert forced.status == "ok" and forced.unchanged == 5 and forced.new == 0
    assert server.hits("/rss/cs.CL") == 2


def test_a_304_is_recorded_as_not_modified_and_keeps_the_papers(session, server):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"), etag='"same"')
    source = add_source(session)
    harvest_source(session, source)
    result = harvest_source(session, source, force=True)
    assert result.status == "not-modified"
    session.refresh(source)
    assert source.last_status == "not-modified" and source.last_count == 5
    assert len(stored(session)) == 5


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(b"oops", status=500), "HTTP 500 Internal Server Error"),
        (Route(b"\x89PNG\r\n\x1a\ngarbage{", status=200), "not a feed"),
        (
            Route(b"<!DOCTYPE html><html><title>Just a moment...</title></html>", status=200),
            "got an HTML page, not a feed (Just a moment...)",
        ),
        (Route(fixture("arxiv_rss_cs.CL.xml"), delay=3), "timed out after 1 s"),
    ],
    ids=["http-500", "garbage", "html-page", "slow"],
)
def test_a_bad_fetch_is_recorded_on_the_source_and_never_loses_stored_papers(
    session, server, monkeypatch, route, message
):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"))
    source = add_source(session)
    assert harvest_source(session, source).new == 5
    monkeypatch.setenv("HTTP_TIMEOUT", "1")  # the slow route outlasts it; the others answer at once
    config.get_settings.cache_clear()
    server.routes["/rss/cs.CL"] = route
    result = harvest_source(session, source, force=True)
    assert result.status == "error" and message in result.error
    session.refresh(source)
    assert source.last_status == "error" and message in source.last_error
    assert source.last_count == 5 and source.last_success is not None
    assert len(stored(session)) == 5


def test_after_an_error_the_source_is_retried_once_the_short_backoff_has_passed(session, server):
    server.routes["/rss/cs.CL"] = Route(b"down", status=503)
    source = add_source(session)
    assert harvest_source(session, source).status == "error"
    assert harvest_source(session, source).status == "fresh"  # no hammering a failing feed
    source.last_fetch = utcnow() - dt.timedelta(minutes=6)
    session.add(source)
    session.commit()
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"))
    assert harvest_source(session, source).status == "ok"


def test_concurrent_workers_fetch_a_source_only_once(server, monkeypatch):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"), delay=0.3)
    with Session(db.get_engine()) as setup:
        add_source(setup)
    results = []

    def worker():
        with Session(db.get_engine(), expire_on_commit=False) as own:
            row = own.exec(select(Source)).one()
            results.append(harvest_source(own, row).status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.hits("/rss/cs.CL") == 1
    assert sorted(results) == ["fresh", "fresh", "fresh", "ok"]  # the others waited for it


def test_the_redis_lock_lets_only_one_worker_fetch(session, server, redis_url, monkeypatch):
    import redis

    monkeypatch.setenv("HTTP_TIMEOUT", "0.3")  # bounds how long the second worker waits
    config.get_settings.cache_clear()
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"))
    source = add_source(session)
    lock = redis.Redis.from_url(redis_url).lock("academichub:harvest:arxiv-cs.CL", timeout=30)
    assert lock.acquire(blocking=False)  # another worker is fetching it right now
    try:
        assert harvest_source(session, source).status == "busy"  # waited, bounded, then gave up
        assert server.hits("/rss/cs.CL") == 0
    finally:
        lock.release()
    monkeypatch.setenv("HTTP_TIMEOUT", "2")  # the fixture's: a loaded machine may need it
    config.get_settings.cache_clear()
    assert harvest_source(session, source).status == "ok"


def test_harvest_runs_every_enabled_source_or_only_the_named_ones(session, server):
    server.routes["/rss/cs.CL"] = Route(fixture("arxiv_rss_cs.CL.xml"))
    server.routes["/rss/cs.LG"] = Route(fixture("arxiv_rss_cs.LG.xml"))
    results = harvest(session, ["arxiv-cs.CL", "arxiv-cs.LG", "no-such-source"], progress=True)
    assert [(r.source, r.status) for r in results] == [
        ("no-such-source", "error"),
        ("arxiv-cs.CL", "ok"),
        ("arxiv-cs.LG", "ok"),
    ]
    assert "unknown source" in results[0].error
    papers = stored(session)
    assert len(papers) == 6  # 5 + 3, two of them the same papers
    assert papers["arxiv:2611.10003"].categories == ["cs.LG", "cs.AI", "cs.CL", "stat.ML"]
    everything = harvest(session)  # all enabled defaults; most 404 here, none raises
    enabled = {s.name for s in DEFAULT_SOURCES if s.enabled}
    assert {r.source for r in everything} == enabled
    assert {r.status for r in everything} <= {"ok", "fresh", "error"}


def test_harvest_creates_feeds_for_arxiv_categories_on_demand(session, server):
    server.routes["/rss/hep-th"] = Route(fixture("arxiv_rss_empty.xml"))
    [result] = harvest(session, ["arxiv-hep-th"])
    assert result.status == "ok" and result.count == 0
    row = session.exec(select(Source).where(Source.name == "arxiv-hep-th")).one()
    assert row.url == "https://rss.arxiv.org/rss/hep-th" and row.kind == "arxiv_rss"


# -- the registry -------------------------------------------------------------------------------


def test_ensure_sources_is_idempotent_and_keeps_an_operators_choice(session):
    ensure_sources(session)
    nature = session.exec(select(Source).where(Source.name == "nature")).one()
    assert nature.enabled is True and nature.kind == "rss" and nature.label == "Nature"
    prb = session.exec(select(Source).where(Source.name == "prb")).one()
    assert prb.enabled is False
    nature.enabled, prb.enabled = False, True
    session.add_all([nature, prb])
    session.commit()
    ensure_sources(session)
    rows = session.exec(select(Source)).all()
    assert len(rows) == len(DEFAULT_SOURCES)
    assert session.exec(select(Source).where(Source.name == "nature")).one().enabled is False
    assert session.exec(select(Source).where(Source.name == "prb")).one().enabled is True
    names = {r.name for r in rows}
    assert {
        "arxiv-cs.CL",
        "arxiv-cs.LG",
        "arxiv-cs.AI",
        "arxiv-stat.ML",
        "arxiv-q-bio.GN",
        "arxiv-cs.CL+cs.LG",
        "biorxiv",
        "medrxiv",
        "science",
        "cell",
        "pnas",
        "prl",
    } <= names
    combined = next(r for r in rows if r.name == "arxiv-cs.CL+cs.LG")
    assert combined.url == "https://rss.arxiv.org/rss/cs.CL+cs.LG"
    api = next(r for r in rows if r.kind == "arxiv_api")
    assert (
        api.url.startswith("https://export.arxiv.org/api/query?")
        and "sortBy=submittedDate" in api.url
    )


def test_sources_for_maps_interests_to_the_feeds_they_need():
    assert sources_for([("category", "cs.CL"), ("category", "q-bio.GN")]) == [
        "arxiv-cs.CL",
        "arxiv-q-bio.GN",
    ]
    assert sources_for([("category", "genomics")]) == ["biorxiv", "medrxiv"]
    assert "nature" in sources_for([("category", "cs.CL"), ("source", "nature")])
    broad = sources_for([("keyword", "protein folding")])
    assert set(broad) == {s.name for s in DEFAULT_SOURCES if s.enabled}


# -- store --------------------------------------------------------------------------------------


def check_store_rules(session):
    cl = parse("arxiv_rss", fixture("arxiv_rss_cs.CL.xml"))
    lg = parse("arxiv_rss", fixture("arxiv_rss_cs.LG.xml"))
    first = store(session, cl)
    assert (first.new, first.updated, first.unchanged) == (5, 0, 0)
    seen = {p.id: p.first_seen for p in stored(session).values()}

    again = store(session, cl)  # the same feed twice changes nothing
    assert (again.new, again.updated, again.unchanged) == (0, 0, 5)
    assert {p.id: p.first_seen for p in stored(session).values()} == seen

    second = store(session, lg)
    assert (second.new, second.updated) == (1, 2)
    papers = stored(session)
    assert len(papers) == 6
    moe = papers["arxiv:2611.10003"]  # v2 updates the v1 row: never a second paper
    assert moe.version == 2 and moe.authors == ["Priya Raman", "Tomáš Novak", "Wei Zhang"]
    assert "64 training runs" in moe.abstract and moe.announce_type == "replace"
    assert moe.categories == ["cs.LG", "cs.AI", "cs.CL", "stat.ML"]
    assert moe.published == dt.date(2026, 11, 24) and moe.first_seen == seen[moe.id]
    drift = papers["arxiv:2609.04512"]  # an older v1 never overwrites the stored v2
    assert drift.version == 2 and drift.authors == ["Kwame Mensah", "Lucia Fernández"]
    assert "Yoruba" in drift.abstract and drift.categories == ["cs.CL", "cs.LG"]

    nature = store(session, parse("rss", fixture("nature_style.rdf.xml"), source="Nature"))
    assert (nature.new, nature.updated) == (2, 1)
    papers = stored(session)
    assert "doi:10.1038/s41586-026-01234-x" not in papers  # merged into the arXiv paper
    protein = papers["arxiv:2605.01234"]
    assert protein.journal == "Nature" and protein.source == "arxiv"
    assert len(papers) == 8
    assert store(session, []).new == 0


def test_the_store_collapses_versions_merges_sources_and_is_idempotent_on_sqlite(session):
    check_store_rules(session)


@pytest.mark.postgres
def test_the_store_follows_the_same_rules_on_postgresql(pg_url):
    with Session(db.engine_for(pg_url), expire_on_commit=False) as session:
        check_store_rules(session)


def test_a_journal_item_stored_first_still_becomes_one_paper_with_the_arxiv_version(session):
    store(session, parse("rss", fixture("nature_style.rdf.xml"), source="Nature"))
    result = store(session, parse("arxiv_rss", fixture("arxiv_rss_cs.CL.xml")))
    assert result.new == 4 and result.updated == 1
    papers = stored(session)
    merged = papers["doi:10.1038/s41586-026-01234-x"]  # kept its id (digests may point at it)
    assert merged.categories == ["q-bio.BM", "cs.CL", "cs.LG"]
    assert "arxiv:2605.01234" not in papers


def test_the_same_paper_twice_in_one_batch_is_stored_once_at_its_highest_version(session):
    cl = parse("arxiv_rss", fixture("arxiv_rss_cs.CL.xml"))
    lg = parse("arxiv_rss", fixture("arxiv_rss_cs.LG.xml"))
    result = store(session, lg + cl)
    assert result.new == 6
    papers = stored(session)
    assert papers["arxiv:2611.10003"].version == 2 and papers["arxiv:2609.04512"].version == 2
    assert set(papers["arxiv:2611.10003"].categories) == {"cs.LG", "cs.AI", "cs.CL", "stat.ML"}


def test_a_biorxiv_revision_updates_the_preprint(session):
    store(session, parse("biorxiv", fixture("biorxiv_subject.rdf.xml")))
    assert store(session, parse("biorxiv", fixture("biorxiv_details.json"))).new == 2
    oat = stored(session)["doi:10.1101/2026.10.02.680455"]
    assert oat.version == 2 and oat.categories == ["genomics"]


def test_it_refuses_a_response_larger_than_the_cap_without_reading_it_all(
    session, server, monkeypatch
):
    monkeypatch.setattr(fetch_module, "MAX_FEED_BYTES", 64 * 1024)
    server.routes["/rss/cs.CL"] = Route(b"<rss>" + b"x" * (256 * 1024) + b"</rss>")
    with pytest.raises(FeedError, match="larger than"):
        fetch(add_source(session))


def test_it_takes_the_row_a_concurrent_worker_created_instead_of_failing(session):
    from newsletter.harvest import sources

    spec = sources.arxiv_rss_source("math.AG")
    with Session(db.get_engine()) as other:  # the other worker commits first
        first_id = sources._insert(other, spec).id
    # This worker saw no row a moment ago and inserts too: the unique name refuses it.
    second = sources._insert(session, spec)
    assert second.id == first_id
    ensure_sources(session)
    ensure_sources(session)
    assert len(session.exec(select(Source).where(Source.name == "arxiv-cs.CL")).all()) == 1
