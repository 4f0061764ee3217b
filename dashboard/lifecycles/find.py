"""Find anything (``GET /api/find?q=``): what a person pastes, resolved to the pages that show it.

One indexed lookup per kind, each answering only for what is stored, so an answer costs a few
index probes however much is stored. Lives in lifecycles, the lowest app that sees every kind it
looks up (events, traces, transactions).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from dashboard.core.errors import Problem
from dashboard.core.trace_context import parse_pasted_trace_id
from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction
from dashboard.lifecycles.report import transaction_url
from tracing.models import ServiceOperation, TraceSummary
from tracing.summaries import summarise_pending

MAX_QUERY = 512
MAX_PER_KIND = 10
_STORED_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _trace_id(text: str) -> str | None:
    """A W3C trace id (32 hex) or an X-Ray trace id (``1-<8 hex>-<24 hex>``) as a stored trace id."""
    return parse_pasted_trace_id(text)


def _item(kind: str, label: str, url: str) -> dict[str, str]:
    return {"kind": kind, "label": label, "url": url}


def find(q: str | None) -> dict[str, Any]:
    """``{"results": [{"kind", "label", "url"}]}`` for ``q``, best match first: a trace, a stored
    event, events with that producer id, transactions with that key, an idempotency key, a service,
    a detail-type (at most ``MAX_PER_KIND`` of a kind). Raises a Problem for an empty or overlong
    ``q``."""
    text = (q or "").strip()
    if not text:
        raise Problem("'q' is required.", code="invalid_parameter", where="q")
    if len(text) > MAX_QUERY:
        raise Problem(f"'q' is longer than {MAX_QUERY} characters.", code="invalid_parameter", where="q")
    results: list[dict[str, str]] = []

    summarise_pending()  # every span whose ingest has been answered is found (traces, services)
    trace_id = _trace_id(text)
    if trace_id and (
        TraceSummary.objects.filter(trace_id=trace_id).exists() or Event.objects.filter(trace_id=trace_id).exists()
    ):
        results.append(_item("trace", f"Trace {trace_id}", f"/traces/{trace_id}/"))

    if _STORED_ID.fullmatch(text):
        event = Event.objects.filter(pk=text).values_list("detail_type", "source").first()
        if event:
            results.append(_item("event", f"Event {text}: {event[0]} from {event[1]}", f"/events/{text}/"))
    producer = Event.objects.filter(event_id=text).order_by("-id").values_list("id", "detail_type", "source")
    for stored_id, detail_type, source in producer[:MAX_PER_KIND]:
        if stored_id != text:
            label = f"Event {text}: {detail_type} from {source}"
            results.append(_item("event", label, f"/events/{stored_id}/"))

    lifecycles = dict(Lifecycle.objects.values_list("id", "name"))
    if lifecycles:
        fold_pending()  # every event whose ingest has been answered is in the records
        records = Transaction.objects.filter(lifecycle_id__in=list(lifecycles), key=text).values_list(
            "lifecycle_id", "status"
        )
        for lifecycle_id, status in sorted(records, key=lambda row: lifecycles[row[0]]):
            name = lifecycles[lifecycle_id]
            label = f"Transaction {text} in {name} ({status.replace('_', ' ')})"
            results.append(_item("transaction", label, transaction_url(name, text)))

    if Event.objects.filter(idempotency_key=text).exists():
        results.append(_item("key", f"Idempotency key {text}", f"/keys/{quote(text, safe='')}/"))
    if ServiceOperation.objects.filter(service=text).exists():
        results.append(_item("service", f"Service {text}", "/traces/?" + urlencode({"service": text})))
    if Event.objects.filter(detail_type=text).exists():
        results.append(_item("detail_type", f"Events of type {text}", "/events/?" + urlencode({"detail_type": text})))
    return {"results": results}
