"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/openapi.json``.

The views are plain Django functions (thin, and tested through real clients), so the document is
not generated from them: it is written here, beside them, as a Python dict. Limits and enumerations
come from the modules that enforce them, and the served document carries this server's configured
limits (batch size, body size). ``tests/api/test_openapi.py`` keeps it honest: every URL of the API has
an operation here, and schemathesis runs every operation against a real server, failing on any 5xx
and on any status code, header or body the document does not describe. docs/api.md is the prose
reference for the same API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from dashboard.api import idempotency
from dashboard.api import replays as replays_api
from dashboard.core.http import error_response
from dashboard.core.trace_context import TRACE_ID_PATTERN
from dashboard.events import queries as event_queries
from dashboard.lifecycles import definitions as lifecycle_defs
from dashboard.lifecycles import detail as lifecycle_detail
from dashboard.lifecycles import find as lifecycle_find
from dashboard.lifecycles import report as tx_report
from dashboard.lifecycles.models import MAX_LIFECYCLE_STEPS
from dashboard.replay import actions as replay_actions
from dashboard.replay import broker_options
from dashboard.replay import plan as replay_plan
from dashboard.replay import selection as replay_selection
from dashboard.replay.models import Delivery, Replay
from dashboard.taps.models import Tap
from tracing import models as span_models
from tracing import search as trace_search

JSON = "application/json"
Schema = dict[str, Any]
DELIVERY_STATES = [Delivery.PENDING, Delivery.SENDING, Delivery.RETRY, Delivery.DELIVERED, Delivery.DEAD]

# --- small builders --------------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (JSON Schema 2020-12: a list of types, or anyOf for a reference)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*types, "null"]}


def obj(properties: dict[str, Schema], required: Iterable[str] | None = None, *, closed: bool = True,
        description: str = "") -> Schema:  # fmt: skip
    """An object schema; every property is required unless ``required`` says otherwise, and no
    other property may appear unless ``closed`` is False."""
    schema: Schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties if required is None else required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def text(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", **extra: Any) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


TIME = text(format="date-time")
ANY: Schema = {"description": "Any JSON value."}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
COUNT_MAP = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
# An event pattern: an object, or the JSON text of one (both are taken and given back as sent).
PATTERN: Schema = {
    "type": ["object", "string"],
    "description": "An EventBridge event pattern (docs/patterns.md): a JSON object, or the JSON text of one.",
}


def json_body(schema: Schema, description: str = "", required: bool = True) -> Schema:
    return {"required": required, "description": description, "content": {JSON: {"schema": schema}}}


def answer(description: str, schema: Schema | None = None, *, media: str = JSON,
           headers: dict[str, Schema] | None = None) -> Schema:  # fmt: skip
    out: Schema = {"description": description}
    if schema is not None:
        out["content"] = {media: {"schema": schema}}
    if headers:
        out["headers"] = headers
    return out


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def path_param(name: str, description: str, *, slashes: bool = False) -> Schema:
    # Django's <str:…> converter matches no "/" (a %2F is decoded before routing); the routes of
    # keys and lifecycle names take any text.
    schema = text(minLength=1) if slashes else text(minLength=1, pattern="^[^/]+$")
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": text(maxLength=256),
    "description": "The idempotency key of the event.",
}
# On the operate API's creates: a retry with the same key answers the first result (docs/api.md).
CREATE_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": text(minLength=1, maxLength=idempotency.MAX_KEY, pattern="^[\\x20-\\x7e]+$"),
    "description": "Makes a retried create return the first result (same status and body, with "
    "Idempotent-Replayed: true) instead of creating a second object; the same key with another body "
    "is a 422. Keys are kept 24 hours.",
}


# A lifecycle's key path: an envelope field, and only under detail any deeper.
_KEY_PATH = "^(detail(\\.[^.]+)*|" + "|".join(f for f in lifecycle_defs.ENVELOPE_FIELDS if f != "detail") + ")$"

# --- schemas ---------------------------------------------------------------------------------------


def _schemas() -> dict[str, Schema]:
    flat_event = obj(
        {
            "id": text("The stored id: what ingest answered, and what /api/events/{id} takes."),
            "event_id": text("The producer's id (the stored id when the producer gave none)."),
            "source": text(),
            "detail-type": text(),
            "time": {**TIME, "description": "The event's own time."},
            "resources": array(text()),
            "detail": ANY,
            "trace_id": nullable(text("32 lowercase hex digits.")),
            "parent_span_id": nullable(text("16 lowercase hex digits: the span that published the event.")),
            "idempotency_key": nullable(text()),
            "received_at": {**TIME, "description": "When Eventscope committed it."},
            "format": text("The ingest format.", enum=["native", "cloudevents", "eventbridge", "otlp"]),
            "replay_name": nullable(text("Set on events that a replay delivered back into Eventscope.")),
            "schema_valid": nullable(
                {"type": "boolean", "description": "Checked against its type's pinned schema; null: none pinned."}
            ),
            "schema_error": nullable(text("Why it did not validate against the pinned schema version.")),
        },
        description="An event as every list shows it (events, traces, key ledgers, the live tail).",
    )
    envelope = obj(
        {
            "version": text(const="0"),
            "id": text("The producer's id."),
            "source": text(),
            "detail-type": text(),
            "time": TIME,
            "account": text(),
            "region": text(),
            "resources": array(text()),
            "detail": ANY,
        },
        description="The canonical, EventBridge-shaped envelope: what patterns match and replays deliver.",
    )
    event_detail = obj(
        {
            **flat_event["properties"],
            "envelope": ref("Envelope"),
            "extra": {"type": "object", "description": "Other attributes (e.g. CloudEvents extensions)."},
            "original": {**ANY, "description": "The entry as received: JSON when it was JSON, else its text."},
            "links": obj({"self": text(), "page": text(), "trace": nullable(text()), "key": nullable(text())}),
        },
        description="An event's flat fields, its envelope, other attributes, original body and links.",
    )
    span = obj(
        {
            "trace_id": text(),
            "span_id": text(),
            "parent_span_id": nullable(text()),
            "name": text(),
            "kind": text(f"One of {', '.join(span_models.SPAN_KINDS)} (an unknown OTLP value as its number)."),
            "service": text(),
            "start": TIME,
            "end": TIME,
            "start_ns": integer("Unix time in nanoseconds."),
            "end_ns": integer(),
            "duration_ms": {"type": "number"},
            "status": obj(
                {
                    "code": text(
                        f"One of {', '.join(span_models.STATUS_CODES)} (an unknown OTLP value as its number)."
                    ),
                    "message": text(),
                }
            ),
            "attributes": {"type": "object"},
            "resource": {"type": "object", "description": "The resource's attributes."},
            "scope": text("The instrumentation scope's name."),
            "span_events": array({"type": "object"}),
            "links": array({"type": "object"}),
        }
    )
    log = obj(
        {
            "time": TIME,
            "trace_id": text(),
            "span_id": nullable(text()),
            "severity": text(),
            "severity_number": integer(),
            "body": ANY,
            "attributes": {"type": "object"},
            "service": text(),
        }
    )
    linked = obj(
        {
            "trace_id": text(),
            "relation": text(enum=["links_to", "linked_from", "shares_key"]),
            "span_id": text(),
            "linked_span_id": text(),
            "idempotency_key": text(),
        },
        required=["trace_id", "relation"],
    )
    lifecycle = obj(
        {
            "id": integer(),
            "name": text(),
            "key": text("A dotted path into the canonical envelope, e.g. detail.order-id."),
            "steps": array(text(), minItems=1),
            "timeout_seconds": integer(minimum=1),
            "pattern": nullable(PATTERN),
            "created_at": TIME,
        }
    )
    lifecycle_fields = {
        "name": text(maxLength=lifecycle_defs.MAX_NAME_LENGTH),
        "key": text(
            "A dotted path starting with an envelope field: " + ", ".join(lifecycle_defs.ENVELOPE_FIELDS) + "; "
            "only detail has fields below it.",
            maxLength=lifecycle_defs.MAX_KEY_LENGTH,
            pattern=_KEY_PATH,
        ),
        "steps": array(
            text(maxLength=lifecycle_defs.MAX_STEP_LENGTH),
            minItems=1,
            maxItems=MAX_LIFECYCLE_STEPS,
            uniqueItems=True,
            description="The detail-types of the steps, in order.",
        ),
        "timeout_seconds": integer(minimum=1, maximum=2**31 - 1),
        "pattern": nullable(PATTERN),
    }
    seen_step = obj(
        {"step": text(), "time": TIME, "id": text(), "event_id": text(), "count": integer(minimum=1)},
        description="The step's earliest event (stored id and producer's id) and how often it came.",
    )
    out_of_order = obj(
        {
            "detail-type": text(),
            "kind": text(enum=["step", "update"]),
            "id": text(),
            "event_id": text(),
            "time": TIME,
            "arrived_before": text("The step that had not been seen yet."),
        }
    )
    transaction = obj(
        {
            "id": integer(),
            "lifecycle": text(),
            "key": text(),
            "status": text(enum=list(tx_report.STATUSES)),
            "out_of_order": {"type": "boolean"},
            "out_of_order_events": array(ref("OutOfOrderFact")),
            "steps_seen": array(ref("SeenStep")),
            "missing_steps": array(text()),
            "first_seen": TIME,
            "last_seen": TIME,
            "deadline": TIME,
            "overdue_at": nullable(TIME),
            "duplicates": integer(minimum=0),
            "updates": integer(minimum=0),
            "trace_ids": array(text()),
            "idempotency_keys": array(text()),
            "links": obj(
                {
                    "events": text(),
                    "api_events": text(),
                    "step_events": STRING_MAP,
                    "traces": array(text()),
                    "keys": array(text()),
                }
            ),
        }
    )
    step_entry = obj(
        {
            "step": text(),
            "seen": {"type": "boolean"},
            "time": nullable(TIME),
            "event_id": nullable(text("The stored id of the step's earliest event (by event time).")),
            "trace_id": nullable(text()),
            "since_previous_ms": nullable(
                {"type": "number", "description": "Time from the nearest earlier seen step (event times)."}
            ),
            "usual_source": nullable(
                text("A missing step: the source that most often sent it for other keys of the lifecycle.")
            ),
        }
    )
    transaction_detail = obj({
        **transaction["properties"],
        "steps": array(ref("TransactionStep"), description="One entry per lifecycle step, in lifecycle order."),
        "out_of_order_facts": array(ref("OutOfOrderFact")),
    })  # fmt: skip
    ms = nullable({"type": "number"})
    timings = obj(
        {
            "lifecycle": text(),
            "results": array(
                obj(
                    {
                        "from": text(),
                        "to": text(),
                        "count": integer(minimum=0),
                        "p50_ms": ms,
                        "p95_ms": ms,
                        "p99_ms": ms,
                    }
                )
            ),
        }
    )
    funnel = obj(
        {
            "lifecycle": text(),
            "total": integer(minimum=0),
            "complete": integer(minimum=0),
            "incomplete": integer(minimum=0),
            "in_progress": integer(minimum=0),
            "out_of_order": integer(minimum=0),
            "steps": array(obj({"step": text(), "reached": integer(minimum=0), "stuck": integer(minimum=0)})),
        }
    )
    rate = nullable({"type": "number", "minimum": replay_actions.MIN_RATE, "maximum": replay_actions.MAX_RATE})
    consumer = obj(
        {
            "id": integer(),
            "name": text(),
            "kind": text("What the URL's scheme names: an HTTP endpoint or a broker.", enum=list(broker_options.KINDS)),
            "url": text("A broker URL's password is shown as ***."),
            **_CONSUMER_OPTIONS_SHOWN,
            "pattern": nullable(PATTERN),
            "has_secret": {"type": "boolean", "description": "The secret itself is never shown."},
            "rate_per_second": rate,
            "paused": {"type": "boolean", "description": "Replays to a paused consumer wait until it is resumed."},
            "created_at": TIME,
        },
        required=["id", "name", "kind", "url", "pattern", "has_secret", "rate_per_second", "paused", "created_at"],
    )
    consumer_fields = {
        "name": text(
            "Letters, digits, '.', '_', ':' and '-', starting with a letter or digit.",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
        ),
        "url": text(
            "An http:// or https:// URL, or a broker's: amqp:// or amqps:// (with exchange, routing_key), nats:// "
            "or tls:// (with subject), redis:// or rediss:// (with stream); a broker URL may hold the broker's "
            "login. Checked against the target rules (docs/replay.md). On a change, a broker URL whose password is "
            "*** keeps the stored password, for the same scheme, user, host and port only.",
            pattern="^([Hh][Tt][Tt][Pp][Ss]?|[Aa][Mm][Qq][Pp][Ss]?|[Nn][Aa][Tt][Ss]|[Tt][Ll][Ss]|[Rr][Ee][Dd][Ii][Ss][Ss]?)://",
        ),
        **_CONSUMER_OPTIONS_TAKEN,
        "pattern": nullable(PATTERN),
        "secret": nullable(text("Signs every delivery (X-Eventscope-Signature).", maxLength=256)),
        "rate_per_second": rate,
        "paused": nullable({"type": "boolean", "description": "True holds its replays' deliveries."}),
    }
    selection = nullable(
        obj(
            {
                "kind": text(enum=list(replay_selection.KINDS)),
                "events": integer(minimum=0, description="Events selected when the replay was made."),
                "idempotency_key": text(),
                "trace_id": text(pattern=f"^{TRACE_ID_PATTERN}$"),
                "lifecycle": text(),
                "key": text(),
            },
            required=["kind", "events"],
            description="What a person found (null: a time range); the kind's own fields beside it.",
        )
    )
    replay = obj(
        {
            "id": integer(),
            "name": text(),
            "state": text(enum=[*Replay.ACTIVE, Replay.COMPLETED, Replay.CANCELLED, Replay.FAILED]),
            "since": TIME,
            "until": TIME,
            "pattern": nullable(PATTERN),
            "selection": selection,
            "consumers": array(text()),
            "paused_consumers": array(text(), description="Chosen consumers now paused: their deliveries wait."),
            "rate_per_second": rate,
            "matched": integer(minimum=0, description="Events matched so far."),
            "delivered": integer(minimum=0),
            "failed": integer(minimum=0, description="Dead letters."),
            "skipped": integer(minimum=0, description="Event-consumer pairs a consumer's pattern left out."),
            "total": integer(minimum=0, description="Deliveries expected: exact once planning_done."),
            "planning_done": {"type": "boolean"},
            "last_replayed_time": nullable(TIME),
            "created_at": TIME,
            "started_at": nullable(TIME),
            "finished_at": nullable(TIME),
            "rate": nullable({"type": "number", "description": "Deliveries a second."}),
            "eta_seconds": nullable({"type": "number"}),
            "error": nullable(text()),
            "links": obj({"self": text(), "dead_letters": text()}),
        }
    )
    replay_plan_schema = obj(
        {
            "name": text(),
            "since": TIME,
            "until": TIME,
            "selection": selection,
            "dry_run": {"const": True},
            "complete": {
                "type": "boolean",
                "description": f"False when the count stopped after {replay_plan.DRY_RUN_SCAN_LIMIT} archive events.",
            },
            "scanned": integer(minimum=0),
            "matched": integer(minimum=0),
            "deliveries": integer(minimum=0),
            "skipped": integer(minimum=0),
            "by_detail_type": COUNT_MAP,
            "by_consumer": COUNT_MAP,
            "first_events": array(ref("Event"), maxItems=replay_plan.FIRST_EVENTS),
        }
    )
    attempt = obj(
        {
            "number": integer(minimum=1),
            "at": TIME,
            "status": nullable(integer(description="The consumer's HTTP status; null when none came.")),
            "latency_ms": {"type": "number"},
            "error": nullable(text()),
            "outcome": text("The delivery's state after this attempt.", enum=DELIVERY_STATES),
        }
    )
    logged_attempt = obj(
        {
            "id": integer(),
            "replay": nullable(integer(description="null for a test send.")),
            "delivery": nullable(integer()),
            "event": nullable(text("The event's stored id; null for a test send.")),
            "consumer": nullable(text()),
            "number": integer(minimum=1),
            "at": TIME,
            "status": nullable(integer(description="The consumer's HTTP status; null when none came.")),
            "latency_ms": {"type": "number"},
            "error": nullable(text()),
            "response": nullable(text("The start of the consumer's answer.")),
            "outcome": text(enum=list(replay_actions.ATTEMPT_OUTCOMES)),
        }
    )
    delivery = obj(
        {
            "id": integer(),
            "replay": integer(),
            "event": text("The event's stored id."),
            "consumer": text(),
            "seq": integer(minimum=0),
            "idempotency_key": nullable(text()),
            "state": text(enum=DELIVERY_STATES),
            "attempts": integer(minimum=0),
            "last_status": nullable(integer()),
            "last_error": nullable(text()),
            "last_latency_ms": nullable({"type": "number"}),
            "next_attempt_at": nullable(TIME),
            "delivered_at": nullable(TIME),
            "updated_at": TIME,
            "attempt_log": array(ref("DeliveryAttempt")),
        }
    )
    ingest_result = obj(
        {
            "accepted": integer(minimum=0),
            "duplicates": integer(minimum=0),
            "rejected": integer(minimum=0),
            "results": array(
                obj(
                    {
                        "index": integer(minimum=0),
                        "id": text("The stored id (for a duplicate, the first one's)."),
                        "status": text(enum=["accepted", "duplicate", "rejected"]),
                        "error": text("Why the entry was rejected."),
                    },
                    required=["index", "status"],
                ),
                description="One result per input entry, in order.",
            ),
        }
    )
    native_event = obj(
        {
            "source": text(maxLength=256),
            "detail-type": text(maxLength=256),
            "detail": {"type": "object"},
            "id": text("The producer's id; (source, id) seen before is a duplicate.", maxLength=256),
            "time": TIME,
            "resources": array(text()),
            "account": text(maxLength=64),
            "region": text(maxLength=64),
            "traceparent": text("W3C traceparent."),
            "trace-header": text("X-Ray: Root=1-…;Parent=…"),
        },
        required=["source", "detail-type", "detail"],
        closed=False,
        description="An EventBridge-style envelope. Other members are kept with the original body.",
    )
    cloudevent = obj(
        {
            "specversion": text(const="1.0"),
            "id": text(),
            "source": text(),
            "type": text(),
            "time": TIME,
            "datacontenttype": text(),
            "data": ANY,
            "traceparent": text(),
            "tracestate": text(),
            "idempotencykey": text(),
        },
        required=["specversion", "id", "source", "type"],
        closed=False,
        description="A CloudEvent in the structured JSON format; other attributes are kept as extensions.",
    )
    aws_error = obj(
        {"__type": text("The AWS error type, e.g. ValidationException."), "message": text()},
        description="AWS's JSON error form; the x-amzn-ErrorType header carries the type too.",
    )
    put_entry = obj(
        {
            "Source": text(),
            "DetailType": text(),
            "Detail": text("A JSON object, as text."),
            "Time": {"type": ["number", "string"], "description": "Epoch seconds (or an RFC 3339 time)."},
            "Resources": array(text()),
            "TraceHeader": text("X-Ray: Root=1-…;Parent=…;Sampled=…"),
            "EventBusName": text(),
        },
        required=["Source", "DetailType", "Detail"],
        closed=False,
    )
    health_part = {"type": "object", "required": ["status"], "properties": {"status": text(enum=["ok", "down"])}}
    health = obj({"status": text(enum=["ok"])}, required=["status"])
    readiness = obj(
        {
            "status": text(enum=["ok", "unavailable"]),
            "database": {**health_part, "description": "status, engine, and error when down."},
            "live": {**health_part, "description": "status, backend, and error when down."},
            "worker": {
                **health_part,
                "description": "status, mode (embedded: threads, tasks_run, tasks_failed; celery: workers, the "
                "count of workers that wrote a heartbeat lately), required (whether readiness waits for it: "
                "the embedded worker, not Celery's), and error when down.",
            },
            "details": text("Said when errors were left out: how to see them."),
        },
        required=["status", "database", "live", "worker"],
    )
    otlp_json = {
        "type": "object",
        "description": "ExportTraceServiceRequest / ExportLogsServiceRequest in OTLP's JSON encoding "
        "(hex ids, int64 as strings or numbers, unknown fields ignored).",
    }
    return {
        "Error": obj(
            {
                "error": obj(
                    {
                        "code": text("A stable, machine-readable code."),
                        "message": text("What was wrong, for a person."),
                        "where": text("The parameter or field at fault, when the error is about one."),
                    },
                    required=["code", "message"],
                    closed=False,
                )
            }
        ),
        "Event": flat_event,
        "Envelope": envelope,
        "EventDetail": event_detail,
        "EventPage": obj({"results": array(ref("Event")), "next_cursor": nullable(text())}),
        "Span": span,
        "LogRecord": log,
        "LinkedTrace": linked,
        "Trace": obj(
            {
                "trace_id": text(),
                "spans": array(ref("Span")),
                "events": array(ref("Event")),
                "logs": array(ref("LogRecord")),
                "linked_traces": array(ref("LinkedTrace")),
            }
        ),
        "KeyLedger": obj(
            {
                "key": text(),
                "events": array(ref("Event"), maxItems=event_queries.LEDGER_LIMIT, description="Oldest first."),
                "duplicates": integer(minimum=0, description="Deliveries beyond the first."),
                "traces": array(text()),
            }
        ),
        "PatternTest": obj({"pattern": PATTERN, "event": {"type": "object"}}),
        "PatternTestResult": obj({"match": {"type": "boolean"}}),
        "Lifecycle": lifecycle,
        "LifecycleCreate": obj(lifecycle_fields, required=["name", "key", "steps", "timeout_seconds"]),
        "LifecycleChange": obj(lifecycle_fields, required=[]),
        "LifecycleList": obj({"results": array(ref("Lifecycle"))}),
        "SeenStep": seen_step,
        "OutOfOrderFact": out_of_order,
        "Transaction": transaction,
        "TransactionPage": obj({"results": array(ref("Transaction")), "next_cursor": nullable(text())}),
        "Funnel": obj({"lifecycles": array(funnel)}),
        "ServiceList": obj(
            {
                "results": array(
                    obj(
                        {
                            "name": text(),
                            "span_names": array(text(), maxItems=trace_search.MAX_SPAN_NAMES),
                            "spans": integer(minimum=0),
                            "last_seen": text("The latest span start, RFC 3339 with nanoseconds."),
                        }
                    )
                )
            }
        ),
        "ServiceMap": obj(
            {
                "since": TIME,
                "until": TIME,
                "services": array(obj({"name": text(), "spans": integer(minimum=0), "errors": integer(minimum=0)})),
                "edges": array(
                    obj(
                        {
                            "from": text("The publishing (event) or calling (call) service."),
                            "to": text("The processing (event) or called (call) service."),
                            "via": text("The detail-type (event) or the called span's name (call)."),
                            "kind": text(enum=["event", "call"]),
                            "count": integer(minimum=0),
                            "errors": integer(minimum=0),
                            "duplicates": integer(minimum=0),
                            "lag_ms": obj(
                                {p: nullable({"type": "number"}) for p in ("p50", "p95", "p99")},
                                description="Event edges only: processing span start - event time, within 5%.",
                            ),
                            "sources": array(text(), description="Event edges only: the events' sources."),
                            "rate_per_minute": {"type": "number", "minimum": 0},
                            "messaging": nullable(
                                obj(
                                    {"system": text(), "destination": text(), "operation": text()},
                                    description="OpenTelemetry messaging.system and messaging.destination.name "
                                    "of the hop's spans, and the processing span's messaging.operation.type "
                                    '("" where not carried).',
                                )
                            ),
                            "traces": array(text(pattern=f"^{TRACE_ID_PATTERN}$"), maxItems=5),
                        },
                        required=[
                            "from",
                            "to",
                            "via",
                            "kind",
                            "count",
                            "errors",
                            "duplicates",
                            "rate_per_minute",
                            "messaging",
                            "traces",
                        ],
                    )
                ),
            }
        ),
        "TraceSearchPage": obj(
            {
                "results": array(
                    obj(
                        {
                            "trace_id": text(pattern=f"^{TRACE_ID_PATTERN}$"),
                            "root_service": text(),
                            "root_name": text(),
                            "start": text("The first span's start, RFC 3339 with nanoseconds."),
                            "duration_ms": {"type": "number", "minimum": 0},
                            "span_count": integer(minimum=1),
                            "error_count": integer(minimum=0),
                            "services": array(text()),
                            "event_count": integer(minimum=0),
                        }
                    )
                ),
                "next_cursor": nullable(text()),
            }
        ),
        "FindResults": obj(
            {
                "results": array(
                    obj(
                        {
                            "kind": text(enum=["trace", "event", "key", "transaction", "service", "detail_type"]),
                            "label": text(),
                            "url": text("The page to open."),
                        }
                    )
                )
            }
        ),
        "TransactionStep": step_entry,
        "TransactionDetail": transaction_detail,
        "StepTimings": timings,
        **_tap_schemas(),
        "Consumer": consumer,
        "ConsumerCreate": obj(consumer_fields, required=["name", "url"]),
        "ConsumerChange": obj(consumer_fields, required=[]),
        "ConsumerList": obj({"results": array(ref("Consumer"))}),
        "Replay": replay,
        "ReplayCreate": obj(
            {
                "name": text(maxLength=256),
                "since": {**TIME, "description": "A time range: since (required) and until."},
                "until": {**TIME, "description": "Default: now."},
                "event_ids": array(
                    text("A stored event id."),
                    minItems=1,
                    maxItems=replay_selection.MAX_EVENT_IDS,
                    description="Or: these events.",
                ),
                "idempotency_key": text("Or: the events with this key.", minLength=1, maxLength=256),
                "trace_id": text("Or: the events of this trace (W3C, or an X-Ray trace id)."),
                "transaction": obj(
                    {"lifecycle": text(minLength=1), "key": text(minLength=1)},
                    description="Or: the events of this transaction.",
                ),
                "pattern": nullable(PATTERN),
                "consumers": array(
                    text(),
                    maxItems=replay_actions.MAX_LIST,
                    description="At least one, except in a dry run (which then shows what is selected).",
                ),
                "rate_per_second": rate,
                "dry_run": {"type": "boolean", "default": False},
            },
            required=["name", "consumers"],
            closed=False,
            description="Exactly one of: a time range (since, until), event_ids, idempotency_key, trace_id, "
            f"transaction. A key, trace or transaction may select at most {replay_selection.MAX_SELECTED} events.",
        ),
        "ReplayPlan": replay_plan_schema,
        "ReplayList": obj({"results": array(ref("Replay"))}),
        "DeliveryAttempt": attempt,
        "LoggedAttempt": logged_attempt,
        "AttemptPage": obj({"results": array(ref("LoggedAttempt")), "next_cursor": nullable(text())}),
        "TestDelivery": obj(
            {
                **logged_attempt["properties"],
                "delivered": {"type": "boolean", "description": "A 2xx came back, or the broker confirmed it."},
            },
            description="The test send's attempt (outcome test).",
        ),
        "Delivery": delivery,
        "DeliveryPage": obj({"results": array(ref("Delivery")), "next_cursor": nullable(text())}),
        "Redrive": obj(
            {"ids": nullable(array(integer(minimum=1), maxItems=replay_actions.MAX_LIST))},
            required=[],
            closed=False,
        ),
        "RedriveResult": obj({"redriven": integer(minimum=0), "replay": ref("Replay")}),
        "IngestResult": ingest_result,
        "NativeEvent": native_event,
        "CloudEvent": cloudevent,
        "OtlpJsonRequest": otlp_json,
        "OtlpJsonResponse": obj(
            {
                "partialSuccess": obj(
                    {
                        "rejectedSpans": {"type": ["string", "integer"]},
                        "rejectedLogRecords": {"type": ["string", "integer"]},
                        "errorMessage": text(),
                    },
                    required=[],
                )
            },
            required=[],
            description="Empty on full success; partialSuccess names what was rejected and why.",
        ),
        "RpcStatus": obj(
            {"code": integer("A gRPC status code (3: invalid argument, 8: resource exhausted)."), "message": text()},
            required=[],
            closed=False,
            description="google.rpc.Status, in the request's encoding.",
        ),
        "AwsError": aws_error,
        "PutEventsRequest": obj({"Entries": array(put_entry, minItems=1, maxItems=10)}, closed=False),
        "PutEventsResponse": obj(
            {
                "FailedEntryCount": integer(minimum=0),
                "Entries": array(
                    {
                        "oneOf": [
                            obj({"EventId": text()}),
                            obj({"ErrorCode": text(), "ErrorMessage": text()}),
                        ]
                    }
                ),
            }
        ),
        "TestEventPatternRequest": obj(
            {"EventPattern": text("The pattern, as JSON text."), "Event": text("The event, as JSON text.")},
            closed=False,
        ),
        "TestEventPatternResponse": obj({"Result": {"type": "boolean"}}),
        "Health": health,
        "Readiness": readiness,
    }


# --- responses and operations ----------------------------------------------------------------------

RETRY_AFTER = {"Retry-After": {"required": True, "schema": text(), "description": "Seconds to wait."}}


def _responses() -> dict[str, Schema]:
    error = ref("Error")
    return {
        "BadRequest": answer("A malformed parameter or body; the message says which and why.", error),
        "Unauthorized": answer(
            "No credentials, or a bearer token that is malformed, unknown or revoked.",
            error,
            headers={"WWW-Authenticate": {"schema": text(), "description": "Sent when no credentials came."}},
        ),
        "Forbidden": answer("The token lacks the scope, or a session write came without its CSRF token.", error),
        "NotFound": answer("Nothing of that name or id is stored.", error),
        "Conflict": answer("The change conflicts with the current state (see the message).", error),
        "PayloadTooLarge": answer("The body is over the limit.", error),
        "UriTooLong": answer("The URL is over the limit.", error),
        "IdempotencyKeyReused": answer("The Idempotency-Key was used before with another body.", error),
        "Unavailable": answer(
            "The database is busy or unreachable (or the server is overloaded); retry.", error, headers=RETRY_AFTER
        ),
    }


_COMMON_ERRORS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    414: "UriTooLong",
    422: "IdempotencyKeyReused",
    503: "Unavailable",
}


def _security(scope: str | None) -> list[dict[str, list[str]]]:
    if scope is None:
        return []
    if scope == "ingest":
        return [{"bearerToken": ["ingest"]}]
    # A logged-in session holds the read and operate scopes.
    return [{"bearerToken": [scope]}, {"sessionCookie": []}]


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    *,
    scope: str | None,
    ok: dict[int, Schema],
    description: str = "",
    parameters: Iterable[Schema] = (),
    body: Schema | None = None,
    errors: Iterable[int] = (),
    responses: dict[int, Schema] | None = None,
) -> Schema:
    """An API operation. Besides ``errors``: an authenticated one may answer 401, 403 and 503; one
    with parameters or a body 400; one with a JSON body 413; every query and operate operation 414."""
    parameters = list(parameters)
    codes = set(errors)
    if scope is not None:
        codes |= {401, 403, 503}
    if any(p["in"] in ("path", "query") for p in parameters) or body is not None:
        codes.add(400)
    if any(p is CREATE_KEY for p in parameters):
        codes.add(422)
    if scope in ("read", "operate"):
        codes.add(414)
        if body is not None:
            codes.add(413)
    out: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": _security(scope),
        "responses": {str(status): schema for status, schema in ok.items()},
    }
    if description:
        out["description"] = description
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    for status in sorted(codes):
        out["responses"][str(status)] = {"$ref": f"#/components/responses/{_COMMON_ERRORS[status]}"}
    for status, schema in (responses or {}).items():
        out["responses"][str(status)] = schema
    out["responses"] = dict(sorted(out["responses"].items()))
    return out


def _event_filters() -> list[Schema]:
    cursor = text(pattern=event_queries.CURSOR.pattern)
    return [
        query("source", text(), "Exactly this source."),
        query("detail_type", text(), "Exactly this detail-type."),
        query("trace_id", text(), "This trace (any case)."),
        query("idempotency_key", text(), "Events that carried this idempotency key."),
        query("since", TIME, "The event's time at or after this (RFC 3339)."),
        query("until", TIME, "The event's time before this (RFC 3339)."),
        query(
            "schema_valid",
            text(enum=["true", "false"]),
            "Events checked at ingest against their type's pinned schema version: false, those that failed.",
        ),
        query(
            "q",
            text(),
            f"Text in the payload (case-insensitive), at most {event_queries.MAX_TEXT_LENGTH} characters "
            "(more is a 400).",
        ),
        query(
            "pattern",
            text(contentMediaType=JSON),
            "An event pattern, as JSON text (URL-encoded). An invalid, too large or too deep pattern is a 400.",
        ),
        query(
            "limit",
            integer(minimum=1, maximum=event_queries.MAX_LIMIT, default=event_queries.DEFAULT_LIMIT),
            "Events a page.",
        ),
        query("cursor", cursor, "The next_cursor of the previous page (older events)."),
        query("after", cursor, "Events stored after this stored id, oldest first (resuming a live view)."),
    ]


def _trace_filters() -> list[Schema]:
    duration = {"type": "number", "minimum": 0, "maximum": 10**12}
    return [
        query("service", text(), "Traces with a span of this service."),
        query("name", text(), "Traces with a span of this name (of `service`, when given)."),
        query("status", text(enum=list(trace_search.STATUSES)), "Traces with at least one span of this status."),
        query("min_duration_ms", duration, "The trace's span envelope (first start to last end) at least this."),
        query("max_duration_ms", duration, "The trace's span envelope at most this."),
        {
            **query(
                "attr",
                array(text(pattern="^[^=]+="), maxItems=trace_search.MAX_ATTRIBUTES),
                "key=value: a span or resource attribute with exactly this value (as text); repeatable.",
            ),
            "style": "form",
            "explode": True,
        },
        query("since", TIME, "The trace's first span starts at or after this."),
        query("until", TIME, "The trace's first span starts before this."),
        query(
            "limit",
            integer(minimum=1, maximum=trace_search.MAX_LIMIT, default=trace_search.DEFAULT_LIMIT),
            "Traces a page.",
        ),
        query("cursor", text(pattern=trace_search.CURSOR.pattern), "The next_cursor of the previous page."),
    ]


def _report_filters(paged: bool) -> list[Schema]:
    params = [
        query("lifecycle", text(), "A lifecycle's name (an unknown one is a 400)."),
        query("status", text(enum=list(tx_report.STATUSES)), "Status at query time."),
        query("out_of_order", text(enum=["true", "false"]), "Only records with (or without) out-of-order arrivals."),
        query("missing_step", text(), "A step not seen yet (of any lifecycle that has it, or of `lifecycle`)."),
        query("since", TIME, "first_seen at or after this."),
        query("until", TIME, "first_seen before this."),
    ]
    if paged:
        params += [
            query(
                "limit",
                integer(minimum=1, maximum=tx_report.MAX_LIMIT, default=tx_report.DEFAULT_LIMIT),
                "Records a page.",
            ),
            query("cursor", text(pattern="^[0-9]+$"), "The next_cursor of the previous page."),
        ]
    return params


def _ingest_answers(media: Iterable[str] = (JSON,)) -> dict[int, Schema]:
    return {
        200: {
            "description": "Committed: one result per entry, in order (rejected entries say why).",
            "content": {m: {"schema": ref("IngestResult")} for m in media},
        }
    }


INGEST_ERRORS = (413,)
UNSUPPORTED = answer("The Content-Type or Content-Encoding is not supported.", ref("Error"))


def _paths() -> dict[str, Schema]:
    max_batch = settings.EVENTSCOPE_MAX_BATCH
    event_id = path_param("event_id", "The event's stored id.")
    replay_id = path_param("replay_id", "The replay's id.")
    consumer_name = path_param("name", "The consumer's name.")
    lifecycle_name = path_param("name", "The lifecycle's name.", slashes=True)
    otlp_media = {
        "application/x-protobuf": {"schema": text(contentMediaType="application/x-protobuf")},
        JSON: {"schema": ref("OtlpJsonRequest")},
    }

    def otlp(signal: str) -> Schema:
        status = {
            "application/x-protobuf": {"schema": text(contentMediaType="application/x-protobuf")},
            JSON: {"schema": ref("RpcStatus")},
        }
        return operation(
            f"export{signal.title()}",
            f"OTLP/HTTP export of {signal}",
            "Ingest",
            scope="ingest",
            description="As the OTLP specification says: protobuf or JSON, gzip or deflate; the answer in the "
            "request's encoding. Log records with an event name become events.",
            body={"required": True, "content": otlp_media},
            ok={
                200: {
                    "description": "Committed. Individually invalid items are reported as partial success.",
                    "content": {
                        "application/x-protobuf": {"schema": text(contentMediaType="application/x-protobuf")},
                        JSON: {"schema": ref("OtlpJsonResponse")},
                    },
                }
            },
            responses={
                400: {"description": "The body could not be decoded: a google.rpc.Status.", "content": status},
                413: {"description": "The body (or its decompressed form) is over the limit.", "content": status},
                415: answer("Not application/x-protobuf or application/json.", ref("RpcStatus")),
            },
        )

    aws_errors = {
        status: answer(
            description,
            ref("AwsError"),
            media="application/x-amz-json-1.1",
            headers={"x-amzn-ErrorType": {"required": True, "schema": text()}},
        )
        for status, description in (
            (400, "Validation, serialization, pattern or signature errors, and unknown targets."),
            (403, "AccessDeniedException: the token lacks the ingest scope (PutEvents)."),
            (413, "RequestEntityTooLarge."),
            (415, "An unsupported Content-Encoding."),
        )
    }

    return {
        "/healthz": {
            "get": operation(
                "health",
                "Does this process answer? (liveness)",
                "Health",
                scope=None,
                description="No authentication. Asks nothing else: 200 whenever the process serves.",
                ok={200: answer("The process answers.", ref("Health"))},
            )
        },
        "/readyz": {
            "get": operation(
                "readiness",
                "Can this process take traffic? (readiness)",
                "Health",
                scope=None,
                description="No authentication. The state of the database, the live layer and the task worker; "
                "the drivers' error texts only for a caller with the read scope.",
                ok={200: answer("Every part this process needs is up.", ref("Readiness"))},
                responses={503: answer("Something is down; the parts say which.", ref("Readiness"))},
            )
        },
        "/api/openapi.json": {
            "get": operation(
                "openapiDocument",
                "This document",
                "Meta",
                scope=None,
                description="No authentication: it describes the API's surface and holds no data.",
                ok={200: answer("The OpenAPI 3.1 document.", {"type": "object"})},
            )
        },
        "/v1/traces": {"post": otlp("traces")},
        "/v1/logs": {"post": otlp("logs")},
        "/api/events": {
            "get": operation(
                "listEvents",
                "Search events, newest first",
                "Events",
                scope="read",
                parameters=_event_filters(),
                description="One request scans a bounded number of rows for `pattern` (and `q`) and hands back "
                "a next_cursor to go on from, so a page may hold fewer than `limit` events before the end.",
                ok={200: answer("A page of events.", ref("EventPage"))},
            ),
            "post": operation(
                "ingestEvents",
                "Ingest native JSON events",
                "Ingest",
                scope="ingest",
                description=f"One event or an array of 1 to {max_batch}. The Idempotency-Key header applies to a "
                "single event. Acknowledged after commit.",
                parameters=[
                    {**IDEMPOTENCY_KEY, "description": "The idempotency key of a single event."},
                    {
                        "name": "Content-Encoding",
                        "in": "header",
                        "required": False,
                        "schema": text(enum=["gzip", "deflate", "identity"]),
                    },
                ],
                body={
                    "required": True,
                    "content": {
                        media: {
                            "schema": {
                                "oneOf": [
                                    ref("NativeEvent"),
                                    array(ref("NativeEvent"), minItems=1, maxItems=max_batch),
                                ]
                            }
                        }
                        for media in (JSON, "text/json")
                    },
                },
                ok=_ingest_answers(),
                errors=INGEST_ERRORS,
                responses={415: UNSUPPORTED},
            ),
        },
        "/api/cloudevents": {
            "post": operation(
                "ingestCloudEvents",
                "Ingest CloudEvents (HTTP binding)",
                "Ingest",
                scope="ingest",
                description="Structured (application/cloudevents+json), batch (application/cloudevents-batch+json) "
                "or binary mode (ce-* headers, the body is the data). Same answer as POST /api/events.",
                parameters=[
                    {**IDEMPOTENCY_KEY, "description": "The idempotency key (structured and binary mode)."},
                    {"name": "ce-specversion", "in": "header", "required": False, "schema": text()},
                    {"name": "ce-id", "in": "header", "required": False, "schema": text()},
                    {"name": "ce-source", "in": "header", "required": False, "schema": text()},
                    {"name": "ce-type", "in": "header", "required": False, "schema": text()},
                ],
                body={
                    "required": True,
                    "content": {
                        "application/cloudevents+json": {"schema": ref("CloudEvent")},
                        "application/cloudevents-batch+json": {
                            "schema": array(ref("CloudEvent"), minItems=1, maxItems=max_batch)
                        },
                        JSON: {"schema": ANY},
                    },
                },
                ok=_ingest_answers(),
                errors=INGEST_ERRORS,
                responses={415: UNSUPPORTED},
            )
        },
        "/aws": {
            "post": operation(
                "awsEvents",
                "EventBridge-compatible PutEvents and TestEventPattern",
                "Ingest",
                scope=None,
                description="AWS JSON 1.1, signed with AWS Signature Version 4 (access key id = the token's key_id, "
                "secret = its secret); boto3's events client works unchanged. /aws/ is the same endpoint.",
                parameters=[
                    {
                        "name": "X-Amz-Target",
                        "in": "header",
                        "required": True,
                        "schema": text(enum=["AWSEvents.PutEvents", "AWSEvents.TestEventPattern"]),
                    }
                ],
                body={
                    "required": True,
                    "content": {
                        "application/x-amz-json-1.1": {
                            "schema": {"oneOf": [ref("PutEventsRequest"), ref("TestEventPatternRequest")]}
                        }
                    },
                },
                ok={
                    200: answer(
                        "PutEvents: one entry per input entry, in order; TestEventPattern: the result.",
                        {"oneOf": [ref("PutEventsResponse"), ref("TestEventPatternResponse")]},
                        media="application/x-amz-json-1.1",
                    )
                },
                responses={**aws_errors, 503: {"$ref": "#/components/responses/Unavailable"}},
            )
            | {"security": [{"sigv4": []}]},
        },
        "/api/events/{event_id}": {
            "get": operation(
                "getEvent",
                "One event with its envelope and original body",
                "Events",
                scope="read",
                parameters=[event_id],
                ok={200: answer("The event.", ref("EventDetail"))},
                errors=[404],
            )
        },
        "/api/find": {
            "get": operation(
                "find",
                "Find what a pasted text names",
                "Events",
                scope="read",
                parameters=[
                    {
                        **query(
                            "q",
                            text(minLength=1, maxLength=lifecycle_find.MAX_QUERY, pattern="\\S"),
                            "A trace id (32 hex, or X-Ray 1-…-…), a stored or producer event id, an idempotency key, "
                            "a transaction key, a service or a detail-type.",
                        ),
                        "required": True,
                    }
                ],
                description="Best match first: trace, event, transaction, key, service, detail_type. Only what is "
                "stored is listed; none is an empty list.",
                ok={200: answer("The matches.", ref("FindResults"))},
            )
        },
        "/api/services": {
            "get": operation(
                "listServices",
                "Services that sent spans, with their span names",
                "Traces",
                scope="read",
                ok={200: answer("The services, by name.", ref("ServiceList"))},
            )
        },
        "/api/traces": {
            "get": operation(
                "searchTraces",
                "Search traces, newest first",
                "Traces",
                scope="read",
                parameters=_trace_filters(),
                description="Every filter narrows the search; a trace matches `status` when one of its spans "
                "has that status, `name` when a span (of `service`, when given) has that name, and each `attr` "
                "when one of its spans (or their resources) has that attribute with that value as text.",
                ok={200: answer("A page of traces.", ref("TraceSearchPage"))},
            )
        },
        "/api/servicemap": {
            "get": operation(
                "getServiceMap",
                "The service map of a time window",
                "Traces",
                scope="read",
                parameters=[
                    query("since", TIME, "The window's start (default: an hour before `until`)."),
                    query("until", TIME, "The window's end (default: now). At most 31 days after `since`."),
                ],
                description="Services with their span and error counts, and the edges between them: `event` "
                "edges (publisher to processor of a detail-type, with lag percentiles) and `call` edges (a span "
                "to its child in another service). Read from one-minute rollups: a minute counts when it starts "
                "inside the window.",
                ok={200: answer("The map.", ref("ServiceMap"))},
            )
        },
        "/api/traces/{trace_id}": {
            "get": operation(
                "getTrace",
                "A trace: spans, events, logs and linked traces",
                "Traces",
                scope="read",
                parameters=[
                    {
                        **path_param("trace_id", "32 hexadecimal digits, any case (else a 400)."),
                        "schema": text(pattern=f"^{TRACE_ID_PATTERN}$"),
                    }
                ],
                ok={200: answer("The trace.", ref("Trace"))},
                errors=[404],
            )
        },
        "/api/keys/{key}": {
            "get": operation(
                "getKeyLedger",
                "An idempotency key's ledger",
                "Events",
                scope="read",
                parameters=[path_param("key", "The idempotency key (any text; '/' included).", slashes=True)],
                ok={200: answer("Every event that carried the key, oldest first.", ref("KeyLedger"))},
                errors=[404],
            )
        },
        "/api/patterns/test": {
            "post": operation(
                "testPattern",
                "Does this pattern match this event?",
                "Patterns",
                scope="read",
                body=json_body(ref("PatternTest")),
                description="An invalid, too large or too deep pattern is a 400 with the reason.",
                ok={200: answer("The result.", ref("PatternTestResult"))},
            )
        },
        "/api/lifecycles": {
            "get": operation(
                "listLifecycles",
                "Every lifecycle",
                "Lifecycles",
                scope="read",
                ok={200: answer("The lifecycles, by name.", ref("LifecycleList"))},
            ),
            "post": operation(
                "createLifecycle",
                "Define a lifecycle",
                "Lifecycles",
                scope="operate",
                parameters=[CREATE_KEY],
                body=json_body(ref("LifecycleCreate")),
                description="A taken name is a 409 (conflict), as for consumers.",
                ok={201: answer("The new lifecycle.", ref("Lifecycle"))},
                errors=[409],
            ),
        },
        "/api/lifecycles/{name}": {
            "get": operation(
                "getLifecycle",
                "One lifecycle",
                "Lifecycles",
                scope="read",
                parameters=[lifecycle_name],
                ok={200: answer("The lifecycle.", ref("Lifecycle"))},
                errors=[404],
            ),
            "patch": operation(
                "changeLifecycle",
                "Change some of a lifecycle's fields",
                "Lifecycles",
                scope="operate",
                parameters=[lifecycle_name],
                body=json_body(ref("LifecycleChange")),
                description="Once it has records, steps can only be added at the end (else a 400); a new "
                "timeout moves every record's deadline. A new name that another lifecycle has is a 409.",
                ok={200: answer("The lifecycle as saved.", ref("Lifecycle"))},
                errors=[404, 409],
            ),
            "delete": operation(
                "deleteLifecycle",
                "Delete a lifecycle and its transaction records",
                "Lifecycles",
                scope="operate",
                parameters=[lifecycle_name],
                ok={204: answer("Deleted.")},
                errors=[404],
            ),
        },
        "/api/lifecycles/{name}/timings": {
            "get": operation(
                "lifecycleTimings",
                "The time between consecutive steps of a lifecycle",
                "Lifecycles",
                scope="read",
                parameters=[lifecycle_name],
                description="Per consecutive step pair, over the records that saw both (among the lifecycle's "
                f"{lifecycle_detail.TIMINGS_SAMPLE} newest): p50, p95 and p99 of the time between the two "
                "steps' events (event times).",
                ok={200: answer("Per step pair, in lifecycle order.", ref("StepTimings"))},
                errors=[404],
            )
        },
        "/api/transactions": {
            "get": operation(
                "listTransactions",
                "The transactions report, newest record first",
                "Transactions",
                scope="read",
                parameters=_report_filters(paged=True),
                ok={200: answer("A page of transaction records.", ref("TransactionPage"))},
            )
        },
        "/api/transactions.csv": {
            "get": operation(
                "exportTransactions",
                "The report as CSV (every matching record)",
                "Transactions",
                scope="read",
                parameters=_report_filters(paged=False),
                description="Columns: " + ", ".join(tx_report.CSV_COLUMNS) + ".",
                ok={200: answer("A header row, then one row per record.", text(), media="text/csv")},
            )
        },
        "/api/transactions/funnel": {
            "get": operation(
                "transactionsFunnel",
                "Where transactions get stuck, per lifecycle",
                "Transactions",
                scope="read",
                parameters=_report_filters(paged=False),
                ok={200: answer("Per lifecycle: counts by status and per step.", ref("Funnel"))},
            )
        },
        "/api/transactions/{lifecycle}/{key}": {
            "get": operation(
                "getTransaction",
                "One transaction: its record and its steps in lifecycle order",
                "Transactions",
                scope="read",
                parameters=[
                    path_param("lifecycle", "The lifecycle's name."),
                    path_param("key", "The transaction key (any text; '/' included).", slashes=True),
                ],
                ok={200: answer("The record with its steps.", ref("TransactionDetail"))},
                errors=[404],
            )
        },
        "/api/consumers": {
            "get": operation(
                "listConsumers",
                "Every consumer",
                "Consumers",
                scope="operate",
                ok={200: answer("The consumers, by name.", ref("ConsumerList"))},
            ),
            "post": operation(
                "createConsumer",
                "Create a consumer (a replay target)",
                "Consumers",
                scope="operate",
                parameters=[CREATE_KEY],
                body=json_body(ref("ConsumerCreate")),
                description="The url's scheme says the kind: http(s):// takes no broker options, amqp(s):// takes "
                "exchange and routing_key, nats:// and tls:// subject, redis(s):// stream. A missing option of the "
                "kind, or another kind's, is a 400 whose where names it.",
                ok={201: answer("The new consumer.", ref("Consumer"))},
                errors=[409],
            ),
        },
        "/api/consumers/{name}": {
            "get": operation(
                "getConsumer",
                "One consumer",
                "Consumers",
                scope="operate",
                parameters=[consumer_name],
                ok={200: answer("The consumer.", ref("Consumer"))},
                errors=[404],
            ),
            "patch": operation(
                "changeConsumer",
                "Change some of a consumer's fields",
                "Consumers",
                scope="operate",
                parameters=[consumer_name],
                body=json_body(ref("ConsumerChange")),
                description="null clears pattern, secret, rate_per_second or routing_key; a new url is checked "
                "again; a url of another kind needs that kind's options (and drops the old ones); a taken name is a "
                "409.",
                ok={200: answer("The consumer as saved.", ref("Consumer"))},
                errors=[404, 409],
            ),
            "delete": operation(
                "deleteConsumer",
                "Delete a consumer",
                "Consumers",
                scope="operate",
                parameters=[consumer_name],
                description="Refused with a 409 while a pending or running replay delivers to it.",
                ok={204: answer("Deleted, with the record of its deliveries.")},
                errors=[404, 409],
            ),
        },
        "/api/consumers/{name}/test": {
            "post": operation(
                "testConsumer",
                "Send the consumer one sample event now",
                "Consumers",
                scope="operate",
                parameters=[consumer_name],
                description="Through the same delivery code and URL checks as a replay; answered with the attempt "
                "(status, latency, error, the start of the answer) whatever the consumer said. Sent even when paused.",
                ok={200: answer("The attempt.", ref("TestDelivery"))},
                errors=[404],
            )
        },
        "/api/consumers/{name}/attempts": {
            "get": operation(
                "listConsumerAttempts",
                f"Every attempt to deliver to the consumer, newest first, {replay_actions.ATTEMPT_PAGE} a page",
                "Consumers",
                scope="operate",
                parameters=[
                    consumer_name,
                    query(
                        "outcome", text(enum=list(replay_actions.ATTEMPT_OUTCOMES)), "Only attempts that came to this."
                    ),
                    query("cursor", text(pattern="^[0-9]+$"), "The next_cursor of the previous page."),
                ],
                ok={200: answer("A page of attempts.", ref("AttemptPage"))},
                errors=[404],
            )
        },
        "/api/replays": {
            "get": operation(
                "listReplays",
                f"The latest {replays_api.PAGE} replays, newest first",
                "Replays",
                scope="operate",
                ok={200: answer("The replays.", ref("ReplayList"))},
            ),
            "post": operation(
                "createReplay",
                "Start a replay, or plan one (dry run)",
                "Replays",
                scope="operate",
                parameters=[CREATE_KEY],
                body=json_body(ref("ReplayCreate")),
                description="With dry_run true: 200 with the plan, nothing delivered. Otherwise 202 with the replay "
                "(state pending) and its Location; when its run cannot be queued, a 503 with Retry-After and "
                "nothing saved. A key, trace or transaction that selects no stored event is a 404.",
                errors=[404],
                ok={
                    200: answer("The dry run's plan.", ref("ReplayPlan")),
                    202: answer(
                        "Accepted: the replay, pending.",
                        ref("Replay"),
                        headers={"Location": {"required": True, "schema": text()}},
                    ),
                },
            ),
        },
        "/api/replays/{replay_id}": {
            "get": operation(
                "getReplay",
                "A replay's state and progress",
                "Replays",
                scope="operate",
                parameters=[replay_id],
                ok={200: answer("The replay.", ref("Replay"))},
                errors=[404],
            )
        },
        "/api/replays/{replay_id}/cancel": {
            "post": operation(
                "cancelReplay",
                "Cancel a pending or running replay",
                "Replays",
                scope="operate",
                parameters=[replay_id],
                description="What was delivered stays delivered. A finished replay is a 409; a cancelled one "
                "answers 200 again.",
                ok={200: answer("The replay, cancelled.", ref("Replay"))},
                errors=[404, 409],
            )
        },
        "/api/replays/{replay_id}/attempts": {
            "get": operation(
                "listReplayAttempts",
                f"A replay's delivery attempts, newest first, {replay_actions.ATTEMPT_PAGE} a page",
                "Replays",
                scope="operate",
                parameters=[
                    replay_id,
                    query(
                        "outcome", text(enum=list(replay_actions.ATTEMPT_OUTCOMES)), "Only attempts that came to this."
                    ),
                    query("cursor", text(pattern="^[0-9]+$"), "The next_cursor of the previous page."),
                ],
                ok={200: answer("A page of attempts.", ref("AttemptPage"))},
                errors=[404],
            )
        },
        "/api/replays/{replay_id}/deliveries": {
            "get": operation(
                "listDeliveries",
                "A replay's deliveries with their attempts, oldest first",
                "Replays",
                scope="operate",
                parameters=[
                    replay_id,
                    query("state", text(enum=DELIVERY_STATES), "dead: the dead letters."),
                    query("consumer", text(), "A consumer's name."),
                    query("cursor", text(pattern="^[0-9]+$"), "The next_cursor of the previous page."),
                    query(
                        "limit",
                        integer(minimum=1, maximum=replays_api.PAGE, default=replays_api.PAGE),
                        "Deliveries a page.",
                    ),
                ],
                ok={200: answer("A page of deliveries.", ref("DeliveryPage"))},
                errors=[404],
            )
        },
        "/api/replays/{replay_id}/redrive": {
            "post": operation(
                "redriveReplay",
                "Send dead letters again",
                "Replays",
                scope="operate",
                parameters=[replay_id],
                body=json_body(ref("Redrive"), "{} (or no body) for all of the replay's dead letters.", False),
                ok={200: answer("How many were re-driven, and the replay.", ref("RedriveResult"))},
                errors=[404],
            )
        },
        **_tap_paths(),
    }


_OPTION = "At most 255 bytes in UTF-8, no control characters."
# A broker consumer's options: only those of its kind are shown, and taken.
_CONSUMER_OPTIONS_SHOWN = {
    "exchange": text("amqp: the exchange published to ('' is the default exchange)."),
    "routing_key": nullable(text("amqp: the routing key; null: each event's detail-type.")),
    "subject": text("nats: the subject published to."),
    "stream": text("redis: the stream added to."),
}
_CONSUMER_OPTIONS_TAKEN = {
    "exchange": nullable(
        text(f"amqp:// (required): the exchange ('' is the default exchange). {_OPTION}", maxLength=255)
    ),
    "routing_key": nullable(
        text(f"amqp://: the routing key; null or '': each event's detail-type. {_OPTION}", maxLength=255)
    ),
    "subject": nullable(
        text(
            f"nats:// (required): the subject; no spaces, no wildcards (* or >), no empty token. {_OPTION}",
            maxLength=255,
            minLength=1,
        )
    ),
    "stream": nullable(text(f"redis:// (required): the stream. {_OPTION}", maxLength=255, minLength=1)),
}

_TAP_OPTIONS = {
    "exchange": text("amqp://: the exchange the tap's queue is bound to.", maxLength=255),
    "binding_key": text("amqp://: the binding key ('' binds a fanout exchange).", maxLength=255),
    "subject": text("nats://: the subject (wildcards allowed).", maxLength=255),
    "stream": text("redis://: the stream.", maxLength=255),
}


def _tap_schemas() -> dict[str, Schema]:
    counts = integer(minimum=0)
    tap = obj(
        {
            "name": text(),
            "url": text("The broker URL, its password shown as ***."),
            "format": text(enum=list(Tap.FORMATS)),
            **_TAP_OPTIONS,
            "state": text(enum=list(Tap.STATES)),
            "received": counts,
            "stored": {**counts, "description": "Messages stored as new events."},
            "duplicates": {**counts, "description": "Messages stored before (the same producer id)."},
            "rejected": {**counts, "description": "Messages that are no event (kept with the reason)."},
            "last_error": text("The last error seen ('' when none); it stays after the tap recovers."),
            "last_error_at": nullable(TIME),
            "backlog": nullable(integer("Messages waiting for the tap, where the broker says (null otherwise).")),
            "created_at": TIME,
        },
        required=["name", "url", "format", "state", "received", "stored", "duplicates", "rejected", "last_error",
                  "last_error_at", "backlog", "created_at"],
    )  # fmt: skip
    rejection = obj(
        {
            "received_at": TIME,
            "reason": text(),
            "message_id": text(),
            "subject": text("The routing key, subject or stream."),
            "headers": STRING_MAP,
            "body": text("The body's first 4,096 characters."),
        }
    )
    detail = {**tap, "properties": {**tap["properties"], "recent_rejections": array(rejection)}}
    detail["required"] = [*tap["required"], "recent_rejections"]
    return {
        "Tap": tap,
        "TapDetail": detail,
        "TapList": obj({"results": array(ref("Tap"))}),
        "TapCreate": obj(
            {
                "name": text(pattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
                "url": text("amqp://, nats:// or redis:// (amqps://, tls://, rediss:// with TLS).", maxLength=2048),
                "format": text(enum=list(Tap.FORMATS), default="auto"),
                **_TAP_OPTIONS,
            },
            required=["name", "url"],
        ),
        "TapChange": obj(
            {
                "url": text(
                    "amqp://, nats:// or redis:// (amqps://, tls://, rediss:// with TLS). A password *** keeps the "
                    "stored one, for the same scheme, user, host and port only.",
                    maxLength=2048,
                ),
                "format": text(enum=list(Tap.FORMATS)),
                **_TAP_OPTIONS,
            },
            required=[],
        ),
    }


def _tap_paths() -> dict[str, Schema]:
    name = path_param("name", "The tap's name.")
    return {
        "/api/taps": {
            "get": operation(
                "listTaps",
                "Every broker tap",
                "Taps",
                scope="read",
                ok={200: answer("The taps, by name.", ref("TapList"))},
            ),
            "post": operation(
                "createTap",
                "Tap a RabbitMQ exchange, a NATS subject or a Redis stream",
                "Taps",
                scope="operate",
                body=json_body(ref("TapCreate")),
                description="amqp:// takes exchange and binding_key, nats:// subject, redis:// stream; another "
                "broker's field is a 400. The tap's queue, durable consumer or group is created on the broker at "
                "once; a broker that cannot be reached saves the tap as failing with the reason.",
                ok={
                    201: answer("The new tap.", ref("Tap"), headers={"Location": {"required": True, "schema": text()}})
                },
                errors=[409],
            ),
        },
        "/api/taps/{name}/stop": {
            "post": operation(
                "stopTap",
                "Stop reading (the broker keeps what arrives meanwhile)",
                "Taps",
                scope="operate",
                parameters=[name],
                ok={200: answer("The tap, stopped.", ref("Tap"))},
                errors=[404],
            )
        },
        "/api/taps/{name}/start": {
            "post": operation(
                "startTap",
                "Start reading again",
                "Taps",
                scope="operate",
                parameters=[name],
                ok={200: answer("The tap.", ref("Tap"))},
                errors=[404],
            )
        },
        "/api/taps/{name}": {
            "get": operation(
                "getTap",
                "One tap, with its latest rejected messages",
                "Taps",
                scope="read",
                parameters=[name],
                ok={200: answer("The tap.", ref("TapDetail"))},
                errors=[404],
            ),
            "patch": operation(
                "changeTap",
                "Change a tap's format, URL or options",
                "Taps",
                scope="operate",
                parameters=[name],
                body=json_body(ref("TapChange")),
                description="Fields not given stay (options too, while the URL names the same kind of broker; a URL "
                "of another kind needs that kind's options). The tap stops, what it reads on the broker moves to the "
                "new settings, and it runs again with them (a stopped tap stays stopped); a broker that cannot be "
                "reached saves it as failing with the reason. Its name cannot change.",
                ok={200: answer("The tap as changed.", ref("Tap"))},
                errors=[404],
            ),
            "delete": operation(
                "deleteTap",
                "Delete a tap (and its queue, durable consumer or group consumer on the broker)",
                "Taps",
                scope="operate",
                parameters=[name],
                ok={204: answer("Deleted.")},
                errors=[404],
            ),
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, with this server's configured limits."""
    from dashboard.api.openapi_schemas import schema_components, schema_paths  # it builds on this module

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Eventscope API",
            "version": "1",
            "description": "Ingest (OTLP, native JSON, CloudEvents, EventBridge PutEvents), queries, "
            'transactions and replay. Errors are {"error": {"code", "message"}} (the ingest protocols '
            "answer in their own forms); a method an endpoint does not take is a 405 with Allow. "
            f"Ingest bodies may be up to {settings.EVENTSCOPE_MAX_BODY_BYTES} bytes, before and after "
            "decompression. The reference in prose is docs/api.md.",
        },
        "tags": [
            {"name": name}
            for name in (
                "Ingest",
                "Events",
                "Traces",
                "Patterns",
                "Lifecycles",
                "Transactions",
                "Consumers",
                "Replays",
                "Schemas",
                "Taps",
                "Health",
                "Meta",
            )
        ],
        "paths": {**_paths(), **schema_paths()},
        "components": {
            "schemas": {**_schemas(), **schema_components()},
            "responses": _responses(),
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `manage.py create_token NAME --scopes ingest,read,operate`. The "
                    "role names in a requirement are the scopes it needs.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                    "description": "A logged-in page's session: the read and operate scopes. Writes also need "
                    "the CSRF token (the csrftoken cookie echoed in X-CSRFToken).",
                },
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 over the request (service events, any region).",
                },
            },
        },
    }


def openapi_json(request: HttpRequest) -> HttpResponse:
    """``GET /api/openapi.json``: public, like ``/healthz`` — the API's shape is no secret (the same
    is in docs/api.md), it holds no data, and tools fetch it without credentials."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", "Use GET.", {"Allow": "GET, HEAD"})
    return HttpResponse(orjson.dumps(document()), content_type=JSON)
