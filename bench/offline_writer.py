"""Offline writer speed: milliseconds to write one digest's briefing and card summaries.

Run: `.venv/bin/python bench/offline_writer.py [--rounds N]`. No database and no network:
the papers of the evaluation days (tests/data/briefing, realistic multi-sentence abstracts,
and tests/data/eval) go through the real arXiv RSS parser and the ranking engine; each
interest profile of both sets, in English and in Chinese, gets its top 10 picks, and
`offline_writer.write_offline` writes each digest. Prints the mean and 95th percentile per
digest, cold (every cache emptied before each digest: a worker's first digest of the day)
and warm (the same papers already seen, as in a fan-out where subscribers share papers).
Times are the process's CPU time (steadier than wall time on a shared machine); they are
printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.core.models import Paper  # noqa: E402
from newsletter.harvest import harvester  # noqa: E402
from newsletter.ranking import rank  # noqa: E402
from newsletter.ranking.candidates import Pick  # noqa: E402
from newsletter.ranking.index import Corpus, Doc  # noqa: E402
from newsletter.ranking.reasons import reasons  # noqa: E402
from newsletter.writing import offline_writer  # noqa: E402

DATA = ROOT / "tests" / "data"


def load() -> tuple[list[Paper], list[dict]]:
    papers = []
    for path in sorted((DATA / "briefing").glob("*.rss.xml")) + sorted(
            (DATA / "eval").glob("*.rss.xml")):
        papers += [Paper(**p.model_dump()) for p in harvester.parse("arxiv_rss",
                                                                    path.read_bytes())]
    profiles = [p for day in json.loads((DATA / "briefing" / "profiles.json").read_text(
        encoding="utf-8")).values() for p in day]
    profiles += json.loads((DATA / "eval" / "profiles.json").read_text(encoding="utf-8"))
    return papers, profiles


def digests(papers: list[Paper], profiles: list[dict]) -> list[list[Pick]]:
    docs = [Doc(title=p.title, abstract=p.abstract, authors=p.authors,
                categories=p.categories, primary_category=p.primary_category,
                source=p.source) for p in papers]
    corpus = Corpus(docs)
    plain = [rank.Profile(keywords=p["keywords"], categories=p["categories"],
                          authors=p["authors"], excludes=p["excludes"]) for p in profiles]
    ranking = rank.rank(corpus, plain, limit=10)
    out = []
    for row, profile in enumerate(plain):
        picks = []
        for i, score, _followed in ranking.for_profile(row):
            picks.append(Pick.of(papers[i], float(score), reasons(corpus, profile, i)))
        if picks:
            out.append(picks)
    return out


def empty_caches() -> None:
    """Forget every per-paper cache the writer keeps, as if no paper of the digest had been
    seen (caches of single words stay: a worker's vocabulary is warm after its first
    digest). Present on the new writer only."""
    from newsletter.writing import extract, sentences, threads

    for cached in (extract.lines, extract._candidates, extract._versions, extract.told,
                   sentences._split, threads.terms_of, offline_writer.clean):
        cached.cache_clear()


def timed(all_picks: list[list[Pick]], *, cold: bool) -> list[float]:
    times = []
    for picks in all_picks:
        for locale in ("en", "zh"):
            if cold:
                try:
                    empty_caches()
                except (ImportError, AttributeError):
                    pass  # an older writer without these caches
            start = time.process_time()  # CPU time: the machine may be shared and busy
            offline_writer.write_offline(picks, locale)
            times.append((time.process_time() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    papers, profiles = load()
    all_picks = digests(papers, profiles)
    timed(all_picks, cold=False)  # imports and first-use set-up, not counted
    cold, warm = [], []
    for _ in range(args.rounds):
        cold += timed(all_picks, cold=True)
        timed(all_picks, cold=False)  # every digest's papers seen once more
        warm += timed(all_picks, cold=False)
    print(f"{len(all_picks) * 2} digests (en + zh) x {args.rounds} rounds, "
          f"{sum(len(p) for p in all_picks) / len(all_picks):.1f} cards a digest")
    for name, values in (("cold", cold), ("warm", warm)):
        values.sort()
        p95 = values[int(0.95 * (len(values) - 1))]
        print(f"{name}: {statistics.mean(values):6.2f} ms a digest (p95 {p95:.2f} ms)")


if __name__ == "__main__":
    main()
