"""The same history of one type through each real ingest endpoint against the real server: native
JSON, CloudEvents (structured, binary and batch mode, with the SDK for the first two) and boto3's
PutEvents. Its first events make version 1, an added field a compatible version 2, a number sent as a
string a breaking version 3, an event without a required field a breaking version 4; every event
validates against the JSON Schema of the version it was counted in, and an event that began a
breaking version does not validate against the version before."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import requests
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent

from tests.support.eventbridge import events_client

pytestmark = pytest.mark.usefixtures("transactional_db")

ORDER = {"order-id": "o-1", "amount": 42, "customer": {"id": "c-1"}}
# Each step is one request: its events count in the version of the same index.
STEPS: list[list[dict[str, Any]]] = [
    [ORDER, {**ORDER, "order-id": "o-2", "amount": 7}],
    [{**ORDER, "coupon": "SPRING"}],
    [{**ORDER, "amount": "42"}],
    [{"order-id": "o-4", "amount": 1}],
]
AMOUNT_AS_STRING = {"path": "/amount", "from": "integer", "to": "string"}
EXPECTED = [
    {"kind": "initial", "added": [], "removed": [], "type_changed": []},
    {"kind": "compatible", "added": ["/coupon"], "removed": [], "type_changed": []},
    {"kind": "breaking", "added": [], "removed": [], "type_changed": [AMOUNT_AS_STRING]},
    {"kind": "breaking", "added": [], "removed": ["/customer", "/customer/id"], "type_changed": []},
]

Sender = Callable[[list[dict[str, Any]]], list[str]]  # details of one request -> their stored ids


def _answered(response: requests.Response, count: int) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == count, body
    return [result["id"] for result in body["results"]]


def native(url: str, token: Any, source: str) -> Sender:
    def send(details: list[dict[str, Any]]) -> list[str]:
        body = [{"source": source, "detail-type": "OrderPlaced", "detail": detail} for detail in details]
        headers = {"Authorization": f"Bearer {token.token}"}
        return _answered(requests.post(f"{url}/api/events", json=body, headers=headers, timeout=30), len(details))

    return send


def cloudevents(url: str, token: Any, source: str, mode: str) -> Sender:
    def send(details: list[dict[str, Any]]) -> list[str]:
        ids = []
        auth = {"Authorization": f"Bearer {token.token}"}
        if mode == "batch":
            batch = [
                {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": "OrderPlaced",
                 "datacontenttype": "application/json", "data": detail}
                for detail in details
            ]  # fmt: skip
            headers = {**auth, "Content-Type": "application/cloudevents-batch+json"}
            response = requests.post(f"{url}/api/cloudevents", data=json.dumps(batch), headers=headers, timeout=30)
            return _answered(response, len(details))
        for detail in details:
            event = CloudEvent({"type": "OrderPlaced", "source": source}, detail)
            headers, body = (to_binary if mode == "binary" else to_structured)(event)
            response = requests.post(f"{url}/api/cloudevents", data=body, headers={**headers, **auth}, timeout=30)
            ids += _answered(response, 1)
        return ids

    return send


def put_events(url: str, token: Any, source: str) -> Sender:
    client = events_client(url, token.key_id, token.secret)

    def send(details: list[dict[str, Any]]) -> list[str]:
        entries = [{"Source": source, "DetailType": "OrderPlaced", "Detail": json.dumps(detail)} for detail in details]
        answer = client.put_events(Entries=entries)
        assert answer["FailedEntryCount"] == 0, answer
        return [entry["EventId"] for entry in answer["Entries"]]

    return send


CLIENTS = ["native", "cloudevents-structured", "cloudevents-binary", "cloudevents-batch", "put-events"]


@pytest.mark.parametrize("client_name", CLIENTS)
def test_versions_through_every_ingest_endpoint(live_server_url: str, token: Any, client_name: str) -> None:
    source = f"shop.{client_name}"
    if client_name == "native":
        send = native(live_server_url, token, source)
    elif client_name == "put-events":
        send = put_events(live_server_url, token, source)
    else:
        send = cloudevents(live_server_url, token, source, client_name.removeprefix("cloudevents-"))
    stored = [send(details) for details in STEPS]

    headers = {"Authorization": f"Bearer {token.token}"}
    listed = requests.get(
        f"{live_server_url}/api/schemas", params={"source": source}, headers=headers, timeout=30
    ).json()["results"]
    assert [(entry["detail-type"], entry["latest_version"], entry["breaking_changes"]) for entry in listed] == [
        ("OrderPlaced", 4, 2)
    ]
    body = requests.get(f"{live_server_url}{listed[0]['links']['self']}", headers=headers, timeout=30).json()
    versions = body["versions"]
    assert [version["change"] for version in versions] == EXPECTED
    assert [version["events"] for version in versions] == [len(details) for details in STEPS]
    assert [version["first_event_id"] for version in versions] == [ids[0] for ids in stored]
    validators = []
    for version in versions:
        jsonschema.Draft202012Validator.check_schema(version["schema"])
        validators.append(jsonschema.Draft202012Validator(version["schema"]))
    for number, ids in enumerate(stored):
        for stored_id in ids:
            event = requests.get(f"{live_server_url}/api/events/{stored_id}", headers=headers, timeout=30).json()
            assert validators[number].is_valid(event["detail"]), (number + 1, event["detail"])
            if versions[number]["change"]["kind"] == "breaking" and stored_id == ids[0]:
                assert not validators[number - 1].is_valid(event["detail"]), (number, event["detail"])
