"""Fuzzed pattern tests and searches get an answer, never a 5xx: ``POST /api/patterns/test`` with
generated patterns and events (JSON, pattern-shaped JSON, nesting of any depth, text that is not
JSON), and ``GET /api/events`` with every query parameter given generated strings, numbers and JSON.

The Django test client re-raises a view's exception, so a crash fails the example with its traceback.
Requests run under Python's default recursion limit, as a server's do (Hypothesis raises the limit
while it runs, which would hide a recursion a thousand levels deep).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.patterns.test_patterns_properties import patterns as valid_patterns

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a URL or a JSON body can carry: anything but lone surrogates (NUL and controls included).
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)
NAMES = st.one_of(
    st.sampled_from([
        "source", "detail-type", "detail", "id", "time", "resources", "a.b", "$or", "", "prefix", "suffix",
        "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr", "=", "<", ">=",
    ]),
    TEXT,
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(["*", "a*b", "\\*", "10.0.0.0/8", "::1/200", "1.2.3.4", ">", "<=", "=", "prefix"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(NAMES, children, max_size=4)),
    max_leaves=16,
)


OPERATORS = st.dictionaries(
    st.sampled_from(
        ["prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr"]
    ),
    st.one_of(SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(NAMES, SCALARS, max_size=2)),
    min_size=1,
    max_size=2,
)
FIELDS = st.one_of(st.sampled_from(["detail", "a", "$or", "detail.a", "source"]), NAMES)
LEAVES = st.lists(st.one_of(SCALARS, OPERATORS), max_size=4)
# Pattern-shaped JSON: fields, value lists of values and operators, nested objects, "$or" lists.
PATTERNS = st.recursive(
    st.dictionaries(FIELDS, LEAVES, max_size=3),
    lambda children: st.dictionaries(FIELDS, st.one_of(LEAVES, children, st.lists(children, max_size=3)), max_size=3),
    max_leaves=10,
)


@st.composite
def nested(draw: st.DrawFn) -> str:
    """JSON text nesting objects and arrays from a few levels to past what the parser reads, at the
    top or under a field patterns name."""
    levels = draw(st.sampled_from([1, 31, 33, 70, 254, 255, 1000, 1023, 1025, 3000]))
    opener, closer = draw(
        st.sampled_from([("[", "]"), ("[", "]"), ('{"a":[', "]}"), ('{"$or":[', "]}"), ('{"a":', "}")])
    )
    text = opener * levels + draw(st.sampled_from(['"x"', '{"a":[1]}', "[1]", "1", '{"a":"x"}'])) + closer * levels
    field = draw(st.sampled_from([None, "detail", "f", "a"]))
    return text if field is None else '{"' + field + '": ' + text + "}"


def as_text(value: Any) -> str:
    return orjson.dumps(value).decode()


JSON_TEXT = st.one_of(JSON.map(as_text), PATTERNS.map(as_text), nested(), TEXT)
PARAM_VALUES = st.one_of(
    TEXT,
    st.integers().map(str),
    st.floats().map(str),
    JSON_TEXT,
    st.sampled_from([
        "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAV\n", "2026-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00", "4bf92f3577b34da6a3ce929d0e0e4736", "0", "500", "501", "-1", "²", "1e3", "x" * 201,
    ]),
)  # fmt: skip
SEARCH_PARAMS = (
    "source", "detail_type", "trace_id", "idempotency_key", "since", "until", "q", "pattern", "limit", "cursor",
    "after",
)  # fmt: skip
PARAMS = st.fixed_dictionaries({}, optional=dict.fromkeys(SEARCH_PARAMS, PARAM_VALUES))


@contextlib.contextmanager
def server_recursion_limit() -> Iterator[None]:
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, which daphne and the workers run with
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    events = [
        {
            "source": "shop",
            "detail-type": "OrderCreated",
            "detail": {"n": n, "ip": "10.0.0.1", "tags": [["a", {"b": 1}]]},
        }
        for n in range(5)
    ]
    assert client.post("/api/events", orjson.dumps(events), content_type="application/json").status_code == 200
    return client


@FUZZ
@given(pattern=st.one_of(valid_patterns(), JSON, PATTERNS), event=st.one_of(JSON, PATTERNS))
def test_testing_generated_patterns_against_generated_events_never_fails(api: Client, pattern: Any, event: Any) -> None:
    with server_recursion_limit():
        response = api.post(
            "/api/patterns/test", as_text({"pattern": pattern, "event": event}), content_type="application/json"
        )
    assert response.status_code in (200, 400), response.content
    assert "match" in response.json() or response.json()["error"]["message"]


@FUZZ
@given(
    pattern=st.one_of(valid_patterns().map(as_text), PATTERNS.map(as_text), JSON_TEXT),
    event=st.one_of(nested(), JSON_TEXT),
)
def test_testing_any_json_text_never_fails(api: Client, pattern: str, event: str) -> None:
    body = '{"pattern": ' + pattern + ', "event": ' + event + "}"
    with server_recursion_limit():
        response = api.post("/api/patterns/test", body.encode(), content_type="application/json")
    assert response.status_code in (200, 400), response.content


@st.composite
def deep_everywhere(draw: st.DrawFn) -> str:
    """An event (JSON text) whose every field patterns name holds arrays nested up to 1,020 deep."""
    levels = draw(st.sampled_from([1, 254, 999, 1000, 1020]))
    inner = draw(st.lists(SCALARS.map(as_text) | st.just('{"f": "x", "detail": 1}'), min_size=1, max_size=3))
    deep = "[" * levels + ",".join(inner) + "]" * levels
    return "{" + ", ".join(f'"{name}": {deep}' for name in ("source", "detail-type", "f", "g", "detail", "a")) + "}"


@FUZZ
@given(pattern=st.one_of(valid_patterns(), PATTERNS), event=deep_everywhere())
def test_any_pattern_against_an_event_nesting_arrays_a_thousand_deep_never_fails(
    api: Client, pattern: Any, event: str
) -> None:
    body = '{"pattern": ' + as_text(pattern) + ', "event": ' + event + "}"
    with server_recursion_limit():
        response = api.post("/api/patterns/test", body.encode(), content_type="application/json")
    assert response.status_code in (200, 400), response.content


@FUZZ
@given(params=PARAMS)
def test_searching_with_any_parameters_never_fails(api: Client, params: dict[str, str]) -> None:
    with server_recursion_limit():
        response = api.get("/api/events", params)
    assert response.status_code in (200, 400), response.content
    body = response.json()
    assert set(body) == {"results", "next_cursor"} or body["error"]["message"]


@FUZZ
@given(pattern=st.one_of(JSON.map(json.dumps), JSON_TEXT))
def test_searching_by_any_pattern_never_fails(api: Client, pattern: str) -> None:
    with server_recursion_limit():
        response = api.get("/api/events", {"pattern": pattern})
    assert response.status_code in (200, 400), response.content
