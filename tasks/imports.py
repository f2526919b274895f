"""S3 prefix imports: one listing page per task (services.imports)."""

from __future__ import annotations

from batchsvc.messaging import IMPORT_PAGE
from batchsvc.services import imports
from tasks.app import celery_app
from tasks.dispatch import CONTROL


@celery_app.task(name=IMPORT_PAGE, **CONTROL)
def import_page(import_id: str, page: int) -> str:
    return imports.import_page(import_id, page)
