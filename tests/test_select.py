"""Selecting a subscriber's papers from the database: window, never twice, reasons, feedback."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import select

from newsletter.core.models import (
    Digest,
    DigestItem,
    DigestStatus,
    Feedback,
    Interest,
    Paper,
    Subscriber,
)
from newsletter.core.time import utcnow
from newsletter.locale.reasons import reason_text
from newsletter.ranking.candidates import select_batch, select_papers, window_index
from newsletter.ranking.reasons import Reason
from tests.factories import make_paper, make_subscriber

# Times as the models store them (naive or aware UTC, whichever `utcnow` gives).
NOW = dt.datetime(2026, 11, 26, 8, 0, tzinfo=utcnow().tzinfo)


def ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def gnn_paper(session, title="Graph neural networks at scale", **fields) -> Paper:
    fields.setdefault("first_seen", ago(hours=10))
    return make_paper(session, title=title, **fields)


def digest_with(session, subscriber, papers, *, status=DigestStatus.SENT, sent_at=None,
                local_date=dt.date(2026, 11, 20)) -> Digest:
    made = (sent_at - dt.timedelta(minutes=20)) if sent_at else ago(days=6)
    digest = Digest(subscriber_id=subscriber.id, local_date=local_date, status=status,
                    created_at=made, sent_at=sent_at)
    session.add(digest)
    session.flush()
    for rank, paper in enumerate(papers, start=1):
        session.add(DigestItem(digest_id=digest.id, paper_id=paper.id, rank=rank))
    session.commit()
    return digest


def ids(picks) -> list[str]:
    return [p.paper.id for p in picks]


def test_it_picks_papers_first_seen_since_the_last_sent_digest_was_made(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    digest_with(session, ada, [], sent_at=ago(days=2))  # made 20 minutes before it was sent
    gnn_paper(session, first_seen=ago(days=3))
    during_send = gnn_paper(session, first_seen=ago(days=2, minutes=10))
    new = gnn_paper(session, first_seen=ago(days=1))
    assert ids(select_papers(session, ada, now=NOW)) == [new.id, during_send.id]


def test_it_looks_back_at_most_a_week(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    digest_with(session, ada, [], sent_at=ago(days=30))
    gnn_paper(session, first_seen=ago(days=8))
    recent = gnn_paper(session, first_seen=ago(days=6))
    gnn_paper(session, first_seen=NOW + dt.timedelta(hours=1))  # not yet seen at `now`
    assert ids(select_papers(session, ada, now=NOW)) == [recent.id]


def test_it_gives_weekly_subscribers_the_week(session):
    ada = make_subscriber(session, keywords=("graph neural networks",), frequency="weekly")
    gnn_paper(session, first_seen=ago(days=7, hours=1))
    in_week = gnn_paper(session, first_seen=ago(days=6, hours=20))
    assert ids(select_papers(session, ada, now=NOW)) == [in_week.id]


def test_it_never_picks_a_paper_from_an_earlier_digest_again(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    sent = gnn_paper(session)
    failed = gnn_paper(session)
    fresh = gnn_paper(session)
    digest_with(session, ada, [sent], sent_at=ago(days=3), local_date=dt.date(2026, 11, 23))
    digest_with(session, ada, [failed], status=DigestStatus.FAILED,
                local_date=dt.date(2026, 11, 24))
    assert ids(select_papers(session, ada, now=NOW)) == [fresh.id]


def test_it_does_not_count_the_digest_being_built_as_sent(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    paper = gnn_paper(session)
    building = digest_with(session, ada, [paper], status=DigestStatus.PENDING,
                           local_date=dt.date(2026, 11, 26))
    assert ids(select_papers(session, ada, now=NOW)) == [paper.id]
    building.status = DigestStatus.COMPOSED
    session.commit()
    assert ids(select_papers(session, ada, now=NOW, digest=building)) == [paper.id]


def test_it_does_not_count_what_another_subscriber_got(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    bob = make_subscriber(session, "bob@example.org", keywords=("graph neural networks",))
    paper = gnn_paper(session)
    digest_with(session, bob, [paper], sent_at=ago(days=3))
    assert ids(select_papers(session, ada, now=NOW)) == [paper.id]


def test_it_takes_a_replacement_only_when_the_subscriber_never_had_the_paper(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    had = gnn_paper(session, announce_type="replace", version=2, first_seen=ago(days=12))
    digest_with(session, ada, [had], sent_at=ago(days=10))
    had.first_seen = ago(hours=5)  # seen again as a new version
    session.add(had)
    session.commit()
    never_had = gnn_paper(session, announce_type="replace-cross", version=3)
    new = gnn_paper(session, announce_type="new")
    cross = gnn_paper(session, announce_type="cross")
    # Its own title: the same title and authors from a journal would be the preprint's
    # journal version, one paper (test_journals).
    journal = gnn_paper(session, "Graph neural networks for weather", announce_type=None,
                        source="nature")
    assert set(ids(select_papers(session, ada, now=NOW))) == {
        never_had.id, new.id, cross.id, journal.id}


def test_it_treats_a_journal_version_of_a_sent_preprint_as_the_same_paper(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    preprint = gnn_paper(session, doi="10.1000/GNN.1", first_seen=ago(days=12))
    digest_with(session, ada, [preprint], sent_at=ago(days=10))
    gnn_paper(session, id="doi:10.1000/gnn.1", doi="10.1000/gnn.1", source="nature",
              announce_type=None)
    assert select_papers(session, ada, now=NOW) == []


def test_it_puts_followed_authors_first_and_says_why(session):
    ada = make_subscriber(session, keywords=("graph neural networks",),
                          authors=("Zhao, Zhuokai",))
    topical = gnn_paper(session, title="Graph neural networks for graph neural networks")
    theirs = make_paper(session, title="Tokenizers for Finnish", first_seen=ago(hours=3),
                        authors=["Zhuokai Zhao", "Ada Lovelace"])
    picks = select_papers(session, ada, now=NOW)
    assert ids(picks) == [theirs.id, topical.id]
    assert picks[0].reasons == [Reason("author", "Zhao, Zhuokai", ("Zhuokai Zhao",))]
    assert picks[0].followed_author == "Zhuokai Zhao"  # as the paper spells it
    assert reason_text(picks[1].reasons) == "matches 'graph neural networks' in the title"
    assert picks[1].followed_author is None and picks[1].matched == ["graph neural networks"]


def test_it_uses_categories_excludes_and_sources_from_the_interests(session):
    ada = make_subscriber(session, keywords=(), categories=("cs.CL",), excludes=("survey",))
    session.add(Interest(subscriber_id=ada.id, kind="source", value="arXiv"))
    session.commit()
    keep = make_paper(session, title="Parsing Finnish", first_seen=ago(hours=2))
    make_paper(session, title="A survey of parsing", first_seen=ago(hours=2))
    make_paper(session, title="Parsing in Nature", first_seen=ago(hours=2), source="nature")
    make_paper(session, title="Seeing things", categories=["cs.CV"], primary_category="cs.CV",
               first_seen=ago(hours=2))
    picks = select_papers(session, ada, now=NOW)
    assert ids(picks) == [keep.id]
    assert picks[0].reasons == [Reason("category", "cs.CL", ("cs.CL",))]


def test_it_learns_from_more_and_less_feedback(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    liked = gnn_paper(session, title="Graph neural networks for traffic forecasting",
                      first_seen=ago(days=20))
    disliked = gnn_paper(session, title="Graph neural networks for molecules",
                         first_seen=ago(days=20))
    traffic = gnn_paper(session, title="Graph neural networks for road traffic",
                        first_seen=ago(hours=9))
    molecules = gnn_paper(session, title="Graph neural networks for small molecules",
                          first_seen=ago(hours=1))
    assert ids(select_papers(session, ada, now=NOW))[0] == molecules.id  # newer, as good
    session.add(Feedback(subscriber_id=ada.id, paper_id=liked.id, signal="more"))
    session.add(Feedback(subscriber_id=ada.id, paper_id=disliked.id, signal="less"))
    session.commit()
    assert ids(select_papers(session, ada, now=NOW)) == [traffic.id, molecules.id]


def test_it_returns_fewer_papers_than_asked_rather_than_unrelated_ones(session):
    ada = make_subscriber(session, keywords=("graph neural networks",), max_papers=10)
    match = gnn_paper(session)
    for _ in range(5):
        make_paper(session, title="Protein folding kinetics", first_seen=ago(hours=1))
    assert ids(select_papers(session, ada, now=NOW)) == [match.id]


def test_it_respects_the_limit(session):
    ada = make_subscriber(session, keywords=("graph neural networks",), max_papers=2)
    for _ in range(5):
        gnn_paper(session)
    assert len(select_papers(session, ada, now=NOW)) == 2
    assert len(select_papers(session, ada, now=NOW, limit=4)) == 4


def test_it_indexes_the_window_once_until_its_papers_change(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    first = gnn_paper(session)
    assert ids(select_papers(session, ada, now=NOW)) == [first.id]
    assert window_index(session, NOW) is window_index(session, NOW)
    second = gnn_paper(session, first_seen=ago(hours=1))
    assert ids(select_papers(session, ada, now=NOW)) == [second.id, first.id]


def test_it_never_writes_to_the_database(session):
    ada = make_subscriber(session, keywords=("graph neural networks",))
    gnn_paper(session)
    counts = [session.exec(select(func.count()).select_from(table)).one()
              for table in (Digest, DigestItem, Paper, Subscriber)]
    assert select_papers(session, ada, now=NOW)
    assert not session.new and not session.dirty and not session.deleted
    assert counts == [session.exec(select(func.count()).select_from(table)).one()
                      for table in (Digest, DigestItem, Paper, Subscriber)]


def test_it_follows_the_same_rules_on_postgresql(pg_url):
    from sqlmodel import Session

    from newsletter.core import db

    with Session(db.engine_for(pg_url), expire_on_commit=False) as session:
        ada = make_subscriber(session, keywords=("graph neural networks",),
                              authors=("Müller, Jörg",))
        sent = gnn_paper(session, first_seen=ago(days=3))
        digest_with(session, ada, [sent], sent_at=ago(days=2))
        gnn_paper(session, first_seen=ago(days=2, hours=1))
        fresh = gnn_paper(session)
        theirs = make_paper(session, title="Tokenizers", first_seen=ago(hours=1),
                            authors=['J{\\"o}rg M{\\"u}ller'])
        picks = select_papers(session, ada, now=NOW)
        assert ids(picks) == [theirs.id, fresh.id]
        assert picks[0].reasons == [Reason("author", "Müller, Jörg", ('J{\\"o}rg M{\\"u}ller',))]


def test_it_gives_reasons_as_data_for_every_pick_and_no_words(session):
    ada = make_subscriber(session, keywords=("graph neural networks",), categories=("cs.CL",),
                          authors=("Zhao, Zhuokai",))
    gnn_paper(session)
    make_paper(session, title="Tokenizers for Finnish", first_seen=ago(hours=3),
               authors=["Zhuokai Zhao"])
    picks = select_papers(session, ada, now=NOW)
    assert [[r.kind for r in p.reasons] for p in picks] == [["author", "category"],
                                                             ["title", "category"]]
    assert [p.reason for p in picks] == ["", ""]  # words are the reader's language's business
    assert reason_text(picks[1].reasons, "zh") == "标题匹配“graph neural networks”；分类 cs.CL"
    assert reason_text(picks[0].reasons, "en") == "by Zhuokai Zhao; cs.CL"


def test_it_ranks_many_subscribers_in_one_batch_as_it_would_one_by_one(session):
    ada = make_subscriber(session, "ada@example.org", keywords=("graph neural networks",))
    bob = make_subscriber(session, "bob@example.org", keywords=("tokenizers",), max_papers=1)
    cy = make_subscriber(session, "cy@example.org", keywords=("graph neural networks",),
                         authors=("Zhuokai Zhao",), excludes=("scale",))
    nobody = make_subscriber(session, "nobody@example.org", keywords=("astrophysics",))
    preprint = gnn_paper(session, doi="10.1000/gnn.2", first_seen=ago(days=12))
    digest_with(session, ada, [preprint], sent_at=ago(days=10))
    gnn_paper(session, "Graph neural networks in print", id="doi:10.1000/gnn.2",
              doi="10.1000/gnn.2", source="nature",
              announce_type=None)  # ada had its preprint; the others may get it
    gnn_paper(session, title="Graph neural networks at scale")
    make_paper(session, title="Tokenizers for Finnish", first_seen=ago(hours=3),
               authors=["Zhuokai Zhao"])
    make_paper(session, title="Tokenizers for Welsh", first_seen=ago(hours=2))
    readers = [ada, bob, cy, nobody]

    batch = select_batch(session, [(reader, None) for reader in readers], now=NOW)

    alone = [select_papers(session, reader, now=NOW) for reader in readers]
    assert [[(p.paper.id, p.score, p.reasons) for p in picks] for picks in batch] == \
        [[(p.paper.id, p.score, p.reasons) for p in picks] for picks in alone]
    assert [len(picks) for picks in batch] == [1, 1, 2, 0]


def test_it_reindexes_the_window_when_a_paper_is_changed_or_removed(session):
    paper = gnn_paper(session)
    other = gnn_paper(session, title="Graph neural networks, again")
    first = window_index(session, NOW)
    paper.title, paper.updated_at = "Tokenizers for Finnish", utcnow()
    session.add(paper)
    session.commit()
    changed = window_index(session, NOW)
    assert changed is not first
    assert changed.corpus.docs[changed.position[paper.id]].title == "Tokenizers for Finnish"
    session.delete(other)
    session.commit()
    assert window_index(session, NOW).ids == [paper.id]
