"""Schemathesis against the live service's own OpenAPI document: generated requests, valid
and invalid, get no 5xx, and every 4xx carries the standard ``{"detail": ...}`` body.

The operations are driven from one test with Hypothesis directly (schemathesis' pytest
plugin does not load under this pytest), a bounded number of examples per operation and
generation mode."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import Stack

pytestmark = pytest.mark.integration
EXAMPLES = 10  # per operation and mode: bounded so the run stays within the time budget
# An existing job's event stream never ends by itself; random ids only ever get a 404 there,
# which the isolation tests check.
SKIP = {"GET /api/v1/beta/batch-processing/{job_id}/events"}


def _check(stack: Stack, case: Any, problems: list[str], statuses: Counter[int]) -> None:
    response = case.call(base_url=stack.url, headers=stack.headers(), timeout=30)
    statuses[response.status_code // 100] += 1
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500:
        problems.append(f"{where}: {response.text[:200]}")
    elif response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and body.get("detail")):
            problems.append(f"{where}: no detail in {response.text[:200]!r}")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_every_4xx_has_detail(stack: Stack, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.url}/openapi.json")
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [r.ok() for r in schema.get_all_operations()]
    tried = 0
    for operation in operations:
        if operation.label in SKIP:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            _check(stack, case, problems, statuses)

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to make invalid (no parameters, no body): positive mode covers it
        tried += 1
    assert tried > 20
    # Both accepted and refused requests were made: the run exercised the service.
    assert statuses[4] > 20, statuses
    assert mode is GenerationMode.NEGATIVE or statuses[2] > 20, statuses
    assert not problems, "\n".join(sorted(set(problems))[:30])
