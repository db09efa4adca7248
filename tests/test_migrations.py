"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
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


OLD_ROWS = [  # a digest prepared before 0004: its item has English words and no reasons
    "INSERT INTO subscriber (id, email, status, locale, timezone, send_hour, frequency,"
    " weekday, max_papers, token_version, created_at) VALUES (1, 'ada@example.org',"
    " 'active', 'zh', 'UTC', 7, 'daily', 0, 10, 1, '2026-11-20 07:00:00')",
    "INSERT INTO paper (id, version, title, authors, abstract, categories, url, source,"
    " first_seen, updated_at) VALUES ('arxiv:2611.00001', 1, 'Distillation', '[]', '', '[]',"
    " '', 'arxiv', '2026-11-20 07:00:00', '2026-11-20 07:00:00')",
    "INSERT INTO digest (id, subscriber_id, local_date, status, attempts, created_at)"
    " VALUES (1, 1, '2026-11-20', 'sent', 1, '2026-11-20 07:00:00')",
    "INSERT INTO digestitem (digest_id, paper_id, rank, score, reason) VALUES"
    " (1, 'arxiv:2611.00001', 1, 2.0, 'matches ''distillation'' in the title')",
]


def assert_old_items_survive(url: str) -> None:
    from newsletter.ranking.reasons import reasons_from_json

    command.upgrade(db.alembic_config(url), "0003")
    with db.engine_for(url).begin() as conn:
        for statement in OLD_ROWS:
            conn.execute(text(statement))
    assert_schema_matches_models(url)  # upgrades to head
    with db.engine_for(url).connect() as conn:
        reason, stored = conn.execute(text("SELECT reason, reasons FROM digestitem")).one()
    assert reason == "matches 'distillation' in the title"
    assert reasons_from_json(stored if isinstance(stored, list) else json.loads(stored)) == []


def test_it_keeps_items_prepared_before_reasons_were_data_on_sqlite(tmp_path):
    assert_old_items_survive(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_it_keeps_items_prepared_before_reasons_were_data_on_postgresql(pg_url):
    with db.engine_for(pg_url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    assert_old_items_survive(pg_url)


def assert_downgrades_and_upgrades_again(url: str) -> None:
    """Every migration's downgrade runs (a rollback of a bad release), step by step to the
    start, with rows in the new tables, and the schema comes back whole."""
    from alembic.script import ScriptDirectory

    db.upgrade(url)
    with db.engine_for(url).begin() as conn:
        conn.execute(text(OLD_ROWS[1]))  # a paper
        conn.execute(text("INSERT INTO crossref_lookup (doi, status, checked_at, title,"
                          " abstract, authors) VALUES ('10.1/x', 'found',"
                          " '2026-11-20 07:00:00', 'T', 'A', '[]')"))
    config = db.alembic_config(url)
    revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
    for revision in revisions[1:]:  # newest first: down one step at a time
        command.downgrade(config, revision)
    command.downgrade(config, "base")
    assert_schema_matches_models(url)


def test_every_migration_downgrades_on_sqlite(tmp_path):
    assert_downgrades_and_upgrades_again(f"sqlite:///{tmp_path / 'down.db'}")


@pytest.mark.postgres
def test_every_migration_downgrades_on_postgresql(pg_url):
    with db.engine_for(pg_url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    assert_downgrades_and_upgrades_again(pg_url)
