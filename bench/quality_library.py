"""Learned relevance on library-seeded profiles: train on one day, judge the next.

Run: `.venv/bin/python bench/quality_library.py` (also the second half of bench/quality.py).
Data: tests/data/eval/library (5 fields; per field a Zotero-style BibTeX library of 12
papers, typed topics, and labels for two days of arXiv RSS), with the main evaluation
set's papers as more background (its 11-16..18 feeds join day 1, 11-19..20 day 2).

Day 1 is "the recent corpus": the LSA representation is fitted on it and it is the
background sample the models are trained against. Day 2 is judged: precision@10 (relevant
among the first 10 picks, over 10, so a short digest counts as misses) for
  topics          typed topics only (today's engine)
  library         the imported library only, no words typed
  library+topics  both
  +10 ratings     library only, after rating the 10 day-1 papers the model is least sure
                  about (answers from the labels), as the preferences page asks
  svm             arxiv-sanity's method on the same library: TF-IDF (1-2 grams, sublinear)
                  and a linear SVM (C=0.01, balanced), library vs day 1, top 10 of day 2
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quality import EVAL_DIR, load_feeds
from newsletter.ranking import embedding, learned, rank
from newsletter.subscribers.library import parse_library

LIB_DIR = EVAL_DIR / "library"
DAY1 = ("2026-11-23", "2026-11-16", "2026-11-17", "2026-11-18")
DAY2 = ("2026-11-24", "2026-11-19", "2026-11-20")
RATINGS = 10


def day(dates: tuple[str, ...]) -> tuple[list[str], list[rank.Doc]]:
    paths = [p for d in (LIB_DIR, EVAL_DIR) for p in sorted(d.glob("*.rss.xml"))
             if p.name.split("_")[-1][:10] in dates]
    return load_feeds(paths)


def texts(docs: list[rank.Doc]) -> list[str]:
    return [embedding.paper_text(d.title, d.abstract) for d in docs]


def precision(picked: list[str], relevant: set[str], limit: int = 10) -> float:
    return sum(p in relevant for p in picked[:limit]) / limit


def svm_baseline(lib_texts: list[str], day1: list[str], day2: list[str]) -> np.ndarray:
    """arxiv-sanity-lite's recipe (serve.py / compute.py), on this data."""
    from sklearn import svm
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        strip_accents="unicode", lowercase=True, analyzer="word", stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", ngram_range=(1, 2), max_features=20000,
        norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True, max_df=0.1, min_df=2)
    vectorizer.fit(lib_texts + day1 + day2)  # arxiv-sanity fits on its whole database
    x = vectorizer.transform(lib_texts + day1)
    y = np.r_[np.ones(len(lib_texts)), np.zeros(len(day1))]
    clf = svm.LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.01)
    clf.fit(x, y)
    return clf.decision_function(vectorizer.transform(day2))


def background_of(docs: list[rank.Doc], vectors: np.ndarray) -> learned.Background:
    corpus = rank.Corpus(docs)
    return learned.Background(vectors, corpus.weights, corpus.vocab, corpus.df, len(docs))


def evaluate() -> list[dict]:
    profiles = json.loads((LIB_DIR / "profiles.json").read_text(encoding="utf-8"))
    labels = {k: set(v) for k, v in json.loads((LIB_DIR / "labels.json").read_text()).items()}
    ids1, docs1 = day(DAY1)
    ids2, docs2 = day(DAY2)
    started = time.perf_counter()
    lsa = embedding.Lsa.fit(texts(docs1), dims=256, version="eval")
    v1, v2 = lsa.embed(texts(docs1)), lsa.embed(texts(docs2))
    background = background_of(docs1, v1)
    corpus = rank.Corpus(docs2)
    corpus.vectors = v2
    rows = []
    for spec in profiles:
        relevant = labels[spec["name"]]
        _, entries, _ = parse_library((LIB_DIR / spec["library"]).read_bytes(), spec["library"])
        lib_texts = [embedding.paper_text(e.title, e.abstract) for e in entries]
        anchors = lsa.embed(lib_texts)
        terms = [learned.item_terms(e.title, e.abstract) for e in entries]
        model = learned.train(anchors, np.zeros((0, lsa.dims), np.float32), background, terms)
        # Active learning on day 1, answered from the labels.
        z1 = learned.score([model], v1, background.bm25, background.vocab)[0]
        asked = learned.least_sure(z1, RATINGS)
        liked = [i for i in asked if ids1[i] in relevant]
        disliked = [i for i in asked if ids1[i] not in relevant]
        rated = learned.train(np.vstack([anchors, v1[liked]]), v1[disliked], background,
                              terms + [learned.item_terms(docs1[i].title, docs1[i].abstract)
                                       for i in liked])
        variants = {
            "topics": rank.Profile(keywords=spec["keywords"]),
            "library": rank.Profile(model=model),
            "library+topics": rank.Profile(keywords=spec["keywords"], model=model),
            "+10 ratings": rank.Profile(model=rated),
        }
        ranking = rank.rank(corpus, list(variants.values()), limit=10)
        row = {"profile": spec["name"], "relevant": len(relevant & set(ids2)),
               "liked": len(liked)}
        for n, name in enumerate(variants):
            row[name] = precision([ids2[i] for i, _, _ in ranking.for_profile(n)], relevant)
        svm_scores = svm_baseline(lib_texts, texts(docs1), texts(docs2))
        row["svm"] = precision([ids2[i] for i in np.argsort(-svm_scores)], relevant)
        rows.append(row)
    rows.append({"seconds": time.perf_counter() - started, "day1": len(docs1),
                 "day2": len(docs2)})
    return rows


COLUMNS = ("topics", "library", "library+topics", "+10 ratings", "svm")


def main() -> None:
    *rows, info = evaluate()
    print(f"library-seeded profiles: fit on day 1 ({info['day1']} papers), judge day 2 "
          f"({info['day2']} papers); P@10")
    print(f"{'profile':10} {'rel':>4} " + " ".join(f"{c:>14}" for c in COLUMNS) + "  liked")
    for r in rows:
        print(f"{r['profile']:10} {r['relevant']:4d} "
              + " ".join(f"{r[c]:14.2f}" for c in COLUMNS) + f"  {r['liked']}/{RATINGS}")
    means = {c: sum(r[c] for r in rows) / len(rows) for c in COLUMNS}
    print(f"{'mean':10} {'':4} " + " ".join(f"{means[c]:14.2f}" for c in COLUMNS))
    print(f"checks: library > svm {'met' if means['library'] > means['svm'] else 'NOT met'}; "
          f"library+topics >= topics "
          f"{'met' if means['library+topics'] >= means['topics'] else 'NOT met'}; "
          f"+10 ratings >= library "
          f"{'met' if means['+10 ratings'] >= means['library'] else 'NOT met'}"
          f"  ({info['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
