"""Request schemas: SDK field types, field-named errors, unknown options kept."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from schemas.batch import BatchCreateSchema
from schemas.common import validation_detail


def errors(exc: ValidationError) -> dict[str, str]:
    """Field path -> message, below job_config for errors inside it."""
    found = {}
    for e in validation_detail(exc, "body"):
        loc = [str(part) for part in e["loc"][1:]]
        inside = loc[:1] == ["job_config"] and len(loc) > 1
        found[".".join(loc[1:] if inside else loc)] = e["msg"]
    return found


def load_job_config(raw: dict) -> tuple[str, dict]:
    """A job config through the request schema, as the API loads it: (job type, config)."""
    data = BatchCreateSchema().load({"job_config": raw, "directory_id": "d"})
    return data["job_type"], data["job_config"]


def test_parse_config_keeps_unknown_options_and_wire_names() -> None:
    kind, config = load_job_config({"parameters": {"max_pages": 2, "output_tables_as_HTML": True,
                                                   "brand_new_option": {"x": 1}}})
    assert kind == "parse"
    assert config["parameters"]["output_tables_as_HTML"] is True
    assert config["parameters"]["brand_new_option"] == {"x": 1}


@pytest.mark.parametrize(("params", "field"), [
    ({"max_pages": "three"}, "parameters.max_pages"),
    ({"output_tables_as_HTML": "maybe"}, "parameters.output_tables_as_HTML"),
    ({"parse_mode": "parse_with_magic"}, "parameters.parse_mode"),
    ({"languages": ["klingon"]}, "parameters.languages.0"),
    ({"webhook_configurations": [{"webhook_output_format": "xml"}]},
     "parameters.webhook_configurations.0.webhook_output_format"),
    ({"page_error_tolerance": "lots"}, "parameters.page_error_tolerance"),
])
def test_wrong_types_name_the_field(params: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_job_config({"job_name": "parse_raw_file_job", "parameters": params})
    assert field in errors(exc.value)


def test_classify_config_rules_are_validated() -> None:
    rules = [{"type": "invoice", "description": "A bill"}, {"type": "Invoice",
                                                            "description": "dup"}]
    with pytest.raises(ValidationError) as exc:
        load_job_config({"rules": rules})
    assert "rules.1.type" in errors(exc.value)
    with pytest.raises(ValidationError) as exc:
        load_job_config({"rules": []})
    assert "rules" in errors(exc.value)
    with pytest.raises(ValidationError) as exc:
        load_job_config({"rules": [{"type": "a", "description": "  "}]})
    assert "rules.0.description" in errors(exc.value)
    kind, _ = load_job_config({"rules": [{"type": "a", "description": "a bill"}],
                               "mode": "FAST"})
    assert kind == "classify"


def test_unknown_job_name_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        load_job_config({"job_name": "extract_everything"})
    assert "job_name" in errors(exc.value)


@pytest.mark.parametrize(("body", "field"), [
    ({"job_config": {}}, "directory_id"),
    ({"job_config": {}, "directory_id": "d", "item_ids": ["a"]}, "directory_id"),
    ({"job_config": {}, "item_ids": ["a", "a"]}, "item_ids"),
    ({"job_config": {}, "item_ids": []}, "item_ids"),
    ({"job_config": {}, "directory_id": "d", "page_size": 5000}, "page_size"),
    ({"job_config": "parse", "directory_id": "d"}, "job_config"),
    ({"directory_id": "d"}, "job_config"),
])
def test_batch_create_sources(body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        BatchCreateSchema().load(body)
    assert field in errors(exc.value)
