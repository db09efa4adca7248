"""links name a random public id; a pending subscription keeps its confirmation link (issue 11)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00

Existing subscribers get a random public id each (their old links, which carry the numeric
id, keep working); `confirm_token` starts empty and is minted on the next confirmation.
"""
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column('confirm_token',
                                      sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=True))
    subscriber = sa.table('subscriber', sa.column('id', sa.Integer),
                          sa.column('public_id', sa.String))
    connection = op.get_bind()
    ids = connection.execute(sa.select(subscriber.c.id)).scalars().all()
    for sid in ids:
        connection.execute(subscriber.update().where(subscriber.c.id == sid)
                           .values(public_id=secrets.token_urlsafe(12)))
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=32), nullable=False)
        batch_op.create_index(batch_op.f('ix_subscriber_public_id'), ['public_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriber_public_id'))
        batch_op.drop_column('confirm_token')
        batch_op.drop_column('public_id')
