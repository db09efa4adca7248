"""The data model (SQLModel tables), shared by every stage.

`PaperBase` is what a parser produces (no database identity yet); `Paper` is the stored row.
Lists are JSON columns so the same schema runs on SQLite and PostgreSQL. Schema changes go
through Alembic (`migrations/`); tests check the migrations match these classes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any

from pydantic import model_validator
from sqlalchemy import JSON, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from newsletter.core.time import utcnow

# The vocabularies below are StrEnums: each member *is* its string, so the columns stay plain
# VARCHARs holding the same values, rows read back compare equal to the members, and the JSON
# API shows the same words. Columns are typed `str` (not the enum) to keep the schema as it is.


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class DigestStatus(StrEnum):
    PENDING = "pending"
    COMPOSED = "composed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class InterestKind(StrEnum):
    KEYWORD = "keyword"
    CATEGORY = "category"
    AUTHOR = "author"
    EXCLUDE = "exclude"
    SOURCE = "source"


class Outcome(StrEnum):
    """What a pipeline step reports for a digest id when no digest status can say it."""

    MISSING = "missing"  # no such digest (deleted after its id was queued)
    QUEUED = "queued"  # handed to a worker: its status comes later
    ERROR = "error"  # the step raised; the tick went on (the detail is in `TickResult.errors`)
    EMPTY = "empty"  # a preview with nothing to show


# Per digest id, what a step (prepare, compose, deliver, a tick) returns: the status the digest
# is in afterwards, or an Outcome.
StepResult = DigestStatus | Outcome


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class Subscriber(SQLModel, table=True):
    # Links signed before issue 11 name the subscriber by id (they still unsubscribe): SQLite
    # must never hand a deleted id to a newcomer.
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    # What new links name instead: random, so a link says nothing about how many we have.
    public_id: str = Field(default_factory=new_public_id, max_length=32, unique=True, index=True)
    email: str = Field(max_length=320, unique=True, index=True)  # normalized (lower-cased)
    status: str = Field(default=SubscriberStatus.PENDING, max_length=16, index=True)
    locale: str = Field(default="en", max_length=8)
    timezone: str = Field(default="UTC", max_length=64)
    send_hour: int = 7
    frequency: str = Field(default="daily", max_length=8)  # daily | weekly
    weekday: int = 0  # for weekly: 0 = Monday
    max_papers: int = 10
    # Journals' news, comment, editorials and corrections too (after the research); off by default.
    include_news: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    token_version: int = 1
    # The personal Atom feed: its own version (bumped to revoke just the feed's address)
    # and one entry per digest or per paper.
    feed_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    feed_mode: str = Field(default="digest", max_length=8,
                           sa_column_kwargs={"server_default": "digest"})
    # The pending subscription's one confirmation link: sent again, never re-minted, on a
    # repeated subscribe; cleared once used.
    confirm_token: str | None = Field(default=None, max_length=300)
    consent_at: dt.datetime | None = None
    consent_source: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Interest(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("subscriber_id", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # InterestKind
    value: str = Field(max_length=200)


class Source(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=16)  # arxiv_rss | arxiv_api | biorxiv | rss
    url: str = Field(max_length=1000)
    label: str = Field(default="", max_length=100)  # shown on the card badge ("arXiv", "Nature")
    enabled: bool = True
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    last_fetch: dt.datetime | None = None  # last attempt, successful or not
    last_success: dt.datetime | None = None
    last_status: str | None = Field(default=None, max_length=32)  # ok | not-modified | error
    last_error: str | None = Field(default=None, sa_type=Text)
    last_count: int = 0


class PaperBase(SQLModel):
    """A normalized paper, as every parser returns it, whatever the feed format."""

    @model_validator(mode="before")
    @classmethod
    def _fit_columns(cls, values: Any) -> Any:
        """Feeds carry overlong fields (90-character categories, huge URLs): cut them to fit
        their columns instead of refusing the paper."""
        if isinstance(values, dict):
            for name, field in cls.model_fields.items():
                limit = next((m.max_length for m in field.metadata
                              if getattr(m, "max_length", None)), None)
                value = values.get(name)
                if limit and isinstance(value, str) and len(value) > limit:
                    values[name] = value[:limit]
            values["categories"] = [c[:64] for c in values.get("categories") or []]
        return values

    id: str = Field(primary_key=True, max_length=300)  # arxiv:2606.12345 | doi:10.x/y | url:...
    version: int = 1
    title: str = Field(sa_type=Text)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    abstract: str = Field(default="", sa_type=Text)
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    primary_category: str | None = Field(default=None, max_length=64)
    announce_type: str | None = Field(default=None, max_length=32)  # new | cross | replace ...
    published: dt.date | None = None
    url: str = Field(default="", max_length=1000)
    pdf_url: str | None = Field(default=None, max_length=1000)
    doi: str | None = Field(default=None, max_length=300, index=True)
    source: str = Field(default="", max_length=64)  # arxiv | biorxiv | medrxiv | journal name
    journal: str | None = Field(default=None, max_length=200)
    # research | news | comment | editorial | correction (harvest.articletype): research first
    article_type: str = Field(default="research", max_length=16,
                              sa_column_kwargs={"server_default": "research"})
    # The title with its sub/sup/i/b markup (textclean.allowed_markup) when it has any, so
    # cards can show La<sub>4</sub>Ni<sub>3</sub>O<sub>10</sub>; `title` stays plain text.
    title_html: str | None = Field(default=None, sa_type=Text)


class Paper(PaperBase, table=True):
    first_seen: dt.datetime = Field(default_factory=utcnow, index=True)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class CrossrefLookup(SQLModel, table=True):
    """What Crossref said about a DOI, and when (harvest.crossref): a hit, a miss (404, or a
    record without an abstract) or a failure, so a DOI is asked at most once per retry window
    however many papers, libraries or cycles want it."""

    __tablename__ = "crossref_lookup"
    doi: str = Field(primary_key=True, max_length=300)  # lower-cased, as Paper.doi
    status: str = Field(max_length=16)  # found | missing | error
    checked_at: dt.datetime = Field(default_factory=utcnow, index=True)
    title: str = Field(default="", sa_type=Text)
    abstract: str = Field(default="", sa_type=Text)  # clean text (JATS removed)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    year: int | None = None
    error: str | None = Field(default=None, sa_type=Text)  # the failure, for `error`


class PaperSummary(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("paper_id", "locale", "model", "prompt_version"),)
    id: int | None = Field(default=None, primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", index=True, ondelete="CASCADE")
    locale: str = Field(max_length=8)
    model: str = Field(max_length=100)
    prompt_version: str = Field(max_length=32)
    text: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Digest(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("subscriber_id", "local_date"),
                      {"sqlite_autoincrement": True})
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    local_date: dt.date = Field(index=True)
    status: str = Field(default=DigestStatus.PENDING, max_length=16, index=True)
    subject: str | None = Field(default=None, max_length=300)
    preheader: str | None = Field(default=None, max_length=300)
    synthesis: str | None = Field(default=None, sa_type=Text)
    writer: str | None = Field(default=None, max_length=100)  # "offline" or the model name
    html: str | None = Field(default=None, sa_type=Text)
    text: str | None = Field(default=None, sa_type=Text)
    provider_message_id: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    error: str | None = Field(default=None, sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow)
    composed_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None


class DigestItem(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("digest_id", "paper_id"),)
    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", index=True, ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.id", index=True)
    rank: int
    score: float = 0.0
    # Why it was picked, as data (newsletter.ranking.reasons: kind, value, matched words...),
    # strongest first; worded in the reader's language only when shown.
    reasons: list[dict] = Field(default_factory=list, sa_type=JSON,
                                sa_column_kwargs={"server_default": "[]"})
    reason: str = Field(default="", max_length=500)  # English words of rows before 0004
    # The same work's other rows the card linked (its preprint or journal version): ids,
    # which count as sent too, so neither version comes back the next day.
    versions: list[str] = Field(default_factory=list, sa_type=JSON,
                                sa_column_kwargs={"server_default": "[]"})


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    digest_id: int | None = Field(default=None, foreign_key="digest.id", index=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", index=True)
    type: str = Field(max_length=32, index=True)  # delivered | open | click | bounce | ...
    time: dt.datetime = Field(default_factory=utcnow, index=True)
    provider_event_id: str | None = Field(default=None, max_length=200, unique=True)
    payload: dict = Field(default_factory=dict, sa_type=JSON)


class Feedback(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.id", index=True)
    signal: str = Field(max_length=16)  # more | less | click
    created_at: dt.datetime = Field(default_factory=utcnow)


class LibraryItem(SQLModel, table=True):
    """One paper of a subscriber's own library (BibTeX, RIS, CSL-JSON or bare ids), kept as
    its own record: an imported paper never enters the shared store, so it is never anyone's
    candidate. `vector` is its embedding in representation `vector_version` (see
    `newsletter.ranking.embedding`)."""

    __table_args__ = (UniqueConstraint("subscriber_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=300)  # arxiv:2401.01234 | doi:10.x/y | title:<folded title>
    title: str = Field(sa_type=Text)
    abstract: str = Field(default="", sa_type=Text)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    year: int | None = None
    arxiv_id: str | None = Field(default=None, max_length=64)
    doi: str | None = Field(default=None, max_length=300)
    origin: str = Field(default="", max_length=16)  # bibtex | ris | csl-json | ids
    added_at: dt.datetime = Field(default_factory=utcnow)
    terms: dict = Field(default_factory=dict, sa_type=JSON)  # its strongest stems, for training
    vector: bytes | None = Field(default=None, sa_type=LargeBinary)
    vector_version: str | None = Field(default=None, max_length=64)


class Rating(SQLModel, table=True):
    """A labelled example: the subscriber's vote on one paper (+1 more, -1 less like this).
    One per paper, the last vote wins; undoing deletes the row."""

    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.id", index=True, max_length=300, ondelete="CASCADE")
    value: int  # +1 | -1
    origin: str = Field(default="", max_length=16)  # email | web | rate
    updated_at: dt.datetime = Field(default_factory=utcnow)


class SavedPaper(SQLModel, table=True):
    """A paper on the subscriber's reading list ("Save" on a card, in the email or on the
    web). One row per paper: saving again changes nothing, unsaving deletes it."""

    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id"),
                      Index("ix_savedpaper_subscriber_saved", "subscriber_id", "saved_at"))
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE")
    paper_id: str = Field(foreign_key="paper.id", index=True, max_length=300, ondelete="CASCADE")
    origin: str = Field(default="", max_length=16)  # email | web
    saved_at: dt.datetime = Field(default_factory=utcnow)


class Representation(SQLModel, table=True):
    """A version of the shared paper representation: the fitted LSA (numpy arrays as npz
    bytes) or the name of a pretrained model. Vectors of two versions are never mixed."""

    version: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # lsa | model2vec
    dims: int
    state: bytes | None = Field(default=None, sa_type=LargeBinary)
    active: bool = Field(default=False, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)


class PaperVector(SQLModel, table=True):
    """A paper's embedding in one representation version, as float32 bytes."""

    paper_id: str = Field(foreign_key="paper.id", primary_key=True, max_length=300,
                          ondelete="CASCADE")
    version: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_type=LargeBinary)


class SubscriberModel(SQLModel, table=True):
    """A subscriber's learned relevance: a linear model over one representation version.
    `stale` is set when their library or ratings change; a retrain clears it."""

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, ondelete="CASCADE")
    version: str = Field(max_length=64)
    weights: bytes = Field(sa_type=LargeBinary)  # float32, `dims` long
    bias: float = 0.0
    terms: dict = Field(default_factory=dict, sa_type=JSON)  # stem -> weight (lexical part)
    positives: int = 0
    negatives: int = 0
    stale: bool = Field(default=False, index=True)
    trained_at: dt.datetime = Field(default_factory=utcnow)


class Suppression(SQLModel, table=True):
    email: str = Field(primary_key=True, max_length=320)
    reason: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)


class LlmCall(SQLModel, table=True):
    """The LLM ledger: one row per logical call (after retries), for spend per day / digest."""

    id: int | None = Field(default=None, primary_key=True)
    time: dt.datetime = Field(default_factory=utcnow, index=True)
    model: str = Field(max_length=100)
    purpose: str = Field(max_length=32)  # synthesis | summary | summary-batch | repair
    digest_id: int | None = Field(default=None, index=True)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    latency_ms: int = 0
    cost_usd: float = 0.0
    ok: bool = True
    error: str | None = Field(default=None, max_length=500)


class SynthesisCache(SQLModel, table=True):
    """One synthesis per (ordered selection, locale, topics, model, prompt version)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    model: str = Field(max_length=100)
    prompt_version: str = Field(max_length=32)
    locale: str = Field(max_length=8)
    theme: str = Field(max_length=300)
    preheader: str = Field(max_length=300)
    synthesis: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow)
