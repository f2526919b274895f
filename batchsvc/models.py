"""SQLAlchemy models: the source of truth for every job, item, file and delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from batchsvc.states import DeliveryStatus, ItemStatus, JobStatus

# The largest values the database's integer columns (and SQLite's every integer) hold.
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres wants BIGINT for 100k+ batches.
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(sa.ForeignKey("projects.id"))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class StoredFile(Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    name: Mapped[str] = mapped_column(sa.String(1024))
    external_file_id: Mapped[str | None] = mapped_column(sa.String(1024))
    content_type: Mapped[str | None] = mapped_column(sa.String(200))
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # A storage ref (batchsvc.storage): a bare key, or s3://bucket/key (up to 1024 bytes).
    storage_key: Mapped[str] = mapped_column(sa.String(1100))
    # An object registered by reference from an S3 prefix: its ETag when listed.
    etag: Mapped[str | None] = mapped_column(sa.String(100))
    purpose: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Directory(Base):
    __tablename__ = "directories"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    name: Mapped[str] = mapped_column(sa.String(1024))
    description: Mapped[str | None] = mapped_column(sa.Text)
    # "user", or "ephemeral": deleted with the files only it holds once expires_at passes.
    type: Mapped[str] = mapped_column(sa.String(16), default="user", server_default="user")
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    system_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        # Live directories that expire: what the sweeper looks for.
        sa.Index("ix_directories_expiring", "expires_at",
                 postgresql_where=sa.text("expires_at IS NOT NULL AND deleted_at IS NULL"),
                 sqlite_where=sa.text("expires_at IS NOT NULL AND deleted_at IS NULL")),
    )


class DirectoryFile(Base):
    __tablename__ = "directory_files"
    # seq orders a directory's files so a batch can materialise them page by page by keyset.
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_id)
    directory_id: Mapped[str] = mapped_column(sa.String(64))
    project_id: Mapped[str] = mapped_column(sa.String(64))
    file_id: Mapped[str] = mapped_column(sa.ForeignKey("files.id"))
    display_name: Mapped[str] = mapped_column(sa.String(1024))
    unique_id: Mapped[str] = mapped_column(sa.String(1024))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.Index("ix_directory_files_dir_seq", "directory_id", "seq"),)


class BatchJob(Base):
    __tablename__ = "batch_jobs"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    job_type: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.PENDING.value)
    directory_id: Mapped[str | None] = mapped_column(sa.String(64))
    # The job config as the client sent it, with secrets replaced by a marker.
    job_config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Secrets (signing secrets, webhook headers) encrypted with the server key.
    secrets: Mapped[str | None] = mapped_column(sa.Text)
    parameters_hash: Mapped[str] = mapped_column(sa.String(64))
    classifier_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    # Decided once at creation, read by the item claim's dedup lookup: results of this job
    # may be reused later (no invalidate_cache / do_not_cache), and this job reuses earlier
    # results (cacheable and not a retry).
    cacheable: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    reuses_results: Mapped[bool] = mapped_column(sa.Boolean, default=True,
                                                 server_default=sa.true())
    page_size: Mapped[int] = mapped_column(sa.Integer)
    continue_as_new_threshold: Mapped[int] = mapped_column(sa.Integer)
    total_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Dispatch bookkeeping: how far items have been materialised and pages published.
    materialized_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    directory_cursor: Mapped[int] = mapped_column(SeqType, default=0)
    directory_snapshot_seq: Mapped[int] = mapped_column(SeqType, default=0)
    pages_published: Mapped[int] = mapped_column(sa.Integer, default=0)
    pages_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Every item before this position is terminal and counted in the four counts below;
    # finalisation recounts them all from the item rows (see pipeline.settle_prefix).
    counted_position: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    # Counts cached by page callbacks and finalisation (recomputed from item rows there).
    processed_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    skipped_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    cancelled_items: Mapped[int] = mapped_column(sa.Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    # Classify FAST jobs: refined over the whole job once every item is done (before the
    # job completes; services/refinement.py). Requested when the last item settled, done
    # when every refined answer is stored.
    refine_requested_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    refined_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    # input_s3_path: the import filling the job's directory; dispatch waits for it.
    import_id: Mapped[str | None] = mapped_column(sa.String(64))
    retry_of: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_batch_jobs_project_created", "project_id", "created_at"),
        sa.Index("ix_batch_jobs_status", "status"),
    )


class JobItem(Base):
    __tablename__ = "job_items"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(sa.String(64))
    project_id: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(sa.Integer)
    # The client's item id: a directory file id (batches) or a file id (classifier jobs).
    item_id: Mapped[str] = mapped_column(sa.String(64))
    file_id: Mapped[str | None] = mapped_column(sa.String(64))
    item_name: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[str] = mapped_column(sa.String(16), default=ItemStatus.PENDING.value)
    skip_reason: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Task id of the current claim: its own redelivery or retry may re-claim at once.
    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    # Per-item engine job id: GET /api/v2/parse/{result_job_id} for parse batches.
    result_job_id: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_id)
    result_id: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        sa.UniqueConstraint("job_id", "position", name="uq_job_items_job_position"),
        sa.Index("ix_job_items_job_status_position", "job_id", "status", "position"),
        # Open items only: what the sweeper looks for; a finished item leaves the index.
        sa.Index("ix_job_items_open_lease", "status", "lease_until",
                 postgresql_where=sa.text("status IN ('pending', 'processing')"),
                 sqlite_where=sa.text("status IN ('pending', 'processing')")),
    )


class CountMark(Base):
    """The counted prefix's running counts where a page callback left it: a filtered items
    listing starts scanning its deep offset at the last mark below it, not at position 0
    (services/batches.list_job_items). Items before a mark are terminal, so it never changes."""

    __tablename__ = "job_count_marks"
    job_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    completed: Mapped[int] = mapped_column(sa.Integer)
    failed: Mapped[int] = mapped_column(sa.Integer)
    skipped: Mapped[int] = mapped_column(sa.Integer)
    cancelled: Mapped[int] = mapped_column(sa.Integer)


class ProcessingResult(Base):
    """Lineage: one row per processing of one item in one job."""

    __tablename__ = "processing_results"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    job_id: Mapped[str] = mapped_column(sa.String(64))
    item_id: Mapped[str] = mapped_column(sa.String(64))
    file_id: Mapped[str | None] = mapped_column(sa.String(64))
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    job_type: Mapped[str] = mapped_column(sa.String(16))
    parameters_hash: Mapped[str] = mapped_column(sa.String(64))
    output_key: Mapped[str] = mapped_column(sa.String(1100))
    output_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # False when the job asked for do_not_cache: never reused by a later batch.
    cacheable: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    processed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # At most one lineage record per item per job, however often a task is redelivered.
        sa.UniqueConstraint("job_id", "item_id", name="uq_processing_results_job_item"),
        sa.Index(
            "ix_processing_results_dedup", "project_id", "file_sha256", "job_type",
            "parameters_hash",
        ),
        sa.Index("ix_processing_results_item", "item_id"),
    )


class ClassifyEvidence(Base):
    """A classified document's vector as the rules saw it (engines.classify.Evidence), kept
    until its job has been refined; never shown by any endpoint."""

    __tablename__ = "classify_evidence"
    result_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
    matched: Mapped[bool] = mapped_column(sa.Boolean)


class ClassifierJob(Base):
    __tablename__ = "classifier_jobs"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    batch_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    rules: Mapped[list[Any]] = mapped_column(JSONType)
    mode: Mapped[str] = mapped_column(sa.String(16))
    parsing_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    user_id: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ClassifyV2Job(Base):
    """A one-file classify job (``/api/v2/classify``): what the client sent, over the one-item
    classify batch that runs it; its id is that batch's id."""

    __tablename__ = "classify_v2_jobs"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    file_input: Mapped[str] = mapped_column(sa.String(64))
    document_input_type: Mapped[str] = mapped_column(sa.String(16))
    parse_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    # The configuration as the client sent it (target_pages 1-based), echoed back.
    configuration: Mapped[dict[str, Any]] = mapped_column(JSONType)
    transaction_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        sa.Index("ix_classify_v2_jobs_project_created", "project_id", "created_at"),
        # A transaction id names one job per project: a retry finds the original.
        sa.UniqueConstraint("project_id", "transaction_id",
                            name="uq_classify_v2_jobs_transaction"),
    )


class WebhookDelivery(Base):
    """Outbox: written in the transaction that changes a job's status."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    config_index: Mapped[int] = mapped_column(sa.Integer)
    event_type: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    latency_ms: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    project_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    job_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class S3Import(Base):
    """Filling a directory from an S3 prefix, one listing page per transaction: ``token``
    (the listing's continuation) and the counts are what a crash resumes from and what the
    progress route shows."""

    __tablename__ = "s3_imports"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    directory_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    source: Mapped[str] = mapped_column(sa.String(1100))
    region: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    pages: Mapped[int] = mapped_column(sa.Integer, default=0)
    token: Mapped[str | None] = mapped_column(sa.Text)
    listed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    registered: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Blob(Base):
    """File bytes for the database storage backend, in chunks so nothing is held whole."""

    __tablename__ = "blobs"
    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    chunk: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
