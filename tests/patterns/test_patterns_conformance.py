"""Conformance of the event-pattern engine with Amazon EventBridge.

Each case is ``(pattern, event, expected)``: ``expected`` is whether EventBridge's TestEventPattern
matches, or an :class:`Invalid` naming the path and a fragment of the reason the pattern is rejected
with. The cases come from the EventBridge documentation's examples (event patterns, content
filtering, comparison operators, arrays, null values), from behaviour recorded against the real
service, and from edge cases of each operator.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass
from typing import Any

import pytest

from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern, matches

# The EC2 example event from "Creating Amazon EventBridge event patterns".
BASE_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}


def event(detail: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """The base envelope with ``detail`` replaced and top-level fields overridden.

    Top-level keyword names use ``_`` for ``-`` (``detail_type`` is ``"detail-type"``).
    """
    result = copy.deepcopy(BASE_EVENT)
    if detail is not None:
        result["detail"] = detail
    for name, value in top.items():
        result[name.replace("_", "-")] = value
    return result


def field(value: Any) -> dict[str, Any]:
    """An event whose ``detail.f`` is ``value``."""
    return event({"f": value})


NO_FIELD = event({"other": 1})


def on_field(*values: Any) -> dict[str, Any]:
    """A pattern on ``detail.f`` with the given values and operators."""
    return {"detail": {"f": list(values)}}


@dataclass(frozen=True)
class Invalid:
    """An expected PatternError: its exact ``path`` and a fragment of its ``reason``."""

    path: str
    reason: str


CASES: list[Any] = [
    # ---- exact values, structure and types ------------------------------------------------------
    pytest.param(
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]},
        },
        event(),
        True,
        id="docs_ec2_termination_pattern_matches_its_event",
    ),
    pytest.param(
        {"source": ["aws.ec2"], "detail": {"state": ["terminated"]}},
        event({"state": "running"}),
        False,
        id="all_fields_must_match_and_one_failing_field_fails",
    ),
    pytest.param({"source": ["aws.s3", "aws.ec2"]}, event(), True, id="values_listed_for_a_field_are_ored"),
    pytest.param({"source": ["aws.s3", "aws.sqs"]}, event(), False, id="no_listed_value_equal_fails"),
    pytest.param({"source": ["AWS.EC2"]}, event(), False, id="exact_string_matching_is_case_sensitive"),
    pytest.param({"Source": ["aws.ec2"]}, event(), False, id="field_names_are_case_sensitive"),
    pytest.param({"region": ["us-west-1"]}, event(), True, id="fields_not_named_in_the_pattern_are_ignored"),
    pytest.param(
        {"detail": {"missing": ["x"]}},
        event(),
        False,
        id="value_on_a_missing_field_does_not_match",
    ),
    pytest.param(
        {"nothing": {"deeper": ["x"]}},
        event(),
        False,
        id="value_under_a_missing_object_does_not_match",
    ),
    pytest.param(
        {
            "resources": [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            ],
        },
        event(
            resources=[
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ],
        ),
        True,
        id="docs_arrays_match_when_pattern_and_event_arrays_intersect",
    ),
    pytest.param(
        {"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]},
        event(resources=["arn:a", "arn:b"]),
        False,
        id="arrays_without_intersection_do_not_match",
    ),
    pytest.param(on_field(""), field(""), True, id="docs_empty_string_matches_empty_string"),
    pytest.param(on_field(""), field(None), False, id="docs_empty_string_does_not_match_null"),
    pytest.param(on_field(None), field(None), True, id="docs_null_matches_null"),
    pytest.param(on_field(None), field(""), False, id="null_does_not_match_empty_string"),
    pytest.param(on_field(None), NO_FIELD, False, id="null_does_not_match_a_missing_field"),
    pytest.param(on_field(None), field([]), False, id="null_does_not_match_an_empty_array"),
    pytest.param(on_field("5"), field(5), False, id="string_value_does_not_match_a_number"),
    pytest.param(on_field(5), field("5"), False, id="number_value_does_not_match_a_string"),
    pytest.param(on_field(300), field(300.0), True, id="integer_value_matches_equal_float"),
    pytest.param(on_field(3.018e2), field(301.8), True, id="exponent_value_matches_equal_decimal"),
    pytest.param(on_field(5.0), field(5), True, id="float_value_matches_equal_integer"),
    pytest.param(on_field(5), field(5.5), False, id="number_value_does_not_match_a_different_number"),
    pytest.param(on_field(1), field(1.0000001), True, id="numbers_are_compared_to_six_decimal_places"),
    pytest.param(on_field(1), field(1.000001), False, id="sixth_decimal_place_still_counts"),
    pytest.param(on_field(-0.5), field(-0.5), True, id="negative_fraction_matches_itself"),
    pytest.param(
        on_field(123456789012),
        field(123456789012),
        True,
        id="large_integer_beyond_numeric_range_matches_itself",
    ),
    pytest.param(
        on_field(123456789012),
        field(123456789013),
        False,
        id="large_integer_does_not_match_a_neighbour",
    ),
    pytest.param(on_field(True), field(True), True, id="true_matches_true"),
    pytest.param(on_field(True), field(False), False, id="true_does_not_match_false"),
    pytest.param(on_field(True), field(1), False, id="true_does_not_match_the_number_one"),
    pytest.param(on_field(1), field(True), False, id="number_one_does_not_match_true"),
    pytest.param(on_field(False), field(False), True, id="false_matches_false"),
    pytest.param(on_field(0), field(False), False, id="number_zero_does_not_match_false"),
    pytest.param(on_field(False), field("false"), False, id="false_does_not_match_the_string_false"),
    pytest.param(on_field("héllo wörld"), field("héllo wörld"), True, id="unicode_strings_match_exactly"),
    pytest.param(
        {"detail": {"my-key": ["my-value"]}},
        event(detail='{"my-key": "my-value"}'),
        False,
        id="json_encoded_string_is_not_an_object",
    ),
    pytest.param({"detail": ["terminated"]}, event(), False, id="leaf_values_do_not_match_an_object"),
    pytest.param(
        on_field("a", 1, None, True),
        field(None),
        True,
        id="mixed_value_types_in_one_list_are_ored",
    ),
    # ---- prefix ---------------------------------------------------------------------------------
    pytest.param({"time": [{"prefix": "2017-12-22"}]}, event(), True, id="docs_prefix_matches_start_of_time"),
    pytest.param({"time": [{"prefix": "2018"}]}, event(), False, id="prefix_does_not_match_other_start"),
    pytest.param(on_field({"prefix": "us-"}), field("US-east-1"), False, id="prefix_is_case_sensitive"),
    pytest.param(on_field({"prefix": ""}), field("anything"), True, id="empty_prefix_matches_any_string"),
    pytest.param(on_field({"prefix": ""}), field(5), False, id="empty_prefix_does_not_match_a_number"),
    pytest.param(on_field({"prefix": "20"}), field(2017), False, id="prefix_only_matches_strings"),
    pytest.param(
        on_field({"prefix": "abcd"}),
        field("abc"),
        False,
        id="prefix_longer_than_value_does_not_match",
    ),
    pytest.param(on_field({"prefix": "b"}), field(["a1", "b1"]), True, id="prefix_matches_any_array_element"),
    pytest.param(
        {"detail-type": [{"prefix": {"equals-ignore-case": "ec2 INSTANCE"}}]},
        event(),
        True,
        id="docs_prefix_ignoring_case_matches",
    ),
    pytest.param(
        on_field({"prefix": {"equals-ignore-case": "EVENTB"}}),
        field("EventBridge"),
        True,
        id="prefix_ignoring_case_matches_mixed_case_value",
    ),
    pytest.param(
        on_field({"prefix": {"equals-ignore-case": "eventc"}}),
        field("EventBridge"),
        False,
        id="prefix_ignoring_case_does_not_match_other_start",
    ),
    # ---- suffix ---------------------------------------------------------------------------------
    pytest.param(
        on_field({"suffix": ".png"}),
        field("image.png"),
        True,
        id="docs_suffix_matches_file_extension",
    ),
    pytest.param(
        on_field({"suffix": ".png"}),
        field("image.jpg"),
        False,
        id="suffix_does_not_match_other_end",
    ),
    pytest.param(on_field({"suffix": ".png"}), field("image.PNG"), False, id="suffix_is_case_sensitive"),
    pytest.param(
        on_field({"suffix": {"equals-ignore-case": "tBridge"}}),
        field("EVENTBRIDGE"),
        True,
        id="docs_suffix_ignoring_case_matches",
    ),
    pytest.param(
        on_field({"suffix": {"equals-ignore-case": "5"}}),
        field(5),
        False,
        id="suffix_ignoring_case_needs_a_string",
    ),
    pytest.param(on_field({"suffix": "1"}), field(["a0", "b1"]), True, id="suffix_matches_any_array_element"),
    # ---- equals-ignore-case ---------------------------------------------------------------------
    pytest.param(
        on_field({"equals-ignore-case": "alice"}),
        field("ALICE"),
        True,
        id="docs_equals_ignore_case",
    ),
    pytest.param(
        on_field({"equals-ignore-case": "alice"}),
        field("alicia"),
        False,
        id="equals_ignore_case_needs_whole_value",
    ),
    pytest.param(
        on_field({"equals-ignore-case": ""}),
        field(""),
        True,
        id="equals_ignore_case_empty_matches_empty",
    ),
    pytest.param(
        on_field({"equals-ignore-case": "5"}),
        field(5),
        False,
        id="equals_ignore_case_does_not_match_numbers",
    ),
    pytest.param(
        on_field({"equals-ignore-case": "école"}),
        field("ÉCOLE"),
        True,
        id="equals_ignore_case_handles_accents",
    ),
    pytest.param(
        on_field({"equals-ignore-case": "b"}),
        field(["A", "B"]),
        True,
        id="equals_ignore_case_on_array_elements",
    ),
    # ---- wildcard -------------------------------------------------------------------------------
    pytest.param(
        on_field({"wildcard": "dir/*.png"}),
        field("dir/pic.png"),
        True,
        id="docs_wildcard_matches_file_in_folder",
    ),
    pytest.param(
        on_field({"wildcard": "dir/*.png"}),
        field("dir/sub/pic.png"),
        True,
        id="wildcard_star_spans_slashes",
    ),
    pytest.param(
        on_field({"wildcard": "dir/*.png"}),
        field("other/pic.png"),
        False,
        id="wildcard_literal_parts_must_match",
    ),
    pytest.param(
        on_field({"wildcard": "Simple*Service"}),
        field("SimpleQueueService"),
        True,
        id="wildcard_in_the_middle",
    ),
    pytest.param(on_field({"wildcard": "*"}), field(""), True, id="lone_wildcard_matches_empty_string"),
    pytest.param(on_field({"wildcard": "*"}), field(7), False, id="wildcard_only_matches_strings"),
    pytest.param(on_field({"wildcard": "a\\*b"}), field("a*b"), True, id="escaped_star_matches_literal_star"),
    pytest.param(on_field({"wildcard": "a\\*b"}), field("axb"), False, id="escaped_star_is_not_a_wildcard"),
    pytest.param(
        on_field({"wildcard": "a\\\\b"}),
        field("a\\b"),
        True,
        id="escaped_backslash_matches_backslash",
    ),
    pytest.param(on_field({"wildcard": "a\\**"}), field("a*xyz"), True, id="escaped_star_then_wildcard"),
    pytest.param(
        on_field({"wildcard": "exact"}),
        field("exact"),
        True,
        id="wildcard_without_star_is_equality",
    ),
    pytest.param(
        on_field({"wildcard": "exact"}),
        field("exactly"),
        False,
        id="wildcard_without_star_is_whole",
    ),
    pytest.param(on_field({"wildcard": "*lib*"}), field("x/lib/y"), True, id="wildcard_contains_substring"),
    pytest.param(
        on_field({"wildcard": "a*b*c"}),
        field("acb"),
        False,
        id="wildcard_segments_keep_their_order",
    ),
    pytest.param(on_field({"wildcard": "ab*ba"}), field("aba"), False, id="wildcard_segments_do_not_overlap"),
    pytest.param(on_field({"wildcard": "*.PNG"}), field("a.png"), False, id="wildcard_is_case_sensitive"),
    pytest.param(
        on_field({"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}),
        field("/Users/ls_user/dir/dir/dir/dir/dir/doc.txt"),
        True,
        id="wildcard_with_repeating_literal_segments",
    ),
    pytest.param(
        on_field({"wildcard": "/Users/*/doc.txt"}),
        field("/Users/ls_user/dir/dir/notmatchingdoc.txt"),
        False,
        id="wildcard_suffix_segment_must_match_exactly",
    ),
    # ---- anything-but ---------------------------------------------------------------------------
    pytest.param(
        on_field({"anything-but": "initializing"}),
        field("running"),
        True,
        id="docs_anything_but_other_string",
    ),
    pytest.param(
        on_field({"anything-but": "initializing"}),
        field("initializing"),
        False,
        id="anything_but_excluded_string",
    ),
    pytest.param(on_field({"anything-but": "x"}), NO_FIELD, False, id="anything_but_needs_the_field_present"),
    pytest.param(on_field({"anything-but": "x"}), field(None), True, id="anything_but_string_matches_null"),
    pytest.param(on_field({"anything-but": "x"}), field(5), True, id="anything_but_string_matches_a_number"),
    pytest.param(
        on_field({"anything-but": "x"}),
        field(True),
        True,
        id="anything_but_string_matches_a_boolean",
    ),
    pytest.param(
        on_field({"anything-but": "x"}),
        field({"a": 1}),
        False,
        id="anything_but_does_not_match_object",
    ),
    pytest.param(
        on_field({"anything-but": ["stopped", "overloaded"]}),
        field("stopped"),
        False,
        id="docs_anything_but_string_list_excludes_each",
    ),
    pytest.param(
        on_field({"anything-but": ["stopped", "overloaded"]}),
        field("running"),
        True,
        id="docs_anything_but_string_list_allows_others",
    ),
    pytest.param(
        on_field({"anything-but": 123}),
        field(123),
        False,
        id="docs_anything_but_number_excludes_it",
    ),
    pytest.param(
        on_field({"anything-but": 123}),
        field(123.0),
        False,
        id="anything_but_number_compares_by_value",
    ),
    pytest.param(on_field({"anything-but": 123}), field(124), True, id="anything_but_number_allows_others"),
    pytest.param(
        on_field({"anything-but": 0}),
        field(789),
        True,
        id="anything_but_zero_allows_other_numbers",
    ),
    pytest.param(
        on_field({"anything-but": 100}),
        field("100"),
        True,
        id="anything_but_number_matches_string",
    ),
    pytest.param(
        on_field({"anything-but": [100, 200, 300]}),
        field(200),
        False,
        id="docs_anything_but_number_list_excludes",
    ),
    pytest.param(
        on_field({"anything-but": [100, 200, 300]}),
        field(250),
        True,
        id="docs_anything_but_number_list_allows",
    ),
    pytest.param(
        on_field({"anything-but": "a"}),
        field(["a", "b"]),
        True,
        id="anything_but_matches_if_any_element_passes",
    ),
    pytest.param(
        on_field({"anything-but": "a"}),
        field(["a"]),
        False,
        id="anything_but_fails_if_every_element_is_excluded",
    ),
    pytest.param(
        on_field({"anything-but": "a"}),
        field([]),
        False,
        id="anything_but_does_not_match_empty_array",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "init"}}),
        field("initializing"),
        False,
        id="docs_anything_but_prefix_excludes_prefixed",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "init"}}),
        field("running"),
        True,
        id="anything_but_prefix_allows_others",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "init"}}),
        field(12),
        True,
        id="anything_but_prefix_matches_number",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "init"}}),
        field(None),
        True,
        id="anything_but_prefix_matches_null",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "init"}}),
        NO_FIELD,
        False,
        id="anything_but_prefix_needs_the_field",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": ["init", "post"]}}),
        field("post-init"),
        False,
        id="anything_but_prefix_list_excludes_each_prefix",
    ),
    pytest.param(
        on_field({"anything-but": {"suffix": ".txt"}}),
        field("notes.txt"),
        False,
        id="anything_but_suffix_excludes",
    ),
    pytest.param(
        on_field({"anything-but": {"suffix": ".txt"}}),
        field("notes.png"),
        True,
        id="anything_but_suffix_allows",
    ),
    pytest.param(
        on_field({"anything-but": {"equals-ignore-case": "initializing"}}),
        field("INITIALIZING"),
        False,
        id="docs_anything_but_ignore_case_excludes_any_casing",
    ),
    pytest.param(
        on_field({"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}),
        field("running"),
        True,
        id="anything_but_ignore_case_list_allows_others",
    ),
    pytest.param(
        on_field({"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}),
        field("overloaded"),
        False,
        id="anything_but_ignore_case_list_excludes_each",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": "*/lib/*"}}),
        field("/usr/lib/libc.so"),
        False,
        id="docs_anything_but_wildcard_excludes_matching_path",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}),
        field("/usr/share/doc"),
        True,
        id="anything_but_wildcard_list_allows_others",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}),
        field("/usr/bin/env"),
        False,
        id="anything_but_wildcard_list_excludes_each",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": ""}}),
        field("dir/file"),
        True,
        id="anything_but_empty_wildcard",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": "*/dir/*"}}),
        field(123),
        True,
        id="anything_but_wildcard_on_number",
    ),
    # ---- numeric --------------------------------------------------------------------------------
    pytest.param(
        on_field({"numeric": [">", 0, "<=", 5]}),
        field(5),
        True,
        id="docs_numeric_range_includes_closed_top",
    ),
    pytest.param(
        on_field({"numeric": [">", 0, "<=", 5]}),
        field(0),
        False,
        id="numeric_range_excludes_open_bottom",
    ),
    pytest.param(
        on_field({"numeric": [">", 0, "<=", 5]}),
        field(6),
        False,
        id="numeric_range_excludes_above_top",
    ),
    pytest.param(
        on_field({"numeric": [">=", 0, "<", 5]}),
        field(0),
        True,
        id="numeric_range_includes_closed_bottom",
    ),
    pytest.param(
        on_field({"numeric": [">=", 0, "<", 5]}),
        field(5),
        False,
        id="numeric_range_excludes_open_top",
    ),
    pytest.param(on_field({"numeric": ["<", 10]}), field(3), True, id="docs_numeric_less_than"),
    pytest.param(on_field({"numeric": ["<", 10]}), field(10), False, id="numeric_less_than_is_strict"),
    pytest.param(
        on_field({"numeric": ["<=", 10]}),
        field(10),
        True,
        id="numeric_less_or_equal_includes_bound",
    ),
    pytest.param(
        on_field({"numeric": [">", 10]}),
        field(10.5),
        True,
        id="numeric_greater_than_with_fraction",
    ),
    pytest.param(on_field({"numeric": [">=", 2.5]}), field(2.5), True, id="numeric_float_bound_is_inclusive"),
    pytest.param(
        on_field({"numeric": ["=", 3.018e2]}),
        field(301.8),
        True,
        id="docs_numeric_equals_with_exponent",
    ),
    pytest.param(on_field({"numeric": ["=", 5]}), field(5.0), True, id="numeric_equals_int_and_float"),
    pytest.param(
        on_field({"numeric": ["=", 5]}),
        field(5.1),
        False,
        id="numeric_equals_rejects_other_values",
    ),
    pytest.param(
        on_field({"numeric": [">", 0]}),
        field("5"),
        False,
        id="numeric_does_not_match_numeric_strings",
    ),
    pytest.param(on_field({"numeric": [">", 0]}), field(True), False, id="numeric_does_not_match_booleans"),
    pytest.param(on_field({"numeric": [">", 0]}), field(None), False, id="numeric_does_not_match_null"),
    pytest.param(
        on_field({"numeric": [">", 10]}),
        field([1, 50]),
        True,
        id="numeric_matches_any_array_element",
    ),
    pytest.param(
        on_field({"numeric": [">", -10, "<", 0]}),
        field(-5),
        True,
        id="numeric_range_with_negative_bounds",
    ),
    pytest.param(on_field({"numeric": ["<", 1e3]}), field(999.5), True, id="numeric_bound_with_exponent"),
    pytest.param(
        on_field({"numeric": [">", 0]}),
        field(6e9),
        False,
        id="numbers_beyond_five_billion_never_compare",
    ),
    pytest.param(
        on_field({"numeric": [">=", -5e9]}),
        field(-5e9),
        True,
        id="numeric_range_includes_the_limit",
    ),
    pytest.param(
        on_field({"numeric": ["=", 0.000001]}),
        field(0.000001),
        True,
        id="numeric_equals_at_sixth_decimal",
    ),
    pytest.param(
        on_field({"numeric": ["<", 0]}, {"numeric": [">=", 450]}),
        field(500),
        True,
        id="numeric_ranges_are_ored",
    ),
    pytest.param(
        {
            "time": [{"prefix": "2017-12-22"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
            },
        },
        event({"state": "running", "c-count": 5, "d-count": 3, "x-limit": 301.8}),
        True,
        id="docs_complex_example_with_multiple_matchers",
    ),
    # ---- exists ---------------------------------------------------------------------------------
    pytest.param(on_field({"exists": True}), field("x"), True, id="exists_true_matches_present_field"),
    pytest.param(on_field({"exists": True}), NO_FIELD, False, id="exists_true_does_not_match_missing_field"),
    pytest.param(on_field({"exists": True}), field(None), True, id="exists_true_matches_null_value"),
    pytest.param(on_field({"exists": True}), field([]), False, id="exists_true_does_not_match_empty_array"),
    pytest.param(on_field({"exists": True}), field([1]), True, id="exists_true_matches_non_empty_array"),
    pytest.param(on_field({"exists": True}), field({"c1": 100}), False, id="exists_true_only_sees_leaves"),
    pytest.param(on_field({"exists": False}), NO_FIELD, True, id="docs_exists_false_matches_missing_field"),
    pytest.param(
        on_field({"exists": False}),
        field("x"),
        False,
        id="exists_false_does_not_match_present_field",
    ),
    pytest.param(on_field({"exists": False}), field(None), False, id="exists_false_does_not_match_null"),
    pytest.param(
        on_field({"exists": False}),
        field({"c1": 100}),
        True,
        id="docs_exists_false_matches_intermediate_node",
    ),
    pytest.param(on_field({"exists": False}), field([]), True, id="exists_false_matches_empty_array"),
    pytest.param(
        {"missing": {"f": [{"exists": False}]}},
        event(),
        True,
        id="exists_false_matches_under_missing_parent",
    ),
    pytest.param(
        {"source": {"f": [{"exists": False}]}},
        event(),
        True,
        id="exists_false_matches_under_scalar_parent",
    ),
    pytest.param(
        {"dynamodb": {"presentKey": {"S": [{"exists": True}]}}},
        {"dynamodb": {"id": {"S": "test1234"}, "presentKey": {"S": "test123"}}},
        True,
        id="exists_true_on_nested_leaf",
    ),
    pytest.param(
        {"dynamodb": {"presentKey": [{"exists": True}]}},
        {"dynamodb": {"id": {"S": "test1234"}, "presentKey": {"S": "test123"}}},
        False,
        id="exists_true_does_not_match_an_object_node",
    ),
    pytest.param(
        {"detail": {"level1": {"level2": {"level3": [{"exists": False}]}}}},
        event({"level1": {"level2": {"level3": "value"}}}),
        False,
        id="exists_false_on_deep_present_leaf_fails",
    ),
    pytest.param(
        {"dynamodb": {"NewImage": {"homemade": {"S": [{"anything-but": ["roses"]}, {"exists": False}]}}}},
        {"dynamodb": {"NewImage": {"purchased": {"N": "789"}}}},
        True,
        id="exists_false_ored_with_anything_but_matches_absence",
    ),
    pytest.param(
        {"dynamodb": {"NewImage": {"homemade": {"S": [{"anything-but": ["roses"]}, {"exists": False}]}}}},
        {"dynamodb": {"NewImage": {"homemade": {"S": "roses"}}}},
        False,
        id="exists_false_ored_with_anything_but_rejects_excluded_value",
    ),
    # ---- cidr and IP addresses ------------------------------------------------------------------
    pytest.param(on_field({"cidr": "10.0.0.0/24"}), field("10.0.0.33"), True, id="docs_cidr_ipv4_inside"),
    pytest.param(on_field({"cidr": "10.0.0.0/24"}), field("10.0.1.1"), False, id="cidr_ipv4_outside"),
    pytest.param(
        on_field({"cidr": "10.0.0.0/24"}),
        field("10.0.0.255"),
        True,
        id="cidr_includes_last_address",
    ),
    pytest.param(
        on_field({"cidr": "0.0.0.0/0"}),
        field("203.0.113.9"),
        True,
        id="cidr_slash_zero_matches_all_ipv4",
    ),
    pytest.param(
        on_field({"cidr": "2001:db8:1234:1a00::/64"}),
        field("2001:0db8:1234:1a00:0000:0000:0000:0000"),
        True,
        id="cidr_ipv6_matches_expanded_address",
    ),
    pytest.param(
        on_field({"cidr": "2001:db8:1234:1a00::/64"}),
        field("2001:db8:1234:1b00::1"),
        False,
        id="cidr_ipv6_outside",
    ),
    pytest.param(on_field({"cidr": "10.0.0.0/24"}), field(123), False, id="cidr_does_not_match_numbers"),
    pytest.param(on_field({"cidr": "10.0.0.0/24"}), field("not-an-ip"), False, id="cidr_does_not_match_text"),
    pytest.param(on_field({"cidr": "0.0.0.0/0"}), field("::1"), False, id="ipv4_cidr_does_not_match_ipv6"),
    pytest.param(
        on_field({"cidr": "10.0.0.128/24"}),
        field("10.0.0.5"),
        False,
        id="cidr_range_starts_at_written_address",
    ),
    pytest.param(
        on_field("2001:db8::1"),
        field("2001:DB8:0:0:0:0:0:1"),
        True,
        id="ip_literal_matches_any_spelling",
    ),
    pytest.param(
        on_field("10.0.0.1"),
        field("10.0.0.2"),
        False,
        id="ip_literal_does_not_match_other_address",
    ),
    # ---- $or ------------------------------------------------------------------------------------
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/ES"},
        True,
        id="docs_or_matches_through_second_alternative",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/S3", "metricName": "Errors"},
        False,
        id="docs_or_fails_when_no_alternative_matches",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
        },
        {"source": "aws.s3", "metricName": "CPUUtilization"},
        False,
        id="or_is_anded_with_sibling_fields",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
                {"scope": ["Service"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"},
        True,
        id="docs_or_alternative_with_and_inside",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"},
        False,
        id="or_alternative_needs_all_its_fields",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
                },
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000},
        True,
        id="docs_nested_or_inside_or",
    ),
    pytest.param(
        {
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            "detail": {
                "$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}],
            },
        },
        {"namespace": "AWS/EC2", "detail": {"detail-type": "CloudWatch Alarm State Change"}},
        True,
        id="docs_parallel_or_groups_both_satisfied",
    ),
    pytest.param(
        {
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            "detail": {
                "$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}],
            },
        },
        {"namespace": "AWS/EC2", "detail": {"source": "aws.s3"}},
        False,
        id="parallel_or_groups_are_anded",
    ),
    pytest.param(
        {"$or": [{"detail": {"f": [{"exists": False}]}}, {"source": ["nope"]}]},
        event(),
        True,
        id="or_alternative_of_absence_matches",
    ),
    pytest.param(
        {
            "$or": [
                {"detail": {"state": [{"numeric": [">", 0]}]}},
                {"detail": {"state": [{"prefix": "term"}]}},
            ],
        },
        event(),
        True,
        id="or_alternatives_with_different_operators",
    ),
    # ---- arrays of objects ----------------------------------------------------------------------
    pytest.param(
        {"employees": {"firstName": ["Anna"]}},
        {"employees": [{"firstName": "John"}, {"firstName": "Anna"}, {"firstName": "Peter"}]},
        True,
        id="field_under_array_of_objects_matches_any_element",
    ),
    pytest.param(
        {"employees": {"firstName": ["Anna"]}},
        {"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]},
        True,
        id="field_under_nested_arrays_of_objects",
    ),
    pytest.param(
        {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}},
        {
            "employees": [
                {"firstName": "Anna", "lastName": "Smith"},
                {"firstName": "Peter", "lastName": "Jones"},
            ],
        },
        False,
        id="fields_from_different_array_elements_do_not_combine",
    ),
    pytest.param(
        {"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}},
        {
            "employees": [
                {"firstName": "Anna", "lastName": "Smith"},
                {"firstName": "Peter", "lastName": "Jones"},
            ],
        },
        True,
        id="fields_from_the_same_array_element_combine",
    ),
    pytest.param(
        {"detail": {"automations": {"id": [{"exists": True}]}}},
        event({"automations": [{"key1": "value1"}, {"id": "match-does-exist"}, {"key2": "value2"}]}),
        True,
        id="exists_true_under_array_of_objects",
    ),
    pytest.param(
        {"detail": {"automations": {"id": [{"exists": False}]}}},
        event({"automations": [{"id": "a"}, {"id": "b"}]}),
        False,
        id="exists_false_fails_when_every_element_has_the_field",
    ),
    pytest.param(on_field(3), field([[1, 2], [3]]), True, id="nested_arrays_of_scalars_are_flattened"),
    pytest.param(on_field("x"), field([{"a": "x"}]), False, id="leaf_does_not_look_inside_array_objects"),
    # ---- dot-joined field names -----------------------------------------------------------------
    pytest.param(
        {"detail": {"state.status": ["running"]}},
        event({"state": {"status": "running"}}),
        True,
        id="dotted_pattern_key_addresses_nested_event_field",
    ),
    pytest.param(
        {"detail": {"state": {"status": ["running"]}}},
        event({"state.status": "running"}),
        True,
        id="nested_pattern_addresses_dotted_event_key",
    ),
    pytest.param(
        {"detail": {"state": {"status": ["running"]}}},
        event({"state.status": {"status": "running"}}),
        False,
        id="dotted_event_key_with_deeper_object_is_another_path",
    ),
    pytest.param({"detail.state": ["terminated"]}, event(), True, id="dotted_top_level_key_reaches_detail"),
    # ---- invalid patterns -----------------------------------------------------------------------
    pytest.param(None, event(), Invalid("", "null"), id="null_pattern_is_rejected"),
    pytest.param({}, event(), Invalid("", "empty pattern"), id="empty_pattern_is_rejected"),
    pytest.param([{"source": ["x"]}], event(), Invalid("", "JSON object"), id="array_pattern_is_rejected"),
    pytest.param("{not json", event(), Invalid("", "invalid JSON"), id="malformed_json_string_is_rejected"),
    pytest.param('["x"]', event(), Invalid("", "JSON object"), id="json_string_holding_an_array_is_rejected"),
    pytest.param('{"a": [NaN]}', event(), Invalid("", "invalid JSON"), id="json_nan_is_rejected"),
    pytest.param(
        {"string": "my-value"},
        event(),
        Invalid("string", "must be an object or an array"),
        id="scalar_string_leaf",
    ),
    pytest.param(
        {"int": 42},
        event(),
        Invalid("int", "must be an object or an array"),
        id="scalar_number_leaf",
    ),
    pytest.param(
        {"detail": {"state": None}},
        event(),
        Invalid("detail.state", "must be an object or an array"),
        id="null_leaf",
    ),
    pytest.param({"resources": []}, event(), Invalid("resources", "empty arrays"), id="empty_value_list"),
    pytest.param({"detail": {}}, event(), Invalid("detail", "empty objects"), id="empty_nested_object"),
    pytest.param(on_field(["a"]), event(), Invalid("detail.f[0]", "nested arrays"), id="nested_value_list"),
    pytest.param(
        on_field("ok", {"contains": "x"}),
        event(),
        Invalid("detail.f[1]", "unknown operator 'contains'"),
        id="unknown_op",
    ),
    pytest.param(
        {"my_key": [{"EXISTS": True}]},
        event(),
        Invalid("my_key[0]", "case-sensitive"),
        id="operator_names_keep_case",
    ),
    pytest.param(
        {"detail": {"equal": [{"NUMERIC": ["=", 5]}]}},
        event(),
        Invalid("detail.equal[0]", "unknown operator 'NUMERIC'"),
        id="uppercase_numeric_is_unknown",
    ),
    pytest.param(
        on_field({"prefix": "a", "suffix": "b"}),
        event(),
        Invalid("detail.f[0]", "exactly one operator"),
        id="operator_object_with_two_operators",
    ),
    pytest.param(
        on_field({}),
        event(),
        Invalid("detail.f[0]", "exactly one operator"),
        id="empty_operator_object",
    ),
    pytest.param(
        on_field({"prefix": 5}),
        event(),
        Invalid("detail.f[0].prefix", "prefix: value must be a string"),
        id="prefix_num",
    ),
    pytest.param(
        on_field({"prefix": {"wildcard": "x*"}}),
        event(),
        Invalid("detail.f[0].prefix", "only nested operator allowed is equals-ignore-case"),
        id="prefix_with_unsupported_nested_operator",
    ),
    pytest.param(
        on_field({"prefix": {"equals-ignore-case": 5}}),
        event(),
        Invalid("detail.f[0].prefix.equals-ignore-case", "must be a string"),
        id="prefix_ignore_case_with_number",
    ),
    pytest.param(
        on_field({"suffix": [".png"]}),
        event(),
        Invalid("detail.f[0].suffix", "suffix: value must be"),
        id="suffix_list",
    ),
    pytest.param(
        on_field({"equals-ignore-case": 5}),
        event(),
        Invalid("detail.f[0].equals-ignore-case", "equals-ignore-case: value must be a string"),
        id="equals_ignore_case_with_number",
    ),
    pytest.param(
        {"detail-type": [{"equals-ignore-case": {"prefix": "ec2"}}]},
        event(),
        Invalid("detail-type[0].equals-ignore-case", "must be a string"),
        id="equals_ignore_case_does_not_nest_prefix",
    ),
    pytest.param(
        on_field({"wildcard": "dir/**.png"}),
        event(),
        Invalid("detail.f[0].wildcard", "consecutive wildcard characters at position 4"),
        id="consecutive_wildcards_are_rejected",
    ),
    pytest.param(
        on_field({"wildcard": "a\\d"}),
        event(),
        Invalid("detail.f[0].wildcard", "invalid escape at position 1"),
        id="wildcard_escape_of_ordinary_character_is_rejected",
    ),
    pytest.param(
        on_field({"wildcard": "abc\\"}),
        event(),
        Invalid("detail.f[0].wildcard", "invalid escape"),
        id="wildcard_trailing_backslash_is_rejected",
    ),
    pytest.param(
        on_field({"wildcard": 5}),
        event(),
        Invalid("detail.f[0].wildcard", "must be a string"),
        id="wildcard_number",
    ),
    pytest.param(
        on_field({"exists": "true"}),
        event(),
        Invalid("detail.f[0].exists", "exists: value must be true or false"),
        id="exists_with_string_true",
    ),
    pytest.param(
        on_field({"exists": 1}),
        event(),
        Invalid("detail.f[0].exists", "true or false"),
        id="exists_with_number",
    ),
    pytest.param(
        on_field({"cidr": "bad-filter"}),
        event(),
        Invalid("detail.f[0].cidr", "malformed CIDR"),
        id="cidr_no_slash",
    ),
    pytest.param(
        on_field({"cidr": "xx.11.xx/8"}),
        event(),
        Invalid("detail.f[0].cidr", "invalid IP address"),
        id="cidr_bad_ip",
    ),
    pytest.param(
        on_field({"cidr": "xxxx:db8:1234:1a00::/64"}),
        event(),
        Invalid("detail.f[0].cidr", "invalid IP address"),
        id="cidr_bad_ipv6",
    ),
    pytest.param(
        on_field({"cidr": "bad-/64filter"}),
        event(),
        Invalid("detail.f[0].cidr", "mask bits must be an integer"),
        id="cidr_mask_not_a_number",
    ),
    pytest.param(
        on_field({"cidr": "10.0.0.0/33"}),
        event(),
        Invalid("detail.f[0].cidr", "mask bits"),
        id="cidr_ipv4_mask_too_big",
    ),
    pytest.param(
        on_field({"cidr": "10.0.0.1/32"}),
        event(),
        Invalid("detail.f[0].cidr", "between 0 and 31"),
        id="cidr_ipv4_mask_must_leave_a_host_bit",
    ),
    pytest.param(
        on_field({"cidr": "::/128"}),
        event(),
        Invalid("detail.f[0].cidr", "between 0 and 127"),
        id="cidr_ipv6_mask_128",
    ),
    pytest.param(
        on_field({"cidr": "10.0.0.0/-1"}),
        event(),
        Invalid("detail.f[0].cidr", "not be negative"),
        id="cidr_negative",
    ),
    pytest.param(
        on_field({"cidr": 10}),
        event(),
        Invalid("detail.f[0].cidr", "cidr: value must be a string"),
        id="cidr_number",
    ),
    pytest.param(
        on_field({"numeric": ">"}),
        event(),
        Invalid("detail.f[0].numeric", "non-empty array"),
        id="numeric_not_array",
    ),
    pytest.param(
        on_field({"numeric": []}),
        event(),
        Invalid("detail.f[0].numeric", "non-empty array"),
        id="numeric_empty",
    ),
    pytest.param(
        on_field({"numeric": ["=>", 5]}),
        event(),
        Invalid("detail.f[0].numeric", "unrecognized operator"),
        id="numeric_unknown_operator",
    ),
    pytest.param(
        on_field({"numeric": [5, ">"]}),
        event(),
        Invalid("detail.f[0].numeric", "unrecognized operator"),
        id="numeric_must_start_with_operator",
    ),
    pytest.param(
        {"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}},
        event(),
        Invalid("detail.c-count[0].numeric", "followed by an upper bound"),
        id="numeric_two_lower_bounds",
    ),
    pytest.param(
        {"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}},
        event(),
        Invalid("detail.c-count[0].numeric", "'<' must be followed by a number"),
        id="numeric_operator_without_value",
    ),
    pytest.param(
        on_field({"numeric": [">", "5"]}),
        event(),
        Invalid("detail.f[0].numeric", "must be followed by a number, got string"),
        id="numeric_bound_as_string",
    ),
    pytest.param(
        on_field({"numeric": ["=", True]}),
        event(),
        Invalid("detail.f[0].numeric", "must be followed by a number, got boolean"),
        id="numeric_bound_as_boolean",
    ),
    pytest.param(
        on_field({"numeric": ["=", 5, "<", 6]}),
        event(),
        Invalid("detail.f[0].numeric", "too many elements"),
        id="numeric_equals_takes_one_value",
    ),
    pytest.param(
        on_field({"numeric": ["<", 5, ">", 1]}),
        event(),
        Invalid("detail.f[0].numeric", "too many elements"),
        id="numeric_range_must_start_with_lower_bound",
    ),
    pytest.param(
        on_field({"numeric": [">", 6e9]}),
        event(),
        Invalid("detail.f[0].numeric", "outside the supported range"),
        id="numeric_bound_above_five_billion",
    ),
    pytest.param(
        on_field({"numeric": [">", 10, "<", 5]}),
        event(),
        Invalid("detail.f[0].numeric", "lower bound 10 must be less than the upper bound 5"),
        id="numeric_empty_range",
    ),
    pytest.param(
        on_field({"numeric": [">=", 5, "<=", 5]}),
        event(),
        Invalid("detail.f[0].numeric", "must be less than"),
        id="numeric_single_point_range",
    ),
    pytest.param(
        on_field({"anything-but": None}),
        event(),
        Invalid("detail.f[0].anything-but", "got null"),
        id="anything_but_null",
    ),
    pytest.param(
        on_field({"anything-but": True}),
        event(),
        Invalid("detail.f[0].anything-but", "got boolean"),
        id="anything_but_bool",
    ),
    pytest.param(
        on_field({"anything-but": ["a", 1]}),
        event(),
        Invalid("detail.f[0].anything-but", "only strings or only numbers"),
        id="anything_but_mixed_list",
    ),
    pytest.param(
        on_field({"anything-but": ["a", None]}),
        event(),
        Invalid("detail.f[0].anything-but", "only strings or only numbers"),
        id="anything_but_list_with_null",
    ),
    pytest.param(
        on_field({"anything-but": []}),
        event(),
        Invalid("detail.f[0].anything-but", "empty"),
        id="anything_but_empty",
    ),
    pytest.param(
        on_field({"anything-but": 6e9}),
        event(),
        Invalid("detail.f[0].anything-but", "outside the supported range"),
        id="anything_but_number_out_of_range",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": {"equals-ignore-case": "file"}}}),
        event(),
        Invalid("detail.f[0].anything-but.prefix", "must be a string or a list of strings, got object"),
        id="anything_but_prefix_does_not_nest",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": ""}}),
        event(),
        Invalid("detail.f[0].anything-but.prefix", "empty prefix"),
        id="anything_but_empty_prefix",
    ),
    pytest.param(
        on_field({"anything-but": {"suffix": ""}}),
        event(),
        Invalid("detail.f[0].anything-but.suffix", "empty suffix"),
        id="anything_but_empty_suffix",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": 1}}),
        event(),
        Invalid("detail.f[0].anything-but.prefix", "got number 1"),
        id="anything_but_prefix_number",
    ),
    pytest.param(
        on_field({"anything-but": {"suffix": [None, ".txt"]}}),
        event(),
        Invalid("detail.f[0].anything-but.suffix", "a list holding null"),
        id="anything_but_suffix_list_with_null",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": 123}}),
        event(),
        Invalid("detail.f[0].anything-but.wildcard", "got number 123"),
        id="anything_but_wildcard_number",
    ),
    pytest.param(
        on_field({"anything-but": {"wildcard": "a**"}}),
        event(),
        Invalid("detail.f[0].anything-but.wildcard", "consecutive wildcard"),
        id="anything_but_wildcard_is_validated",
    ),
    pytest.param(
        on_field({"anything-but": {"equals-ignore-case": 123}}),
        event(),
        Invalid("detail.f[0].anything-but.equals-ignore-case", "got number 123"),
        id="anything_but_ignore_case_number",
    ),
    pytest.param(
        on_field({"anything-but": {"numeric": [">", 1]}}),
        event(),
        Invalid("detail.f[0].anything-but", "unsupported operator 'numeric'"),
        id="anything_but_numeric_is_unsupported",
    ),
    pytest.param(
        on_field({"anything-but": {"prefix": "a", "suffix": "b"}}),
        event(),
        Invalid("detail.f[0].anything-but", "expected exactly one"),
        id="anything_but_two_operators",
    ),
    pytest.param(
        {"$or": {"source": ["x"]}},
        event(),
        Invalid("$or", "at least two pattern objects"),
        id="or_must_be_an_array",
    ),
    pytest.param(
        {"$or": [{"source": ["x"]}]},
        event(),
        Invalid("$or", "at least two pattern objects"),
        id="or_needs_two",
    ),
    pytest.param(
        {"$or": [{"source": ["x"]}, "y"]},
        event(),
        Invalid("$or[1]", "must be an object"),
        id="or_alternative_scalar",
    ),
    pytest.param(
        {"$or": [{"source": ["x"]}, {}]},
        event(),
        Invalid("$or[1]", "empty objects"),
        id="or_alternative_empty",
    ),
    pytest.param(
        {"$or": [{"prefix": ["x"]}, {"source": ["y"]}]},
        event(),
        Invalid("$or[0].prefix", "operator name"),
        id="or_rejects_operator_names_as_fields",
    ),
    pytest.param(
        {"$or": [{"source": ["x"]}, {"source": []}]},
        event(),
        Invalid("$or[1].source", "empty arrays"),
        id="error_inside_or_alternative_names_its_path",
    ),
    pytest.param(
        {"detail": {"$or": [{"state": [{"numeric": ["!", 1]}]}, {"x": ["y"]}]}},
        event(),
        Invalid("detail.$or[0].state[0].numeric", "unrecognized operator"),
        id="error_inside_nested_or_names_its_path",
    ),
    pytest.param(
        on_field(float("inf")),
        event(),
        Invalid("detail.f[0]", "finite"),
        id="infinite_number_is_rejected",
    ),
    pytest.param({1: ["x"]}, event(), Invalid("", "field names must be strings"), id="non_string_field_name"),
    pytest.param(on_field({"x"}), event(), Invalid("detail.f[0]", "not a JSON value"), id="non_json_value"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(("pattern", "event_", "expected"), CASES)
def test_eventbridge_conformance(pattern: Any, event_: dict[str, Any], expected: bool | Invalid) -> None:
    if isinstance(expected, Invalid):
        with pytest.raises(PatternError) as caught:
            compile_pattern(pattern)
        assert caught.value.path == expected.path
        assert expected.reason.lower() in caught.value.reason.lower()
        with pytest.raises(PatternError):
            matches(pattern, event_)
        return
    compiled = compile_pattern(pattern)
    assert compiled.matches(event_) is expected
    # The JSON text of a pattern, the convenience function and the compiled form all agree.
    as_json = pattern if isinstance(pattern, str) else json.dumps(pattern)
    assert compile_pattern(as_json).matches(event_) is expected
    assert matches(pattern, event_) is expected
    assert matches(as_json, event_) is expected


def test_pattern_error_formats_path_and_reason() -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern({"detail": {"price": "5"}})
    err = caught.value
    assert err.path == "detail.price"
    assert str(err) == f"detail.price: {err.reason}"
    assert isinstance(err, ValueError)


def test_pattern_error_without_path_is_just_the_reason() -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern({})
    assert caught.value.path == ""
    assert str(caught.value) == caught.value.reason


def test_pattern_error_survives_pickling() -> None:
    original = PatternError("$or[1].source", "empty arrays are not allowed")
    copy_ = pickle.loads(pickle.dumps(original))
    assert (copy_.path, copy_.reason, str(copy_)) == (original.path, original.reason, str(original))


def test_json_bytes_are_accepted() -> None:
    assert compile_pattern(b'{"source": ["aws.ec2"]}').matches(BASE_EVENT)


def test_matches_accepts_a_compiled_pattern() -> None:
    compiled = compile_pattern({"source": ["aws.ec2"]})
    assert matches(compiled, BASE_EVENT)
    assert isinstance(compiled, CompiledPattern)


def test_compiled_pattern_exposes_canonical_source() -> None:
    compiled = compile_pattern('{ "source": ["aws.ec2"], "detail": {"state": ["x"]} }')
    assert compiled.source == '{"detail":{"state":["x"]},"source":["aws.ec2"]}'


def test_non_object_events_never_match() -> None:
    compiled = compile_pattern({"f": [{"exists": False}]})
    assert compiled.matches({}) is True
    assert compiled.matches(["not", "an", "object"]) is False  # type: ignore[arg-type]


def test_patterns_are_not_mutated_and_can_be_reused() -> None:
    pattern = {"source": ["aws.ec2"], "detail": {"state": [{"anything-but": ["a"]}]}}
    before = copy.deepcopy(pattern)
    compiled = compile_pattern(pattern)
    assert compiled.matches(BASE_EVENT)
    assert pattern == before


PINNED_CASES = [
    pytest.param({"source": ["a", "b"]}, "source", frozenset({"a", "b"}), id="plain_list_is_pinned"),
    pytest.param(
        {"source": ["a"], "detail-type": ["t"]},
        "detail-type",
        frozenset({"t"}),
        id="other_field_pinned",
    ),
    pytest.param({"source": ["a"]}, "detail-type", None, id="unconstrained_field_is_not_pinned"),
    pytest.param({"source": [{"prefix": "a"}]}, "source", None, id="prefix_is_not_pinned"),
    pytest.param({"source": ["a", {"prefix": "b"}]}, "source", None, id="any_operator_unpins_the_field"),
    pytest.param({"source": ["a", None]}, "source", None, id="null_value_unpins_the_field"),
    pytest.param({"source": ["10.0.0.1"]}, "source", None, id="ip_literal_is_not_pinned"),
    pytest.param({"detail": {"source": ["a"]}}, "source", None, id="nested_field_does_not_pin_top_level"),
    pytest.param(
        {"$or": [{"source": ["a"]}, {"source": ["b", "c"]}]},
        "source",
        frozenset({"a", "b", "c"}),
        id="or_alternatives_pin_their_union",
    ),
    pytest.param(
        {"$or": [{"source": ["a"]}, {"region": ["r"]}]},
        "source",
        None,
        id="or_alternative_without_the_field",
    ),
    pytest.param(
        {"source": ["a", "b"], "$or": [{"source": ["b", "c"]}, {"source": ["b"]}]},
        "source",
        frozenset({"b"}),
        id="field_and_or_group_intersect",
    ),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), PINNED_CASES)
def test_pinned_values(pattern: dict[str, Any], name: str, expected: frozenset[str] | None) -> None:
    assert compile_pattern(pattern).pinned_values(name) == expected
