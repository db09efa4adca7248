"""the personal Atom feed: its own revocable version and the entry choice (issue 14)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00

Existing subscribers start at feed version 1 with one entry per digest.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscriber') as batch:
        batch.add_column(sa.Column('feed_version', sa.Integer(), nullable=False,
                                   server_default='1'))
        batch.add_column(sa.Column('feed_mode', sqlmodel.sql.sqltypes.AutoString(length=8),
                                   nullable=False, server_default='digest'))


def downgrade() -> None:
    with op.batch_alter_table('subscriber') as batch:
        batch.drop_column('feed_mode')
        batch.drop_column('feed_version')
