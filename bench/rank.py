"""Ranking speed: 100,000 subscribers with random 3-8 topic profiles x 2,000 papers, one core.

Run: `.venv/bin/python bench/rank.py [--subscribers N] [--papers N] [--learners F]`. Pure
engine only (no database): builds synthetic arXiv-like papers from the words of the
evaluation set, random profiles (keywords and categories, some followed authors, excluded
words and feedback), and for a third of them (`--learners`) a library of 10-200 papers and
a few ratings. It times, and prints:
- the shared representation of a 2,000-paper day: LSA fitted on it, then every paper
  embedded (target < 30 s), and embedding alone (what a harvest pays between refits);
- training the models of 10,000 changed subscribers (target < 60 s), from their stored
  library vectors and stems, as `learning.retrain` does;
- `rank.Corpus` + `rank.rank` for everyone, the learned scoring included (target <= 30 s;
  11.0 s before learning, without models);
- the memory of one subscriber model.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsletter.ranking import embedding, learned, rank

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


def texts(docs: list[rank.Doc]) -> list[str]:
    return [embedding.paper_text(d.title, d.abstract) for d in docs]


def learn(docs: list[rank.Doc], corpus: rank.Corpus, profiles: list[rank.Profile],
          share: float, rng: random.Random) -> tuple[np.ndarray, float]:
    """Representation, library pool, 10,000 retrains, models onto a share of the profiles."""
    start, cpu = time.perf_counter(), time.process_time()
    lsa = embedding.Lsa.fit(texts(docs), dims=256, version="bench")
    fitted = time.perf_counter()
    vectors = lsa.embed(texts(docs))
    embedded = time.perf_counter()
    print(f"representation of a {len(docs):,}-paper day: fit {fitted - start:.2f} s + embed "
          f"{embedded - fitted:.2f} s = {embedded - start:.2f} s (target < 30 s: "
          f"{'met' if embedded - start < 30 else 'NOT met'}; CPU "
          f"{time.process_time() - cpu:.2f} s); dims {lsa.dims}")
    pool = make_papers(4000, rng)  # library papers: stored with their vector and stems
    pool_vectors = lsa.embed(texts(pool))
    pool_terms = [learned.item_terms(d.title, d.abstract) for d in pool]
    rows = np.sort(np.random.default_rng(0).permutation(len(docs))[:1000])
    background = learned.Background(vectors[rows], corpus.weights[rows], corpus.vocab,
                                    corpus.df, len(docs))
    learners = [p for p in profiles if rng.random() < share]
    # A library clusters around a field: 200 fields, each pool paper in its nearest one.
    fields = np.argmax(pool_vectors @ pool_vectors[rng.sample(range(len(pool)), 200)].T, axis=1)
    members_of = [np.flatnonzero(fields == f).tolist() or [f] for f in range(200)]
    libraries = []
    for _ in learners:
        field = members_of[rng.randrange(200)]
        size = rng.randint(10, 200)
        chosen = rng.sample(field, min(size, len(field))) + rng.choices(
            range(len(pool)), k=max(0, size - len(field)))
        libraries.append((chosen, rng.sample(range(len(docs)), 6)))
    retrain = min(10_000, len(learners))
    start, cpu = time.perf_counter(), time.process_time()
    models = []
    for members, rated in libraries[:retrain]:
        positives = np.vstack([pool_vectors[members], vectors[rated[:4]]])
        terms = [pool_terms[i] for i in members]
        models.append(learned.train(positives, vectors[rated[4:]], background, terms))
    took = time.perf_counter() - start
    print(f"retraining {retrain:,} subscribers (libraries of 10-200 papers, 6 ratings): "
          f"{took:.2f} s (target < 60 s: {'met' if took < 60 else 'NOT met'}; CPU "
          f"{time.process_time() - cpu:.2f} s)")
    for n, profile in enumerate(learners):
        profile.model = models[n % len(models)]
    one = models[0]
    size = one.weights.nbytes + len(json.dumps(one.terms)) + 8
    print(f"{len(learners):,} subscribers with a model; one model stored: {size / 1024:.1f} KB "
          f"({one.weights.nbytes} B weights + {len(one.terms)} stems as JSON); "
          f"{len(learners) * size / 2**20:.0f} MB for all")
    return vectors, embedded - fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--learners", type=float, default=1 / 3,
                        help="share of subscribers with a library and ratings")
    args = parser.parse_args()
    rng = random.Random(7)
    docs = make_papers(args.papers, rng)
    profiles = make_profiles(args.subscribers, docs, rng)
    vectors = None
    if args.learners > 0:
        vectors, _ = learn(docs, rank.Corpus(docs), profiles, args.learners, rng)
    start, cpu = time.perf_counter(), time.process_time()
    corpus = rank.Corpus(docs)
    corpus.vectors = vectors  # stored once per paper: loading them is not re-embedding
    indexed = time.perf_counter()
    ranking = rank.rank(corpus, profiles, limit=args.limit)
    done = time.perf_counter()
    total = done - start
    picked = (ranking.picks >= 0).sum(axis=1)
    print(f"papers {len(docs)}, subscribers {len(profiles)}, limit {args.limit}, one thread")
    print(f"index {indexed - start:.2f} s, rank {done - indexed:.2f} s, total {total:.2f} s "
          f"(CPU {time.process_time() - cpu:.2f} s)")
    print(f"{len(profiles) / total:,.0f} subscribers/second")
    print(f"mean picks per subscriber {picked.mean():.1f}; with none {(picked == 0).mean():.1%}")
    target = 30 if args.learners > 0 else 60
    print(f"target: total <= {target} s:", "met" if total <= target else "NOT met")


if __name__ == "__main__":
    main()
