"""saved papers: the subscriber's reading list (issue 14)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 11:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('savedpaper',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('paper_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('saved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['paper_id'], ['paper.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscriber_id', 'paper_id')
    )
    with op.batch_alter_table('savedpaper', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_savedpaper_paper_id'), ['paper_id'], unique=False)
        batch_op.create_index('ix_savedpaper_subscriber_saved', ['subscriber_id', 'saved_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('savedpaper', schema=None) as batch_op:
        batch_op.drop_index('ix_savedpaper_subscriber_saved')
        batch_op.drop_index(batch_op.f('ix_savedpaper_paper_id'))
    op.drop_table('savedpaper')
