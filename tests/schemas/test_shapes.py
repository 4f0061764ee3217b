"""The pure side of discovery: shapes, fitting, the next version, and the JSON Schema of a version."""

from __future__ import annotations

from typing import Any
from unittest import mock

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.schemas import shapes
from dashboard.schemas.document import json_schema
from dashboard.schemas.shapes import (
    MAX_DEPTH,
    MAX_KEY,
    MAX_PATHS,
    Definition,
    _walk,
    fits,
    next_version,
    shape_of,
    violations,
)

# Small details drawn from a few keys, so that shapes repeat and versions grow from one another.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.sampled_from(["a", "b"])
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "a/b", "*"]), inner, max_size=3)
    ),
    max_leaves=6,
)
details = st.dictionaries(st.sampled_from(["id", "amount", "customer", "items", "tags"]), values, max_size=5)


def chain(events: list[Any]) -> tuple[list[Definition], list[int]]:
    """Versions as ingest makes them one event after another; each event's version index."""
    made: list[Definition] = []
    counted = []
    for detail in events:
        shape = shape_of(detail, made[-1].types if made else ())
        if not made or not fits(made[-1], shape):
            made.append(next_version(made[-1] if made else None, shape)[0])
        counted.append(len(made) - 1)
    return made, counted


@settings(max_examples=60, deadline=None)
@given(st.lists(details, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_the_same_shapes_in_another_order_give_the_same_versions_apart_from_numbering(events, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)
    first, counted = chain(events)
    second, _ = chain(shuffled)
    # Whatever the order, the type ends up at the same version: the same pairs, the same required
    # paths, the same JSON Schema document.
    assert first[-1] == second[-1]
    assert json_schema(first[-1]) == json_schema(second[-1])
    # Every event validates against the schema of the version it was counted in, and against every
    # later one (versions only grow).
    validators = []
    for version in first:
        document = json_schema(version)
        jsonschema.Draft202012Validator.check_schema(document)
        validators.append(jsonschema.Draft202012Validator(document))
    for detail, index in zip(events, counted, strict=True):
        for validator in validators[index:]:
            assert validator.is_valid(detail), (detail, validator.schema)


@settings(max_examples=60, deadline=None)
@given(details, details)
def test_the_pinned_check_agrees_with_the_json_schema(pinned, event):
    definition = next_version(None, shape_of(pinned))[0]
    problems = violations(definition, shape_of(event, definition.types))
    valid = jsonschema.Draft202012Validator(json_schema(definition)).is_valid(event)
    assert valid == (not problems), problems


def test_a_shape_lists_paths_as_json_pointers():
    shape = shape_of({"a/b": {"~c": 1}, "items": [{"sku": "x"}, {"sku": 2.0}], "n": 1.5})
    assert shape.pairs == {
        ("", "object"), ("/a~1b", "object"), ("/a~1b/~0c", "integer"), ("/items", "array"),
        ("/items/*", "object"), ("/items/*/sku", "string"), ("/items/*/sku", "integer"), ("/n", "number"),
    }  # fmt: skip
    assert shape.present == {"", "/a~1b", "/a~1b/~0c", "/items", "/n"}


def test_changes_are_classified():
    first = next_version(None, shape_of({"a": 1, "b": "x"}))[0]
    assert next_version(first, shape_of({"a": 1, "b": "x", "c": True}))[1].as_json() == {
        "kind": "compatible", "added": ["/c"], "removed": [], "type_changed": [],
    }  # fmt: skip
    assert next_version(first, shape_of({"a": 1.5, "b": "x"}))[1].kind == "compatible"
    assert next_version(first, shape_of({"a": "1", "b": "x"}))[1].kind == "breaking"
    assert next_version(first, shape_of({"a": 1}))[1].as_json() == {
        "kind": "breaking", "added": [], "removed": ["/b"], "type_changed": [],
    }  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(details, details)
def test_a_memoised_shape_is_the_walked_shape(first, second):
    for detail in (first, second, first):  # the third is answered from the memo
        assert shape_of(detail) == _walk(detail, ())


def test_whole_and_fractional_numbers_do_not_share_a_memoised_shape():
    assert shape_of({"n": 1.0}).pairs == {("", "object"), ("/n", "integer")}
    assert shape_of({"n": 1.5}).pairs == {("", "object"), ("/n", "number")}
    assert shape_of({"n": True}).pairs == {("", "object"), ("/n", "boolean")}


def nested(depth: int, leaf: Any = 1) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": leaf}
    for level in range(depth):
        value = {f"l{level}": value}
    return value


def test_a_version_truncated_by_depth_or_a_long_key_still_notices_a_new_field():
    for detail in (nested(MAX_DEPTH + 5), {"k" * (MAX_KEY + 1): 1, "id": "x"}):
        first = next_version(None, shape_of(detail))[0]
        assert first.truncated
        assert fits(first, shape_of(detail, first.types))  # the same shape: nothing new
        shape = shape_of({**detail, "coupon": "SPRING"}, first.types)
        assert not fits(first, shape)
        second, change = next_version(first, shape)
        assert change.as_json() == {"kind": "compatible", "added": ["/coupon"], "removed": [], "type_changed": []}
        assert second.truncated and fits(second, shape) and fits(second, shape_of(detail, second.types))


def test_a_version_full_of_paths_takes_new_ones_without_a_new_version():
    wide = {f"key-{n}": n for n in range(MAX_PATHS + 10)}
    first = next_version(None, shape_of(wide))[0]
    assert first.truncated and len(first.types) == MAX_PATHS
    assert fits(first, shape_of({**wide, "another": True}, first.types))
    assert not fits(first, shape_of({**wide, "key-5": "five"}, first.types))  # a described path still counts


def test_an_event_cut_at_the_width_bound_still_fits_the_later_versions():
    # Six pairs held five paths (one path had two types): the cut dropped "/tags/y" (null), and the
    # version, counted in paths, seemed to have room; the next one described "/tags/y" as a boolean.
    events = [{"amount": None, "tags": {"x": None, "y": None}, "id": [None, []]}, {"id": None, "tags": {"y": False}}]
    with mock.patch.multiple(shapes, MAX_PATHS=6, MAX_DEPTH=2, MAX_KEY=4, _memo={}):
        made, counted = chain(events)
        assert counted == [0, 1] and made[0].truncated
        assert all(fits(later, shape_of(events[0], later.types)) for later in made)


@settings(max_examples=100, deadline=None)
@given(st.lists(details, min_size=1, max_size=8))
def test_with_small_bounds_every_event_validates_against_its_version_and_every_later_one(events):
    # Bounds small enough that the drawn details cross them, so truncated versions are exercised.
    with mock.patch.multiple(shapes, MAX_PATHS=6, MAX_DEPTH=2, MAX_KEY=4, _memo={}):
        made, counted = chain(events)
        for detail, index in zip(events, counted, strict=True):
            for later in made[index:]:
                assert fits(later, shape_of(detail, later.types)), (detail, later)
                validator = jsonschema.Draft202012Validator(json_schema(later))
                assert validator.is_valid(detail), (detail, later)
        for version in made:
            jsonschema.Draft202012Validator.check_schema(json_schema(version))
