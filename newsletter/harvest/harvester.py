"""Harvest: for each source, claim it, fetch its feed, parse it, upsert the papers, record.

Runs from the `harvest` Celery queue on its beat entry, from `prepare` for the sources a digest
needs, and from `newsletter harvest`/`newsletter demo`. This module is the orchestration only:
fetching is `fetch.py` (httpx, conditional GET, size cap, arXiv's one request per 3 s across
processes), parsing `feeds.py` (pure), storing `store.py` (batched upsert that collapses
versions and merges the same paper seen through two sources). Around them: each source is
fetched at most once per freshness window, under a database claim (and a Redis lock when
there is Redis), whatever the number of workers asking. `harvest_source` never raises for
feed problems: they end up on the Source row (`last_status`, `last_error`) and stored papers
are never touched by a bad fetch. `import_file` stores a local feed file like a fetched one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import Session, select

from newsletter.core import metrics
from newsletter.core.config import get_settings
from newsletter.core.models import PaperBase, Source
from newsletter.core.time import as_utc, utcnow
from newsletter.harvest.feeds import KINDS, FeedError, parse, read_feed  # noqa: F401  (re-exported)
from newsletter.harvest.fetch import FetchResult, fetch, new_client, read_file
from newsletter.harvest.sources import (  # noqa: F401  (fetch_url, sources_for: re-exported)
    enabled_sources,
    ensure_source,
    ensure_sources,
    fetch_url,
    file_source,
    sources_for,
)
from newsletter.harvest.store import StoreResult, store  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

ERROR_RETRY = dt.timedelta(minutes=5)  # after a failed fetch, retry sooner than a full window
FETCHING = "fetching"  # Source.last_status while a worker holds the claim


@dataclass
class HarvestResult:
    source: str
    status: str  # ok | not-modified | error | fresh (skipped) | busy (another worker has it)
    count: int = 0  # papers in the feed
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    seconds: float = 0.0


def harvest_source(
    session: Session, source: Source, *, force: bool = False, client: httpx.Client | None = None
) -> HarvestResult:
    """Fetch, parse and store one source unless it is fresh or another worker has it.

    Commits the session (the claim must be visible to other workers before the slow fetch).
    """
    started = time.monotonic()
    settings = get_settings()
    window = dt.timedelta(minutes=settings.freshness_minutes)
    session.refresh(source)
    now = utcnow()
    if not force and _is_fresh(source, now, window):
        return HarvestResult(source.name, "fresh", count=source.last_count)
    stale = dt.timedelta(seconds=settings.http_timeout * 4 + 120)
    if (
        source.last_status == FETCHING
        and source.last_fetch
        and now - as_utc(source.last_fetch) < stale
    ):
        return _wait_for_other_worker(session, source)
    with _source_lock(source.name, settings.redis_url, settings.http_timeout) as acquired:
        if not acquired or not _claim(session, source, now):
            return _wait_for_other_worker(session, source)
        result = HarvestResult(source.name, "ok")
        try:
            fetched, papers = _fetch_papers(source, client, result)
            if fetched.status == "ok":
                saved = store(session, papers)
                result.new, result.updated, result.unchanged = (
                    saved.new, saved.updated, saved.unchanged)
                source.etag, source.last_modified = fetched.etag, fetched.last_modified
        except FeedError as error:
            result.status, result.error = "error", error.message
        except Exception as error:  # noqa: BLE001  (a parser or store bug must not stop the run)
            log.exception("harvest of %s failed", source.name)
            session.rollback()
            result.status, result.error = (
                "error",
                f"internal error: {type(error).__name__}: {error}",
            )
        _record(session, source, result, now)
        result.seconds = time.monotonic() - started
        return result


def _wait_for_other_worker(session: Session, source: Source) -> HarvestResult:
    """Another worker holds the claim: wait (bounded) for its result, so the digest that asked
    for this source sees the fresh papers instead of racing ahead of them."""
    seen_fetch, seen_status = source.last_fetch, source.last_status
    deadline = time.monotonic() + get_settings().http_timeout * 2 + 2
    while time.monotonic() < deadline:
        time.sleep(0.2)
        session.commit()  # end the read transaction: SQLite readers see a snapshot otherwise
        session.refresh(source)
        finished = seen_status == FETCHING or source.last_fetch != seen_fetch
        if source.last_status != FETCHING and finished:
            return HarvestResult(source.name, "fresh", count=source.last_count)
    return HarvestResult(source.name, "busy")


def all_fresh(session: Session, names: list[str]) -> bool:
    """True when every named source exists and is fresh, read in one query: the caller can
    skip `harvest` altogether (no HTTP client, no claims), which is every digest of a tick
    after the first. A source that is missing, stale or being fetched gives False."""
    wanted = set(names)
    if not wanted:
        return False
    rows = session.exec(select(Source).where(Source.name.in_(wanted))).all()
    now = utcnow()
    window = dt.timedelta(minutes=get_settings().freshness_minutes)
    return len(rows) == len(wanted) and all(_is_fresh(row, now, window) for row in rows)


def _is_fresh(source: Source, now: dt.datetime, window: dt.timedelta) -> bool:
    if source.last_fetch is None:
        return False
    if source.last_status in ("ok", "not-modified") and source.last_success:
        return now - as_utc(source.last_success) < window
    if source.last_status == "error":
        return now - as_utc(source.last_fetch) < min(window, ERROR_RETRY)
    return False


def _claim(session: Session, source: Source, now: dt.datetime) -> bool:
    """Compare-and-set on last_fetch, marking the row `fetching`: of concurrent workers that saw
    the same row, exactly one changes it; the others see `fetching` from then on."""
    statement = update(Source).where(Source.id == source.id)
    if source.last_fetch is None:
        statement = statement.where(Source.last_fetch.is_(None))
    else:
        statement = statement.where(Source.last_fetch == source.last_fetch)
    claimed = session.execute(statement.values(last_fetch=now, last_status=FETCHING)).rowcount == 1
    session.commit()
    if claimed:
        source.last_fetch, source.last_status = now, FETCHING
    return claimed


@contextlib.contextmanager
def _source_lock(name: str, redis_url: str | None, timeout: float) -> Iterator[bool]:
    if not redis_url:
        yield True
        return
    import redis

    try:
        lock = redis.Redis.from_url(redis_url, socket_timeout=5).lock(
            f"academichub:harvest:{name}", timeout=timeout * 4 + 120, blocking=False
        )
        acquired = lock.acquire()
    except redis.RedisError as error:  # the database claim still guarantees one fetch
        log.warning("harvest lock: Redis unavailable (%s)", error)
        yield True
        return
    try:
        yield bool(acquired)
    finally:
        if acquired:
            with contextlib.suppress(redis.RedisError):
                lock.release()


def _record(session: Session, source: Source, result: HarvestResult, now: dt.datetime) -> None:
    source.last_fetch = now
    source.last_status = result.status
    if result.status == "error":
        source.last_error = result.error
    else:
        source.last_success, source.last_error = now, None
        if result.status == "ok":
            source.last_count = result.count
    session.add(source)
    session.commit()


def harvest(
    session: Session,
    names: list[str] | None = None,
    *,
    force: bool = False,
    progress: bool = False,
    dry_run: bool = False,
) -> list[HarvestResult]:
    """Harvest every enabled source, or the named ones (enabled or not), one after another.

    An unknown name gives an `error` result rather than an exception, so one stale interest
    cannot stop a digest. `dry_run` fetches and parses but stores nothing and leaves the
    sources as they were (no claim, no freshness, no new rows)."""
    if not dry_run:
        ensure_sources(session)
    results: list[HarvestResult] = []
    if names:
        sources = []
        for name in dict.fromkeys(names):
            row = ensure_source(session, name, create=not dry_run)
            if row is None:
                results.append(HarvestResult(name, "error", error=f"unknown source {name!r}"))
            else:
                sources.append(row)
    else:
        sources = enabled_sources(session)
    with new_client() as client, _progress(progress, len(sources)) as advance:
        for source in sources:
            advance(source.name, None)
            if dry_run:
                result = _dry_run(source, client)
            else:
                result = harvest_source(session, source, force=force, client=client)
                metrics.harvested(result.source, result.status, result.new, result.updated)
            results.append(result)
            advance(source.name, result)
    return results


def _fetch_papers(
    source: Source, client: httpx.Client | None, result: HarvestResult
) -> tuple[FetchResult, list[PaperBase]]:
    """Fetch and parse one source, noting the outcome on `result` (FeedError on failure)."""
    fetched = fetch(source, client=client)
    if fetched.status == "not-modified":
        result.status = "not-modified"
        return fetched, []
    papers = parse(source.kind, fetched.data, source=source.label or None)
    # Some feeds date nothing (JMLR): such a paper is dated the day it was first fetched, so
    # its card still shows a date; the store keeps the earliest date it ever saw.
    today = utcnow().date()
    papers = [p if p.published else p.model_copy(update={"published": today}) for p in papers]
    result.count = len(papers)
    return fetched, papers


def _dry_run(source: Source, client: httpx.Client) -> HarvestResult:
    started = time.monotonic()
    result = HarvestResult(source.name, "ok")
    try:
        _fetch_papers(source, client, result)
    except FeedError as error:
        result.status, result.error = "error", error.message
    result.seconds = time.monotonic() - started
    return result


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator:
    if not enabled:
        yield lambda name, result: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("harvest", total=total)

        def advance(name: str, result: HarvestResult | None) -> None:
            if result is None:
                bar.update(task, description=f"harvest {name}")
            else:
                bar.update(task, advance=1, description=f"{name}: {result.status}")

        yield advance


# -- local files (the CLI's `harvest --file F --kind K`) -----------------------------------------


def harvest_file(path: str | Path, kind: str) -> list[PaperBase]:
    """Parse a local feed file; no network, no database. FeedError for error documents and
    files over the size cap, OSError when it cannot be read."""
    return parse(kind, read_file(path))


def import_file(
    session: Session, path: str | Path, kind: str, *, source_name: str | None = None
) -> HarvestResult:
    """Store a local feed file like a fetched feed, attributed to a source (`file_source`:
    the named one, else the feed's own, else one named after the feed).

    Raises before storing anything: OSError (unreadable), FeedError (not a feed, an error
    document, over the size cap), ValueError (the source reads another kind of feed). The
    source's fetch state (freshness, ETag, last status) is left alone: it describes the
    source's URL, and a backfilled file must not delay the next real fetch of it.
    """
    started = time.monotonic()
    data = read_file(path)
    feed = read_feed(kind, data)
    source = file_source(session, kind, name=source_name, title=feed.title,
                         urls=(feed.url, feed.home), path=Path(path))
    papers = feed.papers
    if source.label and kind in ("rss", "biorxiv"):  # the label names a journal's papers
        papers = parse(kind, data, source=source.label)
    saved = store(session, papers)
    return HarvestResult(source.name, "ok", count=len(papers), new=saved.new,
                         updated=saved.updated, unchanged=saved.unchanged,
                         seconds=time.monotonic() - started)


def result_json(r: HarvestResult) -> dict:
    return {
        "source": r.source,
        "status": r.status,
        "papers": r.count,
        "new": r.new,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "error": r.error,
        "seconds": round(r.seconds, 3),
    }


def paper_json(p: PaperBase) -> dict:
    return {
        "id": p.id,
        "version": p.version,
        "title": p.title,
        "authors": list(p.authors),
        "abstract": p.abstract,
        "categories": list(p.categories),
        "primary_category": p.primary_category,
        "published": p.published.isoformat() if p.published else None,
        "url": p.url,
        "pdf_url": p.pdf_url,
        "doi": p.doi,
        "source": p.source,
    }
