"""S3 storage: s3_imports, files.etag, batch_jobs.import_id, refs up to S3's key length

Files imported from an S3 prefix are registered by reference (key, size, ETag); an import
lists one page per transaction and keeps its continuation token and counts. Refs are
``s3://bucket/key`` URLs, and S3 keys run to 1024 bytes, so the two ref columns widen; old
values stay as they are (a bare key still names the local store).

Revision ID: 0011
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "s3_imports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("directory_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1100), nullable=False),
        sa.Column("region", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("token", sa.Text),
        sa.Column("listed", sa.BigInteger, nullable=False),
        sa.Column("registered", sa.BigInteger, nullable=False),
        sa.Column("skipped", sa.BigInteger, nullable=False),
        sa.Column("error_message", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_s3_imports_directory_id", "s3_imports", ["directory_id"])
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("etag", sa.String(100)))
        batch.alter_column("storage_key", type_=sa.String(1100), existing_nullable=False)
    with op.batch_alter_table("processing_results") as batch:
        batch.alter_column("output_key", type_=sa.String(1100), existing_nullable=False)
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("import_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("import_id")
    with op.batch_alter_table("processing_results") as batch:
        batch.alter_column("output_key", type_=sa.String(300), existing_nullable=False)
    with op.batch_alter_table("files") as batch:
        batch.alter_column("storage_key", type_=sa.String(300), existing_nullable=False)
        batch.drop_column("etag")
    op.drop_index("ix_s3_imports_directory_id", "s3_imports")
    op.drop_table("s3_imports")
