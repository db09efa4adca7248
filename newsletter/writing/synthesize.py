"""Write the digest's words: synthesis, lead theme, preheader, per-paper summaries.

Runs in the compose stage (`write`, per digest) and nightly (`summarize_batch`). Claude
writes through a forced tool (structured output); everything it returns is validated
(rules in `newsletter.writing.prompts`: citations name real cards, bounded lengths, no URLs,
no markup) and invalid output gets exactly one repair turn. Anything else (no key, outage, refusal,
truncation, a second invalid answer) falls back to the offline writer, with the reason in
`Writing.fallback_reason`: a digest is never blocked by the model.

Cost: per-paper summaries are cached per (paper, locale, model, prompt version) and shared
by every subscriber; a synthesis is cached per (ordered selection, locale, topics, model,
prompt version); the fixed instructions carry cache_control; bulk summaries go through the
Message Batches API at half price. Every call lands in the `LlmCall` ledger. This module
commits its cache and ledger rows: they are worth keeping even if later work fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from newsletter.core import metrics
from newsletter.core.config import get_settings
from newsletter.core.models import Digest, LlmCall, Paper, PaperSummary, SynthesisCache
from newsletter.core.time import utcnow
from newsletter.ranking.candidates import Pick
from newsletter.writing import offline_writer
from newsletter.writing.llm import (
    LlmError,
    LlmProvider,
    ToolAnswer,
    ToolCall,
    Usage,
    cost_usd,
    get_provider,
)
from newsletter.writing.prompts import (
    SUMMARY_TOOL,
    SUMMARY_VERSION,
    SYNTHESIS_TOOL,
    SYNTHESIS_VERSION,
    as_data,
    cards,
    locale_of,
    prompt,
    validate_summaries,
    validate_synthesis,
)

log = logging.getLogger(__name__)


@dataclass
class Writing:
    theme: str  # the lead theme, for the subject line
    preheader: str
    synthesis: str  # plain text paragraphs separated by blank lines, citing cards as [n]
    summaries: dict[str, str] = field(default_factory=dict)  # paper id -> 1-2 sentences
    writer: str = "offline"  # "offline" or the model name
    fallback_reason: str | None = None


def write(session: Session, picks: list[Pick], *, locale: str = "en",
          topics: list[str] | None = None, digest_id: int | None = None) -> Writing:
    """The words for one digest; never raises for provider or content reasons."""
    if not picks:
        return Writing(theme="", preheader="", synthesis="")
    locale = locale_of(locale)
    theme, preheader, synthesis, summaries = offline_writer.write_offline(picks, locale)
    offline = Writing(theme, preheader, synthesis, dict(summaries))
    try:
        provider = get_provider()
    except Exception as error:  # a broken client setup must not block the digest
        log.warning("LLM provider unavailable: %s", error)
        offline.fallback_reason = f"provider setup: {type(error).__name__}"
        return offline
    if provider is None:
        return offline
    reasons: list[str] = []
    papers = [p.paper for p in picks]
    llm_summaries, why = _summaries(session, provider, papers, locale, digest_id)
    offline.summaries.update(llm_summaries)
    if why:
        reasons.append(f"summaries: {why}")
    try:
        theme, preheader, synthesis = _synthesis(session, provider, papers, locale,
                                                 sorted(set(topics or [])), digest_id)
    except LlmError as error:
        reasons.append(f"synthesis: {error.reason}")
        offline.fallback_reason = "; ".join(reasons)
        return offline
    return Writing(theme, preheader, synthesis, offline.summaries, writer=provider.model,
                   fallback_reason="; ".join(reasons) or None)


# -- synthesis ------------------------------------------------------------------------------

def synthesis_key(ids: list[str], locale: str, topics: list[str], model: str) -> str:
    raw = json.dumps([ids, locale, sorted(set(topics)), model, SYNTHESIS_VERSION])
    return hashlib.sha256(raw.encode()).hexdigest()


def _synthesis(session: Session, provider: LlmProvider, papers: list[Paper], locale: str,
               topics: list[str], digest_id: int | None) -> tuple[str, str, str]:
    key = synthesis_key([p.id for p in papers], locale, topics, provider.model)
    cached = session.exec(select(SynthesisCache).where(SynthesisCache.key == key)).first()
    if cached:
        return cached.theme, cached.preheader, cached.synthesis
    call = ToolCall(system=prompt(SYNTHESIS_VERSION), tool=SYNTHESIS_TOOL,
                    user=synthesis_request(papers, locale, topics),
                    max_tokens=2000 if locale == "zh" else 1500)
    answer = _call(session, provider, call, "synthesis", digest_id)
    result, problems = validate_synthesis(answer.data, len(papers), locale)
    if problems:
        call.repair = (answer.data, "Please fix: " + "; ".join(problems))
        answer = _call(session, provider, call, "synthesis-repair", digest_id)
        result, problems = validate_synthesis(answer.data, len(papers), locale)
        if problems:
            raise LlmError("invalid output after repair: " + "; ".join(problems)[:200])
    theme, preheader, text = result
    _save(session, SynthesisCache(key=key, model=provider.model, locale=locale,
                                  prompt_version=SYNTHESIS_VERSION, theme=theme,
                                  preheader=preheader, synthesis=text, created_at=utcnow()))
    return theme, preheader, text


def synthesis_request(papers: list[Paper], locale: str, topics: list[str]) -> str:
    language = "Simplified Chinese (zh)" if locale == "zh" else "English (en)"
    wanted = as_data(", ".join(topics)) or "not given"  # the reader's own chips: untrusted too
    return (f"Language: {language}\nReader's topics: {wanted}\n"
            f"Number of cards: {len(papers)}\n\n{cards(papers)}\n\n"
            "Write today's briefing with the write_briefing tool.")


# -- per-paper summaries --------------------------------------------------------------------

def summary_request(papers: list[Paper], locale: str) -> str:
    language = "Simplified Chinese (zh)" if locale == "zh" else "English (en)"
    return (f"Language: {language}\nNumber of cards: {len(papers)}\n\n{cards(papers)}\n\n"
            "Summarize each card with the write_summaries tool.")


def _summary_call(papers: list[Paper], locale: str) -> ToolCall:
    return ToolCall(system=prompt(SUMMARY_VERSION), tool=SUMMARY_TOOL,
                    user=summary_request(papers, locale), max_tokens=250 * len(papers) + 200)


def cached_summaries(session: Session, ids: list[str], locale: str, model: str) -> dict[str, str]:
    rows = session.exec(select(PaperSummary).where(
        PaperSummary.paper_id.in_(ids), PaperSummary.locale == locale,
        PaperSummary.model == model, PaperSummary.prompt_version == SUMMARY_VERSION)).all()
    return {row.paper_id: row.text for row in rows}


def _summaries(session: Session, provider: LlmProvider, papers: list[Paper], locale: str,
               digest_id: int | None) -> tuple[dict[str, str], str | None]:
    """Cached summaries, plus one call for the missing ones; (summaries, failure reason)."""
    have = cached_summaries(session, [p.id for p in papers], locale, provider.model)
    missing = [p for p in papers if p.id not in have]
    if not missing:
        return have, None
    call = _summary_call(missing, locale)
    try:
        answer = _call(session, provider, call, "summary", digest_id)
        good, problems = validate_summaries(answer.data, len(missing), locale)
        if problems:
            call.repair = (answer.data, "Please fix: " + "; ".join(problems))
            answer = _call(session, provider, call, "summary-repair", digest_id)
            repaired, problems = validate_summaries(answer.data, len(missing), locale)
            good.update(repaired)
    except LlmError as error:
        return have, error.reason
    for n, text in good.items():
        paper = missing[n - 1]
        have[paper.id] = text
        _save(session, PaperSummary(paper_id=paper.id, locale=locale, model=provider.model,
                                    prompt_version=SUMMARY_VERSION, text=text,
                                    created_at=utcnow()))
    return have, ("invalid output after repair: " + "; ".join(problems)[:200]) if problems else None


def summarize_recent(session: Session, *, since: dt.datetime | None = None,
                     locale: str = "en", chunk: int = 10) -> dict:
    """Write the uncached summaries of recent papers now, `chunk` papers per Messages call.

    The synchronous twin of `summarize_batch` (full price, but done in minutes).
    """
    locale = locale_of(locale)
    provider = get_provider()
    if provider is None:
        return {"status": "skipped", "reason": "no ANTHROPIC_API_KEY", "written": 0}
    since = since or utcnow() - dt.timedelta(days=1)
    papers = session.exec(select(Paper).where(Paper.first_seen >= since)).all()
    have = cached_summaries(session, [p.id for p in papers], locale, provider.model)
    todo = [p for p in papers if p.id not in have]
    report = {"status": "done", "papers": len(papers), "cached": len(have), "written": 0,
              "failed": 0, "reasons": []}
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        written, why = _summaries(session, provider, part, locale, None)
        report["written"] += len(written)
        report["failed"] += len(part) - len(written)
        if why:
            report["reasons"].append(why)
    return report


def batch_custom_id(paper_id: str, locale: str) -> str:
    # custom_id allows only [A-Za-z0-9_-]{1,64}; paper ids carry ':' and '/'
    return f"{locale}-" + hashlib.sha256(paper_id.encode()).hexdigest()[:40]


def summarize_batch(session: Session, *, since: dt.datetime | None = None,
                    locale: str = "en") -> dict:
    """Send the uncached summaries of papers seen since `since` through Message Batches.

    Polls until the batch ends (or `llm_batch_max_wait`), then stores results by custom_id
    (they come back in any order). Invalid or failed items are left for on-demand writing.
    """
    settings, locale = get_settings(), locale_of(locale)
    provider = get_provider(settings)
    if provider is None:
        return {"status": "skipped", "reason": "no ANTHROPIC_API_KEY", "submitted": 0}
    since = since or utcnow() - dt.timedelta(days=1)
    papers = session.exec(select(Paper).where(Paper.first_seen >= since)).all()
    have = cached_summaries(session, [p.id for p in papers], locale, provider.model)
    todo = {batch_custom_id(p.id, locale): p for p in papers if p.id not in have}
    report = {"status": "nothing to do", "submitted": len(todo), "cached": len(have),
              "succeeded": 0, "failed": 0, "invalid": 0, "cost_usd": 0.0, "batch_id": None}
    if not todo:
        return report
    try:
        calls = {cid: _summary_call([p], locale) for cid, p in todo.items()}
        batch_id = provider.submit_batch(calls)
        report["batch_id"] = batch_id
        deadline = time.monotonic() + settings.llm_batch_max_wait
        while not provider.batch_done(batch_id):
            if time.monotonic() > deadline:
                return {**report, "status": "in_progress"}
            time.sleep(settings.llm_batch_poll_seconds)
        results = list(provider.batch_results(batch_id))
    except LlmError as error:
        return {**report, "status": "failed", "reason": error.reason}
    for custom_id, outcome in results:
        paper = todo.get(custom_id)
        if paper is None:
            continue
        if isinstance(outcome, LlmError):
            report["failed"] += 1
            _ledger(session, provider.model, "summary-batch", None, None, 0, outcome.reason)
            continue
        report["cost_usd"] += _ledger(session, provider.model, "summary-batch", None,
                                      outcome, 0, None, batch=True)
        good, _problems = validate_summaries(outcome.data, 1, locale)
        if 1 not in good:
            report["invalid"] += 1
            continue
        report["succeeded"] += 1
        _save(session, PaperSummary(paper_id=paper.id, locale=locale, model=provider.model,
                                    prompt_version=SUMMARY_VERSION, text=good[1],
                                    created_at=utcnow()))
    report["cost_usd"] = round(report["cost_usd"], 6)
    return {**report, "status": "ended"}


# -- ledger and persistence -----------------------------------------------------------------

def _call(session: Session, provider: LlmProvider, call: ToolCall, purpose: str,
          digest_id: int | None) -> ToolAnswer:
    started = time.monotonic()
    try:
        answer = provider.call_tool(call)
    except LlmError as error:
        _ledger(session, provider.model, purpose, digest_id, None,
                int((time.monotonic() - started) * 1000), error.reason)
        raise
    _ledger(session, provider.model, purpose, digest_id, answer,
            int((time.monotonic() - started) * 1000), None)
    return answer


def _ledger(session: Session, model: str, purpose: str, digest_id: int | None,
            answer: ToolAnswer | None, latency_ms: int, error: str | None,
            *, batch: bool = False) -> float:
    usage = answer.usage if answer else Usage()
    cost = cost_usd(get_settings(), model, usage, batch=batch)
    metrics.llm_call(model, purpose, usage, cost, ok=error is None)
    _save(session, LlmCall(
        time=utcnow(), model=model, purpose=purpose, digest_id=digest_id,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens, cache_creation_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens, latency_ms=latency_ms, cost_usd=cost,
        ok=error is None, error=error[:500] if error else None))
    return cost


def _save(session: Session, row) -> None:
    """Commit one cache/ledger row; a unique clash means another worker got there first."""
    session.commit()
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def spend_stats(session: Session, days: int) -> list[dict]:
    """LLM spend per day for `newsletter stats`: calls, tokens, cost, cost per digest."""
    since = utcnow() - dt.timedelta(days=days)
    day = func.date(LlmCall.time)
    rows = session.exec(select(
        day, func.count(), func.sum(case((LlmCall.ok.is_(False), 1), else_=0)),
        func.sum(LlmCall.input_tokens), func.sum(LlmCall.output_tokens),
        func.sum(LlmCall.cache_creation_tokens), func.sum(LlmCall.cache_read_tokens),
        func.sum(LlmCall.cost_usd),
    ).where(LlmCall.time >= since).group_by(day).order_by(day)).all()
    composed = func.date(Digest.composed_at)
    digests = {str(d): n for d, n in session.exec(
        select(composed, func.count()).where(Digest.composed_at >= since).group_by(composed))}
    stats = []
    for d, calls, failed, inp, out, cw, cr, cost in rows:
        n = digests.get(str(d), 0)
        stats.append({
            "day": str(d), "calls": calls, "failed": int(failed or 0),
            "input_tokens": int(inp or 0), "output_tokens": int(out or 0),
            "cache_creation_tokens": int(cw or 0), "cache_read_tokens": int(cr or 0),
            "cost_usd": round(float(cost or 0), 8), "digests": n,
            "cost_per_digest": round(float(cost or 0) / n, 6) if n else None,
        })
    return stats
