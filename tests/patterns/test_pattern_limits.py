"""Bounded work per pattern: size, values, ``$or`` alternatives and depth are limited and refused
with the reason before anything is compiled, wherever a pattern is taken; and no event, however
deeply it nests arrays, makes the engine recurse (a 500 before)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from django.test import Client

from dashboard.patterns.engine import (
    MAX_ALTERNATIVES,
    MAX_DEPTH,
    MAX_PATTERN_SIZE,
    MAX_VALUES,
    PatternError,
    compile_pattern,
    matches,
)
from tests.support.eventbridge import events_client

ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}


def nest_arrays(levels: int, inner: str) -> str:
    return "[" * levels + inner + "]" * levels


def deep_or(levels: int) -> str:
    """A ``$or`` nested ``levels`` times, as JSON text (two JSON levels per ``$or``)."""
    return '{"$or":[' * levels + '{"a":[1]}' + ',{"b":[2]}]}' * levels


def alternatives(count: int) -> dict[str, Any]:
    return {"$or": [{"detail": {"n": [index]}} for index in range(count)]}


def refusal(pattern: Any) -> str:
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)
    return str(raised.value)


# --- the engine ---------------------------------------------------------------------------------

DEEP_EVENT = orjson.loads('{"detail": {"x": ' + nest_arrays(1000, '"v", {"y": "v"}') + "}}")
FLAT_EVENT = {"detail": {"x": ["v", {"y": "v"}]}}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"detail": {"x": ["v"]}}, True),
        ({"detail": {"x": ["w"]}}, False),
        ({"detail": {"x": {"y": ["v"]}}}, True),
        ({"detail": {"x": {"y": ["w"]}}}, False),
        ({"detail": {"x": [{"exists": True}]}}, True),
        ({"detail": {"x": [{"exists": False}]}}, False),
        ({"detail": {"x": [{"anything-but": "w"}]}}, True),
        ({"detail.x": ["v"]}, True),
        ({"detail.x.y": ["v"]}, True),
    ],
)
def test_an_event_nesting_arrays_a_thousand_deep_matches_as_its_flat_form_does(pattern: Any, expected: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.matches(DEEP_EVENT) is expected
    assert compiled.matches(FLAT_EVENT) is expected
    assert matches(pattern, DEEP_EVENT) is expected


def test_a_dotted_key_of_a_thousand_parts_reaches_a_field_as_deep() -> None:
    event: dict[str, Any] = {"a": 1}
    for _ in range(999):
        event = {"a": [event]}
    pattern = compile_pattern({".".join(["a"] * 1000): [1]})
    assert pattern.matches(event) is True
    assert pattern.matches({"a": {"a": 1}}) is False


def test_a_pattern_of_200000_alternatives_is_refused_for_its_alternatives() -> None:
    message = refusal({"$or": [{"source": [f"shop-{index}"]} for index in range(200_000)]})
    assert f"too many $or alternatives: more than {MAX_ALTERNATIVES}" in message


@pytest.mark.parametrize(
    ("accepted", "refused", "reason"),
    [
        (alternatives(MAX_ALTERNATIVES), alternatives(MAX_ALTERNATIVES + 1), "too many $or alternatives"),
        (
            {"$or": [alternatives(MAX_ALTERNATIVES // 2), alternatives(MAX_ALTERNATIVES // 2 - 2)]},
            {"$or": [alternatives(MAX_ALTERNATIVES // 2), alternatives(MAX_ALTERNATIVES // 2 - 1)]},
            "too many $or alternatives",  # counted over every group
        ),
        ({"n": list(range(MAX_VALUES))}, {"n": list(range(MAX_VALUES + 1))}, "too many values"),
        (
            {"a": [{"anything-but": list(range(MAX_VALUES - 1))}]},
            {"a": [{"anything-but": list(range(MAX_VALUES))}]},
            "too many values",
        ),
        ({"a": ["x" * (MAX_PATTERN_SIZE - 10)]}, {"a": ["x" * (MAX_PATTERN_SIZE - 9)]}, "too large"),
        # Escapes count as written: the exact size is measured once the pattern has compiled.
        ({"a": ["\n" * (MAX_PATTERN_SIZE // 2 - 5)]}, {"a": ["\n" * (MAX_PATTERN_SIZE // 2 - 4)]}, "too large"),
        ({"k" * (MAX_PATTERN_SIZE - 8): [1]}, {"k" * (MAX_PATTERN_SIZE - 7): [1]}, "too large"),
    ],
)
def test_patterns_are_taken_up_to_each_limit_and_refused_past_it(accepted: Any, refused: Any, reason: str) -> None:
    assert len(json.dumps(accepted, separators=(",", ":"))) <= MAX_PATTERN_SIZE
    compile_pattern(accepted)
    assert reason in refusal(refused)
    assert reason in refusal(json.dumps(refused))


def test_objects_nest_up_to_the_depth_limit() -> None:
    def nested(levels: int) -> dict[str, Any]:
        pattern: dict[str, Any] = {"a": [{"numeric": [">", 0]}]}
        for _ in range(levels - 1):
            pattern = {"$or": [pattern, {"b": [1]}]}
        return pattern

    compile_pattern(nested(MAX_DEPTH))
    assert "too deep" in refusal(nested(MAX_DEPTH + 1))


def test_a_thousand_deep_or_is_too_deep_not_invalid_json() -> None:
    for pattern in (deep_or(1000), orjson.loads(deep_or(200)), orjson.loads('{"a":' * 1000 + "[1]" + "}" * 1000)):
        message = refusal(pattern)
        assert "too deep" in message and "nested more than 32 levels" in message
    with pytest.raises(PatternError, match="too deep"):
        matches(orjson.loads(deep_or(200)), {})


def test_a_pattern_text_far_past_the_limit_is_refused_unread() -> None:
    text = " " * (20 * MAX_PATTERN_SIZE) + '{"a": [1]}'
    assert "too large" in refusal(text)


def test_stored_patterns_past_todays_limits_still_compile() -> None:
    stored = alternatives(MAX_ALTERNATIVES + 1)
    assert compile_pattern(stored, limits=False).matches({"detail": {"n": MAX_ALTERNATIVES}})
    with pytest.raises(PatternError, match="too deep"):  # the depth limit is older than the others
        compile_pattern(orjson.loads(deep_or(40)), limits=False)


def test_integers_of_hundreds_of_digits_are_values_not_a_crash() -> None:
    huge = 10**400
    assert compile_pattern({"a": [huge]}).matches({"a": huge})
    assert "outside the supported range" in refusal({"a": [{"numeric": [">", huge]}]})
    assert "outside the supported range" in refusal({"a": [{"anything-but": huge}]})
    assert "invalid JSON" in refusal('{"a": [1' + "0" * 400 + "]}")


# --- where patterns are taken over HTTP -------------------------------------------------------


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def post(client: Client, path: str, body: str | bytes) -> Any:
    return client.post(path, body, content_type="application/json")


def with_pattern(path: str, pattern_text: str) -> str:
    """A valid body for ``path`` whose pattern is ``pattern_text`` (JSON text, spliced in)."""
    bodies = {
        "/api/patterns/test": {"event": {"source": "a"}},
        "/api/lifecycles": ORDER,
        "/api/consumers": {"name": "c", "url": "http://127.0.0.1:9/"},
        "/api/replays": {"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["c"]},
    }
    return json.dumps(bodies[path])[:-1] + ', "pattern": ' + pattern_text + "}"


PATHS = ["/api/patterns/test", "/api/lifecycles", "/api/consumers", "/api/replays"]


@pytest.mark.django_db
def test_deep_arrays_in_a_tested_event_are_matched_not_a_500(api: Client) -> None:
    event = '{"detail": {"x": ' + nest_arrays(1000, '"v"') + "}}"
    for pattern, expected in (({"detail": {"x": ["v"]}}, True), ({"detail": {"x": {"y": ["v"]}}}, False)):
        response = post(api, "/api/patterns/test", '{"pattern": ' + json.dumps(pattern) + ', "event": ' + event + "}")
        assert response.status_code == 200, response.content
        assert response.json() == {"match": expected}


@pytest.mark.django_db
def test_a_body_deeper_than_json_is_read_is_too_deep(api: Client) -> None:
    event = '{"detail": {"x": ' + nest_arrays(1100, '"v"') + "}}"
    response = post(api, "/api/patterns/test", '{"pattern": {"source": ["a"]}, "event": ' + event + "}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_a_200000_alternative_pattern_is_refused_with_the_reason(api: Client, path: str) -> None:
    pattern = orjson.dumps({"$or": [{"a": [index]} for index in range(200_000)]}).decode()
    response = post(api, path, with_pattern(path, pattern))
    assert response.status_code == 400, response.content
    assert "too many $or alternatives" in response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_a_thousand_deep_or_in_a_body_is_too_deep(api: Client, path: str) -> None:
    response = post(api, path, with_pattern(path, deep_or(1000)))
    assert response.status_code == 400, response.content
    assert "too deep" in response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (deep_or(1000), "too deep"),
        (deep_or(100), "too deep"),
        (json.dumps(alternatives(MAX_ALTERNATIVES + 1)), "too many $or alternatives"),
        (json.dumps({"a": ["x" * MAX_PATTERN_SIZE]}), "too large"),
    ],
)
def test_a_pattern_query_past_a_limit_is_a_400_with_the_reason(api: Client, pattern: str, reason: str) -> None:
    response = api.get("/api/events", {"pattern": pattern})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_pattern"
    assert reason in response.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_live_subscription_past_a_limit_is_refused_and_the_old_filter_stays(token: Any) -> None:
    from tests.support.live_support import bearer, event, ingest, open_socket, receive_until, run, subscribe

    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, {"detail-type": ["Kept"]})
        await socket.send_json_to({"type": "subscribe", "pattern": alternatives(MAX_ALTERNATIVES + 1)})
        error = await socket.receive_json_from(timeout=5)
        assert error["code"] == "invalid_pattern" and "too many $or alternatives" in error["message"]
        await ingest(token.token, [event("s", "Other"), event("s", "Kept")])
        (got,) = await receive_until(socket, lambda messages: len(messages) == 1)
        assert got["event"]["detail-type"] == "Kept"
        await socket.disconnect()

    run(scenario())


# --- AWSEvents.TestEventPattern, through boto3 against the real server --------------------------

TEST_EVENT = {"id": "1", "account": "1", "source": "s", "time": "t", "region": "r", "resources": [], "detail-type": "d"}


@pytest.fixture
def eventbridge(live_server_url: str, token: Any, transactional_db: None) -> Any:
    return events_client(live_server_url, token.key_id, token.secret)


def test_test_event_pattern_matches_an_event_with_deep_arrays(eventbridge: Any) -> None:
    event = json.dumps(TEST_EVENT)[:-1] + ', "detail": {"x": ' + nest_arrays(1000, '"v"') + "}}"
    answer = eventbridge.test_event_pattern(EventPattern='{"detail": {"x": ["v"]}}', Event=event)
    assert answer["Result"] is True
    answer = eventbridge.test_event_pattern(EventPattern='{"detail": {"x": ["w"]}}', Event=event)
    assert answer["Result"] is False


@pytest.mark.parametrize(
    ("pattern", "code", "reason"),
    [
        (orjson.dumps({"$or": [{"a": [index]} for index in range(200_000)]}).decode(), "InvalidEventPatternException",
         "too large: 2,888,899 characters of JSON text"),
        (deep_or(1000), "InvalidEventPatternException", "too deep"),
        ('{"a": [1' + "0" * 400 + "]}", "InvalidEventPatternException", "invalid JSON"),
    ],
)  # fmt: skip
def test_test_event_pattern_refuses_a_pattern_past_a_limit(
    eventbridge: Any, pattern: str, code: str, reason: str
) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        eventbridge.test_event_pattern(EventPattern=pattern, Event=json.dumps(TEST_EVENT))
    assert raised.value.response["Error"]["Code"] == code
    assert reason in raised.value.response["Error"]["Message"]


def test_test_event_pattern_refuses_an_event_deeper_than_json_is_read(eventbridge: Any) -> None:
    from botocore.exceptions import ClientError

    event = json.dumps(TEST_EVENT)[:-1] + ', "detail": {"x": ' + nest_arrays(1100, '"v"') + "}}"
    with pytest.raises(ClientError) as raised:
        eventbridge.test_event_pattern(EventPattern='{"source": ["s"]}', Event=event)
    assert raised.value.response["Error"]["Code"] == "InvalidArgument"
    assert "1,024 levels deep" in raised.value.response["Error"]["Message"]
