"""job_items: fewer index entries per item update

Every claim and finish rewrites the item row with a new status, so each writes an entry into
every index of the table. ``ix_job_items_item`` (item_id) serves no query (lineage by item
has its own index on processing_results), and the sweeper's lease index only ever looks for
open items, so it now holds only those: a finished item leaves it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('pending', 'processing')")


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.drop_index("ix_job_items_item")
        batch.drop_index("ix_job_items_status_lease")
    op.create_index("ix_job_items_open_lease", "job_items", ["status", "lease_until"],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_job_items_open_lease", table_name="job_items")
    with op.batch_alter_table("job_items") as batch:
        batch.create_index("ix_job_items_status_lease", ["status", "lease_until"])
        batch.create_index("ix_job_items_item", ["item_id"])
