"""The item path's database work behind one interface, with a SQLite and a Postgres store.

Both run the statements of ``items.sql`` and make the same decisions there (the claim, the
dedup lookup, the fencing); they differ only in how many round trips that takes. Postgres: an
item runs on a connection of its own (``itemdb``: autocommit, asynchronous commit, statements
compiled and prepared once), the claim comes back from one statement with the file, a
reusable result and (database store) the bytes, and one more statement writes the output (when
it fits one chunk), the lineage and the final status. SQLite (embedded) runs the same steps as
statements in short transactions.

Asynchronous commit means a database crash may lose the last fraction of a second of item
updates: those items fall back to pending/processing with a lease and the sweeper runs them
again. Job-level commits stay synchronous, and a synchronous commit flushes all WAL before it,
so a finalised job never rests on a lost item row.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from batchsvc.models import utcnow
from batchsvc.states import ItemStatus, JobStatus


@dataclass(frozen=True)
class JobInfo:
    """What an item needs of its job; immutable once the job exists, so cached per process."""

    job_type: str
    config: dict[str, Any]
    params_hash: str
    # Its results may be reused by later jobs (neither invalidate_cache nor do_not_cache).
    cacheable: bool

    @property
    def params(self) -> dict[str, Any]:
        return self.config.get("parameters") or {}


@dataclass(frozen=True)
class FileInfo:
    size: int
    sha256: str
    storage_key: str
    # The newest reusable result for the same bytes and parameters (dedup), if any.
    cached_result_id: str | None
    # The bytes, when the claim could read them in the same query.
    data: bytes | None = None
    # A file registered by reference (an S3 import): the object version it was listed at.
    etag: str | None = None


@dataclass(frozen=True)
class KeptEvidence:
    """A classified document's vector (float32 bytes) and whether a rule matched it, kept
    with its result until the job has been refined (services.refinement)."""

    vector: bytes
    matched: bool


@dataclass(frozen=True)
class Claim:
    """One claim of one item: ``attempt`` fences every write made under it."""

    seq: int
    job_id: str
    item_id: str
    file_id: str | None
    item_name: str
    attempt: int
    project_id: str
    job: JobInfo
    file: FileInfo | None
    # The first claim this process saw of a job still dispatched: it moves the job to running.
    starts_job: bool = False


class ItemStore(Protocol):
    def claim(self, seq: int, token: str | None) -> Claim | None:
        """Claim the item under message ``token``; None when another holder has it (or its
        job was cancelled)."""

    def finish(self, claim: Claim, status: ItemStatus, *, error: str | None = None,
               skip_reason: str | None = None, result_id: str | None = None) -> bool:
        """processing -> a terminal status; False when the claim is no longer held."""

    def store_result(self, claim: Claim, output: bytes, summary: dict[str, Any],
                     evidence: KeptEvidence | None = None) -> str | None:
        """The output, its lineage (one per item per job), ``completed`` and (classify FAST)
        the document's evidence for the job's refinement, all or nothing for the holder of
        ``claim``: the item's result id; None (nothing kept) when the claim was lost."""

    def renew(self, seq: int, attempt: int) -> bool:
        """Extend the lease of claim ``attempt`` (the heartbeat's thread); False when lost."""

    def read_file(self, claim: Claim) -> bytes:
        """The claimed item's bytes."""


# Jobs this process has recently worked for.
JOB_CACHE_SIZE = 256


class JobCache:
    """JobInfo per job id, read once per process."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, JobInfo] = OrderedDict()

    def get(self, job_id: str, load: Callable[[], Any]) -> tuple[JobInfo, bool]:
        """(the job, whether this is its first sight here while it is dispatched); ``load``
        returns the row of ``sql.JOB``."""
        info = self._jobs.get(job_id)
        if info is not None:
            self._jobs.move_to_end(job_id)
            return info, False
        job_type, config, params_hash, status, cacheable = load()[:5]
        info = JobInfo(job_type, config, params_hash, cacheable)
        self._jobs[job_id] = info
        if len(self._jobs) > JOB_CACHE_SIZE:
            self._jobs.popitem(last=False)
        return info, status == JobStatus.DISPATCHED


def output_key(claim: Claim, result_id: str) -> str:
    return f"results/{claim.project_id}/{claim.job_id}/{result_id}.json"


def user_output(claim: Claim, extension: str = "json") -> str | None:
    """The object ``output_s3_path_prefix`` asks for: ``<prefix>/<item id>.<extension>``."""
    prefix = claim.job.params.get("output_s3_path_prefix")
    return f"{prefix.rstrip('/')}/{claim.item_id}.{extension}" if prefix else None


def lineage_row(claim: Claim, result_id: str, key: str, summary: Any) -> dict[str, Any]:
    """The processing record of ``claim`` (both stores write this row)."""
    assert claim.file is not None
    return {"id": result_id, "project_id": claim.project_id, "job_id": claim.job_id,
            "item_id": claim.item_id, "file_id": claim.file_id,
            "file_sha256": claim.file.sha256, "job_type": claim.job.job_type,
            "parameters_hash": claim.job.params_hash, "output_key": key,
            "output_metadata": summary, "cacheable": claim.job.cacheable,
            "processed_at": utcnow()}
