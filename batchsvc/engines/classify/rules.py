"""Validation of user-written classify rules (`{"type": ..., "description": ...}`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_RULES = 100
MAX_TYPE_CHARS = 100
MIN_DESCRIPTION_CHARS = 3
MAX_DESCRIPTION_CHARS = 2000


class RulesError(ValueError):
    """Rules are unusable; the message names the failing field, e.g. `rules[1].type: ...`."""

    def __init__(self, message: str, field: str = "rules") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rule:
    type: str
    description: str


def parse_rules(rules: Sequence[Mapping]) -> list[Rule]:
    """Validated, whitespace-trimmed rules in the caller's order."""
    if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Sequence):
        raise RulesError("rules: must be a list of {type, description} objects")
    if not rules:
        raise RulesError("rules: at least one rule is required")
    if len(rules) > MAX_RULES:
        raise RulesError(f"rules: at most {MAX_RULES} rules are allowed, got {len(rules)}")
    out: list[Rule] = []
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, Mapping):
            raise RulesError(f"{where}: must be an object with 'type' and 'description'", where)
        values = {}
        for key, limit in (("type", MAX_TYPE_CHARS), ("description", MAX_DESCRIPTION_CHARS)):
            field = f"{where}.{key}"
            value = rule.get(key)
            if value is None:
                raise RulesError(f"{field}: is required", field)
            if not isinstance(value, str):
                raise RulesError(f"{field}: must be a string", field)
            value = value.strip()
            if not value:
                raise RulesError(f"{field}: must not be empty", field)
            if len(value) > limit:
                raise RulesError(f"{field}: at most {limit} characters, got {len(value)}", field)
            values[key] = value
        if len(values["description"]) < MIN_DESCRIPTION_CHARS:
            field = f"{where}.description"
            raise RulesError(
                f"{field}: too short to describe a document type "
                f"(at least {MIN_DESCRIPTION_CHARS} characters)", field
            )
        # Case-insensitive: 'Invoice' and 'invoice' would be indistinguishable to a reader.
        key = values["type"].casefold()
        if key in seen:
            field = f"{where}.type"
            raise RulesError(
                f"{field}: duplicate type {values['type']!r} (also rules[{seen[key]}].type)", field
            )
        seen[key] = i
        out.append(Rule(values["type"], values["description"]))
    return out
