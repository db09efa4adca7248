"""digest items name the other versions of their paper (issue 17: one paper, once)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00

`digestitem.versions` lists the ids of the same work's other rows (an arXiv preprint and its
journal version with the same title and a shared author) that the card linked; they count as
sent. Existing rows get `[]`.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('digestitem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('versions', sa.JSON(), server_default='[]',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('digestitem', schema=None) as batch_op:
        batch_op.drop_column('versions')
