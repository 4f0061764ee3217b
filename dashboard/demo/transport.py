"""Publishing events to the dashboard the way real producers do: three wire formats, three clients.

- native JSON (``POST /api/events``) with ``traceparent`` in the envelope;
- CloudEvents through the CloudEvents SDK's HTTP binding (structured and binary mode), with the
  ``traceparent`` and ``idempotencykey`` extension attributes;
- EventBridge ``PutEvents`` through boto3, SigV4-signed, with the trace in ``TraceHeader`` (X-Ray form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import orjson
import requests
from botocore.config import Config
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent


class PublishError(RuntimeError):
    """The dashboard refused an event (a demo bug or a misconfigured token), said with its answer."""


@dataclass
class Message:
    """An event as a service publishes it; what the simulated bus hands to consumers too."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    event_id: str
    time: str
    traceparent: str
    idempotency_key: str
    sent: list[str] = field(default_factory=list)  # stored ids the dashboard answered

    @property
    def trace_header(self) -> str:
        """The W3C traceparent in AWS X-Ray ``TraceHeader`` form."""
        _, trace_id, span_id, flags = self.traceparent.split("-")
        return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled={int(flags, 16) & 1}"


class Transport:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        key_id, _, secret = token.partition(".")
        self.events = boto3.client(
            "events",
            endpoint_url=f"{self.url}/aws",
            region_name="eu-west-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        self.counts = {"accepted": 0, "duplicate": 0}

    def _results(self, response: requests.Response) -> list[str]:
        if response.status_code != 200:
            raise PublishError(
                f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}"
            )
        ids = []
        for result in response.json()["results"]:
            if result["status"] == "rejected":
                raise PublishError(f"event rejected: {result.get('error')}")
            self.counts[result["status"]] += 1
            ids.append(result["id"])
        return ids

    def native(self, message: Message) -> list[str]:
        body = {
            "id": message.event_id,
            "source": message.source,
            "detail-type": message.detail_type,
            "time": message.time,
            "detail": message.detail,
            "traceparent": message.traceparent,
        }
        response = self.session.post(
            f"{self.url}/api/events", data=orjson.dumps(body), headers={"Content-Type": "application/json"}, timeout=30
        )
        return self._results(response)

    def cloudevent(self, message: Message, binary: bool) -> list[str]:
        event = CloudEvent(
            {
                "id": message.event_id,
                "type": message.detail_type,
                "source": message.source,
                "time": message.time,
                "subject": f"order/{message.detail['data']['order-id']}",
                "datacontenttype": "application/json",
                "traceparent": message.traceparent,
                "idempotencykey": message.idempotency_key,
            },
            message.detail,
        )
        headers, body = to_binary(event) if binary else to_structured(event)
        response = self.session.post(f"{self.url}/api/cloudevents", data=body, headers=headers, timeout=30)
        return self._results(response)

    def put_events(self, message: Message) -> list[str]:
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": message.source,
                    "DetailType": message.detail_type,
                    "Detail": orjson.dumps(message.detail).decode(),
                    "Resources": [f"arn:aws:shop:eu-west-1:000000000000:order/{message.detail['data']['order-id']}"],
                    "TraceHeader": message.trace_header,
                    "Time": datetime.fromisoformat(message.time),
                }
            ]
        )
        if answer["FailedEntryCount"]:
            raise PublishError(f"PutEvents failed: {answer['Entries']}")
        self.counts["accepted"] += 1
        return [answer["Entries"][0]["EventId"]]

    def create_lifecycle(self, body: dict[str, Any]) -> int:
        """Define the order lifecycle (docs/transactions.md); an existing one or an older server is fine."""
        try:
            response = self.session.post(
                f"{self.url}/api/lifecycles",
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
        except requests.RequestException:
            return 0
        return response.status_code
