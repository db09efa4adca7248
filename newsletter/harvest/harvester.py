"""Harvest: fetch each source's feed, parse it, upsert the papers.

Runs from the `harvest` Celery queue on its beat entry, from `prepare` for the sources a digest
needs, and from `newsletter harvest`/`newsletter demo`. Fetching (`fetch`: httpx, conditional
GET, arXiv's one request per 3 s across processes) is split from parsing (`newsletter.feeds`,
pure) and storing (`store`: batched upsert that collapses versions and merges the same paper
seen through two sources). `harvest_source` never raises for feed problems: they end up on the
Source row (`last_status`, `last_error`) and stored papers are never touched by a bad fetch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update
from sqlmodel import Session, select

from newsletter.core.config import get_settings
from newsletter.core.models import PaperBase, Source, utcnow
from newsletter.harvest.feeds import KINDS, FeedError, parse  # noqa: F401  (re-exported)
from newsletter.harvest.sources import ensure_source, ensure_sources, fetch_url, sources_for  # noqa: F401
from newsletter.harvest.store import StoreResult, store  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

ERROR_RETRY = dt.timedelta(minutes=5)  # after a failed fetch, retry sooner than a full window
BIORXIV_MAX_PAGES = 30  # 100 posts a page; a two-day window is well under this
_RATE_KEY = "academichub:ratelimit:arxiv"
FETCHING = "fetching"  # Source.last_status while a worker holds the claim
MAX_FEED_BYTES = 50 * 2**20  # the full arXiv cs.LG day is ~5 MB


@dataclass
class FetchResult:
    status: str  # ok | not-modified
    data: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""
    http_status: int = 200


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


def user_agent() -> str:
    return f"AcademicHub/0.1 (mailto:{get_settings().contact_email})"


# -- fetch ------------------------------------------------------------------------------------


def fetch(source: Source, *, client: httpx.Client | None = None) -> FetchResult:
    """GET the source's feed (conditionally); FeedError for HTTP errors, timeouts, no connection."""
    with _client_scope(client) as http:
        if source.kind == "biorxiv" and "{cursor}" in source.url:
            return _fetch_biorxiv_pages(http, source)
        headers = {}
        if source.etag:
            headers["If-None-Match"] = source.etag
        if source.last_modified:
            headers["If-Modified-Since"] = source.last_modified
        url = fetch_url(source)
        response = _get(http, url, headers, source.kind)
        if response.status_code == 304:
            return FetchResult(
                "not-modified",
                etag=source.etag,
                last_modified=source.last_modified,
                url=url,
                http_status=304,
            )
        return FetchResult(
            "ok",
            response.content,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            url=url,
            http_status=response.status_code,
        )


def _fetch_biorxiv_pages(http: httpx.Client, source: Source) -> FetchResult:
    """Follow api.biorxiv.org's cursor until the window is complete; one JSON document back."""
    cursor, collection, first_messages = 0, [], None
    url = fetch_url(source, cursor=0)
    for _ in range(BIORXIV_MAX_PAGES):
        response = _get(http, fetch_url(source, cursor=cursor), {}, source.kind)
        try:
            doc = json.loads(response.content)
            messages = doc.get("messages") or [{}]
            page = doc.get("collection") or []
        except (ValueError, AttributeError):
            return FetchResult("ok", response.content, url=url)  # the parser names the problem
        first_messages = first_messages or messages
        collection.extend(page)
        cursor += len(page)
        try:
            total = int(messages[0].get("total") or 0)
        except (TypeError, ValueError):
            total = 0
        if not page or cursor >= total:
            break
    data = json.dumps({"messages": first_messages or [{}], "collection": collection}).encode()
    return FetchResult("ok", data, url=url)


def _get(http: httpx.Client, url: str, headers: dict[str, str], kind: str) -> httpx.Response:
    """The one seam for outgoing feed requests: test rewrite, arXiv throttle, error classes."""
    settings = get_settings()
    host = urlsplit(url).hostname or ""
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        _throttle_arxiv()
    target = _override(url)
    try:
        response = _bounded_get(http, target, {"User-Agent": user_agent(), **headers})
    except httpx.TimeoutException:
        raise FeedError(f"timed out after {settings.http_timeout:g} s fetching {url}") from None
    except httpx.HTTPError as error:
        raise FeedError(f"could not fetch {url}: {type(error).__name__}: {error}") from None
    if response.status_code >= 400:
        detail = ""
        if kind == "arxiv_api":  # arXiv answers a bad query with HTTP 400 and an error entry
            try:
                parse(kind, response.content)
            except FeedError as error:
                detail = f": {error.message}"
            except Exception:  # noqa: BLE001  (any parse failure just means no detail)
                detail = ""
        raise FeedError(f"HTTP {response.status_code} {response.reason_phrase} from {url}{detail}")
    return response


def _bounded_get(http: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    """GET with the settings' timeout (also when the caller's client has none) and a size cap:
    a runaway or hostile response must not fill the worker's memory."""
    with http.stream("GET", url, headers=headers, timeout=get_settings().http_timeout) as streamed:
        body, size = [], 0
        for chunk in streamed.iter_bytes():
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                raise FeedError(f"response from {url} is larger than "
                                f"{MAX_FEED_BYTES // 2**20} MB; refusing it")
            body.append(chunk)
        headers_out = [(k, v) for k, v in streamed.headers.multi_items()
                       if k.lower() not in ("content-encoding", "content-length")]  # decoded
        return httpx.Response(streamed.status_code, headers=headers_out,
                              content=b"".join(body), request=streamed.request)


def _override(url: str) -> str:
    base = get_settings().feed_base_override
    if not base:
        return url
    parts = urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return base.rstrip("/") + rest


@contextlib.contextmanager
def _client_scope(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with new_client() as fresh:
        yield fresh


def new_client() -> httpx.Client:
    settings = get_settings()
    return httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=True,
        headers={"User-Agent": user_agent()},
    )


_local_lock = threading.Lock()
_local_last = [0.0]


def _throttle_arxiv() -> None:
    """One arXiv request per `arxiv_min_interval` s: across processes via Redis, else locally."""
    settings = get_settings()
    interval = settings.arxiv_min_interval
    if interval <= 0:
        return
    if settings.redis_url:
        try:
            _throttle_redis(settings.redis_url, interval)
            return
        except Exception as error:  # noqa: BLE001  (Redis down: still be polite, per process)
            log.warning("arXiv rate limit: Redis unavailable (%s); using a local limit", error)
    with _local_lock:
        wait = _local_last[0] + interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _local_last[0] = time.monotonic()


def _throttle_redis(url: str, interval: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    deadline = time.monotonic() + max(120.0, interval * 40)
    # SET NX PX: whoever creates the key may go; it expires after the interval, letting the next.
    while not client.set(_RATE_KEY, "1", nx=True, px=max(1, int(interval * 1000))):
        if time.monotonic() > deadline:
            raise FeedError("gave up waiting for the arXiv rate limit")
        pttl = client.pttl(_RATE_KEY)
        time.sleep(max(pttl if pttl and pttl > 0 else 10, 10) / 1000)


# -- harvest ----------------------------------------------------------------------------------


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
        and now - _utc(source.last_fetch) < stale
    ):
        return _wait_for_other_worker(session, source)
    with _source_lock(source.name, settings.redis_url, settings.http_timeout) as acquired:
        if not acquired or not _claim(session, source, now):
            return _wait_for_other_worker(session, source)
        result = HarvestResult(source.name, "ok")
        try:
            fetched = fetch(source, client=client)
            if fetched.status == "not-modified":
                result.status = "not-modified"
            else:
                papers = parse(source.kind, fetched.data, source=source.label or None)
                saved = store(session, papers)
                result.count, result.new = len(papers), saved.new
                result.updated, result.unchanged = saved.updated, saved.unchanged
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
        return now - _utc(source.last_success) < window
    if source.last_status == "error":
        return now - _utc(source.last_fetch) < min(window, ERROR_RETRY)
    return False


def _utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC, whichever way the driver returned the stored timestamp."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


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
    session: Session, names: list[str] | None = None, *, force: bool = False, progress: bool = False
) -> list[HarvestResult]:
    """Harvest every enabled source, or the named ones (enabled or not), one after another.

    An unknown name gives an `error` result rather than an exception, so one stale interest
    cannot stop a digest."""
    ensure_sources(session)
    results: list[HarvestResult] = []
    if names:
        sources = []
        for name in dict.fromkeys(names):
            row = ensure_source(session, name)
            if row is None:
                results.append(HarvestResult(name, "error", error=f"unknown source {name!r}"))
            else:
                sources.append(row)
    else:
        query = select(Source).where(Source.enabled == True).order_by(Source.id)  # noqa: E712
        sources = list(session.exec(query).all())
    with new_client() as client, _progress(progress, len(sources)) as advance:
        for source in sources:
            advance(source.name, None)
            result = harvest_source(session, source, force=force, client=client)
            results.append(result)
            advance(source.name, result)
    return results


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


# -- files and JSON (the CLI's `harvest --file F --kind K --json`) -------------------------------


def harvest_file(path: str | Path, kind: str) -> list[PaperBase]:
    """Parse a local feed file; no network, no database. FeedError for error documents."""
    return parse(kind, Path(path).read_bytes())


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
