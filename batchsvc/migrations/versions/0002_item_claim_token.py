"""job_items.claim_token: the task id that claimed an item

A redelivered or retried Celery message keeps its task id, so it may re-claim the item it
claimed before its worker was lost or its database connection dropped, without waiting for
the lease to run out.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("claim_token")
