"""Fetch feed bytes: the one seam for every outgoing harvest request, and for local feed files.

Runs inside `harvest_source` (Celery's `harvest` queue, `prepare`, `newsletter harvest`), and
is meant to be reused by anything else that asks arXiv or a publisher for a document (e.g.
looking papers up by arXiv id): go through `get_bytes`/`fetch` rather than a client of your own,
so the rules below hold everywhere.

- `fetch(source)` GETs a `Source`'s feed with a conditional GET (ETag / Last-Modified) and
  follows api.biorxiv.org's cursor; it returns a `FetchResult` (`ok` with the bytes, or
  `not-modified`).
- `get_bytes(url)` GETs any URL under the same rules and returns the body; `get(url)` returns
  the whole response (headers too), for APIs that announce their rate limits (Crossref).
- `read_file(path)` reads a local feed file under the same size cap (`newsletter harvest --file`).

The rules: our User-Agent with a contact address; arXiv hosts get one request per
`ARXIV_MIN_INTERVAL` seconds across every process (a Redis key, else a per-process lock), and
a caller may pace any other service the same way (`pace=("crossref", 0.1)`);
`HTTP_TIMEOUT` per request; bodies over `MAX_FEED_BYTES` are refused after reading at most
that much; `FEED_BASE_OVERRIDE` sends every request to a mirror (offline mirrors, tests).
Every failure (HTTP >= 400, timeout, no connection, too large) is a `FeedError` whose message
is fit for `Source.last_error`: the one place network errors are classified (`status` and
`retry_after` say which HTTP answer it was, for callers that back off).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx

from newsletter.core.config import get_settings
from newsletter.core.models import Source
from newsletter.harvest.feeds import FeedError, parse
from newsletter.harvest.sources import fetch_url

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 50 * 2**20  # the full arXiv cs.LG day is ~5 MB
BIORXIV_MAX_PAGES = 30  # 100 posts a page; a two-day window is well under this
_RATE_KEY = "academichub:ratelimit:{name}"
Pace = tuple[str, float]  # (service name, seconds between its requests across processes)


@dataclass
class FetchResult:
    status: str  # ok | not-modified
    data: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""
    http_status: int = 200


def user_agent() -> str:
    return f"AcademicHub/0.1 (mailto:{get_settings().contact_email})"


def new_client() -> httpx.Client:
    """A client for a run of requests (one connection to arXiv, as it asks)."""
    settings = get_settings()
    return httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=True,
        headers={"User-Agent": user_agent()},
    )


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


def get_bytes(url: str, *, kind: str = "rss", client: httpx.Client | None = None) -> bytes:
    """The body of any feed or API URL, fetched under the seam's rules (FeedError otherwise).

    `kind` only refines error messages (an arXiv API 400 carries its reason in an Atom entry).
    """
    return get(url, kind=kind, client=client).content


def get(url: str, *, kind: str = "rss", client: httpx.Client | None = None,
        pace: Pace | None = None) -> httpx.Response:
    """The response (body and headers) of any URL, under the seam's rules; `pace` spaces this
    service's requests like arXiv's (one per that many seconds, across processes)."""
    with _client_scope(client) as http:
        return _get(http, url, {}, kind, pace)


def read_file(path: str | Path) -> bytes:
    """A local feed file, refused (FeedError) beyond the network's size cap: at most
    `MAX_FEED_BYTES + 1` bytes are read, so /dev/zero or a runaway file cannot fill memory.
    OSError (missing, unreadable, a directory) is left to the caller, who names the file."""
    with open(path, "rb") as stream:
        return _read_capped(stream, "the file")


def _read_capped(stream: BinaryIO, what: str) -> bytes:
    data = stream.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(_too_large(what))
    return data


def _too_large(what: str) -> str:
    limit = MAX_FEED_BYTES
    size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 1024} KB"
    return f"{what} is larger than {size}; refusing it"


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


def _get(http: httpx.Client, url: str, headers: dict[str, str], kind: str,
         pace: Pace | None = None) -> httpx.Response:
    """The one seam for outgoing feed requests: test rewrite, arXiv throttle, error classes."""
    settings = get_settings()
    host = urlsplit(url).hostname or ""
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        throttle_arxiv()
    if pace is not None:
        throttle(*pace)
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
        raise FeedError(f"HTTP {response.status_code} {response.reason_phrase} from {url}{detail}",
                        status=response.status_code,
                        retry_after=_seconds(response.headers.get("retry-after")))
    return response


def _bounded_get(http: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    """GET with the settings' timeout (also when the caller's client has none) and a size cap:
    a runaway or hostile response must not fill the worker's memory."""
    with http.stream("GET", url, headers=headers, timeout=get_settings().http_timeout) as streamed:
        body, size = [], 0
        for chunk in streamed.iter_bytes():
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                raise FeedError(_too_large(f"response from {url}"))
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


def _seconds(value: str | None) -> float | None:
    """Retry-After as seconds (only the delta form; an HTTP date, 'nan' or 'inf' counts as
    unknown)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


@contextlib.contextmanager
def _client_scope(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with new_client() as fresh:
        yield fresh


_local_lock = threading.Lock()
_local_last: dict[str, float] = {}


def throttle_arxiv() -> None:
    """Wait until arXiv may be asked again: one request per `arxiv_min_interval` s, across
    processes via Redis when REDIS_URL is set, else per process. `get_bytes` and `fetch` call
    it for every arXiv host; call it yourself only for a client that bypasses them."""
    throttle("arxiv", get_settings().arxiv_min_interval)


def throttle(name: str, interval: float) -> None:
    """Wait until service `name` may be asked again: one request per `interval` s, across
    processes via Redis when REDIS_URL is set, else per process."""
    if interval <= 0:
        return
    settings = get_settings()
    if settings.redis_url:
        try:
            _throttle_redis(settings.redis_url, name, interval)
            return
        except Exception as error:  # noqa: BLE001  (Redis down: still be polite, per process)
            log.warning("%s rate limit: Redis unavailable (%s); using a local limit", name, error)
    # Reserve this request's turn under the lock, wait for it outside: a thread waiting out
    # one service's interval never holds up a request to another (or its own queue's order).
    with _local_lock:
        now = time.monotonic()
        turn = max(now, _local_last.get(name, float("-inf")) + interval)
        _local_last[name] = turn
    if turn > now:
        time.sleep(turn - now)


def _throttle_redis(url: str, name: str, interval: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    key = _RATE_KEY.format(name=name)
    deadline = time.monotonic() + max(120.0, interval * 40)
    # SET NX PX: whoever creates the key may go; it expires after the interval, letting the next.
    while not client.set(key, "1", nx=True, px=max(1, int(interval * 1000))):
        if time.monotonic() > deadline:
            raise FeedError(f"gave up waiting for the {name} rate limit")
        pttl = client.pttl(key)
        time.sleep(max(pttl if pttl and pttl > 0 else 10, 10) / 1000)
