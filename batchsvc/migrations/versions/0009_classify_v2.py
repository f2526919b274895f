"""classify_v2_jobs: one-file classify jobs (``/api/v2/classify``)

Each row is the client's view of a one-item classify batch: its input (a file or a parse
job), the configuration as sent and the idempotency key.

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "classify_v2_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("file_input", sa.String(64), nullable=False),
        sa.Column("document_input_type", sa.String(16), nullable=False),
        sa.Column("parse_job_id", sa.String(64)),
        sa.Column("configuration", JSONType, nullable=False),
        sa.Column("transaction_id", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "transaction_id",
                            name="uq_classify_v2_jobs_transaction"),
    )
    op.create_index("ix_classify_v2_jobs_project_created", "classify_v2_jobs",
                    ["project_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_classify_v2_jobs_project_created", "classify_v2_jobs")
    op.drop_table("classify_v2_jobs")
