"""End to end in-process: a feed on a local server -> store -> select -> compose -> outbox."""

from __future__ import annotations

import datetime as dt
import email
import socket

import pytest
import time_machine
from sqlmodel import select

from newsletter.core import config
from newsletter.core.models import Digest, DigestItem, DigestStatus, Outcome, Paper, Source
from newsletter.delivery import state
from newsletter.harvest import harvester
from newsletter.scheduling import pipeline
from tests.factories import make_subscriber
from tests.feedserver import FeedServer, arxiv_rss

PAPERS = [
    dict(id="2611.20001", title="Scaling laws for small language models",
         abstract="We fit scaling laws for language models under a compute budget. "
                  "Small models trained longer match larger ones.",
         authors=["Ada Lovelace", "Grace Hopper"], categories=["cs.CL", "cs.LG"]),
    dict(id="2611.20002", title="Protein folding with diffusion",
         abstract="A diffusion model predicts protein structures. It is fast.",
         authors=["Rosalind Franklin"], categories=["q-bio.BM"]),
    dict(id="2611.20003", title="Language models as tutors",
         abstract="Language models can tutor students in algebra. We measure learning gains.",
         authors=["Alan Turing"], categories=["cs.CL"]),
]


@pytest.fixture
def feeds(session):
    """Every registered source points at one local server serving the same arXiv feed."""
    harvester.ensure_sources(session)
    server = FeedServer({})
    body = arxiv_rss("cs.CL", PAPERS)
    for source in session.exec(select(Source)).all():
        source.url = f"{server.url}/{source.name}"
        server.routes[f"/{source.name}"] = body if source.kind == "arxiv_rss" else b""
        source.enabled = source.kind == "arxiv_rss"
        session.add(source)
    session.commit()
    yield server
    server.close()


def new_digest(session, subscriber, day=dt.date(2026, 11, 24)) -> int:
    digest = Digest(subscriber_id=subscriber.id, local_date=day)
    session.add(digest)
    session.commit()
    return digest.id


def test_it_takes_a_digest_from_the_feed_to_the_outbox(session, feeds, settings_env):
    subscriber = make_subscriber(session, keywords=("language models",), categories=("cs.CL",))
    digest_id = new_digest(session, subscriber)

    assert pipeline.run_digest(digest_id) == DigestStatus.SENT

    session.expire_all()
    digest = session.get(Digest, digest_id)
    assert digest.sent_at is not None and digest.provider_message_id
    picked = session.exec(select(DigestItem.paper_id)
                          .where(DigestItem.digest_id == digest_id)).all()
    assert set(picked) >= {"arxiv:2611.20001", "arxiv:2611.20003"}
    assert "arxiv:2611.20002" not in picked  # protein folding matches nothing they follow
    emls = list(settings_env.outbox_dir.glob("*.eml"))
    htmls = list(settings_env.outbox_dir.glob("*.html"))
    assert len(emls) == 1 and len(htmls) == 1
    raw = emls[0].read_bytes()
    # A plain <https://...> on the wire: an RFC 2047-encoded URL is useless to mail clients.
    assert b"\nList-Unsubscribe: <https://hub.example.org/u/" in raw.replace(b"\r\n", b"\n")
    message = email.message_from_bytes(raw)
    assert message["To"] == subscriber.email
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in message.walk()][1:] == ["text/plain", "text/html"]
    assert "Scaling laws for small language models" in htmls[0].read_text()


def test_it_fetches_each_source_once_however_many_subscribers_want_it(session, feeds):
    ids = [new_digest(session, make_subscriber(session, f"r{n}@example.org", categories=("cs.CL",)))
           for n in range(3)]
    for digest_id in ids:
        pipeline.run_digest(digest_id)
    assert feeds.hits and max(feeds.hits.values()) == 1


def test_it_never_sends_the_same_paper_twice(session, feeds):
    subscriber = make_subscriber(session, keywords=("language models",))
    first = new_digest(session, subscriber, dt.date(2026, 11, 24))
    assert pipeline.run_digest(first) == DigestStatus.SENT
    second = new_digest(session, subscriber, dt.date(2026, 11, 25))
    assert pipeline.run_digest(second) == DigestStatus.SKIPPED
    session.expire_all()
    assert "no new papers" in session.get(Digest, second).error


def test_it_is_harmless_to_run_a_finished_digest_again(session, feeds, settings_env):
    subscriber = make_subscriber(session)
    digest_id = new_digest(session, subscriber)
    assert pipeline.run_digest(digest_id) == DigestStatus.SENT
    assert pipeline.run_digest(digest_id) == DigestStatus.SENT
    assert len(list(settings_env.outbox_dir.glob("*.eml"))) == 1


def test_it_previews_without_counting_the_papers_as_sent(session, feeds):
    subscriber = make_subscriber(session, keywords=("language models",))
    harvester.harvest(session)
    result = pipeline.preview(session, subscriber, dt.date(2026, 11, 24))
    assert result.html and result.text and b"List-Unsubscribe" in result.eml
    assert session.exec(select(Digest)).all() == []  # nothing recorded
    digest_id = new_digest(session, subscriber)
    assert pipeline.run_digest(digest_id) == DigestStatus.SENT  # the same papers still go out
    assert session.exec(select(Paper)).all()


def test_it_stores_reasons_as_data_and_previews_a_stored_digest_from_them(session, feeds):
    from newsletter.ranking.reasons import Reason

    subscriber = make_subscriber(session, keywords=("language models",),
                                 authors=("Hopper, Grace",))
    digest_id = new_digest(session, subscriber)
    assert pipeline.run_digest(digest_id) == DigestStatus.SENT
    items = session.exec(select(DigestItem).where(DigestItem.digest_id == digest_id)
                         .order_by(DigestItem.rank)).all()
    assert items[0].reasons[0] == {"kind": "author", "value": "Hopper, Grace",
                                   "matched": ["Grace Hopper"]}
    assert all(item.reasons and item.reason == "" for item in items)
    shown = pipeline.preview(session, subscriber, dt.date(2026, 11, 24))  # the stored digest
    assert shown.picks[0].reasons[0] == Reason("author", "Hopper, Grace", ("Grace Hopper",))
    assert shown.picks[0].followed_author == "Grace Hopper"
    assert [p.paper.id for p in shown.picks] == [item.paper_id for item in items]


def test_a_tick_picks_up_a_digest_whose_chain_was_lost(session, feeds):
    subscriber = make_subscriber(session, keywords=("language models",))
    claimed = dt.datetime(2026, 11, 24, 7, 5, tzinfo=dt.UTC)
    lost = Digest(subscriber_id=subscriber.id, local_date=claimed.date(),
                  created_at=claimed)  # claimed, then the task vanished
    session.add(lost)
    session.commit()
    # The sweeps read the wall clock (a tick's `now` may be pretend): set it two hours on.
    with time_machine.travel(claimed + dt.timedelta(hours=2), tick=True):
        result = pipeline.send_due()
        assert result.resumed == [lost.id]
        assert result.outcomes[lost.id] == DigestStatus.SENT
        assert pipeline.send_due().resumed == []  # done is done


def test_a_tick_reports_each_digest_it_could_not_finish_with_the_reason(session, feeds,
                                                                      monkeypatch):
    with socket.socket() as closed:  # a port nobody listens on: the relay is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name, value in {"EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1",
                        "SMTP_PORT": str(port), "SMTP_SECURITY": "none"}.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    first = make_subscriber(session, "first@example.org")
    second = make_subscriber(session, "second@example.org")

    result = pipeline.send_due(dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC))

    assert [d.subscriber_id for d in result.claimed] == [first.id, second.id]
    for digest in result.claimed:  # the first failure did not stop the tick
        assert result.outcomes[digest.id] == Outcome.ERROR
        assert result.errors[digest.id].startswith("SMTP unavailable")
        assert session.get(Digest, digest.id).status == DigestStatus.COMPOSED  # for a retry


def test_it_reports_an_id_with_no_digest_as_missing_at_every_step(session):
    assert pipeline.prepare(session, 404) == Outcome.MISSING
    assert pipeline.compose_step(session, 404) == Outcome.MISSING
    assert pipeline.deliver_step(session, 404) == Outcome.MISSING
    assert state.deliver_many(session, [404]) == {404: Outcome.MISSING}


def test_it_runs_a_batch_of_digests_through_each_step_once(session, feeds, settings_env):
    readers = [make_subscriber(session, f"b{n}@example.org", keywords=("language models",))
               for n in range(3)]
    nothing = make_subscriber(session, "none@example.org", keywords=("volcanoes",),
                              categories=("astro-ph.GA",))
    ids = [new_digest(session, reader) for reader in [*readers, nothing]]

    prepared = pipeline.prepare_batch(session, ids)
    assert prepared == dict(zip(ids, ["pending"] * 3 + ["skipped"]))
    assert max(feeds.hits.values()) == 1  # the sources the batch needs, fetched once
    items = session.exec(select(DigestItem.digest_id, DigestItem.paper_id)).all()
    assert pipeline.prepare_batch(session, ids) == prepared  # again: nothing added
    assert session.exec(select(DigestItem.digest_id, DigestItem.paper_id)).all() == items

    statuses, failed = pipeline.compose_batch(session, ids)
    assert statuses == dict(zip(ids, ["composed"] * 3 + ["skipped"])) and failed == []
    assert pipeline.compose_batch(session, ids) == (statuses, [])
    assert state.deliver_many(session, ids) == dict(zip(ids, ["sent"] * 3 + ["skipped"]))
    assert state.deliver_many(session, ids) == dict(zip(ids, ["sent"] * 3 + ["skipped"]))
    assert len(list(settings_env.outbox_dir.glob("*.eml"))) == 3


def test_it_checks_freshness_in_one_query_before_any_fetch(session, feeds):
    names = ["arxiv-cs.CL", "arxiv-cs.LG"]
    assert not harvester.all_fresh(session, names)  # never fetched
    harvester.harvest(session, names)
    assert harvester.all_fresh(session, names)
    assert not harvester.all_fresh(session, [*names, "arxiv-cs.CV"])  # one is missing
    hits = dict(feeds.hits)
    digest_id = new_digest(session, make_subscriber(session, keywords=(), categories=("cs.CL",)))
    assert pipeline.run_digest(digest_id) == DigestStatus.SENT
    assert feeds.hits == hits  # everything it needed was fresh: no request at all
