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
    sqlite = url.startswith("sqlite")
    with engine_for(url).connect() as connection:
        if sqlite:
            # SQLite ALTERs a table by copying it and dropping the old one; with foreign keys
            # on (the app's engines turn them on), that DROP deletes every row pointing at it
            # through ON DELETE CASCADE: a batch on `subscriber` would empty `digest`. Off for
            # the migration (outside a transaction, where SQLite honours it), then checked.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=SQLModel.metadata,
                          render_as_batch=sqlite)  # SQLite ALTERs via batch
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if broken:
                raise RuntimeError(f"migration left rows pointing nowhere: {broken[:5]}")


if context.is_offline_mode():
    run_offline()
else:
    run_online()
