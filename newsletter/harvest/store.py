"""Store parsed papers: one batched upsert per feed, on SQLite and PostgreSQL alike.

Rules (why the store, not the parser, owns them: they need what is already stored):
- versions collapse: v2 updates the v1 row; an older version never overwrites a newer one;
- categories merge (a paper cross-listed in two feeds keeps both);
- the same paper from two sources is one row: matched by id, and by DOI (a journal item whose
  DOI is an arXiv paper's DOI merges into the arXiv row and fills its `journal`);
- storing the same feed twice changes nothing (`first_seen` and `updated_at` stay).
Two SELECTs per 500 papers and one executemany each for inserts and updates: no per-row queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import Session

from newsletter.core.db import insert_ignore
from newsletter.core.models import Paper, PaperBase
from newsletter.core.time import utcnow

FIELDS = tuple(PaperBase.model_fields)
_COLUMNS = [getattr(Paper, name) for name in FIELDS]
# Replaced wholesale by a newer version; otherwise only filled in when empty.
_VERSIONED = (
    "version",
    "title",
    "authors",
    "abstract",
    "primary_category",
    "announce_type",
    "url",
    "pdf_url",
)
_CHUNK = 500


@dataclass
class StoreResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


def store(session: Session, papers: list[PaperBase]) -> StoreResult:
    """Upsert the papers and commit; counts are per distinct incoming paper."""
    incoming = _dedupe(papers)
    if not incoming:
        return StoreResult()
    state, by_doi = _load(session, incoming)
    created: set[str] = set()
    changed: set[str] = set()
    for paper in incoming:
        data = paper.model_dump()
        target = _match(data, state, by_doi)
        if target is None:
            state[data["id"]] = data
            created.add(data["id"])
            if data["doi"]:
                by_doi.setdefault(data["doi"], data["id"])
            continue
        merged = _merge(state[target], data, same_id=target == data["id"])
        if merged != state[target]:
            state[target] = merged
            changed.add(target)
    now = utcnow()
    _write(session, [state[i] for i in created], [state[i] for i in changed - created], now)
    session.commit()
    updated = len(changed - created)
    return StoreResult(
        new=len(created), updated=updated, unchanged=len(incoming) - len(created) - updated
    )


def _dedupe(papers: Iterable[PaperBase]) -> list[PaperBase]:
    """One paper per id (the highest version, categories merged); arXiv papers first so that a
    journal item in the same batch merges into its arXiv paper rather than the other way round."""
    best: dict[str, PaperBase] = {}
    for paper in papers:
        seen = best.get(paper.id)
        if seen is None:
            best[paper.id] = paper
            continue
        newer, older = (paper, seen) if paper.version > seen.version else (seen, paper)
        extra = [c for c in older.categories if c not in newer.categories]
        best[paper.id] = newer.model_copy(update={"categories": [*newer.categories, *extra]})
    return sorted(best.values(), key=lambda p: not p.id.startswith("arxiv:"))


def _load(session: Session, incoming: list[PaperBase]) -> tuple[dict[str, dict], dict[str, str]]:
    ids = {p.id for p in incoming} | {f"doi:{p.doi}" for p in incoming if p.doi}
    dois = {p.doi for p in incoming if p.doi} | {
        p.id[4:] for p in incoming if p.id.startswith("doi:")
    }
    state: dict[str, dict] = {}
    for column, values in ((Paper.id, ids), (Paper.doi, dois)):
        for chunk in _chunks(sorted(values)):
            for row in session.execute(select(*_COLUMNS).where(column.in_(chunk))):
                state[row.id] = dict(row._mapping)
    by_doi: dict[str, str] = {}
    # Prefer the arXiv row when several stored rows share a DOI.
    for paper_id, row in sorted(state.items(), key=lambda item: not item[0].startswith("arxiv:")):
        if row["doi"]:
            by_doi.setdefault(row["doi"], paper_id)
        if paper_id.startswith("doi:"):
            by_doi.setdefault(paper_id[4:], paper_id)
    return state, by_doi


def _match(data: dict, state: dict[str, dict], by_doi: dict[str, str]) -> str | None:
    if data["id"] in state:
        return data["id"]
    doi = data["doi"] or (data["id"][4:] if data["id"].startswith("doi:") else None)
    return by_doi.get(doi) if doi else None


def _merge(current: dict, incoming: dict, *, same_id: bool) -> dict:
    merged = dict(current)
    if same_id and incoming["version"] > current["version"]:
        for name in _VERSIONED:
            if incoming[name] not in (None, "", []):
                merged[name] = incoming[name]
    for name in FIELDS:  # whatever the version: fill gaps, never erase
        if name not in ("id", "version", "source") and merged[name] in (None, "", []):
            if incoming[name] not in (None, "", []):
                merged[name] = incoming[name]
    merged["categories"] = [
        *current["categories"],
        *(c for c in incoming["categories"] if c not in current["categories"]),
    ]
    dates = [d for d in (current["published"], incoming["published"]) if d]
    merged["published"] = min(dates) if dates else None  # the first announcement, not the latest
    return merged


def _write(
    session: Session, new_rows: list[dict], changed_rows: list[dict], now: dt.datetime
) -> None:
    if new_rows:
        rows = [{**row, "first_seen": now, "updated_at": now} for row in new_rows]
        # A concurrent worker may insert the same new paper first: skip it, do not fail.
        statement = insert_ignore(session, Paper, "id")
        for chunk in _chunks(rows):
            session.execute(statement, chunk)
    if changed_rows:
        rows = [{**row, "updated_at": now} for row in changed_rows]
        for chunk in _chunks(rows):
            session.execute(update(Paper), chunk)  # ORM bulk UPDATE by primary key
        touched = {row["id"] for row in changed_rows}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Paper) and obj.id in touched:
                session.expire(obj)


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
