"""What an item may reuse instead of computing again: a classify job over a parse job reads
that parse's stored result rather than parsing the document a second time."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from batchsvc.models import JobItem, ProcessingResult
from batchsvc.services.items.engines import DocumentError
from batchsvc.storage import StorageError, get_storage
from batchsvc.uow import unit_of_work


def reused_parse(config: dict[str, Any]) -> Any:
    """The ParseResult of the job's ``parse_job_id`` (None when it has none); DocumentError
    when that result is gone."""
    parse_job_id = config.get("parse_job_id")
    if not parse_job_id:
        return None
    from batchsvc.engines.parse import ParseResult

    with unit_of_work() as session:
        key = session.scalar(
            sa.select(ProcessingResult.output_key)
            .join(JobItem, JobItem.result_id == ProcessingResult.id)
            .where(JobItem.result_job_id == parse_job_id))
    if key is None:
        raise DocumentError(f"parse job {parse_job_id} has no stored result to classify")
    try:
        return ParseResult.from_dict(json.loads(get_storage().get_bytes(key)))
    except StorageError as exc:
        raise DocumentError(f"the result of parse job {parse_job_id} could not be read: "
                            f"{exc}") from exc
