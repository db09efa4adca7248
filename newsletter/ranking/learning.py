"""Keep the learned relevance current: representation, paper vectors, subscriber models.

The database side of `embedding` and `learned`. `refresh` is the one entry point, run after
a harvest (`newsletter learn`, the `learn` beat task) and before a batch is ranked
(`pipeline.prepare_batch`): it makes sure a representation is active (fitting LSA on the
recent corpus when there is none or it is older than `EMBEDDING_REFIT_DAYS`), embeds the
papers and library items that have no vector of that version yet, and retrains the models
of subscribers whose library or ratings changed. It does nothing at all while nobody has
a library or a rating, so the plain topic engine pays nothing for this.

`attach` (read-only, used by selection) gives the cached window index its vectors and each
profile its model, anchors and titles for the "close to your paper" reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import exists, func, update
from sqlmodel import Session, col, delete, select
from threadpoolctl import threadpool_limits

from newsletter.core.config import get_settings
from newsletter.core.models import (
    LibraryItem,
    Paper,
    PaperVector,
    Rating,
    Representation,
    SubscriberModel,
)
from newsletter.core.time import as_utc, utcnow
from newsletter.ranking import embedding, learned, rank

log = logging.getLogger(__name__)
MIN_FIT_PAPERS = 20  # below this a fitted representation would be noise
BATCH = 500  # rows embedded and written at a time
_cache: dict[str, embedding.Embedder] = {}
_lock = threading.Lock()


def mark_stale(session: Session, subscriber_id: int) -> None:
    """Their library or ratings changed: the next refresh retrains them (no commit)."""
    session.exec(update(SubscriberModel).where(SubscriberModel.subscriber_id == subscriber_id)
                 .values(stale=True))


def in_use(session: Session) -> bool:
    """Does anyone have a library or a rating? One indexed query."""
    return bool(session.exec(select(exists().where(LibraryItem.id.is_not(None)))).one()
                or session.exec(select(exists().where(Rating.id.is_not(None)))).one())


# --- representation ------------------------------------------------------------------------


def active(session: Session) -> embedding.Embedder | None:
    row = session.exec(select(Representation).where(Representation.active)).first()
    if row is None:
        return None
    with _lock:
        found = _cache.get(row.version)
    if found is None:
        if row.kind == "lsa":
            found = embedding.Lsa.from_state(row.version, row.state or b"")
        else:
            found = embedding.Model2Vec(get_settings().embedding_model_path)
            if found.version != row.version:  # the folder changed under the same setting
                return None
        with _lock:
            _cache[row.version] = found
    return found


def ensure_representation(session: Session, now: dt.datetime | None = None, *,
                          refit: bool = False) -> embedding.Embedder | None:
    """The active representation, fitted or switched to first when it is due."""
    settings = get_settings()
    now = as_utc(now or utcnow())
    if settings.embedding_model_path:
        current = active(session)
        model = embedding.Model2Vec(settings.embedding_model_path)
        if current is not None and current.version == model.version:
            return current
        return _activate(session, Representation(version=model.version, kind=model.kind,
                                                 dims=model.dims), model)
    row = session.exec(select(Representation).where(Representation.active)).first()
    due = row is None or row.kind != "lsa" or refit or \
        as_utc(row.created_at) < now - dt.timedelta(days=settings.embedding_refit_days)
    if not due:
        return active(session)
    rows = session.exec(select(Paper.id, Paper.title, Paper.abstract)
                        .where(*_window(now)).order_by(Paper.id)).all()
    if len(rows) < MIN_FIT_PAPERS:
        return active(session)
    texts = [embedding.paper_text(t, a) for _, t, a in rows]
    # The version names its content, so two processes never cache different fits as one.
    digest = hashlib.sha256("\n".join(f"{i}\t{t}" for i, t in zip(
        (r[0] for r in rows), texts)).encode()).hexdigest()[:10]
    version = f"lsa-{now:%Y%m%d%H%M%S}-{digest}"
    lsa = embedding.Lsa.fit(texts, dims=settings.embedding_dims, version=version)
    log.info("fitted representation %s on %d papers (%d dims)", version, len(texts), lsa.dims)
    return _activate(session, Representation(version=version, kind="lsa", dims=lsa.dims,
                                             state=lsa.state(), created_at=now), lsa)


def _activate(session: Session, row: Representation, model: embedding.Embedder
              ) -> embedding.Embedder:
    """Switch versions: the old one's paper vectors go (models retrain on the new one)."""
    old = [v for v in session.exec(select(Representation.version)) if v != row.version]
    session.exec(update(Representation).values(active=False))
    if session.get(Representation, row.version) is None:
        session.add(row)
    session.exec(update(Representation).where(Representation.version == row.version)
                 .values(active=True))
    if old:
        session.exec(delete(PaperVector).where(col(PaperVector.version).in_(old)))
        session.exec(delete(Representation).where(col(Representation.version).in_(old)))
    session.commit()
    with _lock:
        _cache[row.version] = model
    return model


def _window(now: dt.datetime) -> tuple:
    days = max(7, get_settings().candidate_days)
    return Paper.first_seen >= now - dt.timedelta(days=days), Paper.first_seen <= now


# --- vectors -------------------------------------------------------------------------------


def embed_papers(session: Session, model: embedding.Embedder, now: dt.datetime) -> int:
    """Store vectors for the window's papers that have none of this version (once each)."""
    missing = session.exec(
        select(Paper.id, Paper.title, Paper.abstract).where(*_window(now)).where(
            ~exists().where(PaperVector.paper_id == Paper.id,
                            PaperVector.version == model.version))).all()
    for start in range(0, len(missing), BATCH):
        chunk = missing[start:start + BATCH]
        vectors = model.embed([embedding.paper_text(t, a) for _, t, a in chunk])
        session.add_all(PaperVector(paper_id=pid, version=model.version,
                                    vector=embedding.to_bytes(v))
                        for (pid, _, _), v in zip(chunk, vectors))
        session.flush()
    return len(missing)


def embed_library(session: Session, model: embedding.Embedder,
                  subscriber_ids: list[int] | None = None) -> int:
    """Vectors (and stored stems) for library items not yet embedded in this version."""
    query = select(LibraryItem).where(
        (LibraryItem.vector_version.is_(None)) | (LibraryItem.vector_version != model.version))
    if subscriber_ids is not None:
        query = query.where(col(LibraryItem.subscriber_id).in_(subscriber_ids))
    items = session.exec(query).all()
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        vectors = model.embed([embedding.paper_text(i.title, i.abstract) for i in chunk])
        for item, vector in zip(chunk, vectors):
            item.vector, item.vector_version = embedding.to_bytes(vector), model.version
            item.terms = item.terms or learned.item_terms(item.title, item.abstract)
            session.add(item)
        session.flush()
    return len(items)


def paper_vectors(session: Session, model: embedding.Embedder, ids: list[str],
                  texts: list[str] | None = None) -> np.ndarray:
    """(len(ids), dims) for these papers: stored vectors, the rest embedded now (unstored)."""
    out = np.zeros((len(ids), model.dims), np.float32)
    stored: dict[str, bytes] = {}
    for start in range(0, len(ids), 5000):
        stored.update(session.exec(select(PaperVector.paper_id, PaperVector.vector).where(
            PaperVector.version == model.version,
            col(PaperVector.paper_id).in_(ids[start:start + 5000]))).all())
    missing = []
    for n, pid in enumerate(ids):
        vector = embedding.from_bytes(stored.get(pid), model.dims)
        if vector is None:
            missing.append(n)
        else:
            out[n] = vector
    if missing:
        if texts is None:
            rows = dict((p, embedding.paper_text(t, a)) for p, t, a in session.exec(
                select(Paper.id, Paper.title, Paper.abstract).where(
                    col(Paper.id).in_([ids[n] for n in missing]))))
            texts_missing = [rows.get(ids[n], "") for n in missing]
        else:
            texts_missing = [texts[n] for n in missing]
        out[missing] = model.embed(texts_missing)
    return out


# --- models --------------------------------------------------------------------------------


@dataclass
class Examples:
    """What one subscriber's model is trained on, and what its reasons may name."""

    positives: list[np.ndarray]
    negatives: list[np.ndarray]
    terms: list[dict]
    labels: list[tuple[str, str]]  # (title, year) per positive: the anchors of the reason


def examples(session: Session, model: embedding.Embedder, subscriber_ids: list[int]
             ) -> dict[int, Examples]:
    """Library items and rated papers of these subscribers, as vectors (two queries)."""
    out = {sid: Examples([], [], [], []) for sid in subscriber_ids}
    for item in session.exec(select(LibraryItem).where(
            col(LibraryItem.subscriber_id).in_(subscriber_ids),
            LibraryItem.vector_version == model.version).order_by(LibraryItem.id)):
        vector = embedding.from_bytes(item.vector, model.dims)
        if vector is not None:
            ex = out[item.subscriber_id]
            ex.positives.append(vector)
            ex.terms.append(item.terms or {})
            ex.labels.append((item.title, str(item.year or "")))
    rated = session.exec(select(Rating.subscriber_id, Rating.value, Paper).join(
        Paper, Paper.id == Rating.paper_id).where(col(Rating.subscriber_id).in_(subscriber_ids))
        .order_by(Rating.id)).all()
    vectors = paper_vectors(session, model, [p.id for _, _, p in rated],
                            [embedding.paper_text(p.title, p.abstract) for _, _, p in rated])
    for (sid, value, paper), vector in zip(rated, vectors):
        ex = out[sid]
        if value > 0:
            ex.positives.append(vector)
            ex.terms.append(learned.item_terms(paper.title, paper.abstract))
            ex.labels.append((paper.title, str(paper.published.year if paper.published else "")))
        else:
            ex.negatives.append(vector)
    return out


def background(session: Session, model: embedding.Embedder, corpus: rank.Corpus,
               ids: list[str]) -> learned.Background:
    """A fixed-seed sample of the window's papers, summarised for training."""
    size = get_settings().learning_background
    rows = np.sort(np.random.default_rng(0).permutation(len(ids))[:size])
    vectors = corpus.vectors[rows] if corpus.vectors is not None else \
        paper_vectors(session, model, [ids[i] for i in rows])
    return learned.Background(vectors, corpus.weights[rows], corpus.vocab, corpus.df,
                              len(ids))


def retrain(session: Session, model: embedding.Embedder, bg: learned.Background,
            subscriber_ids: list[int]) -> int:
    """Train and store the models of these subscribers; returns how many were stored.
    A subscriber with no example left (library emptied, ratings undone) loses the model."""
    trained = 0
    with threadpool_limits(1):  # many small solves: BLAS threads only fight each other
        for start in range(0, len(subscriber_ids), BATCH):
            trained += _retrain_chunk(session, model, bg, subscriber_ids[start:start + BATCH])
    return trained


def _retrain_chunk(session: Session, model: embedding.Embedder, bg: learned.Background,
                   chunk: list[int]) -> int:
    trained = 0
    found = examples(session, model, chunk)
    session.exec(delete(SubscriberModel).where(col(SubscriberModel.subscriber_id).in_(chunk)))
    for sid, ex in found.items():
        fitted = learned.train(np.asarray(ex.positives, np.float32).reshape(-1, model.dims),
                               np.asarray(ex.negatives, np.float32).reshape(-1, model.dims),
                               bg, ex.terms)
        if fitted is None:
            continue
        session.add(SubscriberModel(
            subscriber_id=sid, version=model.version, weights=embedding.to_bytes(fitted.weights),
            bias=fitted.bias, terms=fitted.terms, positives=fitted.positives,
            negatives=fitted.negatives))
        trained += 1
    session.flush()
    return trained


def due_for_training(session: Session, version: str,
                     subscriber_ids: list[int] | None = None) -> list[int]:
    """Subscribers with a library or ratings whose model is missing, stale or of an older
    representation."""
    libraries, rated = select(LibraryItem.subscriber_id), select(Rating.subscriber_id)
    models = select(SubscriberModel.subscriber_id).where(SubscriberModel.version == version,
                                                         ~col(SubscriberModel.stale))
    if subscriber_ids is not None:  # a batch's subscribers: three indexed lookups
        libraries = libraries.where(col(LibraryItem.subscriber_id).in_(subscriber_ids))
        rated = rated.where(col(Rating.subscriber_id).in_(subscriber_ids))
        models = models.where(col(SubscriberModel.subscriber_id).in_(subscriber_ids))
    wanted = {sid for (sid,) in session.execute(libraries.union(rated))}
    current = set(session.exec(models))
    orphans = set(session.exec(select(SubscriberModel.subscriber_id))) - wanted \
        if subscriber_ids is None else set()
    return sorted((wanted - current) | orphans)


@dataclass
class Refreshed:
    version: str | None = None
    papers: int = 0
    library: int = 0
    models: int = 0


def refresh(session: Session, now: dt.datetime | None = None,
            subscriber_ids: list[int] | None = None, *, refit: bool = False) -> Refreshed:
    """Representation, vectors and models up to date (for these subscribers, or everyone);
    commits. Nothing happens while nobody has a library or a rating."""
    if not refit and not in_use(session):
        return Refreshed()
    now = as_utc(now or utcnow())
    model = ensure_representation(session, now, refit=refit)
    if model is None:
        return Refreshed()
    done = Refreshed(model.version, embed_papers(session, model, now),
                     embed_library(session, model, subscriber_ids))
    due = due_for_training(session, model.version, subscriber_ids)
    if due:
        from newsletter.ranking.candidates import window_index

        index = window_index(session, now)
        attach_vectors(session, index, model)
        done.models = retrain(session, model, background(session, model, index.corpus,
                                                         index.ids), due)
    session.commit()
    return done


# --- selection (read-only) -----------------------------------------------------------------


def papers_to_rate(session: Session, subscriber, count: int = 10,
                   now: dt.datetime | None = None) -> list[Paper]:
    """"Rate these papers": the recent papers the subscriber's model is least sure about
    (active learning). Without a model yet: what their topics would pick, else the newest
    papers. Never a paper of their library or one they rated already."""
    from newsletter.ranking import candidates

    now = as_utc(now or utcnow())
    index = candidates.window_index(session, now)
    if not index.ids:
        return []
    profile = candidates.profile_for(session, subscriber)
    exclude = set(candidates.own_papers(session, index, [subscriber.id]).get(subscriber.id, ()))
    exclude.update(np.flatnonzero(index.wrong_type).tolist())
    model = attach_models(session, {subscriber.id: profile})
    if model is not None:
        attach_vectors(session, index, model)
        scores = learned.score([profile.model], index.corpus.vectors, index.corpus.weights,
                               index.corpus.vocab)[0]
        rows = learned.least_sure(scores, count, exclude)
    else:
        picks = candidates.select_papers(session, subscriber, limit=count, now=now)
        if picks:
            return [p.paper for p in picks]
        rows = [int(i) for i in np.argsort(-index.seen_at, kind="stable")
                if int(i) not in exclude][:count]
    ids = [index.ids[i] for i in rows]
    found = {p.id: p for p in session.exec(select(Paper).where(col(Paper.id).in_(ids)))}
    return [found[i] for i in ids if i in found]



def attach_vectors(session: Session, index, model: embedding.Embedder) -> None:
    """Give the cached window index its paper vectors of `model`'s version (once)."""
    if getattr(index, "vectors_version", None) == model.version:
        return
    index.corpus.vectors = paper_vectors(session, model, index.ids, [
        embedding.paper_text(d.title, d.abstract) for d in index.corpus.docs])
    index.vectors_version = model.version


def attach(session: Session, index, profiles: dict[int, rank.Profile]) -> None:
    """Models, anchors and reason titles onto the profiles that have a current model, and
    the window index's vectors when any does."""
    model = attach_models(session, profiles)
    if model is not None:
        attach_vectors(session, index, model)


def attach_models(session: Session, profiles: dict[int, rank.Profile]
                  ) -> embedding.Embedder | None:
    """`attach` without the index: returns the representation if any profile got a model."""
    if not profiles or not session.exec(select(func.count()).select_from(SubscriberModel).where(
            col(SubscriberModel.subscriber_id).in_(list(profiles)))).one():
        return None
    model = active(session)
    if model is None:
        return None
    rows = session.exec(select(SubscriberModel).where(
        col(SubscriberModel.subscriber_id).in_(list(profiles)),
        SubscriberModel.version == model.version)).all()
    found = examples(session, model, [r.subscriber_id for r in rows]) if rows else {}
    attached = False
    for row in rows:
        weights = embedding.from_bytes(row.weights, model.dims)
        if weights is None:
            continue
        profile, ex = profiles[row.subscriber_id], found[row.subscriber_id]
        profile.model = learned.Model(weights, row.bias, dict(row.terms or {}),
                                      row.positives, row.negatives)
        if ex.positives:
            profile.anchors = np.asarray(ex.positives, np.float32)
            profile.anchor_labels = ex.labels
        attached = True
    return model if attached else None
