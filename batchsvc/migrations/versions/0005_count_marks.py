"""job_count_marks: running counts where the counted prefix moved

A status-filtered items listing with a deep offset skipped every earlier item of that status
in the index (55,000 entries: about 6 ms of a request). Each page callback that moves the
counted prefix now records the running counts at its new end; a listing starts at the last
mark below its offset. Jobs created before this revision have no marks and scan from 0.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_count_marks",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_count_marks")
