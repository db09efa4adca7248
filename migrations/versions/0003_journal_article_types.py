"""journals: the article type and marked-up title of a paper, a subscriber's news choice

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults: rows stored before this revision are research papers (preprints, and
    # journals were off by default) and subscribers keep getting no journal news.
    with op.batch_alter_table('paper') as batch:
        batch.add_column(sa.Column('article_type', sqlmodel.sql.sqltypes.AutoString(length=16),
                                   nullable=False, server_default='research'))
        batch.add_column(sa.Column('title_html', sa.Text(), nullable=True))
    with op.batch_alter_table('subscriber') as batch:
        batch.add_column(sa.Column('include_news', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('subscriber') as batch:
        batch.drop_column('include_news')
    with op.batch_alter_table('paper') as batch:
        batch.drop_column('title_html')
        batch.drop_column('article_type')
