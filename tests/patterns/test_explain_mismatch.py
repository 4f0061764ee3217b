"""``explain_mismatch``: the first field of a pattern an event fails, for the pattern playground."""

from __future__ import annotations

import pytest

from dashboard.patterns.engine import PatternError, compile_pattern, explain_mismatch

EVENT = {
    "source": "shop.orders",
    "detail-type": "OrderCreated",
    "detail": {
        "status": "pending",
        "amount": 40,
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}],
    },
}


def test_a_matching_event_has_no_explanation():
    assert explain_mismatch({"source": ["shop.orders"], "detail": {"amount": [{"numeric": [">", 10]}]}}, EVENT) is None


def test_the_first_failing_field_in_the_patterns_own_order():
    miss = explain_mismatch(
        {"source": ["shop.orders"], "detail": {"status": ["paid", "shipped"], "amount": [1]}}, EVENT
    )
    assert miss is not None
    assert miss.path == "detail.status"
    assert miss.present and miss.found == "pending"
    assert miss.expected == ["paid", "shipped"]
    assert miss.reason == 'detail.status is "pending"; the pattern wants ["paid", "shipped"]'


def test_a_missing_field_says_so():
    miss = explain_mismatch({"detail": {"customer": {"id": [{"exists": True}]}}}, EVENT)
    assert miss is not None
    assert (miss.path, miss.present, miss.found) == ("detail.customer.id", False, None)
    assert "missing" in miss.reason


def test_operators_are_judged_by_the_engine():
    miss = explain_mismatch({"detail": {"amount": [{"numeric": [">=", 100]}]}}, EVENT)
    assert miss is not None and miss.path == "detail.amount" and miss.found == 40
    assert explain_mismatch({"detail": {"status": [{"anything-but": "paid"}]}}, EVENT) is None


def test_an_or_group_lists_why_each_alternative_failed():
    miss = explain_mismatch({"$or": [{"source": ["a"]}, {"detail": {"amount": [1]}}]}, EVENT)
    assert miss is not None
    assert miss.path == "$or"
    assert "[0] source is" in miss.reason and "[1] detail.amount is 40" in miss.reason


def test_array_consistency_is_named_on_the_object():
    # sku "a" and qty 5 both occur, but not in the same element.
    miss = explain_mismatch({"detail": {"items": {"sku": ["a"], "qty": [5]}}}, EVENT)
    assert miss is not None
    assert miss.path == "detail.items"
    assert "no single element" in miss.reason


def test_the_explanation_never_disagrees_with_the_engine():
    patterns = [
        {"source": ["shop.orders"]},
        {"detail-type": [{"prefix": "Order"}], "detail": {"status": ["pending"]}},
        {"detail": {"items": {"sku": ["b"], "qty": [5]}}},
        {"detail": {"items": {"sku": ["a"], "qty": [5]}}},
        {"$or": [{"source": ["x"]}, {"detail": {"status": ["pending"]}}]},
        {"detail": {"gone": [{"exists": False}]}},
    ]
    for pattern in patterns:
        assert (explain_mismatch(pattern, EVENT) is None) == compile_pattern(pattern).matches(EVENT), pattern


def test_json_text_and_invalid_patterns():
    assert explain_mismatch('{"source": ["shop.orders"]}', EVENT) is None
    with pytest.raises(PatternError):
        explain_mismatch({"source": "shop.orders"}, EVENT)
    with pytest.raises(PatternError):
        explain_mismatch("{not json", EVENT)


def test_long_values_are_cut_in_the_sentence():
    event = {"detail": {"note": "x" * 500}}
    miss = explain_mismatch({"detail": {"note": ["y"]}}, event)
    assert miss is not None and len(miss.reason) < 200 and miss.found == "x" * 500
    assert miss.as_dict()["path"] == "detail.note"
