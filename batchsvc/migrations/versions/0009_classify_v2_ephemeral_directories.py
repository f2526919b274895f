"""classify_v2_jobs (one-file classify jobs); directories.type, expires_at, system_metadata

Each classify_v2_jobs row is the client's view of a one-item classify batch: its input (a
file or a parse job), the configuration as sent and the idempotency key. A directory created
with type="ephemeral" expires (expires_at) and the sweeper deletes it; until now every
directory came back as "user" and system_metadata was dropped.

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
    with op.batch_alter_table("directories") as batch:
        batch.add_column(sa.Column("type", sa.String(16), nullable=False,
                                   server_default="user"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("system_metadata", JSONType))
    live = "expires_at IS NOT NULL AND deleted_at IS NULL"
    op.create_index("ix_directories_expiring", "directories", ["expires_at"],
                    postgresql_where=sa.text(live), sqlite_where=sa.text(live))


def downgrade() -> None:
    op.drop_index("ix_directories_expiring", "directories")
    with op.batch_alter_table("directories") as batch:
        batch.drop_column("system_metadata")
        batch.drop_column("expires_at")
        batch.drop_column("type")
    op.drop_index("ix_classify_v2_jobs_project_created", "classify_v2_jobs")
    op.drop_table("classify_v2_jobs")
