"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from newsletter.core import db


def assert_schema_matches_models(url: str) -> None:
    db.upgrade(url)
    engine = db.engine_for(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, SQLModel.metadata) == []
        assert set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())


def test_it_migrates_a_fresh_sqlite_database_to_the_models(tmp_path):
    assert_schema_matches_models(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_it_uses_wal_on_sqlite(tmp_path):
    engine = db.engine_for(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
def test_it_migrates_postgresql_to_the_models(pg_url):
    from sqlalchemy import text

    engine = db.engine_for(pg_url)
    with engine.begin() as conn:  # start from an empty schema, as a new deployment would
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    assert_schema_matches_models(pg_url)
