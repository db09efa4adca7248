"""LLM cost of a day: 1,000 subscribers from 25 interest profiles over 400 papers.

Run as `.venv/bin/python bench/llm_cost.py [--subscribers N] [--papers N]`. Everything runs
against the fake Anthropic server (tests/fake_anthropic.py) through the real SDK, on an
in-memory SQLite database; no network, no key. Two real plans are measured from our own
ledger (LlmCall rows), next to the naive plan (one summary call per paper per subscriber
plus one synthesis per subscriber, no caching), whose tokens are counted from the very same
prompts with the fake's tokenizer:

  on-demand   compose writes each digest: summaries cached per (paper, language), the
              synthesis cached per (selection, language, topics), instructions prompt-cached
  batch       the night before, every new paper is summarized through Message Batches
              (half price) in each language in use; compose then only writes syntheses
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "language models", "distillation", "protein folding", "graph neural networks",
    "reinforcement learning", "diffusion models", "quantum error correction", "robotics",
    "federated learning", "causal inference", "single-cell genomics", "climate modeling",
    "speech recognition", "computer vision", "recommender systems", "differential privacy",
    "neural rendering", "drug discovery", "theorem proving", "time series",
    "materials discovery", "fairness", "code generation", "medical imaging", "astrophysics",
    "optimization", "interpretability", "multimodal learning", "retrieval augmentation",
    "epidemiology",
]
FILLER = [
    "Prior work has focused on settings where data is plentiful and labels are clean.",
    "We evaluate on four public benchmarks and release our code and data.",
    "Our analysis shows that the gains persist across model sizes and training budgets.",
    "Ablations identify which components are responsible for the improvement.",
    "We discuss limitations, including the cost of inference and the scope of evaluation.",
    "Experiments with human raters confirm the automatic metrics.",
    "The method requires no additional labelled data and adds little computational overhead.",
    "We also find failure cases that point to open problems for future work.",
]


def make_abstract(rng: random.Random, topics: list[str]) -> str:
    main = topics[0]
    parts = [
        f"Progress in {main} is limited by the cost and reliability of current methods.",
        f"We propose a new approach to {main}"
        + (f" that borrows ideas from {topics[1]}" if len(topics) > 1 else "") + ".",
        f"On standard benchmarks it improves accuracy by {rng.randint(3, 40)}% while using "
        f"{rng.randint(2, 10)}x less compute.",
    ]
    parts += rng.sample(FILLER, 5)
    return " ".join(parts)


def setup_env(fake_url: str) -> None:
    os.environ.update({
        "ENVIRONMENT": "development", "DATABASE_URL": "sqlite:///:memory:",
        "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake_url,
        "LLM_MODEL": "claude-sonnet-4-6", "LLM_BATCH_POLL_SECONDS": "0",
    })


def build_day(n_papers: int, n_subscribers: int, seed: int = 7):
    """Papers, 25 profiles (topics) and subscribers (profile, locale, max papers)."""
    rng = random.Random(seed)
    papers = []
    for i in range(n_papers):
        topics = rng.sample(TOPICS, rng.choice([1, 2, 2, 3]))
        papers.append(dict(
            id=f"arxiv:2611.{i:05d}", title=f"Towards better {topics[0]}: study {i}",
            authors=["A. Author", "B. Author"], abstract=make_abstract(rng, topics),
            categories=["cs.LG"], primary_category="cs.LG", url=f"https://arxiv.org/abs/{i}",
            source="arxiv", topics=topics))
    profiles = [sorted(rng.sample(TOPICS, rng.choice([2, 3, 4]))) for _ in range(25)]
    subscribers = [(rng.randrange(25), "zh" if rng.random() < 0.2 else "en",
                    rng.choice([10, 10, 10, 5, 15])) for _ in range(n_subscribers)]
    return papers, profiles, subscribers


def selection(papers, profile: list[str], limit: int) -> list[tuple[str, str]]:
    """(paper id, matched topic): the papers matching most of the profile's topics."""
    scored = []
    for paper in papers:
        hits = [t for t in profile if t in paper["topics"]]
        if hits:
            scored.append((-len(hits), paper["id"], hits[0]))
    return [(pid, topic) for _, pid, topic in sorted(scored)[:limit]]


def run_plan(plan: str, day, fake) -> dict:
    from sqlmodel import Session, SQLModel, create_engine, select

    from newsletter.core import config
    from newsletter.core.models import LlmCall, Paper, PaperSummary
    from newsletter.ranking.candidates import Pick
    from newsletter.writing.synthesize import summarize_batch, write

    config.get_settings.cache_clear()
    papers, profiles, subscribers = day
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    with Session(engine, expire_on_commit=False) as session:
        rows = {}
        for p in papers:
            fields = {k: v for k, v in p.items() if k != "topics"}
            rows[p["id"]] = Paper(**fields, first_seen=now, updated_at=now)
            session.add(rows[p["id"]])
        session.commit()
        if plan == "batch":
            for locale in sorted({loc for _, loc, _ in subscribers}):
                summarize_batch(session, since=now - dt.timedelta(hours=1), locale=locale)
        writers = {}
        for digest_id, (profile, locale, limit) in enumerate(subscribers, 1):
            picks = [Pick(rows[pid], 1.0, f"matches '{t}'", [f"matches '{t}'"])
                     for pid, t in selection(papers, profiles[profile], limit)]
            writing = write(session, picks, locale=locale, topics=profiles[profile],
                            digest_id=digest_id)
            writers[writing.writer] = writers.get(writing.writer, 0) + 1
        calls = session.exec(select(LlmCall)).all()
        summaries = len(session.exec(select(PaperSummary)).all())
    synth = [c for c in calls if c.purpose.startswith("synthesis") and c.ok]
    summary_out = sum(c.output_tokens for c in calls if c.purpose.startswith("summary"))
    return {
        "summary_out_each": summary_out / max(1, summaries),
        "synthesis_out_each": sum(c.output_tokens for c in synth) / max(1, len(synth)),
        "plan": plan, "seconds": time.monotonic() - started, "writers": writers,
        "calls": len(calls), "failed": sum(not c.ok for c in calls),
        "input": sum(c.input_tokens for c in calls), "output": sum(c.output_tokens for c in calls),
        "cache_write": sum(c.cache_creation_tokens for c in calls),
        "cache_read": sum(c.cache_read_tokens for c in calls),
        "cost": sum(c.cost_usd for c in calls),
    }


def naive_plan(day, measured_summary_out: float, measured_synthesis_out: float) -> dict:
    """One summary call per paper per subscriber + one synthesis each, nothing cached."""
    from newsletter.core import config
    from newsletter.core.models import Paper
    from newsletter.writing.llm import Usage, cost_usd
    from newsletter.writing.prompts import (
        SUMMARY_TOOL,
        SUMMARY_VERSION,
        SYNTHESIS_TOOL,
        SYNTHESIS_VERSION,
        prompt,
    )
    from newsletter.writing.synthesize import summary_request, synthesis_request
    from tests.fake_anthropic import count_tokens

    settings = config.get_settings()
    papers, profiles, subscribers = day
    by_id = {p["id"]: Paper(**{k: v for k, v in p.items() if k != "topics"}) for p in papers}
    fixed = {v: count_tokens(prompt(v)) + count_tokens(json.dumps([t], sort_keys=True))
             for v, t in ((SUMMARY_VERSION, SUMMARY_TOOL), (SYNTHESIS_VERSION, SYNTHESIS_TOOL))}
    per_paper: dict[tuple[str, str], int] = {}
    calls = inp = out = 0
    for profile, locale, limit in subscribers:
        chosen = [by_id[pid] for pid, _ in selection(papers, profiles[profile], limit)]
        for paper in chosen:
            key = (paper.id, locale)
            if key not in per_paper:
                per_paper[key] = fixed[SUMMARY_VERSION] + count_tokens(
                    summary_request([paper], locale))
            inp += per_paper[key]
            out += measured_summary_out
        inp += fixed[SYNTHESIS_VERSION] + count_tokens(
            synthesis_request(chosen, locale, profiles[profile]))
        out += measured_synthesis_out
        calls += len(chosen) + 1
    usage = Usage(input_tokens=int(inp), output_tokens=int(out))
    return {"plan": "naive", "calls": calls, "failed": 0, "input": int(inp), "output": int(out),
            "cache_write": 0, "cache_read": 0,
            "cost": cost_usd(settings, settings.llm_model, usage), "seconds": 0.0, "writers": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--papers", type=int, default=400)
    args = parser.parse_args()
    from tests.fake_anthropic import FakeAnthropic

    day = build_day(args.papers, args.subscribers)
    papers, profiles, subscribers = day
    selections = {(tuple(pid for pid, _ in selection(papers, profiles[p], k)), loc, p)
                  for p, loc, k in subscribers}
    pairs = {(pid, loc) for sel, loc, _ in selections for pid in sel}
    languages = {loc for _, loc, _ in subscribers}
    results = []
    for plan in ("on-demand", "batch"):
        with FakeAnthropic() as fake:
            setup_env(fake.url)
            results.append(run_plan(plan, day, fake))
    # the naive plan writes the same texts, so it gets the measured output sizes
    distinct_syn = len(selections)
    naive = naive_plan(day, results[0]["summary_out_each"], results[0]["synthesis_out_each"])
    results.append(naive)

    n = len(subscribers)
    print(f"day: {len(papers)} papers, {n} subscribers, 25 profiles, languages {sorted(languages)}")
    print(f"distinct selections (ids+language+topics): {distinct_syn}; distinct selected "
          f"(paper, language): {len(pairs)}; day's (paper, language): "
          f"{len(papers) * len(languages)}")
    header = (f"{'plan':<10} {'calls':>7} {'input':>11} {'output':>10} {'cache wr':>9} "
              f"{'cache rd':>10} {'total tok':>11} {'USD/day':>9} {'USD/1k dig':>10} {'sec':>6}")
    print(header)
    print("-" * len(header))
    for r in results:
        total = r["input"] + r["output"] + r["cache_write"] + r["cache_read"]
        r["total"] = total
        print(f"{r['plan']:<10} {r['calls']:>7} {r['input']:>11,} {r['output']:>10,} "
              f"{r['cache_write']:>9,} {r['cache_read']:>10,} {total:>11,} {r['cost']:>9.2f} "
              f"{r['cost'] * 1000 / n:>10.2f} {r['seconds']:>6.1f}")
    for r in results[:2]:
        limit_pairs = len(pairs) if r["plan"] == "on-demand" else len(papers) * len(languages)
        bound = limit_pairs + distinct_syn
        print(f"{r['plan']}: calls {r['calls']} <= {limit_pairs} + {distinct_syn} = {bound}: "
              f"{'OK' if r['calls'] <= bound else 'MISSED'}; "
              f"tokens {naive['total'] / r['total']:.1f}x fewer than naive "
              f"({'OK' if naive['total'] >= 10 * r['total'] else 'MISSED'}); cost "
              f"{naive['cost'] / r['cost']:.1f}x lower; writers {r['writers']}")


if __name__ == "__main__":
    main()
