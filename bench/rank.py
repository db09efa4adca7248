"""Ranking speed: 100,000 subscribers with random 3-8 topic profiles x 2,000 papers, one core.

Run: `.venv/bin/python bench/rank.py [--subscribers N] [--papers N]`. Pure engine only (no
database): builds synthetic arXiv-like papers from the words of the evaluation set, random
profiles (keywords and categories, some followed authors, excluded words and feedback),
then times `rank.Corpus` + `rank.rank` and prints seconds and subscribers/second.
Target: at most 60 s.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsletter.ranking import rank

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "eval"
CATEGORIES = ["cs.CL", "cs.LG", "cs.AI", "cs.CV", "cs.RO", "cs.CR", "stat.ML", "quant-ph",
              "q-bio.BM", "astro-ph.CO", "eess.AS", "cond-mat.mtrl-sci", "physics.med-ph"]


def corpus_words() -> tuple[list[str], list[str]]:
    text = " ".join(p.read_text(encoding="utf-8") for p in EVAL_DIR.glob("*.rss.xml"))
    titles = re.findall(r"<title>([^<]+)</title>", text)
    words = re.findall(r"[A-Za-z][a-z-]{2,}", " ".join(re.findall(r"Abstract: ([^<]+)", text)))
    return words, titles


def make_papers(n: int, rng: random.Random) -> list[rank.Doc]:
    words, titles = corpus_words()
    topics = [t for t in titles if "updates on" not in t]
    authors = [f"Author{i} Surname{i % 977}" for i in range(20000)]
    docs = []
    for i in range(n):
        seed_title = rng.choice(topics).split()
        title = " ".join(seed_title[: rng.randint(4, len(seed_title))] + rng.sample(words, 3))
        abstract = " ".join(rng.choices(words, k=rng.randint(120, 220)))
        cats = rng.sample(CATEGORIES, rng.randint(1, 3))
        docs.append(rank.Doc(title=title, abstract=abstract, authors=rng.sample(authors, 4),
                             categories=cats, primary_category=cats[0], source="arxiv",
                             timestamp=float(i)))
    return docs


def make_profiles(n: int, docs: list[rank.Doc], rng: random.Random) -> list[rank.Profile]:
    words, titles = corpus_words()
    phrases = sorted({" ".join(t.split()[i:i + k]) for t in titles
                      for k in (1, 2, 3) for i in range(len(t.split()) - k + 1)})
    pool = rng.sample(phrases, 3000) + ["扩散模型", "大语言模型", "知识蒸馏", "强化学习"]
    profiles = []
    for _ in range(n):
        k = rng.randint(3, 8)
        n_cats = sum(rng.random() < 0.2 for _ in range(k))
        profiles.append(rank.Profile(
            keywords=rng.sample(pool, k - n_cats), categories=rng.sample(CATEGORIES, n_cats),
            authors=[rng.choice(rng.choice(docs).authors)] if rng.random() < 0.3 else [],
            excludes=[rng.choice(words)] if rng.random() < 0.2 else [],
            term_weights=({w.lower(): rng.uniform(-1, 1) for w in rng.sample(words, 20)}
                          if rng.random() < 0.05 else {}),
        ))
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    docs = make_papers(args.papers, rng)
    profiles = make_profiles(args.subscribers, docs, rng)
    start = time.perf_counter()
    corpus = rank.Corpus(docs)
    indexed = time.perf_counter()
    ranking = rank.rank(corpus, profiles, limit=args.limit)
    done = time.perf_counter()
    total = done - start
    picked = (ranking.picks >= 0).sum(axis=1)
    print(f"papers {len(docs)}, subscribers {len(profiles)}, limit {args.limit}, one thread")
    print(f"index {indexed - start:.2f} s, rank {done - indexed:.2f} s, total {total:.2f} s")
    print(f"{len(profiles) / total:,.0f} subscribers/second")
    print(f"mean picks per subscriber {picked.mean():.1f}; with none {(picked == 0).mean():.1%}")
    print("target: total <= 60 s:", "met" if total <= 60 else "NOT met")


if __name__ == "__main__":
    main()
