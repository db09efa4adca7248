"""Learned relevance: a library or ratings teach a model; nobody else's ranking changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from newsletter.core import config
from newsletter.core.models import (
    LibraryItem,
    Paper,
    PaperVector,
    Rating,
    Representation,
    SubscriberModel,
)
from newsletter.harvest.harvester import harvest_file, store
from newsletter.locale.reasons import reason_text
from newsletter.ranking import candidates, embedding, learned, learning, rank
from newsletter.subscribers import library, lifecycle
from newsletter.tracking import ratings
from tests.factories import make_subscriber

EVAL = Path(__file__).parent / "data" / "eval" / "library"


@pytest.fixture
def papers(session):
    """The evaluation set's two days of arXiv RSS (140 papers, five fields), stored."""
    for path in sorted(EVAL.glob("*.rss.xml")):
        store(session, harvest_file(path, "arxiv_rss"))
    candidates._index = None  # another test's cached window must not leak in
    return session.exec(select(Paper)).all()


def with_library(session, name: str, **fields):
    subscriber = make_subscriber(session, f"{name}@example.org", **fields)
    library.import_library(session, subscriber, (EVAL / f"library_{name}.bib").read_bytes(),
                           lookup=False)
    return subscriber


def fields_of(picks) -> set[str]:
    return {c for p in picks for c in p.paper.categories}


def test_it_learns_a_field_from_a_library_with_no_topic_typed(session, papers):
    subscriber = with_library(session, "exo", keywords=())
    done = learning.refresh(session)
    assert done.version and done.models == 1 and done.papers == len(papers)
    picks = candidates.select_papers(session, subscriber, limit=10)
    assert len(picks) >= 8
    assert all("astro-ph.EP" in p.paper.categories for p in picks[:8])
    assert picks[0].reasons[0].kind == "similar"
    assert reason_text(picks[0].reasons[:1], "en").startswith("close to your paper “")
    assert reason_text(picks[0].reasons[:1], "zh").startswith("与你的论文《")


def test_it_ranks_a_subscriber_with_neither_library_nor_ratings_exactly_as_before(
        session, papers):
    plain = make_subscriber(session, "plain@example.org",
                            keywords=("gaussian splatting", "single-cell RNA sequencing"),
                            categories=("astro-ph.EP",), excludes=("avatars",))
    before = [(p.paper.id, p.score, p.reasons) for p in candidates.select_papers(session, plain)]
    with_library(session, "render", keywords=())
    ratings.rate(session, plain, papers[0], 0)  # an undo of nothing leaves no rating
    assert learning.refresh(session).models == 1
    candidates._index = None
    after = [(p.paper.id, p.score, p.reasons) for p in candidates.select_papers(session, plain)]
    assert after == before


def test_it_keeps_the_unlearned_engine_identical_when_vectors_are_attached():
    docs = [rank.Doc(title=f"Gaussian splatting scene {i}", abstract="radiance field " * i,
                     timestamp=float(i)) for i in range(1, 30)]
    profile = rank.Profile(keywords=["gaussian splatting"], excludes=["scene 7"])
    plain = rank.rank(rank.Corpus(docs), [profile])
    corpus = rank.Corpus(docs)
    corpus.vectors = np.random.default_rng(1).normal(size=(len(docs), 16)).astype(np.float32)
    assert rank.rank(corpus, [profile]).for_profile(0) == plain.for_profile(0)


def test_it_never_offers_a_paper_of_the_library_back(session, papers):
    subscriber = with_library(session, "render", keywords=("gaussian splatting",))
    shown = candidates.select_papers(session, subscriber, limit=15)[0].paper
    session.add(LibraryItem(subscriber_id=subscriber.id, key=f"title:{shown.title}",
                            title=shown.title.upper()))  # same paper, other spelling, no id
    session.commit()
    learning.refresh(session)
    assert shown.id not in {p.paper.id for p in candidates.select_papers(session, subscriber,
                                                                         limit=15)}


def test_it_blends_a_library_with_typed_topics_and_keeps_followed_authors_first(
        session, papers):
    subscriber = with_library(session, "cell", keywords=("spatial transcriptomics",),
                              authors=("Michael Zhang",))  # an exoplanet author
    learning.refresh(session)
    picks = candidates.select_papers(session, subscriber, limit=10)
    assert "Michael Zhang" in picks[0].paper.authors
    assert sum("q-bio.GN" in p.paper.categories for p in picks[1:]) >= 8


def test_it_prefers_fewer_papers_to_padding(session, papers):
    subscriber = with_library(session, "battery", keywords=())
    learning.refresh(session)
    picks = candidates.select_papers(session, subscriber, limit=15)
    assert 5 <= len(picks) < 15  # the field has 9 papers here; the rest is not padded in


def test_it_retrains_when_ratings_change_and_the_last_vote_wins(session, papers):
    subscriber = with_library(session, "interp", keywords=())
    learning.refresh(session)
    paper = next(p for p in papers if "Refusal" in p.title)
    ratings.rate(session, subscriber, paper, -1, "email")
    ratings.rate(session, subscriber, paper, 1, "web")
    row = session.exec(select(Rating)).one()
    assert (row.value, row.origin) == (1, "web")
    assert session.get(SubscriberModel, subscriber.id).stale
    assert learning.refresh(session).models == 1
    model = session.get(SubscriberModel, subscriber.id)
    assert not model.stale and model.positives == 13
    ratings.rate(session, subscriber, paper, 0)  # undo
    assert session.exec(select(Rating)).first() is None
    learning.refresh(session)
    assert session.get(SubscriberModel, subscriber.id).positives == 12


def test_it_learns_from_ratings_alone(session, papers):
    subscriber = make_subscriber(session, "rater@example.org", keywords=())
    liked = [p for p in papers if "astro-ph.EP" in p.categories][:6]
    for paper in liked:
        ratings.rate(session, subscriber, paper, 1, "rate")
    assert learning.refresh(session).models == 1
    picks = candidates.select_papers(session, subscriber, limit=5)
    assert len(picks) == 5 and not {p.paper.id for p in picks} & {p.id for p in liked}
    # Six examples are few: most, not necessarily all, of the first five are exoplanet papers.
    assert sum("astro-ph.EP" in p.paper.categories for p in picks) >= 4


def test_it_never_mixes_vectors_of_two_representation_versions(session, papers):
    subscriber = with_library(session, "exo", keywords=())
    first = learning.refresh(session).version
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    second = learning.refresh(session, later, refit=True).version
    assert second != first
    assert {v for (v,) in session.execute(select(PaperVector.version))} == {second}
    assert session.exec(select(Representation)).one().version == second
    assert session.get(SubscriberModel, subscriber.id).version == second
    assert {i.vector_version for i in session.exec(select(LibraryItem))} == {second}


def test_it_ignores_a_model_of_another_version(session, papers):
    subscriber = with_library(session, "exo", keywords=())
    learning.refresh(session)
    row = session.get(SubscriberModel, subscriber.id)
    row.version = "lsa-older"
    session.add(row)
    session.commit()
    assert candidates.select_papers(session, subscriber) == []  # no topics, no usable model


def test_it_asks_about_the_papers_the_model_is_least_sure_of():
    scores = np.asarray([9.0, 3.1, -2.0, 2.8, 0.5, 3.0], np.float32)
    assert learned.least_sure(scores, 3) == [5, 1, 3]
    assert learned.least_sure(scores, 2, exclude={5}) == [1, 3]


def test_it_embeds_through_a_local_model2vec_folder(session, papers, tmp_path, monkeypatch):
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = ["[UNK]", "[PAD]", "planet", "planets", "atmosphere", "exoplanet", "transit",
             "cell", "single-cell", "gene", "battery", "lithium", "gaussian", "splatting"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)},
                                           unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    vectors = np.eye(len(words), 16, dtype=np.float32) + 0.01
    StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True).save_pretrained(
        str(tmp_path / "tiny"))
    monkeypatch.setenv("EMBEDDING_MODEL_PATH", str(tmp_path / "tiny"))
    config.get_settings.cache_clear()
    subscriber = with_library(session, "exo", keywords=())
    done = learning.refresh(session)
    assert done.version.startswith("m2v-") and done.models == 1
    model = learning.active(session)
    assert isinstance(model, embedding.Model2Vec) and model.dims == 16
    a, b = model.embed(["planet atmosphere", "lithium battery"])
    assert abs(float(a @ a) - 1) < 1e-5 and float(a @ b) < 0.5
    assert candidates.select_papers(session, subscriber, limit=5)


def test_it_exports_and_deletes_the_library_and_ratings(session, papers):
    subscriber = with_library(session, "exo", keywords=())
    ratings.rate(session, subscriber, papers[0], -1, "email")
    learning.refresh(session)
    data = lifecycle.export_data(session, subscriber)
    assert len(data["library"]) == 12 and data["library"][0]["year"]
    assert data["ratings"] == [{"paper": papers[0].id, "rating": "less",
                                "at": data["ratings"][0]["at"]}]
    lifecycle.delete_data(session, subscriber)
    for table in (LibraryItem, Rating, SubscriberModel):
        assert session.exec(select(table)).first() is None


@pytest.mark.usefixtures("offline_feeds")
def test_it_names_the_nearest_library_paper_in_the_email_in_the_subscribers_language(
        session, papers):
    from newsletter.scheduling import pipeline

    subscriber = with_library(session, "render", keywords=(), locale="zh")
    result = pipeline.preview(session, subscriber, dt.date(2026, 11, 24))
    assert result.status != "empty"
    assert "与你的论文《" in result.text and "与你的论文《" in result.html
    assert reason_text(result.picks[0].reasons, "en").startswith(  # `preview --explain`
        "close to your paper “")


def test_it_still_drops_papers_with_an_excluded_word(session, papers):
    subscriber = with_library(session, "exo", keywords=(), excludes=("JWST",))
    learning.refresh(session)
    picks = candidates.select_papers(session, subscriber, limit=15)
    assert picks and not any("JWST" in p.paper.title + p.paper.abstract for p in picks)


def test_it_learns_from_the_cli_and_says_what_it_did(session, papers):
    from typer.testing import CliRunner

    from newsletter.cli import app

    runner = CliRunner()
    assert "nothing to learn" in runner.invoke(app, ["learn"]).output
    with_library(session, "cell", keywords=())
    result = runner.invoke(app, ["learn", "--email", "cell@example.org"])
    assert result.exit_code == 0, result.output
    assert f"{len(papers)} papers and 12 library items embedded, 1 models trained" in \
        " ".join(result.output.split())


def test_it_stores_the_nearest_paper_when_prepared_and_words_it_when_composed_elsewhere(
        session, papers):
    from newsletter.compose.view import compose_digest
    from newsletter.core.models import Digest, DigestItem
    from newsletter.scheduling import pipeline

    subscriber = with_library(session, "battery", keywords=())
    learning.refresh(session)
    digest = Digest(subscriber_id=subscriber.id, local_date=dt.date(2026, 11, 24))
    session.add(digest)
    session.commit()
    pipeline.prepare(session, digest.id, refresh=False)
    items = session.exec(select(DigestItem).where(DigestItem.digest_id == digest.id)).all()
    assert items and all(item.reasons[0]["kind"] == "similar" for item in items)
    assert all(item.reasons[0]["paper"]["title"] for item in items)
    candidates._index = None  # another worker process, without the window index or models
    compose_digest(session, digest)
    assert digest.text.count("close to your paper “") == len(items)
