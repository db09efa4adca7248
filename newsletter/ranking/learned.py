"""Per-subscriber relevance models over the shared representation: pure numpy, no database.

A model has two linear parts, trained on the subscriber's library and liked papers
(positives) against their disliked papers and a background sample of the recent corpus:

- dense: a weight vector over the shared representation (`embedding`), a regularised
  least-squares classifier solved in closed form. The background's Gram matrix is computed
  once and shared by every subscriber, so a retrain is one small (dims x dims) solve
  instead of an iterative fit per user;
- lexical: the positives' most distinctive stems (tf x idf against the corpus), weighed
  against each paper's BM25 term weights (`rank.Corpus.weights`). It keeps what a
  low-rank representation blurs: the field's own words ("splatting", "exoplanet").

Both parts are read in units of the background (0 = a typical paper of the corpus, 1 = one
standard deviation above), summed, so one threshold (`QUALIFY`) means the same for every
subscriber. Scoring everyone is one dense matrix product plus one sparse one.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from newsletter.ranking.text import tokens

QUALIFY = 3.0  # background deviations above the corpus' typical paper that qualify a paper
RIDGE = 0.05  # regularisation; the examples' total weight is ~2
NEGATIVE_WEIGHT = 1.0  # all the disliked papers together weigh this much
BACKGROUND_WEIGHT = 1.0  # the whole background sample weighs as much as all the positives
ITEM_TERMS = 30  # stems kept per library item (stored with it)
LEXICAL_ITEMS = 60  # the positives (latest first) whose stems make the lexical part
MODEL_TERMS = 120  # stems kept per model
LEXICAL_WEIGHT = 1.5  # the lexical part's weight beside the dense one (bench/quality.py)


@dataclass
class Model:
    weights: np.ndarray  # float32 (dims,), in background units
    bias: float
    terms: dict[str, float] = field(default_factory=dict)  # stem -> weight, background units
    positives: int = 0
    negatives: int = 0


def item_terms(title: str, abstract: str) -> dict[str, float]:
    """A paper's own stems, sublinear tf, unit length, the `ITEM_TERMS` strongest: computed
    once per library item (so a retrain never tokenizes a library again)."""
    counts = Counter(tokens(f"{title} {title} {abstract}"))
    weights = {t: 1 + math.log(c) for t, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    best = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:ITEM_TERMS]
    return {t: round(w / norm, 4) for t, w in best}


@dataclass
class Background:
    """A sample of the recent corpus, summarised once for every subscriber's training:
    its vectors, and (for the lexical part) its BM25 rows and the corpus' stem frequencies."""

    vectors: np.ndarray  # (m, dims) unit rows
    bm25: sp.spmatrix | None = None  # (m, vocab) the same papers' BM25 term weights
    vocab: Mapping[str, int] = field(default_factory=dict)
    df: np.ndarray | None = None  # documents per stem in the whole corpus
    n_docs: int = 0

    def __post_init__(self) -> None:
        x = np.hstack([self.vectors, np.ones((len(self.vectors), 1), np.float32)]).astype(
            np.float64)
        self.gram = x.T @ x / max(1, len(x))  # augmented with the bias column
        self.total = x.sum(axis=0) / max(1, len(x))
        self.mean = self.vectors.mean(axis=0).astype(np.float64) if len(self.vectors) else None
        centred = self.vectors - (self.mean if self.mean is not None else 0)
        self.cov = centred.T @ centred / max(1, len(self.vectors) - 1)

        if self.bm25 is not None:  # training slices it by stem: columns are cheap in CSC
            self.bm25 = sp.csc_matrix(self.bm25)
        # Every stem's idf once, as a plain dict: training looks up thousands of stems each.
        self.unseen_idf = math.log(self.n_docs + 1)
        self.idf: dict[str, float] = {}
        if self.df is not None and self.vocab:
            values = np.log((self.n_docs + 1) / (np.asarray(self.df, np.float64) + 1))
            self.idf = dict(zip(self.vocab, values[list(self.vocab.values())].tolist()))


def _augment(m: np.ndarray) -> np.ndarray:
    return np.hstack([m.astype(np.float64), np.ones((len(m), 1))])


def train(positives: np.ndarray, negatives: np.ndarray, background: Background,
          pos_terms: Sequence[Mapping[str, float]] = ()) -> Model | None:
    """The model for one subscriber; None without a positive example or a background."""
    if not len(positives) or not len(background.vectors):
        return None
    dims = positives.shape[1]
    p = _augment(positives)
    c = np.full(len(p), 1 / len(p))
    a = BACKGROUND_WEIGHT * background.gram + (p.T * c) @ p
    r = (p.T @ c) - BACKGROUND_WEIGHT * background.total
    if len(negatives):
        n = _augment(negatives)
        a += NEGATIVE_WEIGHT * n.T @ n / len(n)
        r -= NEGATIVE_WEIGHT * n.sum(axis=0) / len(n)
    reg = np.full(dims + 1, RIDGE)
    reg[-1] = 1e-6  # the bias is not shrunk
    solution = scipy.linalg.solve(a + np.diag(reg), r, assume_a="pos")  # symmetric, positive
    w = solution[:-1]  # the bias solved with it is replaced by the background's centre
    spread = float(np.sqrt(max(w @ background.cov @ w, 1e-12)))
    bias = -float(w @ background.mean) / spread
    terms, lexical_bias = _lexical(pos_terms, background)
    return Model((w / spread).astype(np.float32), bias + lexical_bias, terms,
                 len(positives), len(negatives))


def _lexical(pos_terms: Sequence[Mapping[str, float]], background: Background
             ) -> tuple[dict[str, float], float]:
    """The positives' distinctive stems, scaled so their score is in background units."""
    if not pos_terms or background.bm25 is None:
        return {}, 0.0
    summed: dict[str, float] = {}
    for item in pos_terms[-LEXICAL_ITEMS:]:  # plenty to find a field's words; bounds the cost
        for stem, w in item.items():
            summed[stem] = summed.get(stem, 0.0) + w
    idf, unseen = background.idf, background.unseen_idf
    weighted = [(w * idf.get(t, unseen), t) for t, w in summed.items()]
    best = {t: w for w, t in heapq.nlargest(MODEL_TERMS, weighted)}
    known = [(background.vocab[t], w) for t, w in best.items() if t in background.vocab]
    scores = np.zeros(background.bm25.shape[0])
    if known:  # the chosen columns of the CSC matrix, read directly (no sliced copy)
        cols, weights = (np.asarray(x) for x in zip(*known))
        indptr, m = background.bm25.indptr, background.bm25
        starts, ends = indptr[cols], indptr[cols + 1]
        at = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
        if len(at):
            scores = np.bincount(m.indices[at], weights=m.data[at] * np.repeat(
                weights, ends - starts), minlength=len(scores))
    spread = float(scores.std())
    if spread <= 0:
        return {}, 0.0
    scale = LEXICAL_WEIGHT / spread
    return ({t: round(w * scale, 6) for t, w in best.items()},
            -float(scores.mean()) * scale)


def score(models: Sequence[Model], vectors: np.ndarray, bm25: sp.csr_matrix | None = None,
          vocab: Mapping[str, int] | None = None) -> np.ndarray:
    """(models, papers) scores in background units: one dense and one sparse product."""
    weights = np.stack([m.weights for m in models])
    out = weights @ vectors.T + np.asarray([m.bias for m in models], np.float32)[:, None]
    if bm25 is not None and vocab is not None and any(m.terms for m in models):
        rows, cols, vals = [], [], []
        for i, m in enumerate(models):
            for stem, w in m.terms.items():
                if stem in vocab:
                    rows.append(i)
                    cols.append(vocab[stem])
                    vals.append(w)
        terms = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)),
                              shape=(len(models), bm25.shape[1]))
        out += (terms @ bm25.T).toarray()
    return out.astype(np.float32)


def nearest(anchors: np.ndarray, paper: np.ndarray) -> tuple[int, float]:
    """The anchor (library item or liked paper) closest to a paper: (index, cosine)."""
    sims = anchors @ paper
    best = int(np.argmax(sims))
    return best, float(sims[best])


def least_sure(scores: np.ndarray, count: int, exclude: set[int] = frozenset()) -> list[int]:
    """Active learning: the papers whose score is closest to the qualifying threshold."""
    order = np.argsort(np.abs(scores - QUALIFY), kind="stable")
    return [int(i) for i in order if int(i) not in exclude][:count]
