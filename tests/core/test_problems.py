"""``dashboard.core.errors.Problem``: every module's refusal has a code, a message and maybe a
``where``, and the API answers any of them as ``{"error": {"code", "message", "where"?}}``."""

from __future__ import annotations

import pickle

import pytest
from django.test import Client

from dashboard.core.errors import Problem
from dashboard.core.http import ApiError
from dashboard.ingest.cloudevents_format import CloudEventError
from dashboard.lifecycles.definitions import LifecycleError
from dashboard.patterns.engine import PatternError, compile_pattern
from dashboard.replay.actions import Invalid


def test_a_problem_reads_as_its_message_and_defaults_its_code_and_status() -> None:
    problem = Problem("'limit' is too large.", where="limit")

    assert (str(problem), problem.code, problem.where, problem.status) == (
        "'limit' is too large.",
        "invalid_request",
        "limit",
        400,
    )


@pytest.mark.parametrize(
    "problem",
    [
        Problem("bad", code="invalid_parameter", where="since"),
        ApiError(429, "slow_down", "Too many.", {"Retry-After": "3"}),
        Invalid("No consumer named 'x'.", status=404, code="not_found"),
        LifecycleError("Steps must be unique."),
        PatternError("detail.price", "must be an array"),
        CloudEventError("attribute 'id' is required", attribute="id", index=2),
    ],
    ids=lambda problem: type(problem).__name__,
)
def test_every_kind_survives_pickling_whole(problem: Problem) -> None:
    copy = pickle.loads(pickle.dumps(problem))

    assert type(copy) is type(problem)
    assert copy.__dict__ == problem.__dict__
    assert str(copy) == str(problem)


def test_a_pattern_error_says_where_in_the_pattern() -> None:
    with pytest.raises(Problem) as caught:
        compile_pattern({"detail": {"price": "5"}})

    assert (caught.value.code, caught.value.where) == ("invalid_pattern", "detail.price")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "code", "where"),
    [
        ("/api/events?limit=0", "invalid_parameter", "limit"),
        ("/api/events?since=yesterday", "invalid_parameter", "since"),
        ("/api/events?pattern=%7B", "invalid_pattern", "pattern"),
        ("/api/events?cursor=nope", "invalid_cursor", "cursor"),
        ("/api/transactions?status=nope", "invalid_parameter", "status"),
        ("/api/transactions?limit=501", "invalid_parameter", "limit"),
        ("/api/traces/xyz", "invalid_trace_id", "trace_id"),
    ],
)
def test_a_refused_parameter_is_named_in_the_error_body(
    client: Client, auth: dict[str, str], path: str, code: str, where: str
) -> None:
    response = client.get(path, headers=auth)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["where"] == where


@pytest.mark.django_db
def test_a_cloudevent_refused_whole_names_the_attribute(client: Client, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/cloudevents",
        b'{"specversion": "1.0", "source": "shop", "type": "OrderPlaced"}',
        content_type="application/cloudevents+json",
        headers=auth,
    )

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["where"]) == ("invalid_cloudevent", "id")


@pytest.mark.django_db
def test_an_error_about_no_one_place_has_no_where(client: Client, auth: dict[str, str]) -> None:
    response = client.get("/api/events/01J00000000000000000000000", headers=auth)

    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message"}
