"""what Crossref said about each DOI, and when (issue 17: enriching journal papers)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:30:00

One row per DOI asked (lower-cased): `found` with the abstract (clean text), authors and
year, `missing` (404 or no abstract deposited) or `error`, with `checked_at`, so a DOI is
asked at most once per retry window. Nothing to backfill: the table starts empty.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crossref_lookup',
        sa.Column('doi', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('abstract', sa.Text(), nullable=False),
        sa.Column('authors', sa.JSON(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('doi'),
    )
    with op.batch_alter_table('crossref_lookup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crossref_lookup_checked_at'), ['checked_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('crossref_lookup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crossref_lookup_checked_at'))
    op.drop_table('crossref_lookup')
