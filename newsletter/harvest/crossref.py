"""Crossref: a DOI's record from the REST API (`/works/{doi}`), and journal papers enriched by it.

Many journal feeds give no abstract or a one-sentence teaser; Crossref often has the
publisher's deposited abstract (JATS XML) and the author list. Used by the library import
(`subscribers/library.py`: bare DOIs) and by `enrich`, which runs on its own beat entry, after
a harvest that brought new journal papers, and from `newsletter enrich`.

Manners, as Crossref's REST API documents them:
- the polite pool: our contact (`CROSSREF_MAILTO`, else `CONTACT_EMAIL`) in the `mailto`
  parameter, and in the User-Agent that every request through `harvest.fetch` carries;
- its rate limit: requests are spaced across processes by fetch's per-service pacing, at least
  `CROSSREF_MIN_INTERVAL` apart and never faster than the `X-Rate-Limit-Limit` requests per
  `X-Rate-Limit-Interval` its last answer announced;
- 404 means Crossref does not know the DOI: a miss, remembered, asked again only after
  `CROSSREF_RETRY_DAYS` (as is a record without an abstract: publishers deposit late);
- 429, 401/403/407, 5xx and network failures: the run stops at once (Retry-After honoured,
  capped), the DOI is noted as a failure for `CROSSREF_ERROR_RETRY_MINUTES`, and nothing
  stored is lost.
Every answer is kept per DOI (`CrossrefLookup`), so a DOI is asked at most once per retry
window whatever the number of papers, subscribers or cycles that want it. A failure never
raises out of `enrich`: the harvest and the digests go on with the feed's text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, col, select

from newsletter.core.config import get_settings
from newsletter.core.db import insert_ignore
from newsletter.core.models import CrossrefLookup, Paper, PaperSummary
from newsletter.core.time import as_utc, utcnow
from newsletter.harvest import fetch
from newsletter.harvest.articletype import RESEARCH
from newsletter.harvest.feeds import FeedError
from newsletter.harvest.textclean import clean_text

log = logging.getLogger(__name__)

THIN_ABSTRACT = 300  # characters: below this a journal item's abstract is a teaser at most
PREPRINT_SOURCES = ("arxiv", "biorxiv", "medrxiv")  # they give full abstracts themselves
ARXIV_DOI_PREFIX = "10.48550/"  # arXiv's own DOIs: Crossref has nothing arXiv does not
BACKOFF_CAP = dt.timedelta(hours=1)  # the longest Retry-After we wait out
DEFAULT_BACKOFF = dt.timedelta(minutes=5)  # a 429/5xx without Retry-After, or no network
# The longest spacing an announced budget may set: a worker (or a web request's library
# import) never sleeps longer than this before one request; a slower budget is Crossref's
# to enforce with 429, which backs off.
MAX_SPACING = 5.0

FOUND, MISSING, ERROR = "found", "missing", "error"
STOPPING = (401, 403, 407, 429)  # 4xx answers about us, not about the DOI asked

_JATS_HEADING = re.compile(r"^\s*(?:<jats:title>\s*(?:abstract|summary)\s*</jats:title>)",
                           re.IGNORECASE)
_JATS_TITLE = re.compile(r"<jats:title>(.*?)</jats:title>", re.DOTALL)
_JATS_BLOCK_END = re.compile(r"</jats:(?:p|sec|list-item|title)>", re.IGNORECASE)
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


class CrossrefError(Exception):
    """Crossref could not be asked or answered badly (not a 404): back off, store nothing."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message, self.status, self.retry_after = message, status, retry_after

    @property
    def stops_run(self) -> bool:
        """Rate limited, refused (401/403/407: Crossref or a proxy will not answer us), server
        trouble or no network: asking about the next DOI now would only add load. Another
        4xx is about this one DOI (a malformed one) and does not stop the run."""
        return self.status is None or self.status in STOPPING or self.status >= 500


@dataclass
class Work:
    """The fields of a Crossref record that we use, as clean text."""

    doi: str
    title: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None


# --- one DOI ---------------------------------------------------------------------------------


def jats_text(markup: str | None) -> str:
    """Crossref's JATS abstract as one line of text: the leading "Abstract" heading dropped,
    section headings kept as "Methods:", paragraphs separated, inline markup and entities
    resolved by the harvest's own cleaner."""
    if not markup:
        return ""
    text = _JATS_HEADING.sub(" ", markup)
    text = _JATS_TITLE.sub(lambda m: f" {m.group(1).strip().rstrip(':')}: ", text)
    return clean_text(_JATS_BLOCK_END.sub(" ", text))


def parse_work(doi: str, message: dict) -> Work:
    """A `Work` from the `message` of a `/works/{doi}` answer."""
    titles = message.get("title") or []
    authors = []
    for person in message.get("author") or []:
        if isinstance(person, dict):
            name = person.get("name") or " ".join(
                filter(None, (person.get("given"), person.get("family"))))
            if clean_text(name):
                authors.append(clean_text(name))
    year = None
    for key in ("published", "issued", "created"):
        parts = ((message.get(key) or {}).get("date-parts") or [[None]])[0]
        if parts and isinstance(parts[0], int):
            year = parts[0]
            break
    return Work(doi=doi, title=clean_text(titles[0] if titles else ""),
                abstract=jats_text(message.get("abstract")), authors=authors, year=year)


def work_url(doi: str) -> str:
    settings = get_settings()
    return (f"{settings.crossref_api_url.rstrip('/')}/works/{quote(doi, safe='/')}"
            f"?mailto={quote(settings.crossref_contact)}")


_spacing = [0.0]  # seconds per request Crossref last announced (X-Rate-Limit-*)


def pace() -> float:
    return max(get_settings().crossref_min_interval, _spacing[0])


def _note_budget(headers) -> None:
    """Crossref announces its budget on every answer: `X-Rate-Limit-Limit: 50` requests per
    `X-Rate-Limit-Interval: 1s`. Keep our spacing inside it."""
    try:
        limit = int(headers.get("x-rate-limit-limit") or 0)
        found = _INTERVAL.match(headers.get("x-rate-limit-interval") or "")
    except ValueError:
        return
    if limit > 0 and found:
        _spacing[0] = min(float(found.group(1)) * _UNITS[found.group(2)] / limit, MAX_SPACING)


def fetch_work(doi: str) -> Work | None:
    """Ask Crossref about one DOI: its Work, or None when Crossref does not know it (404).
    CrossrefError for anything else (no network, 429, 5xx, an unreadable answer)."""
    try:
        response = fetch.get(work_url(doi), kind="json", pace=("crossref", pace()))
    except FeedError as error:
        if error.status in (400, 404, 410):  # unknown (or malformed) DOI: a miss
            return None
        raise CrossrefError(error.message, status=error.status,
                            retry_after=error.retry_after) from None
    _note_budget(response.headers)
    try:
        message = json.loads(response.content).get("message")
        if not isinstance(message, dict):
            raise ValueError("no message")
    except (ValueError, AttributeError):
        raise CrossrefError("Crossref sent an unreadable answer",
                            status=response.status_code) from None
    return parse_work(doi, message)


def _settled(row: CrossrefLookup | None, now: dt.datetime) -> bool:
    """Whether the stored answer stands (no new request): a record with an abstract for
    good, a miss for the retry window, a failure for the (shorter) error window."""
    if row is None:
        return False
    settings = get_settings()
    age = now - as_utc(row.checked_at)
    if row.status == FOUND and row.abstract:
        return True
    if row.status == ERROR:
        return age < dt.timedelta(minutes=settings.crossref_error_retry_minutes)
    return age < dt.timedelta(days=settings.crossref_retry_days)


def lookup(session: Session, doi: str, *, now: dt.datetime | None = None) -> Work | None:
    """One DOI's Work through the cache: the stored answer while it stands, else Crossref's
    (remembered, committed). None for a miss; CrossrefError for a failure, now or stored."""
    now = as_utc(now or utcnow())
    doi = doi.strip().lower()
    row = session.get(CrossrefLookup, doi)
    if not _settled(row, now):
        try:
            work = fetch_work(doi)
        except CrossrefError as error:
            _remember(session, row or _new_row(session, doi, now), now, status=ERROR,
                      error=error.message)
            raise
        row = _remember(session, row or _new_row(session, doi, now), now,
                        status=FOUND if work else MISSING, work=work)
    if row.status == ERROR:
        raise CrossrefError(row.error or "Crossref lookup failed earlier")
    if row.status == MISSING:
        return None
    return Work(doi=doi, title=row.title, abstract=row.abstract, authors=list(row.authors),
                year=row.year)


def _new_row(session: Session, doi: str, now: dt.datetime) -> CrossrefLookup:
    """The DOI's row, inserted unless a concurrent worker (the beat entry and the
    after-harvest task may overlap) has just stored its own answer; `_remember` then writes
    over it."""
    session.execute(insert_ignore(session, CrossrefLookup, "doi").values(
        doi=doi, status=MISSING, checked_at=now, title="", abstract="", authors=[]))
    return session.get(CrossrefLookup, doi, populate_existing=True)


def _remember(session: Session, row: CrossrefLookup, now: dt.datetime, *, status: str,
              work: Work | None = None, error: str | None = None) -> CrossrefLookup:
    if status == ERROR and row.status == FOUND:
        row.checked_at = now  # a failed re-check keeps what an earlier answer gave
        row.error = error
    else:
        row.status, row.checked_at, row.error = status, now, error
        if work is not None:
            row.title, row.abstract = work.title, work.abstract
            row.authors, row.year = work.authors[:200], work.year
    session.add(row)
    session.commit()
    return row


# --- enriching journal papers ----------------------------------------------------------------


@dataclass
class EnrichReport:
    candidates: int = 0
    asked: int = 0  # requests sent to Crossref
    enriched: int = 0  # papers whose abstract or authors changed
    missing: int = 0  # Crossref does not know the DOI, or has no abstract for it
    failed: int = 0
    stopped: str | None = None  # why the run stopped early (rate limit, server, network)

    def line(self) -> str:
        text = (f"{self.candidates} thin journal papers, {self.asked} asked, "
                f"{self.enriched} enriched, {self.missing} without an abstract at Crossref, "
                f"{self.failed} failed")
        return text + (f"; stopped: {self.stopped}" if self.stopped else "")


_paused_until: list[dt.datetime | None] = [None]  # after a 429/5xx/no network: wait it out
_PAUSE_KEY = "academichub:crossref:paused-until"  # the same, for every process (Redis)


def paused_until(now: dt.datetime) -> dt.datetime | None:
    """When the current backoff ends (this process's, else one another process noted in
    Redis), or None when Crossref may be asked."""
    for until in (_paused_until[0], _shared_pause()):
        if until is not None and as_utc(now) < until:
            return until
    return None


def paused(now: dt.datetime) -> bool:
    return paused_until(now) is not None


def _pause(now: dt.datetime, wait: dt.timedelta) -> None:
    _paused_until[0] = now + wait
    if url := get_settings().redis_url:
        try:
            import redis

            redis.Redis.from_url(url, socket_timeout=5).set(
                _PAUSE_KEY, _paused_until[0].isoformat(),
                px=max(1, int(wait.total_seconds() * 1000)))
        except Exception as error:  # noqa: BLE001  (Redis down: this process still waits)
            log.warning("Crossref backoff not shared: Redis unavailable (%s)", error)


def _shared_pause() -> dt.datetime | None:
    if not (url := get_settings().redis_url):
        return None
    try:
        import redis

        value = redis.Redis.from_url(url, socket_timeout=5).get(_PAUSE_KEY)
        return as_utc(dt.datetime.fromisoformat(value.decode())) if value else None
    except Exception as error:  # noqa: BLE001  (Redis down or a foreign value: not paused)
        log.warning("Crossref backoff unknown: %s", error)
        return None


def candidates(session: Session, now: dt.datetime, limit: int) -> list[Paper]:
    """Journal research papers of the candidate window whose abstract is missing or thin and
    whose DOI has no standing answer (or a stored abstract longer than theirs), newest first."""
    settings = get_settings()
    since = now - dt.timedelta(days=max(7, settings.candidate_days))
    lookup_ = CrossrefLookup
    waited = or_(
        lookup_.doi.is_(None),
        and_(lookup_.status == FOUND, func.length(lookup_.abstract) > func.length(Paper.abstract)),
        and_(lookup_.status.in_((FOUND, MISSING)),
             lookup_.checked_at < now - dt.timedelta(days=settings.crossref_retry_days)),
        and_(lookup_.status == ERROR, lookup_.checked_at
             < now - dt.timedelta(minutes=settings.crossref_error_retry_minutes)),
    )
    query = (select(Paper).outerjoin(lookup_, col(lookup_.doi) == col(Paper.doi))
             .where(col(Paper.doi).is_not(None), Paper.doi != "",
                    ~col(Paper.doi).startswith(ARXIV_DOI_PREFIX),
                    col(Paper.source).not_in(PREPRINT_SOURCES),
                    ~col(Paper.id).startswith("arxiv:"),
                    Paper.article_type == RESEARCH,
                    func.length(Paper.abstract) < THIN_ABSTRACT,
                    Paper.first_seen >= since, waited)
             .order_by(col(Paper.first_seen).desc(), Paper.id).limit(limit))
    return list(session.exec(query))


def apply(session: Session, paper: Paper, work: Work, now: dt.datetime) -> bool:
    """Put Crossref's abstract (when longer) and authors (when the feed had none) on the
    paper; a summary written from the old text is dropped so it is written again."""
    changed = False
    if len(work.abstract) > len(paper.abstract or ""):
        paper.abstract = work.abstract
        session.exec(delete(PaperSummary).where(PaperSummary.paper_id == paper.id))
        changed = True
    if not paper.authors and work.authors:
        paper.authors = work.authors[:200]
        changed = True
    if changed:
        paper.updated_at = now  # moves the ranking index's cache key: it reads abstracts
        session.add(paper)
        session.commit()
    return changed


def enrich(session: Session, *, limit: int | None = None, now: dt.datetime | None = None,
           progress: Callable[[Paper, str], None] | None = None) -> EnrichReport:
    """Look up the thin journal papers of the window (at most `limit`, default
    `CROSSREF_ENRICH_LIMIT`, requests) and enrich them. Never raises for Crossref's or the
    network's sake: it stops early and says why."""
    now = as_utc(now or utcnow())
    settings = get_settings()
    cap = settings.crossref_enrich_limit if limit is None else limit
    report = EnrichReport()
    if cap <= 0:
        return report
    if until := paused_until(now):
        report.stopped = f"backing off until {until:%H:%M:%S} UTC"
        return report
    papers = candidates(session, now, cap)
    report.candidates = len(papers)
    for paper in papers:
        before = session.get(CrossrefLookup, paper.doi)
        will_ask = not _settled(before, now)
        try:
            work = lookup(session, paper.doi, now=now)
        except CrossrefError as error:
            report.asked += will_ask
            report.failed += 1
            if progress:
                progress(paper, ERROR)
            if will_ask and error.stops_run:
                wait = DEFAULT_BACKOFF if error.retry_after is None else dt.timedelta(
                    seconds=min(error.retry_after, BACKOFF_CAP.total_seconds()))
                _pause(now, wait)
                report.stopped = error.message
                log.warning("Crossref enrichment stopped: %s", error.message)
                break
            continue
        report.asked += will_ask
        if work is None or not work.abstract:
            report.missing += 1
        changed = work is not None and apply(session, paper, work, now)
        report.enriched += changed
        if progress:
            progress(paper, "enriched" if changed else MISSING if work is None else "unchanged")
    return report


def enrich_safely(session: Session, **kwargs) -> EnrichReport | None:
    """`enrich` for callers that must never fail because of it (the harvest task)."""
    try:
        return enrich(session, **kwargs)
    except Exception:  # noqa: BLE001  (a bug here must not stop a harvest or a digest)
        log.exception("Crossref enrichment failed")
        session.rollback()
        return None
