"""The source registry: which feeds we harvest, seeded into the `source` table.

`DEFAULT_SOURCES` is data: arXiv RSS per category (and one combined feed), an arXiv API query,
bioRxiv and medRxiv through api.biorxiv.org, and the journal catalogue read from
`data/sources.toml` (the flagship journals on by default, the rest there for subscribers and
operators to choose). `ensure_sources` inserts missing rows and never touches existing ones, so an
operator's `enabled` choice survives upgrades. `sources_for` tells the pipeline which sources a
subscriber's interests need, so it refreshes only those. `file_source` finds (or adds) the
source an imported feed file belongs to.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from newsletter.core.models import InterestKind, Source
from newsletter.core.time import utcnow
from newsletter.harvest.feeds import KINDS
from newsletter.harvest.textclean import collapse

ARXIV_RSS = "https://rss.arxiv.org/rss/{categories}"
ARXIV_API = (
    "https://export.arxiv.org/api/query?search_query={query}"
    "&sortBy=submittedDate&sortOrder=descending&start=0&max_results=200"
)
# {from}/{to} are filled at fetch time with a recent window; {cursor} pages through results.
BIORXIV_API = "https://api.biorxiv.org/details/{server}/{{from}}/{{to}}/{{cursor}}/json"
_ARXIV_RSS_URL = re.compile(r"^(?:rss|export)\.arxiv\.org/rss/([A-Za-z.+-]+)$")
ARXIV_CATEGORY = re.compile(r"^[a-z-]+(?:\.[A-Za-z-]+)?$")
PREPRINTS = "preprints"  # the catalogue field of arXiv, bioRxiv and medRxiv
ARXIV_ARCHIVES = frozenset(
    "cs math physics stat econ eess q-bio q-fin astro-ph cond-mat gr-qc hep-ex hep-lat hep-ph "
    "hep-th math-ph nlin nucl-ex nucl-th quant-ph".split()
)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str  # arxiv_rss | arxiv_api | biorxiv | rss
    url: str
    label: str
    enabled: bool = True
    field: str = PREPRINTS


def arxiv_rss_source(category: str, *, enabled: bool = True) -> SourceSpec:
    return SourceSpec(
        f"arxiv-{category}", "arxiv_rss", ARXIV_RSS.format(categories=category), "arXiv", enabled
    )


class CatalogueError(ValueError):
    """The shipped catalogue is malformed: a packaging mistake, reported with the entry."""


@cache
def journal_catalogue() -> tuple[SourceSpec, ...]:
    """The journal feeds of `data/sources.toml`, checked once: unique names, known kinds."""
    text = resources.files("newsletter.harvest").joinpath("data/sources.toml").read_text("utf-8")
    return parse_catalogue(text)


def parse_catalogue(text: str) -> tuple[SourceSpec, ...]:
    specs: list[SourceSpec] = []
    for number, entry in enumerate(tomllib.loads(text).get("journal", []), 1):
        missing = [k for k in ("name", "label", "field", "url") if not entry.get(k)]
        if missing:
            raise CatalogueError(f"journal #{number}: missing {', '.join(missing)}")
        if entry.get("kind", "rss") not in KINDS:
            raise CatalogueError(f"journal {entry['name']!r}: unknown kind {entry['kind']!r}")
        if any(spec.name == entry["name"] for spec in specs):
            raise CatalogueError(f"journal {entry['name']!r} is listed twice")
        specs.append(SourceSpec(entry["name"], entry.get("kind", "rss"), entry["url"],
                                entry["label"], bool(entry.get("enabled", False)), entry["field"]))
    return tuple(specs)


DEFAULT_CATEGORIES = (
    "cs.CL",
    "cs.LG",
    "cs.AI",
    "cs.CV",
    "cs.IR",
    "stat.ML",
    "q-bio.GN",
    "q-bio.NC",
)

DEFAULT_SOURCES: tuple[SourceSpec, ...] = (
    *(arxiv_rss_source(category) for category in DEFAULT_CATEGORIES),
    # One request for several categories; off by default because the single feeds cover it.
    arxiv_rss_source("cs.CL+cs.LG", enabled=False),
    SourceSpec(
        "arxiv-api-ml",
        "arxiv_api",
        ARXIV_API.format(query="cat:cs.CL+OR+cat:cs.LG+OR+cat:cs.AI"),
        "arXiv",
        enabled=False,
    ),
    SourceSpec("biorxiv", "biorxiv", BIORXIV_API.format(server="biorxiv"), "bioRxiv"),
    SourceSpec("medrxiv", "biorxiv", BIORXIV_API.format(server="medrxiv"), "medRxiv"),
    *journal_catalogue(),
)

# How many days back the bioRxiv API window reaches (posts appear with a delay of a day or two).
BIORXIV_WINDOW_DAYS = 2


def ensure_sources(session: Session, specs: Iterable[SourceSpec] = DEFAULT_SOURCES) -> None:
    """Insert the sources that are missing; existing rows (and their `enabled`) stay as they are."""
    specs = list(specs)
    existing = set(session.exec(select(Source.name)).all())
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return
    session.add_all(_row(spec) for spec in missing)
    try:
        session.commit()
    except IntegrityError:  # a concurrent worker seeded some first: one at a time, theirs wins
        session.rollback()
        for spec in missing:
            _insert(session, spec)


def ensure_source(session: Session, name: str, *, create: bool = True) -> Source | None:
    """The named source, creating `arxiv-<category>` feeds on demand (any arXiv category works).

    `create=False` (a dry run) returns a source that is not stored instead of inserting it."""
    row = session.exec(select(Source).where(Source.name == name)).first()
    if row is not None:
        return row
    spec = next((s for s in DEFAULT_SOURCES if s.name == name), None)
    if spec is None and name.startswith("arxiv-"):
        categories = name.removeprefix("arxiv-")
        if all(is_arxiv_category(c) for c in categories.split("+")):
            spec = arxiv_rss_source(categories)
    if spec is None:
        return None
    return _insert(session, spec) if create else _row(spec)


def enabled_sources(session: Session) -> list[Source]:
    """The enabled sources, in table order; default ones not stored yet come after (unsaved)."""
    rows = list(session.exec(select(Source).order_by(Source.id)).all())
    known = {row.name for row in rows}
    unsaved = [_row(spec) for spec in DEFAULT_SOURCES if spec.name not in known]
    return [row for row in [*rows, *unsaved] if row.enabled]


def _insert(session: Session, spec: SourceSpec) -> Source:
    """Insert one source, or return the row a concurrent worker created a moment ago."""
    row = _row(spec)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return session.exec(select(Source).where(Source.name == spec.name)).one()
    return row


def source_field(name: str) -> str:
    """The catalogue field of a source; feeds created on demand (arXiv categories) are preprints."""
    spec = next((s for s in DEFAULT_SOURCES if s.name == name), None)
    return spec.field if spec else PREPRINTS


def list_sources(session: Session) -> list[dict[str, Any]]:
    """Every source with the operator's current `enabled`, in catalogue order then by name."""
    ensure_sources(session)
    order = {spec.name: i for i, spec in enumerate(DEFAULT_SOURCES)}
    rows = sorted(session.exec(select(Source)).all(),
                  key=lambda r: (order.get(r.name, len(order)), r.name))
    return [{"name": r.name, "label": r.label, "field": source_field(r.name), "kind": r.kind,
             "url": r.url, "enabled": r.enabled} for r in rows]


def set_enabled(session: Session, name: str, enabled: bool) -> Source:
    """An operator turns a source on or off; unknown names raise `KeyError` (nothing changes)."""
    ensure_sources(session)
    row = ensure_source(session, name)
    if row is None:
        raise KeyError(name)
    row.enabled = enabled
    session.add(row)
    session.commit()
    return row


def catalogue_spec(value: str) -> SourceSpec | None:
    """The source a subscriber's `source` interest means, by name or by label ("Nature")."""
    folded = value.strip().casefold()
    return next((s for s in DEFAULT_SOURCES if folded in (s.name.casefold(), s.label.casefold())),
                None)


def source_label(name: str) -> str:
    """The label a subscriber sees for a source interest ("nature" -> "Nature")."""
    spec = catalogue_spec(name)
    return spec.label if spec else name


def source_aliases(value: str) -> list[str]:
    """A source interest as papers may carry it: as typed, the catalogue name, the label
    (journal papers are stored under their source's label, the name of the card's badge)."""
    spec = catalogue_spec(value)
    return list(dict.fromkeys([spec.label, spec.name, value] if spec else [value]))


def sources_for(interests: Iterable[Any]) -> list[str]:
    """Source names a subscriber's interests need.

    Categories map to their arXiv feed (`cs.CL` -> `arxiv-cs.CL`; bioRxiv subject collections to
    bioRxiv), `source` interests name a source directly, and keywords or authors, which can
    match anywhere, need every source enabled by default.
    """
    names: set[str] = set()
    broad = False
    for interest in interests:
        kind, value = _kind_value(interest)
        value = value.strip()
        if kind == InterestKind.CATEGORY and value:
            if value.lower() in ("biorxiv", "medrxiv"):
                names.add(value.lower())
            elif is_arxiv_category(value):
                names.add(f"arxiv-{_arxiv_category(value)}")
            else:  # a bioRxiv/medRxiv subject ("genomics") is not an arXiv category
                names.update(("biorxiv", "medrxiv"))
        elif kind == InterestKind.SOURCE and value:
            spec = catalogue_spec(value)
            names.add(spec.name if spec else value)
        elif kind in (InterestKind.KEYWORD, InterestKind.AUTHOR):
            broad = True
    if broad or not names:
        names.update(spec.name for spec in DEFAULT_SOURCES if spec.enabled)
    return sorted(names)


def file_source(
    session: Session, kind: str, *, name: str | None = None, title: str = "",
    urls: Iterable[str] = (), path: Path | None = None,
) -> Source:
    """The source an imported feed file is attributed to (`newsletter harvest --file`).

    `name` (the operator's `--source`) wins: that source, a default one or an arXiv feed
    (`arxiv-q-bio.GN`), else a new one of that name. Without a name: the source whose address
    is one of the feed's own `urls` (an arXiv cs.CL file lands on `arxiv-cs.CL`), else one
    named after the feed's `title` (or the file's name). A source created here is disabled:
    its address may be a file or a home page, not a feed to poll. ValueError when the source
    reads another kind of feed.
    """
    row = ensure_source(session, name) if name else _source_at(session, urls)
    if row is None and not name:
        name = _slug(title) or _slug(path.stem if path else "") or "imported-feed"
        row = ensure_source(session, name)
    if row is not None:
        if row.kind != kind:
            raise ValueError(f"source {row.name!r} reads {row.kind} feeds, not {kind}"
                             + ("" if name and row.name == name else "; name one with --source"))
        return row
    own = next((u for u in urls if u), "") or (path.resolve().as_uri() if path else "")
    label = collapse(title)[:100] or str(name)
    spec = SourceSpec(str(name)[:64], kind, own[:1000] or "file:", label, enabled=False)
    return _insert(session, spec)


def _source_at(session: Session, urls: Iterable[str]) -> Source | None:
    wanted = {_url_key(u) for u in urls if u}
    if not wanted:
        return None
    for row in session.exec(select(Source).order_by(Source.id)).all():
        if _url_key(row.url) in wanted:
            return row
    for key in wanted:  # any arXiv category feed, also one not in the table yet
        match = _ARXIV_RSS_URL.match(key)
        if match and (row := ensure_source(session, f"arxiv-{match.group(1)}")) is not None:
            return row
    return None


def _url_key(url: str) -> str:
    """A URL without scheme, `www.` or trailing slash: http/https spellings of one feed meet."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    return host + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9.+]+", "-", ascii_text.lower()).strip("-.")[:64].rstrip("-.")


def fetch_url(source: Source, today: dt.date | None = None, cursor: int = 0) -> str:
    """The URL to request now: bioRxiv API templates get their date window and page cursor."""
    url = source.url
    if "{from}" in url or "{cursor}" in url:
        today = today or utcnow().date()
        start = today - dt.timedelta(days=BIORXIV_WINDOW_DAYS)
        url = url.replace("{from}", start.isoformat()).replace("{to}", today.isoformat())
        url = url.replace("{cursor}", str(cursor))
    return url


def is_arxiv_category(value: str) -> bool:
    return bool(ARXIV_CATEGORY.match(value)) and value.split(".")[0].lower() in ARXIV_ARCHIVES


def _arxiv_category(value: str) -> str:
    # arXiv archives are lower case, subject classes upper case for cs.* (cs.CL), mixed elsewhere.
    archive, _, subject = value.partition(".")
    archive = archive.lower()
    if archive == "cs" and subject:
        subject = subject.upper()
    return f"{archive}.{subject}" if subject else archive


def _kind_value(interest: Any) -> tuple[str, str]:
    if isinstance(interest, tuple | list):
        return str(interest[0]), str(interest[1])
    if isinstance(interest, dict):
        return str(interest.get("kind", "")), str(interest.get("value", ""))
    return str(interest.kind), str(interest.value)


def _row(spec: SourceSpec) -> Source:
    return Source(
        name=spec.name, kind=spec.kind, url=spec.url, label=spec.label, enabled=spec.enabled
    )
