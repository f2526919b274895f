"""batch_jobs.counted_position and job_items (job_id, status, position)

Counts stop growing with the batch: every item before ``counted_position`` is terminal and
already counted in the job's cached counts, so a page callback counts only the items settled
since the last one, and a status read groups only the items after the prefix. The status
index gains ``position`` so a status-filtered item list pages in position order from the
index (its deep offsets read the index only).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("counted_position", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("job_items") as batch:
        batch.create_index("ix_job_items_job_status_position", ["job_id", "status", "position"])
        batch.drop_index("ix_job_items_job_status")
    # Jobs that exist already start from an empty prefix and count their items afresh.
    op.execute("UPDATE batch_jobs SET processed_items = 0, failed_items = 0, skipped_items = 0, "
               "cancelled_items = 0 WHERE completed_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.create_index("ix_job_items_job_status", ["job_id", "status"])
        batch.drop_index("ix_job_items_job_status_position")
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("counted_position")
