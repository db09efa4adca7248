"""A throwaway PostgreSQL schema for the benchmarks that measure both databases.

`throwaway_schema(name)` yields an engine whose search_path is a fresh schema `name` in
DATABASE_URL_TEST (default: the `test` database on 127.0.0.1:5432), and drops the schema
afterwards; it yields None, after a line saying so, when PostgreSQL is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_schema(name: str) -> Iterator[Engine | None]:
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {name}"))
    except OperationalError as error:
        print(f"PostgreSQL: skipped, not reachable at {PG_URL} ({type(error.orig).__name__})")
        admin.dispose()
        yield None
        return
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={name}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()
