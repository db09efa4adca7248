"""The ranking engine: plain papers and interest profiles in, ranked picks out.

Pure and vectorised (numpy + scipy.sparse), so `candidates.select_batch` runs it for a batch
of subscribers and `bench/rank.py` for 100,000 at once without a database. The papers are
indexed once (`ranking.index.Corpus`); every profile is then scored in bulk:

- Topics (phrase, all words, some words; Chinese through the glossary) and categories score
  a paper (`Corpus.topic_scores`, `Corpus.categories`); only phrase or all-words matches,
  or categories, can qualify it, and below `MIN_SCORE` nothing is padded in.
- Followed authors (full names, `core.text.author_key`) put a paper first, whatever else.
- Excluded words drop a paper (unless it is by a followed author: people complain most
  about missing those); feedback term weights nudge scores; recency breaks ties.
- A learned model (`learned.Model`, trained on the subscriber's library and ratings over
  the shared representation in `corpus.vectors`) adds its score in background units: a
  paper `learned.QUALIFY` deviations above the day's typical paper qualifies on its own.
  Profiles without a model rank exactly as without this step.
- Sources (journals) restrict a profile to their papers; sources alone, with no topic,
  category or author, qualify every paper of theirs, newest first.
- A greedy pass damps a sub-topic already picked, so one topic does not fill the digest.

Why each pick was made is `ranking.reasons`, computed for the picks only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from newsletter.core.text import author_key
from newsletter.ranking import learned
from newsletter.ranking.index import Corpus, Doc
from newsletter.ranking.text import tokens

# The engine's inputs are papers (`Doc`, indexed into a `Corpus`) and `Profile`s.
__all__ = ["FOLLOWED_BONUS", "MIN_SCORE", "Corpus", "Doc", "Profile", "Ranking",
           "feedback_weights", "rank"]

FEEDBACK_WEIGHT = 0.3
MIN_SCORE = 1.0
DIVERSITY_DECAY = 0.7  # each pick of a sub-topic multiplies the rest of that sub-topic by this
FOLLOWED_BONUS = 1e6
LEARNED_WEIGHT = 4.0  # a paper at QUALIFY deviations scores like a good phrase match


@dataclass
class Profile:
    keywords: Sequence[str] = ()
    categories: Sequence[str] = ()
    authors: Sequence[str] = ()
    excludes: Sequence[str] = ()
    sources: Sequence[str] = ()
    term_weights: Mapping[str, float] = field(default_factory=dict)  # stem -> [-1, 1]
    blocked: frozenset[int] = frozenset()  # doc indices this subscriber may not get
    model: learned.Model | None = None  # over `corpus.vectors`, same representation version
    anchors: np.ndarray | None = None  # library and liked papers' vectors, for the reason
    anchor_labels: Sequence[tuple[str, str]] = ()  # (title, year) of each anchor




@dataclass
class Ranking:
    """Picks per profile: doc indices (-1 where fewer qualify), scores, followed flags."""

    picks: np.ndarray
    scores: np.ndarray
    followed: np.ndarray

    def for_profile(self, row: int) -> list[tuple[int, float, bool]]:
        keep = self.picks[row] >= 0
        return list(zip(self.picks[row][keep].tolist(), self.scores[row][keep].tolist(),
                        self.followed[row][keep].tolist()))


def _incidence(lists: Sequence[Sequence[int]], width: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(x) for x in lists])
    idx = np.fromiter((c for x in lists for c in x), np.int64, count=int(indptr[-1]))
    return sp.csr_matrix((np.ones(len(idx), np.float32), idx, indptr), shape=(len(lists), width))


def rank(corpus: Corpus, profiles: Sequence[Profile], *, limit: int = 10,
         min_score: float = MIN_SCORE, chunk: int = 2048) -> Ranking:
    n, p = len(corpus.docs), len(profiles)
    if n == 0 or p == 0 or limit <= 0:
        empty = np.zeros((p, max(limit, 0)))
        return Ranking(empty.astype(np.int32) - 1, empty.astype(np.float32), empty.astype(bool))
    # Every distinct keyword and category becomes one column of a signal matrix, scored once.
    topic_ix: dict[str, int] = {}
    excl_ix: dict[str, int] = {}
    cat_index, cat_m = corpus.categories
    author_index, author_m = corpus.authors
    sig_lists, excl_lists, author_lists = [], [], []
    for prof in profiles:
        sig_lists.append(list(dict.fromkeys(
            topic_ix.setdefault(k.strip().casefold(), len(topic_ix)) for k in prof.keywords)))
        excl_lists.append([excl_ix.setdefault(k.strip().casefold(), len(excl_ix))
                           for k in prof.excludes])
        author_lists.append(sorted({author_index[a] for a in map(author_key, prof.authors)
                                    if a in author_index}))
    t = len(topic_ix)
    topics = corpus.topic_scores(list(topic_ix))
    zero_col = t + len(cat_index)
    cats = cat_m.toarray()
    pad = np.zeros((n, 1), np.float32)
    signals_t = np.ascontiguousarray(np.hstack([topics.score, cats, pad]).T)
    strong_t = np.ascontiguousarray(np.hstack([topics.strong, cats, pad]).T)
    for prof, cols in zip(profiles, sig_lists):
        cols.extend(t + cat_index[c.lower()] for c in prof.categories if c.lower() in cat_index)
    excl_t = corpus.topic_scores(list(excl_ix)).present.T.astype(np.float32)
    author_t = author_m.T.tocsr()
    doc_sources = np.asarray([d.source.casefold() for d in corpus.docs])
    doc_journals = np.asarray([(d.journal or "").casefold() for d in corpus.docs])

    m = min(n, max(3 * limit, limit + 10))
    picks = np.full((p, limit), -1, np.int32)
    scores = np.zeros((p, limit), np.float32)
    followed_out = np.zeros((p, limit), bool)
    rows_all = np.arange(chunk)
    for lo in range(0, p, chunk):
        hi = min(p, lo + chunk)
        c = hi - lo
        r = rows_all[:c]
        incidence = _incidence(sig_lists[lo:hi], zero_col + 1)
        base = np.asarray(incidence @ signals_t)
        strong = np.asarray(incidence @ strong_t)
        fb = [(i, prof.term_weights) for i, prof in enumerate(profiles[lo:hi]) if prof.term_weights]
        for i, tw in fb:
            vec = np.zeros(len(corpus.vocab), np.float32)
            for stem, wgt in tw.items():
                if stem in corpus.vocab:
                    vec[corpus.vocab[stem]] = wgt
            nudge = FEEDBACK_WEIGHT * (corpus.weights @ vec)
            base[i] += nudge
            strong[i] += nudge
        eligible = strong >= min_score
        with_model = [i for i, prof in enumerate(profiles[lo:hi]) if prof.model is not None]
        if with_model and corpus.vectors is not None:
            z = learned.score([profiles[lo + i].model for i in with_model], corpus.vectors,
                              corpus.weights, corpus.vocab)
            base[with_model] += LEARNED_WEIGHT * np.maximum(z, -learned.QUALIFY) / learned.QUALIFY
            eligible[with_model] |= z >= learned.QUALIFY
        for i, prof in enumerate(profiles[lo:hi]):
            if prof.sources and not (prof.keywords or prof.categories or prof.authors):
                eligible[i] = True  # journals alone: all their papers, newest first
        if any(excl_lists[lo:hi]):
            eligible &= (_incidence(excl_lists[lo:hi], len(excl_ix)) @ excl_t) == 0
        if any(author_lists[lo:hi]):
            followed = (_incidence(author_lists[lo:hi], len(author_index)) @ author_t).toarray() > 0
        else:
            followed = np.zeros((c, n), bool)
        eligible |= followed
        for i, prof in enumerate(profiles[lo:hi]):
            if prof.blocked:
                blocked = np.fromiter(prof.blocked, np.int64)
                eligible[i, blocked[blocked < n]] = False
            if prof.sources:
                wanted = [x.casefold() for x in prof.sources]
                eligible[i] &= np.isin(doc_sources, wanted) | np.isin(doc_journals, wanted)
        key = np.where(eligible, base + corpus.recency + followed * FOLLOWED_BONUS, -np.inf)
        if m < n:
            cand = np.argpartition(-key, m - 1, axis=1)[:, :m]
        else:
            cand = np.broadcast_to(np.arange(n), (c, n)).copy()
        adj = np.take_along_axis(key, cand, axis=1)
        cand_followed = np.take_along_axis(followed, cand, axis=1)
        cand_base = np.take_along_axis(base, cand, axis=1)
        # Dominant signal per candidate: the profile's keyword/category that scored it most.
        width = max(1, max(len(x) for x in sig_lists[lo:hi]))
        cols = np.full((c, width), zero_col, np.int64)
        for i, x in enumerate(sig_lists[lo:hi]):
            cols[i, :len(x)] = x
        contrib = signals_t[cols[:, None, :], cand[:, :, None]]
        dom = np.take_along_axis(cols, contrib.argmax(axis=2), axis=1)
        for s in range(limit):
            j = adj.argmax(axis=1)
            v = adj[r, j]
            ok = np.isfinite(v)
            picks[lo:hi, s] = np.where(ok, cand[r, j], -1)
            scores[lo:hi, s] = np.where(ok, cand_base[r, j], 0)
            followed_out[lo:hi, s] = ok & cand_followed[r, j]
            adj[r, j] = -np.inf
            same = (dom == dom[r, j][:, None]) & ~cand_followed & (adj > 0)
            adj = np.where(same, adj * DIVERSITY_DECAY, adj)
    return Ranking(picks, scores, followed_out)


def feedback_weights(signals: Sequence[tuple[str, str]]) -> dict[str, float]:
    """(paper title, 'more'|'less'|'click') -> stem weights in [-1, 1]: what to see more of.

    Each paper spreads its signal over its title's stems, so one long title does not outweigh
    several short ones; the result is scaled so the strongest stem is +-1.
    """
    value = {"more": 1.0, "click": 0.5, "less": -1.0}
    acc: dict[str, float] = {}
    for text, signal in signals:
        stems = set(tokens(text))
        for stem in stems:
            acc[stem] = acc.get(stem, 0.0) + value.get(signal, 0.0) / len(stems)
    top = max((abs(x) for x in acc.values()), default=0.0)
    return {k: x / top for k, x in acc.items() if x} if top else {}
