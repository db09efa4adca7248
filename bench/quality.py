"""Ranking quality on the hand-labelled evaluation set (tests/data/eval).

Run: `.venv/bin/python bench/quality.py`. Parses the arXiv RSS files there, ranks the papers
for each of the 10 interest profiles with `newsletter.ranking`, and prints per profile the
precision@10 (relevant among the first 10 picks, over 10), recall@10, recall over everything
that clears the minimum score, and the recall of papers by followed authors (target 100%).
Relevance labels were judged by hand against each profile's `need`.
"""

from __future__ import annotations

import json
import re
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsletter.core.text import author_key
from newsletter.ranking import rank

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "eval"
_GUID = re.compile(r"arXiv\.org:(.+?)v\d+$")


def load_papers(directory: Path = EVAL_DIR) -> tuple[list[str], list[rank.Doc]]:
    return load_feeds(sorted(directory.glob("*.rss.xml")))


def load_feeds(paths: list[Path]) -> tuple[list[str], list[rank.Doc]]:
    ids, docs = [], []
    for path in paths:
        feed = feedparser.parse(path.read_bytes())
        for entry in feed.entries:
            ids.append("arxiv:" + _GUID.search(entry.id).group(1))
            abstract = entry.summary.split("Abstract:", 1)[-1].strip()
            docs.append(rank.Doc(
                title=entry.title, abstract=abstract,
                authors=[a.strip() for a in entry.get("author", "").split(",") if a.strip()],
                categories=[t.term for t in entry.get("tags", [])],
                source="arxiv",
                timestamp=parsedate_to_datetime(entry.published).timestamp(),
            ))
    return ids, docs


def load_profiles(directory: Path = EVAL_DIR) -> tuple[list[dict], dict[str, set[str]]]:
    profiles = json.loads((directory / "profiles.json").read_text(encoding="utf-8"))
    labels = json.loads((directory / "labels.json").read_text(encoding="utf-8"))
    return profiles, {name: set(ids) for name, ids in labels.items()}


def evaluate(limit: int = 10) -> list[dict]:
    ids, docs = load_papers()
    profiles, labels = load_profiles()
    corpus = rank.Corpus(docs)
    plain = [rank.Profile(keywords=p["keywords"], categories=p["categories"],
                          authors=p["authors"], excludes=p["excludes"]) for p in profiles]
    top = rank.rank(corpus, plain, limit=limit)
    everything = rank.rank(corpus, plain, limit=len(docs))
    rows = []
    for row, (spec, prof) in enumerate(zip(profiles, plain)):
        relevant = labels.get(spec["name"], set())
        first = [ids[i] for i, _, _ in top.for_profile(row)]
        allp = [ids[i] for i, _, _ in everything.for_profile(row)]
        keys = {author_key(a) for a in prof.authors}
        by_followed = {ids[i] for i, d in enumerate(docs)
                       if keys & {author_key(a) for a in d.authors}}
        rows.append({
            "profile": spec["name"], "relevant": len(relevant), "picked": len(first),
            "p_at_10": sum(x in relevant for x in first) / limit,
            "recall_at_10": sum(x in relevant for x in first) / max(1, min(limit, len(relevant))),
            "recall": len(relevant & set(allp)) / max(1, len(relevant)),
            "precision_all": len(relevant & set(allp)) / max(1, len(allp)),
            "followed": len(by_followed),
            "followed_recall": (len(by_followed & set(first)) / len(by_followed)
                                if by_followed else None),
        })
    return rows


def main() -> None:
    typed_topics()
    print()
    from bench import quality_library

    quality_library.main()


def typed_topics() -> None:
    rows = evaluate()
    print(f"{'profile':26} {'rel':>4} {'P@10':>6} {'R@10*':>6} {'recall':>7} {'prec':>6}"
          f" {'followed':>9}")
    for r in rows:
        followed = "-" if r["followed_recall"] is None else \
            f"{r['followed_recall']:.0%} of {r['followed']}"
        print(f"{r['profile']:26} {r['relevant']:4d} {r['p_at_10']:6.2f} {r['recall_at_10']:6.2f}"
              f" {r['recall']:7.2f} {r['precision_all']:6.2f} {followed:>9}")
    n = len(rows)
    followed = [r for r in rows if r["followed_recall"] is not None]
    print(f"mean P@10 {sum(r['p_at_10'] for r in rows) / n:.3f}; "
          f"mean R@10* {sum(r['recall_at_10'] for r in rows) / n:.3f}; "
          f"mean recall {sum(r['recall'] for r in rows) / n:.3f}; "
          f"mean precision of all picks {sum(r['precision_all'] for r in rows) / n:.3f}")
    found = sum(r["followed_recall"] * r["followed"] for r in followed)
    total = sum(r["followed"] for r in followed)
    print(f"followed authors' papers in the top 10: {found:.0f} of {total} "
          f"({found / max(1, total):.0%})")
    print("R@10* = relevant in the top 10 / min(10, relevant); recall and prec over every pick"
          " that clears the minimum score")


if __name__ == "__main__":
    main()
