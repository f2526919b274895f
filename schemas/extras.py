"""Bodies and queries of the routes beyond the peers' API: retry, results, events."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf, Range

from schemas.batch import BatchJobSchema
from schemas.common import ProjectQuery

RESULT_FORMATS = ["jsonl", "zip"]


class ResultsQuery(ProjectQuery):
    format = fields.String(load_default="jsonl", validate=OneOf(RESULT_FORMATS))


class EventsQuery(ProjectQuery):
    # Seconds between looks at the job; each look is one small GROUP BY on its items.
    interval = fields.Float(load_default=1.0, validate=Range(min=0.2, max=30))


class RetryJobSchema(BatchJobSchema):
    retry_of = fields.String(allow_none=True)
