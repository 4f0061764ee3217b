"""Invariants of the event-pattern engine, checked with generated patterns and events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dashboard.patterns.engine import MAX_PATTERN_SIZE, PatternError, compile_pattern, matches

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small alphabets make collisions (equal values, shared prefixes, case variants) common.
TEXT = st.text(alphabet="abAB.-*\\/é", max_size=6)
ASCII_TEXT = st.text(alphabet="abcABC.-/", max_size=6)
NUMBERS = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False).map(
        lambda x: round(x, 4),
    ),
)
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans(), st.none())
EVENT_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["f", "g"]), SCALARS, max_size=2),
    st.just("<missing>"),
)


def event_with(value: Any) -> dict[str, Any]:
    """An envelope whose ``detail.f`` is ``value`` (or absent for ``"<missing>"``)."""
    detail: dict[str, Any] = {"other": 1}
    if value != "<missing>":
        detail["f"] = value
    return {"source": "s", "detail-type": "t", "detail": detail}


def on_field(*values: Any) -> dict[str, Any]:
    return {"detail": {"f": list(values)}}


def wildcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*")


@st.composite
def wildcards(draw: st.DrawFn) -> str:
    """Valid wildcard values: escaped literal segments joined by single stars.

    Only the first and last segments may be empty, since two stars in a row are invalid.
    """
    middle = draw(st.lists(TEXT.filter(bool), max_size=2))
    segments = [draw(TEXT), *middle, draw(TEXT)] if draw(st.booleans()) else [draw(TEXT)]
    return "*".join(wildcard_escape(segment) for segment in segments)


# Matchers that are valid on their own, covering every operator family.
MATCHERS = st.one_of(
    SCALARS,
    st.builds(lambda text: {"prefix": text}, TEXT),
    st.builds(lambda text: {"suffix": text}, TEXT),
    st.builds(lambda text: {"prefix": {"equals-ignore-case": text}}, TEXT),
    st.builds(lambda text: {"suffix": {"equals-ignore-case": text}}, TEXT),
    st.builds(lambda text: {"equals-ignore-case": text}, TEXT),
    st.builds(lambda text: {"wildcard": text}, wildcards()),
    st.builds(lambda text: {"anything-but": text}, TEXT),
    st.builds(lambda values: {"anything-but": values}, st.lists(TEXT, min_size=1, max_size=3)),
    st.builds(lambda number: {"anything-but": number}, st.integers(-50, 50)),
    st.builds(lambda text: {"anything-but": {"prefix": text}}, TEXT.filter(bool)),
    st.builds(lambda text: {"anything-but": {"suffix": text}}, TEXT.filter(bool)),
    st.builds(lambda text: {"anything-but": {"equals-ignore-case": text}}, TEXT),
    st.builds(lambda text: {"anything-but": {"wildcard": text}}, wildcards()),
    st.builds(lambda low: {"numeric": [">", low]}, st.integers(-100, 100)),
    st.builds(
        lambda low, span: {"numeric": [">=", low, "<", low + span]},
        st.integers(-100, 100),
        st.integers(1, 50),
    ),
    st.builds(lambda number: {"numeric": ["=", number]}, NUMBERS),
    st.builds(lambda flag: {"exists": flag}, st.booleans()),
    st.sampled_from([{"cidr": "10.0.0.0/8"}, {"cidr": "2001:db8::/32"}]),
)
LEAVES = st.lists(MATCHERS, min_size=1, max_size=3)


@st.composite
def patterns(draw: st.DrawFn, depth: int = 2) -> dict[str, Any]:
    """Valid patterns over a few field names, with nesting and $or."""
    names = draw(
        st.lists(st.sampled_from(["source", "detail-type", "f", "g", "detail"]), min_size=1, unique=True),
    )
    result: dict[str, Any] = {}
    for name in names:
        if depth > 0 and draw(st.booleans()):
            result[name] = draw(patterns(depth=depth - 1))
        else:
            result[name] = draw(LEAVES)
    if depth > 0 and draw(st.integers(0, 3)) == 0:
        result["$or"] = draw(st.lists(patterns(depth=depth - 1), min_size=2, max_size=3))
    # Past the size limit a pattern is refused whole (tests/patterns/test_pattern_limits.py), not matched.
    assume(len(json.dumps(result, separators=(",", ":"), ensure_ascii=False)) <= MAX_PATTERN_SIZE)
    return result


EVENTS = st.recursive(
    st.dictionaries(st.sampled_from(["source", "detail-type", "f", "g", "detail"]), SCALARS, max_size=4),
    lambda children: st.dictionaries(
        st.sampled_from(["source", "detail-type", "f", "g", "detail"]),
        st.one_of(SCALARS, children, st.lists(st.one_of(SCALARS, children), max_size=3)),
        max_size=4,
    ),
    max_leaves=10,
)


@SETTINGS
@given(excluded=TEXT, value=TEXT)
def test_anything_but_string_is_the_negation_of_the_string(excluded: str, value: str) -> None:
    event = event_with(value)
    assert matches(on_field({"anything-but": excluded}), event) is not matches(on_field(excluded), event)


@SETTINGS
@given(excluded=st.lists(TEXT, min_size=1, max_size=4), value=TEXT)
def test_anything_but_list_is_the_negation_of_the_list(excluded: list[str], value: str) -> None:
    event = event_with(value)
    assert matches(on_field({"anything-but": excluded}), event) is not matches(on_field(*excluded), event)


@SETTINGS
@given(
    operator=st.sampled_from(["prefix", "suffix", "equals-ignore-case"]),
    operand=TEXT.filter(bool),
    value=TEXT,
)
def test_anything_but_operator_is_the_negation_of_the_operator(
    operator: str,
    operand: str,
    value: str,
) -> None:
    event = event_with(value)
    positive = matches(on_field({operator: operand}), event)
    assert matches(on_field({"anything-but": {operator: operand}}), event) is not positive


@SETTINGS
@given(pattern=wildcards(), value=TEXT)
def test_anything_but_wildcard_is_the_negation_of_the_wildcard(pattern: str, value: str) -> None:
    event = event_with(value)
    positive = matches(on_field({"wildcard": pattern}), event)
    assert matches(on_field({"anything-but": {"wildcard": pattern}}), event) is not positive


@SETTINGS
@given(excluded=st.lists(NUMBERS, min_size=1, max_size=3), value=NUMBERS)
def test_anything_but_numbers_is_the_negation_of_the_numbers(excluded: list[float], value: float) -> None:
    event = event_with(value)
    assert matches(on_field({"anything-but": excluded}), event) is not matches(on_field(*excluded), event)


@SETTINGS
@given(value=EVENT_VALUES)
def test_exists_true_and_exists_false_are_complementary(value: Any) -> None:
    event = event_with(value)
    assert matches(on_field({"exists": True}), event) is not matches(on_field({"exists": False}), event)


@SETTINGS
@given(alternatives=st.lists(patterns(depth=1), min_size=2, max_size=4), event=EVENTS)
def test_or_of_patterns_is_the_union_of_each(
    alternatives: list[dict[str, Any]],
    event: dict[str, Any],
) -> None:
    combined = matches({"$or": alternatives}, event)
    assert combined is any(matches(alternative, event) for alternative in alternatives)


@SETTINGS
@given(first=LEAVES, second=LEAVES, value=EVENT_VALUES)
def test_fields_are_anded(first: list[Any], second: list[Any], value: Any) -> None:
    event = {"a": value, "b": value}
    both = matches({"a": first, "b": second}, event)
    assert both is (matches({"a": first}, event) and matches({"b": second}, event))


@SETTINGS
@given(values=st.lists(MATCHERS, min_size=1, max_size=5), value=EVENT_VALUES)
def test_a_list_of_values_is_the_or_of_single_values(values: list[Any], value: Any) -> None:
    event = event_with(value)
    assert matches(on_field(*values), event) is any(matches(on_field(item), event) for item in values)


@SETTINGS
@given(matcher=MATCHERS, elements=st.lists(SCALARS, min_size=1, max_size=4))
def test_a_leaf_matches_an_array_when_it_matches_an_element(matcher: Any, elements: list[Any]) -> None:
    assume(not (isinstance(matcher, dict) and "exists" in matcher))  # exists looks at presence, not values
    whole = matches(on_field(matcher), event_with(elements))
    assert whole is any(matches(on_field(matcher), event_with(element)) for element in elements)


@SETTINGS
@given(value=TEXT, data=st.data())
def test_every_prefix_and_suffix_of_a_value_matches_it(value: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(value)))
    event = event_with(value)
    assert matches(on_field({"prefix": value[:cut]}), event)
    assert matches(on_field({"suffix": value[cut:]}), event)


@SETTINGS
@given(value=ASCII_TEXT, data=st.data())
def test_case_insensitive_operators_ignore_ascii_case(value: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(value)))
    event = event_with(value.swapcase())
    assert matches(on_field({"equals-ignore-case": value}), event)
    assert matches(on_field({"prefix": {"equals-ignore-case": value[:cut]}}), event)
    assert matches(on_field({"suffix": {"equals-ignore-case": value[cut:]}}), event)


@SETTINGS
@given(value=TEXT, data=st.data())
def test_a_wildcard_made_from_a_value_matches_it(value: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(value)))
    end = data.draw(st.integers(start, len(value)))
    pattern = wildcard_escape(value[:start]) + "*" + wildcard_escape(value[end:])
    assert matches(on_field({"wildcard": pattern}), event_with(value))
    assert matches(on_field({"wildcard": wildcard_escape(value)}), event_with(value))


@SETTINGS
@given(low=st.integers(-1000, 1000), span=st.integers(1, 1000), value=NUMBERS)
def test_numeric_ranges_agree_with_python_comparisons(low: int, span: int, value: float) -> None:
    high = low + span
    event = event_with(value)
    assert matches(on_field({"numeric": [">", low, "<=", high]}), event) is (low < value <= high)
    assert matches(on_field({"numeric": [">=", low, "<", high]}), event) is (low <= value < high)
    assert matches(on_field({"numeric": ["<", low]}), event) is (value < low)


@SETTINGS
@given(number=st.integers(-(10**6), 10**6))
def test_numbers_match_by_value_across_int_and_float(number: int) -> None:
    assert matches(on_field(number), event_with(float(number)))
    assert matches(on_field(float(number)), event_with(number))
    assert matches(on_field({"numeric": ["=", number]}), event_with(float(number)))


@SETTINGS
@given(pattern=patterns(), event=EVENTS)
def test_compiled_and_convenience_matching_agree(pattern: dict[str, Any], event: dict[str, Any]) -> None:
    expected = compile_pattern(pattern).matches(event)
    assert matches(pattern, event) is expected
    assert matches(json.dumps(pattern), event) is expected
    assert compile_pattern(json.dumps(pattern)).matches(event) is expected


@SETTINGS
@given(pattern=patterns(), event=EVENTS, source=st.sampled_from(["a", "b", "c", "aws.ec2"]))
def test_pinned_values_never_exclude_a_matching_event(
    pattern: dict[str, Any], event: dict[str, Any], source: str
) -> None:
    event = {**event, "source": source}
    compiled = compile_pattern(pattern)
    if compiled.matches(event):
        for name in ("source", "detail-type"):
            pinned = compiled.pinned_values(name)
            if pinned is not None:
                assert event.get(name) in pinned


@SETTINGS
@given(
    sources=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
    other=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
    source=st.sampled_from(["a", "b", "c", "d"]),
)
def test_pinned_values_of_or_alternatives_never_exclude_a_match(
    sources: list[str], other: list[str], source: str
) -> None:
    compiled = compile_pattern({"$or": [{"source": sources}, {"source": other, "region": ["r"]}]})
    event = {"source": source, "region": "r"}
    pinned = compiled.pinned_values("source")
    assert pinned == frozenset(sources) | frozenset(other)
    if compiled.matches(event):
        assert source in pinned


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    ["$or", "numeric", "prefix", "anything-but", "exists", "cidr", "wildcard", "f"],
                ),
                st.text(max_size=3),
            ),
            children,
            max_size=3,
        ),
    ),
    max_leaves=12,
)


@SETTINGS
@given(candidate=JSONISH, event=EVENTS)
def test_any_input_either_compiles_or_raises_pattern_error(candidate: Any, event: dict[str, Any]) -> None:
    try:
        compiled = compile_pattern(candidate)
    except PatternError:
        with pytest.raises(PatternError) as caught:
            matches(candidate, event)
        assert caught.value.reason
        return
    assert compiled.matches(event) is matches(candidate, event)
