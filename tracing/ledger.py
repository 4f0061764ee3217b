"""What each delivery in a key's ledger was, and how it went.

A key's ledger (``dashboard.events.queries.key_ledger``) lists every stored event that carried the key.
Here each is classified — the original, a producer retry (same key, same source and type, a new
event id), a replay — and tied to its outcome in the traces: the span that published it and the
consumer spans that link back to that span (in their own traces), with their statuses.
"""

from __future__ import annotations

from typing import Any

from dashboard.core.bulk import MAX_OR_TERMS, any_pair
from tracing.models import Span, SpanLink, status_name

ORIGINAL, RETRY, OTHER, REPLAY = "original", "retry", "other publisher", "replay"
_MAX_SPANS = 2000


def delivery_kinds(events: list[dict[str, Any]]) -> list[str]:
    """One kind per ledger event (oldest first): the first of each (source, detail-type) is the
    original; later ones from the same producer are retries; a first from another producer under
    the same key is marked as such; replayed copies are replays."""
    seen: set[tuple[str, str]] = set()
    kinds = []
    for event in events:
        producer = (event["source"], event["detail-type"])
        if event.get("replay_name"):
            kinds.append(REPLAY)
        elif producer in seen:
            kinds.append(RETRY)
        else:
            kinds.append(ORIGINAL if not seen else OTHER)
            seen.add(producer)
    return kinds


def delivery_outcomes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each ledger event: ``publisher`` (the span that published it, or None) and ``consumers``
    (spans in any trace that link to that span), each ``{"trace_id", "span_id", "name", "service",
    "status"}``. Three queries whatever the ledger's length."""
    published = {(e["trace_id"], e["parent_span_id"]) for e in events if e["trace_id"] and e["parent_span_id"]}
    published = set(sorted(published)[:MAX_OR_TERMS])
    if not published:
        return [{"publisher": None, "consumers": []} for _ in events]
    publishers = {
        (s.trace_id, s.span_id): s
        for s in Span.objects.filter(any_pair(published, "trace_id", "span_id")).only(
            "trace_id", "span_id", "name", "service", "status_code"
        )[:_MAX_SPANS]
    }
    links = list(
        SpanLink.objects.filter(any_pair(published, "linked_trace_id", "linked_span_id")).values_list(
            "linked_trace_id", "linked_span_id", "trace_id", "span_id"
        )[:MAX_OR_TERMS]
    )
    consumer_pairs = [(trace_id, span_id) for _, _, trace_id, span_id in links]
    consumer_spans = (
        {
            (s.trace_id, s.span_id): s
            for s in Span.objects.filter(any_pair(consumer_pairs, "trace_id", "span_id")).only(
                "trace_id", "span_id", "name", "service", "status_code", "start_ns"
            )[:_MAX_SPANS]
        }
        if links
        else {}
    )
    consumers: dict[tuple[str, str], list[Span]] = {}
    for target_trace, target_span, trace_id, span_id in links:
        span = consumer_spans.get((trace_id, span_id))
        if span is not None:
            consumers.setdefault((target_trace, target_span), []).append(span)

    def brief(span: Span) -> dict[str, Any]:
        return {
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "name": span.name,
            "service": span.service,
            "status": status_name(span.status_code),
        }

    out = []
    for event in events:
        pair = (event["trace_id"], event["parent_span_id"])
        publisher = publishers.get(pair)  # type: ignore[arg-type]
        found = sorted(consumers.get(pair, []), key=lambda s: s.start_ns)  # type: ignore[arg-type]
        out.append({"publisher": brief(publisher) if publisher else None, "consumers": [brief(s) for s in found]})
    return out
