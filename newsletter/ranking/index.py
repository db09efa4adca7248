"""The index of candidate papers: built once, scored against every profile at once.

`Corpus` turns papers (`Doc`, plain data) into sparse matrices (numpy + scipy.sparse):
BM25F weights over title + abstract (title boosted), which stems and bigrams each field
holds (phrases), categories and archives, followed-author keys. `topic_scores` scores any
number of topics against all papers in a few matrix products:

- A topic matches as a phrase (every adjacent pair of its tokens present, in the title or
  the abstract) for full weight; all its words scattered (hyphenated words kept whole) for
  a third; some of them for a trace, which orders papers but never qualifies one. Topics
  typed in Chinese also match through the glossary (`ranking.text.topic_forms`).
- Categories (primary more than cross-listed; "cs" means all of cs.*) get a fixed score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from newsletter.core.text import author_key
from newsletter.ranking.text import STOPWORDS, bigrams, tokens_with_stops, topic_forms

__all__ = ["Corpus", "Doc", "TopicScores"]

TITLE_BOOST = 3.0
K1, B = 1.2, 0.75
PRIOR_DOCS = 100  # idf smoothing: a tiny preview corpus must not make every term look common
PHRASE, ALL_WORDS, SOME_WORDS = 1.0, 0.35, 0.1
CATEGORY_PRIMARY, CATEGORY_CROSS = 1.5, 1.2
RECENCY_EPS = 1e-3  # recency only breaks ties


@dataclass(frozen=True)
class Doc:
    title: str
    abstract: str = ""
    authors: Sequence[str] = ()
    categories: Sequence[str] = ()
    primary_category: str | None = None
    source: str = ""
    timestamp: float = 0.0  # larger is newer; only breaks ties
    journal: str = ""  # a preprint's journal version ("Nature"): a source interest matches it




@dataclass
class TopicScores:
    score: np.ndarray  # papers x topics, every kind of match
    strong: np.ndarray  # only phrase or all-words matches: what may qualify a paper
    present: np.ndarray  # bool, the topic appears as a phrase (excluded words use this)




class Corpus:
    """The candidate papers, indexed once; every profile is scored against it."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = list(docs)
        n = len(self.docs)
        self.title_tokens = [tokens_with_stops(d.title) for d in self.docs]
        self.abstract_tokens = [tokens_with_stops(d.abstract) for d in self.docs]
        # Flat lists per (doc, field) segment, turned into sparse matrices in bulk below:
        # content stems (with repeats, for term frequency) and the set of stems and bigrams
        # present (stopwords included, for phrases).
        content, present, content_len, present_len = [], [], [], []
        for tt, at in zip(self.title_tokens, self.abstract_tokens):
            for toks in (tt, at):
                stems = [t for t in toks if t not in STOPWORDS]
                feats = set(toks)
                feats.update(bigrams(toks))
                content.extend(stems)
                present.extend(feats)
                content_len.append(len(stems))
                present_len.append(len(feats))
        vocab: dict[str, int] = {}
        content_ids = np.fromiter((vocab.setdefault(x, len(vocab)) for x in content), np.int64,
                                  count=len(content))
        present_ids = np.fromiter((vocab.setdefault(x, len(vocab)) for x in present), np.int64,
                                  count=len(present))
        self.vocab = vocab
        v = len(vocab)
        segment = np.arange(2 * n)
        c_seg = np.repeat(segment, content_len)
        p_seg = np.repeat(segment, present_len)

        def matrix(seg: np.ndarray, ids: np.ndarray, field: int) -> sp.csr_matrix:
            keep = seg % 2 == field
            ones = np.ones(int(keep.sum()), np.float32)
            return sp.csr_matrix((ones, (seg[keep] // 2, ids[keep])), shape=(n, v))

        tf_title, tf_abstract = matrix(c_seg, content_ids, 0), matrix(c_seg, content_ids, 1)
        lens = np.asarray(content_len, np.float32).reshape(n, 2) if n else np.zeros((0, 2))
        norm = 1 - B + B * lens / np.maximum(lens.mean(axis=0), 1.0) if n else lens
        tf = (tf_title.multiply(TITLE_BOOST / norm[:, :1]) +
              tf_abstract.multiply(1 / norm[:, 1:])).tocsr()
        df = np.bincount(tf.indices, minlength=v).astype(np.float32)
        self.df = df  # documents per stem: the learned models' idf
        idf = np.log1p((n + PRIOR_DOCS - df + 0.5) / (df + 0.5))
        tf.data = (idf[tf.indices] * tf.data * (K1 + 1) / (K1 + tf.data)).astype(np.float32)
        self.weights = tf
        self.in_title = matrix(p_seg, present_ids, 0)
        self.in_abstract = matrix(p_seg, present_ids, 1)
        self.anywhere = ((self.in_title + self.in_abstract) > 0).astype(np.float32)
        stamps = np.asarray([d.timestamp for d in self.docs], np.float64)
        span = float(stamps.max() - stamps.min()) if n else 0.0
        self.recency = ((stamps - stamps.min()) / span if span else np.zeros(n)) * RECENCY_EPS
        self.vectors: np.ndarray | None = None  # (n, dims) shared representation, if any

    @cached_property
    def categories(self) -> tuple[dict[str, int], sp.csr_matrix]:
        """Category (and archive: 'cs' for cs.*) scores per paper."""
        index: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, d in enumerate(self.docs):
            primary = (d.primary_category or (d.categories[0] if d.categories else "")).lower()
            seen: dict[int, float] = {}
            for cat in d.categories:
                cat = cat.lower()
                score = CATEGORY_PRIMARY if cat == primary else CATEGORY_CROSS
                for key, s in ((cat, score), (cat.split(".")[0], CATEGORY_CROSS)):
                    col = index.setdefault(key, len(index))
                    seen[col] = max(seen.get(col, 0.0), s)
            for col, s in seen.items():
                rows.append(i)
                cols.append(col)
                vals.append(s)
        m = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)),
                          shape=(len(self.docs), len(index)))
        return index, m

    @cached_property
    def authors(self) -> tuple[dict[str, int], sp.csr_matrix]:
        index: dict[str, int] = {}
        rows, cols = [], []
        for i, d in enumerate(self.docs):
            for key in {author_key(a) for a in d.authors} - {""}:
                rows.append(i)
                cols.append(index.setdefault(key, len(index)))
        m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                          shape=(len(self.docs), len(index)))
        return index, m

    def topic_scores(self, topics: Sequence[str]) -> TopicScores:
        """Per paper x topic: the match score, its part from whole matches, phrase presence."""
        forms, owner = [], []
        for j, topic in enumerate(topics):
            for form in topic_forms(topic):
                forms.append(form)
                owner.append(j)
        n, v = len(self.docs), len(self.vocab)
        f = len(forms)
        u_rows, u_cols, b_rows, b_cols, g_rows, g_cols = [], [], [], [], [], []
        need_u = np.zeros(f, np.float32)
        need_b = np.zeros(f, np.float32)
        need_g = np.zeros(f, np.float32)
        for k, fm in enumerate(forms):
            toks = fm.tokens
            content = {t for t in toks if t not in STOPWORDS}
            grams = set(bigrams(toks))
            need_u[k], need_b[k], need_g[k] = len(content), len(grams), len(fm.glued)
            for items, rws, cls in ((content, u_rows, u_cols), (grams, b_rows, b_cols),
                                    (fm.glued, g_rows, g_cols)):
                for item in items:
                    if item in self.vocab:
                        rws.append(self.vocab[item])
                        cls.append(k)

        def incidence(rws: list[int], cls: list[int]) -> sp.csr_matrix:
            return sp.csr_matrix((np.ones(len(rws), np.float32), (rws, cls)), shape=(v, f))

        U, Bm, G = incidence(u_rows, u_cols), incidence(b_rows, b_cols), incidence(g_rows, g_cols)
        wsum = (self.weights @ U).toarray()
        have = (self.anywhere @ U).toarray()
        all_words = (have >= need_u) & (need_u > 0) & ((self.anywhere @ G).toarray() >= need_g)
        phrase_t = ((self.in_title @ Bm).toarray() >= need_b) & all_words
        phrase_a = ((self.in_abstract @ Bm).toarray() >= need_b) & all_words
        phrase = phrase_t | phrase_a
        factor = np.where(phrase, PHRASE, np.where(all_words, ALL_WORDS, SOME_WORDS))
        scores = (wsum * factor).astype(np.float32)
        out = np.zeros((n, len(topics)), np.float32)
        strong = np.zeros((n, len(topics)), np.float32)
        present = np.zeros((n, len(topics)), bool)
        if f:
            owner_a = np.asarray(owner)
            starts = np.flatnonzero(np.r_[True, owner_a[1:] != owner_a[:-1]])
            cols = owner_a[starts]
            out[:, cols] = np.maximum.reduceat(scores, starts, axis=1)
            strong[:, cols] = np.maximum.reduceat(np.where(phrase | all_words, scores, 0),
                                                  starts, axis=1)
            present[:, cols] = np.logical_or.reduceat(phrase, starts, axis=1)
        return TopicScores(out, strong, present)
