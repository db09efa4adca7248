"""digest items keep their reasons as data

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00

`digestitem.reasons` holds why a paper was picked as structured data (kind, value, matched
words), worded at compose time in the reader's language. Existing rows get `[]` and keep
their English words in `digestitem.reason`, which compose shows as they are.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('digestitem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sa.JSON(), server_default='[]',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('digestitem', schema=None) as batch_op:
        batch_op.drop_column('reasons')
