"""The OpenAPI document at ``GET /api/openapi.json``: valid OpenAPI 3.1, complete (every API route has
an operation), and true of the running server: schemathesis sends generated requests to every
operation of a real daphne server and fails on any 5xx and on any status code, header, media type or
body the document does not describe."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.urls import URLPattern, URLResolver
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config import urls
from dashboard.core import tokens
from dashboard.core.tokens import IssuedToken
from dashboard.schemas.models import Schema
from tests.support.consumer_servers import consumer_server
from tests.support.task_worker import scaled_mode_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("transactional_db", "scaled_mode_worker")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Generated requests per operation: bounded so that the whole run takes about a minute on a 2-core
# machine. Generation is derandomized, so a run is reproducible; raise it to explore further.
EXAMPLES = 50
# A tap created through the API reads this Redis (the test run's, or db 15 on the SQLite run).
TAP_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
TRACE, SPAN, OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "5759e988bd862e3fe1be46a994272793"

# The ingest protocols' own media types go out as the protocols write them.
schemathesis.serializer.alias("application/x-amz-json-1.1", "application/json")
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")


@schemathesis.deserializer("application/x-amz-json-1.1")
def _aws_json(context: Any, response: Any) -> Any:
    return json.loads(response.content)  # so that /aws answers are checked against their schemas too


# --- the document itself ---------------------------------------------------------------------------


def test_the_document_is_served_without_credentials_as_valid_openapi_3_1(client: Any) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # raises on anything the 3.1 schema refuses


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _openapi_path(route: str) -> str:
    """``api/events/<str:event_id>`` or ``^api/keys/(?P<key>…)\\Z`` as ``/api/events/{event_id}``."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.removeprefix("^").removesuffix("\\Z"))
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_route_has_an_operation_and_every_operation_a_route(client: Any) -> None:
    documented = set(client.get("/api/openapi.json").json()["paths"])
    routes = {_openapi_path(route) for route in _routes(urls.urlpatterns)}
    machine_roots = ("/api/", "/v1/", "/healthz", "/readyz", "/aws")
    api = {path for path in routes if path.startswith(machine_roots)} - {"/aws/"}  # an alias
    assert api - documented == set(), "routes without an operation in dashboard/api/openapi.py"
    assert documented - api == set(), "operations without a route"


# --- defects the fuzz found -----------------------------------------------------------------------


def test_a_key_with_a_line_break_has_its_ledger(live_server_url: str, token: IssuedToken) -> None:
    event = {"source": "s", "detail-type": "T", "detail": {"metadata": {"idempotency-key": "pay\no-1"}}}
    requests.post(f"{live_server_url}/api/events", json=event, headers=bearer(token), timeout=30).raise_for_status()
    response = requests.get(f"{live_server_url}/api/keys/pay%0Ao-1", headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["key"] == "pay\no-1"


def test_a_lifecycle_named_with_a_line_break_can_be_read_changed_and_deleted(client: Any, auth: dict[str, str]) -> None:
    definition = {"name": "order\nv2", "key": "detail.id", "steps": ["A"], "timeout_seconds": 60}
    assert client.post("/api/lifecycles", definition, content_type="application/json", headers=auth).status_code == 201
    assert client.get("/api/lifecycles/order%0Av2", headers=auth).json()["name"] == "order\nv2"
    changed = client.patch("/api/lifecycles/order%0Av2", {"timeout_seconds": 5}, content_type="application/json",
                           headers=auth)  # fmt: skip
    assert changed.status_code == 200
    assert client.delete("/api/lifecycles/order%0Av2", headers=auth).status_code == 204


# --- the live server -------------------------------------------------------------------------------


@dataclass
class World:
    """What the server holds before the requests: one of everything, so answers have content."""

    url: str
    tokens: dict[str, IssuedToken]
    event_id: str
    key: str
    replay_id: int
    running_replay_id: int


def bearer(token: IssuedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


class SigV4(requests.auth.AuthBase):
    """Signs a request for ``/aws`` as boto3 would (after schemathesis has built its body)."""

    def __init__(self, token: IssuedToken) -> None:
        self.credentials = Credentials(token.key_id, token.secret)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "x-amz-target")}
        aws = AWSRequest(method=request.method, url=request.url, data=request.body or b"", headers=signed)
        SigV4Auth(self.credentials, "events", "eu-west-1").add_auth(aws)
        request.headers["Authorization"] = aws.headers["Authorization"]
        request.headers["X-Amz-Date"] = aws.headers["X-Amz-Date"]
        return request


def _post(world_url: str, path: str, token: IssuedToken, body: Any, status: int = 200) -> Any:
    response = requests.post(f"{world_url}{path}", json=body, headers=bearer(token), timeout=30)
    assert response.status_code == status, response.text
    return response.json()


def _wait_for_replay(url: str, token: IssuedToken, replay_id: int, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        replay = requests.get(f"{url}/api/replays/{replay_id}", headers=bearer(token), timeout=30).json()
        if done(replay):
            return replay
        assert time.monotonic() < deadline, replay
        time.sleep(0.05)


@pytest.fixture
def world(live_server_url: str, transactional_db: None) -> Iterator[World]:
    url = live_server_url
    issued = {scope: tokens.create_token(f"openapi-{scope}", [scope]) for scope in ("read", "ingest", "operate")}
    operate, ingest = issued["operate"], issued["ingest"]
    _post(url, "/api/lifecycles", operate, {"name": "order", "key": "detail.order-id",
          "steps": ["OrderCreated", "OrderPaid", "OrderShipped"], "timeout_seconds": 900}, 201)  # fmt: skip
    traceparent = f"00-{TRACE}-{SPAN}-01"
    answer = _post(url, "/api/events", ingest, [
        {"source": "shop.billing", "detail-type": "OrderPaid", "id": "e-2", "time": "2026-03-01T10:00:20Z",
         "traceparent": traceparent, "detail": {"order-id": "o-1", "metadata": {"idempotency-key": "pay-o-1"}}},
        {"source": "shop.orders", "detail-type": "OrderCreated", "id": "e-1", "time": "2026-03-01T10:00:00Z",
         "detail": {"order-id": "o-1"}, "resources": ["arn:shop:order/o-1"]},
        {"source": "shop.orders", "detail-type": "OrderCreated", "detail": "not an object"},
    ])  # fmt: skip
    assert [r["status"] for r in answer["results"]] == ["accepted", "accepted", "rejected"]
    cloudevent = {"specversion": "1.0", "id": "ce-1", "source": "/billing", "type": "OrderPaid",
                  "traceparent": traceparent, "idempotencykey": "pay-o-1", "data": {"order-id": "o-1"}}  # fmt: skip
    response = requests.post(f"{url}/api/cloudevents", json=cloudevent, timeout=30,
                             headers={**bearer(ingest), "Content-Type": "application/cloudevents+json"})  # fmt: skip
    assert response.status_code == 200, response.text
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]}
    span = {"traceId": TRACE, "spanId": SPAN, "name": "checkout", "kind": 2, "status": {"code": 2},
            "startTimeUnixNano": "1772359200000000000", "endTimeUnixNano": "1772359200250000000",
            "attributes": [{"key": "http.status_code", "value": {"intValue": "500"}}],
            "events": [{"name": "retry", "timeUnixNano": "1772359200100000000"}],
            "links": [{"traceId": OTHER_TRACE, "spanId": SPAN}]}  # fmt: skip
    _post(url, "/v1/traces", ingest, {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]})
    log = {"timeUnixNano": "1772359200200000000", "traceId": TRACE, "spanId": SPAN, "severityText": "INFO",
           "body": {"stringValue": "paid"}}  # fmt: skip
    _post(url, "/v1/logs", ingest, {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [log]}]}]})
    with consumer_server(lambda received, count: (400, {})) as refusing:
        _post(url, "/api/consumers", operate, {"name": "sink", "url": refusing.url, "secret": "s"}, 201)
        replay = _post(url, "/api/replays", operate,
                       {"name": "fix", "since": "2026-01-01T00:00:00Z", "consumers": ["sink"]}, 202)  # fmt: skip
        # A 400 is not retried: every delivery becomes a dead letter at once.
        _wait_for_replay(url, operate, replay["id"], lambda r: r["state"] == "completed" and r["failed"] == 3)
        slow = _post(url, "/api/replays", operate, {"name": "slow", "since": "2026-01-01T00:00:00Z",
                     "consumers": ["sink"], "rate_per_second": 0.001}, 202)  # fmt: skip
        yield World(url, issued, answer["results"][0]["id"], "pay-o-1", replay["id"], slow["id"])
        requests.post(f"{url}/api/replays/{slow['id']}/cancel", headers=bearer(operate), timeout=30)


def _scope_of(case: schemathesis.Case) -> str | None:
    for requirement in case.operation.definition.raw.get("security", []):
        for scopes in requirement.values():
            if scopes:
                return str(scopes[0])
    return None


def call_as_documented(world: World, case: schemathesis.Case) -> Any:
    """Send ``case`` with the credentials its operation names (a token of exactly that scope; SigV4
    with the ingest token's key pair for /aws) and check the answer against the document."""
    scope = _scope_of(case)
    headers = bearer(world.tokens[scope]) if scope else {}
    auth = SigV4(world.tokens["ingest"]) if case.operation.path == "/aws" else None
    return case.call_and_validate(base_url=world.url, headers=headers, checks=CHECKS, auth=auth, timeout=30)


def test_every_operation_answers_generated_requests_as_documented(world: World) -> None:
    schema = schemathesis.openapi.from_url(f"{world.url}/api/openapi.json")
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        # Valid requests and invalid ones (wrong types, missing fields, values out of range).
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

        @hypothesis.settings(
            max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
        )  # fmt: skip
        @hypothesis.given(case=cases)
        def answers_as_documented(case: schemathesis.Case) -> None:
            call_as_documented(world, case)

        try:
            answers_as_documented()
        except (Exception, FailureGroup) as failure:  # every operation runs; the failures are reported together
            failures[operation.label] = str(failure)
    assert not failures, "\n\n".join(f"{label}:\n{failure}" for label, failure in failures.items())


def _valid_requests(world: World) -> dict[str, dict[str, Any]]:
    """One request per operation that must succeed, so that every success answer is checked too."""
    replay_id = {"replay_id": str(world.replay_id)}
    cloudevent = {"specversion": "1.0", "id": "ce-2", "source": "/billing", "type": "OrderShipped",
                  "data": {"order-id": "o-1"}}  # fmt: skip
    put_events = {"Entries": [{"Source": "shop", "DetailType": "OrderShipped", "Detail": '{"order-id": "o-1"}'}]}
    lifecycle = {"name": "spare", "key": "detail.id", "steps": ["A"], "timeout_seconds": 60}
    schema_id = {"schema_id": str(Schema.objects.get(source="shop.orders", detail_type="OrderCreated").id)}
    return {
        "GET /healthz": {},
        "GET /readyz": {},
        "POST /v1/traces": {"body": {"resourceSpans": []}, "media_type": "application/json"},
        "POST /v1/logs": {"body": {"resourceLogs": []}, "media_type": "application/json"},
        "GET /api/events": {"query": {"pattern": '{"source": ["shop.orders"]}', "limit": 1}},
        "POST /api/events": {
            "body": {"source": "shop", "detail-type": "OrderShipped", "detail": {}},
            "media_type": "application/json",
        },
        "POST /api/cloudevents": {"body": cloudevent, "media_type": "application/cloudevents+json"},
        "POST /aws": {"body": put_events, "headers": {"X-Amz-Target": "AWSEvents.PutEvents"}},
        "GET /api/events/{event_id}": {"path_parameters": {"event_id": world.event_id}},
        "GET /api/find": {"query": {"q": "o-1"}},
        "GET /api/services": {},
        "GET /api/traces": {"query": {"service": "shop", "status": "error", "attr": ["http.status_code=500"]}},
        "GET /api/traces/{trace_id}": {"path_parameters": {"trace_id": TRACE.upper()}},
        "GET /api/servicemap": {"query": {"since": "2026-03-01T09:00:00Z", "until": "2026-03-01T11:00:00Z"}},
        "GET /api/keys/{key}": {"path_parameters": {"key": world.key}},
        "POST /api/patterns/test": {"body": {"pattern": {"source": ["a"]}, "event": {"source": "a"}}},
        "GET /api/lifecycles": {},
        "POST /api/lifecycles": {"body": lifecycle},
        "GET /api/lifecycles/{name}": {"path_parameters": {"name": "order"}},
        "PATCH /api/lifecycles/{name}": {"path_parameters": {"name": "order"}, "body": {"timeout_seconds": 60}},
        "DELETE /api/lifecycles/{name}": {"path_parameters": {"name": "spare"}},
        "GET /api/transactions": {"query": {"lifecycle": "order", "out_of_order": "true"}},
        "GET /api/transactions.csv": {"query": {"status": "in_progress"}},
        "GET /api/transactions/funnel": {},
        "GET /api/transactions/{lifecycle}/{key}": {"path_parameters": {"lifecycle": "order", "key": "o-1"}},
        "GET /api/lifecycles/{name}/timings": {"path_parameters": {"name": "order"}},
        "GET /api/consumers": {},
        "POST /api/consumers": {  # a broker consumer: its answer (kind, options, masked URL) is checked too
            "body": {"name": "spare", "url": "amqp://guest:guest@127.0.0.1:5672/", "exchange": "", "routing_key": "q"}
        },
        "GET /api/consumers/{name}": {"path_parameters": {"name": "sink"}},
        "PATCH /api/consumers/{name}": {"path_parameters": {"name": "spare"}, "body": {"secret": None}},
        "DELETE /api/consumers/{name}": {"path_parameters": {"name": "spare"}},
        "POST /api/consumers/{name}/test": {"path_parameters": {"name": "sink"}},
        "GET /api/consumers/{name}/attempts": {"path_parameters": {"name": "sink"}, "query": {"outcome": "dead"}},
        "GET /api/replays": {},
        "POST /api/replays": {
            "body": {"name": "plan", "since": "2026-01-01T00:00:00Z", "consumers": ["sink"], "dry_run": True}
        },
        "GET /api/replays/{replay_id}": {"path_parameters": replay_id},
        "POST /api/replays/{replay_id}/cancel": {"path_parameters": {"replay_id": str(world.running_replay_id)}},
        "GET /api/replays/{replay_id}/deliveries": {"path_parameters": replay_id, "query": {"state": "dead"}},
        "POST /api/replays/{replay_id}/redrive": {"path_parameters": replay_id, "body": {}},
        "GET /api/replays/{replay_id}/attempts": {"path_parameters": replay_id, "query": {"outcome": "dead"}},
        "GET /api/schemas": {"query": {"source": "shop.orders"}},
        "GET /api/schemas/{schema_id}": {"path_parameters": schema_id},
        "POST /api/schemas/{schema_id}/pin": {"path_parameters": schema_id, "body": {"version": 1}},
        "GET /api/taps": {},
        "POST /api/taps": {"body": {"name": "spare-tap", "url": TAP_REDIS_URL, "stream": f"openapi-{os.getpid()}"}},
        "POST /api/taps/{name}/stop": {"path_parameters": {"name": "spare-tap"}},
        "POST /api/taps/{name}/start": {"path_parameters": {"name": "spare-tap"}},
        "GET /api/taps/{name}": {"path_parameters": {"name": "spare-tap"}},
        "PATCH /api/taps/{name}": {"path_parameters": {"name": "spare-tap"}, "body": {"format": "raw"}},
        "DELETE /api/taps/{name}": {"path_parameters": {"name": "spare-tap"}},
    }


def test_every_operation_answers_a_valid_request_with_a_documented_success(world: World) -> None:
    schema = schemathesis.openapi.from_url(f"{world.url}/api/openapi.json")
    valid = _valid_requests(world)
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the document's own URL (the first test above checks that one).
    assert {operation.label for operation in operations} == set(valid)
    for operation in operations:  # in the document's order: creates before the deletes that use them
        response = call_as_documented(world, operation.Case(**valid[operation.label]))
        assert 200 <= response.status_code < 300, (operation.label, response.status_code, response.text)
