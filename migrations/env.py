"""Alembic environment: migrate whatever DATABASE_URL names (SQLite or PostgreSQL)."""

from alembic import context
from sqlmodel import SQLModel

from newsletter.core import models  # noqa: F401  (registers every table)
from newsletter.core.config import get_settings
from newsletter.core.db import engine_for

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=SQLModel.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with engine_for(url).connect() as connection:
        context.configure(connection=connection, target_metadata=SQLModel.metadata,
                          render_as_batch=url.startswith("sqlite"))  # SQLite ALTERs via batch
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
