"""A classify rule set the API accepts is one the engine runs, and one it refuses the engine
would refuse too: generated over and around every limit (count, type length, description
length, blanks, duplicates)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from batchsvc.engines.classify import RulesError, classify_text, parse_rules
from batchsvc.engines.classify.rules import (
    MAX_DESCRIPTION_CHARS,
    MAX_RULES,
    MAX_TYPE_CHARS,
    MIN_DESCRIPTION_CHARS,
)
from schemas.batch import BatchCreateSchema
from schemas.classifier import ClassifierJobCreateSchema


def _around(limit: int) -> st.SearchStrategy[int]:
    return st.sampled_from([0, 1, limit - 1, limit, limit + 1]).filter(lambda n: n >= 0)


def _text(lengths: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    return st.builds(lambda n, pad: (" " * pad) + ("d" * n), lengths, st.integers(0, 2))


rule = st.fixed_dictionaries({
    "type": _text(_around(MAX_TYPE_CHARS) | st.integers(1, 12)),
    "description": _text(_around(MAX_DESCRIPTION_CHARS) | _around(MIN_DESCRIPTION_CHARS)
                         | st.integers(5, 40)),
})
rule_sets = st.one_of(
    st.lists(rule, min_size=0, max_size=4),
    st.integers(MAX_RULES - 1, MAX_RULES + 1).map(
        lambda n: [{"type": f"type {i}", "description": f"documents of kind {i}"}
                   for i in range(n)]),
)


def _engine_accepts(rules: list[dict[str, Any]]) -> bool:
    try:
        parse_rules(rules)
    except RulesError:
        return False
    return True


def _api_accepts(rules: list[dict[str, Any]]) -> tuple[bool, bool]:
    results = []
    for load in (lambda: BatchCreateSchema().load({"job_config": {"rules": rules},
                                                   "directory_id": "d"}),
                 lambda: ClassifierJobCreateSchema().load({"file_ids": ["f"], "rules": rules})):
        try:
            load()
            results.append(True)
        except ValidationError:
            results.append(False)
    return results[0], results[1]


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets)
def test_the_api_and_the_engine_agree_on_every_rule_set(rules: list[dict[str, Any]]) -> None:
    engine = _engine_accepts(rules)
    assert _api_accepts(rules) == (engine, engine), rules


def test_a_rule_set_at_every_limit_classifies() -> None:
    """The largest set the API accepts runs through the engine (FAST, the shipped model)."""
    rules = [{"type": f"{i:03d}" + "t" * (MAX_TYPE_CHARS - 3),
              "description": f"documents about subject {i} " + "d" * MAX_DESCRIPTION_CHARS}
             for i in range(MAX_RULES)]
    for r in rules:
        r["description"] = r["description"][:MAX_DESCRIPTION_CHARS]
    assert _api_accepts(rules) == (True, True)
    result = classify_text("An article about subject 7 and nothing else.", rules)
    assert result.type is None or result.type in {r["type"] for r in rules}
