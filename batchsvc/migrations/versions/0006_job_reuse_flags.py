"""batch_jobs.cacheable and reuses_results: the dedup decision made once, in SQL

The item claim decided in SQL whether an earlier result could be reused and then again in
Python from the job's parameters (invalidate_cache, do_not_cache, a retry). The two flags are
now set when a job is created and read by the claim's dedup lookup on both databases.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("cacheable", sa.Boolean, nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("reuses_results", sa.Boolean, nullable=False,
                                   server_default=sa.true()))
    # Jobs created before this revision: the flags from their stored parameters.
    jobs = sa.table("batch_jobs", sa.column("id", sa.String), sa.column("job_config", sa.JSON),
                    sa.column("retry_of", sa.String), sa.column("cacheable", sa.Boolean),
                    sa.column("reuses_results", sa.Boolean))
    conn = op.get_bind()
    for job_id, config, retry_of in conn.execute(
            sa.select(jobs.c.id, jobs.c.job_config, jobs.c.retry_of)).all():
        params = (config or {}).get("parameters") or {}
        cacheable = not (params.get("invalidate_cache") or params.get("do_not_cache"))
        if not cacheable or retry_of is not None:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(
                cacheable=cacheable, reuses_results=False))


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("reuses_results")
        batch.drop_column("cacheable")
