"""A classify job's refinement over all its items: an adapter around services.refinement."""

from __future__ import annotations

from typing import Any

from batchsvc.messaging import REFINE_JOB
from batchsvc.services import refinement
from tasks.app import celery_app
from tasks.dispatch import CONTROL


@celery_app.task(name=REFINE_JOB, **CONTROL)
def refine_job(job_id: str) -> dict[str, Any]:
    return refinement.refine_job(job_id)
