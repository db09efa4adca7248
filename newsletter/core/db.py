"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL via DATABASE_URL.

Engines are cached per URL so workers, the CLI and tests each pay connection setup once.
`insert_ignore` is the one dialect switch for `INSERT ... ON CONFLICT DO NOTHING`, the
statement every exactly-once write here rests on (digest claims, papers, webhook events).
Schema: `upgrade()` runs the Alembic migrations (what `newsletter db upgrade` and the
Procfile's release step call); tests may use `create_all()` for speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel, create_engine

from newsletter.core import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from newsletter.core.config import get_settings


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_ignore(session: Session, table: type[SQLModel] | Table, *unique: str) -> Insert:
    """INSERT that skips a row whose `unique` columns are already taken (a concurrent worker
    won the race) instead of failing the transaction. Add `.values()`/`.returning()` as usual.
    Settings admit only SQLite and PostgreSQL URLs, the two dialects that speak this."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))


def alembic_config(url: str | None = None):
    from importlib import resources

    from alembic.config import Config

    config = Config()  # no ini needed: works from a checkout and from an installed wheel
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return config


def upgrade(url: str | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def create_all(engine: Engine | None = None) -> None:
    SQLModel.metadata.create_all(engine or get_engine())
