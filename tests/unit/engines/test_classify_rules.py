import pytest

from batchsvc.engines.classify import RulesError, classify_text, parse_rules

GOOD = [
    {"type": "invoice", "description": "A bill from a supplier listing items and amounts due."},
    {"type": "receipt", "description": "Proof of a payment already made at a shop."},
]


def test_valid_rules_pass():
    assert [(r.type, r.description) for r in parse_rules(GOOD)] == [
        (g["type"], g["description"]) for g in GOOD]


@pytest.mark.parametrize(
    ("rules", "field", "fragment"),
    [
        ([], "rules", "at least one rule"),
        ("invoice", "rules", "must be a list"),
        ({"type": "a", "description": "bcd"}, "rules", "must be a list"),
        (["invoice"], "rules[0]", "must be an object"),
        ([{"description": "A bill."}], "rules[0].type", "is required"),
        ([{"type": "invoice"}], "rules[0].description", "is required"),
        ([{"type": "  ", "description": "A bill."}], "rules[0].type", "must not be empty"),
        ([{"type": "invoice", "description": ""}], "rules[0].description", "must not be empty"),
        ([{"type": 3, "description": "A bill."}], "rules[0].type", "must be a string"),
        ([{"type": "x" * 101, "description": "A bill."}], "rules[0].type", "at most 100"),
        (
            [{"type": "invoice", "description": "d" * 2001}],
            "rules[0].description",
            "at most 2000",
        ),
        ([{"type": "invoice", "description": "ab"}], "rules[0].description", "too short"),
        (GOOD + [{"type": "Invoice", "description": "Another bill."}], "rules[2].type",
         "duplicate type 'Invoice' (also rules[0].type)"),
        ([{"type": f"t{i}", "description": "A bill."} for i in range(101)], "rules",
         "at most 100 rules"),
    ],
)
def test_invalid_rules_name_the_field(rules, field, fragment):
    with pytest.raises(RulesError) as info:
        parse_rules(rules)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")
    assert fragment in str(info.value)


def test_classify_validates_rules_before_any_work():
    with pytest.raises(RulesError, match="at least one rule"):
        classify_text("some text", [])


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode: must be one of FAST, MULTIMODAL"):
        classify_text("some text", GOOD, mode="TURBO")
