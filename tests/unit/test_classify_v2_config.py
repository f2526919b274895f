"""The v2 classify configuration: 1-based target_pages reach the engine as the pages meant,
and the schema refuses what the engine could not run."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from batchsvc.engines.parse import ParseError, parse_document
from batchsvc.engines.parse.options import zero_based_pages
from batchsvc.services.classify_v2 import engine_parsing
from batchsvc.services.items.engines import classify_input_params
from schemas.classify_v2 import ClassifyV2CreateSchema
from tests.conformance.sdk_flow import read_bytes

RULES = [{"type": "report", "description": "A report with findings."}]


def test_one_based_ranges_become_target_pages() -> None:
    assert zero_based_pages("1, 3-5,10") == "0,2-4,9"
    for bad in ("0", "3-1", "a", "1,,2", "-2"):
        with pytest.raises(ParseError, match="1-based"):
            zero_based_pages(bad)


def test_the_engine_reads_the_pages_the_client_named() -> None:
    config = {"parsing_configuration": engine_parsing({"target_pages": "1,3-4", "max_pages": None})}
    parsed = parse_document(read_bytes("pdflatex-4-pages.pdf"), "p.pdf",
                            classify_input_params(config))
    assert [p.page_number for p in parsed.pages] == [1, 3, 4]


def test_schema_names_the_input_and_refuses_bad_pages() -> None:
    loaded = ClassifyV2CreateSchema().load({"parse_job_id": "bjb-1",
                                            "configuration": {"rules": RULES}})
    assert loaded["input_field"] == "parse_job_id"
    with pytest.raises(ValidationError) as error:
        ClassifyV2CreateSchema().load({"file_input": "f", "configuration": {
            "rules": RULES, "parsing_configuration": {"target_pages": "0-2"}}})
    assert "target_pages" in error.value.messages["configuration"]["parsing_configuration"]
