"""The fold: matches what new batches brought (``Pending`` rows) with what was stored before, and adds
the matches to the per-minute and per-hour rollups.

An **event edge** is a triple: an event, its publishing span (the event's parent span) and a span
that processed it (one that links to the publishing span, or a child of it in another service).
A **call edge** is a pair: a span and its child in another service (a consumer-kind child is a
processor, not a call). Any side may arrive first; a match is counted in the fold that folds the
last of its sides, so each is counted exactly once:

- every batch leaves a ``Pending`` row in its own write transaction, naming its traces and its
  ``received_at`` (the rows it stored carry that time; rows stored before keep theirs);
- a fold takes the oldest pending batches and looks at everything in their traces, and at what
  links into and out of them (a trace that only events noted and that holds no span yet is left
  out: nothing there can match before its spans arrive). A row is *new* (its batch is being
  folded), *held* (its batch is pending but left for the next fold) or *folded* (anything else,
  including rows stored while no map observer was registered). A match is counted when one of its
  sides is new and none is held.

This needs the fold to see the pending rows and the data as of one moment: on SQLite the fold holds
the write lock (nobody commits meanwhile); on PostgreSQL it runs in a REPEATABLE READ transaction,
after taking an advisory lock that keeps folds of all processes one at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from django.db import connection
from django.db.models import Min

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.events.models import Event
from dashboard.servicemap import histogram
from dashboard.servicemap.models import EdgeBucket, Pending, ServiceBucket
from tracing.models import Span, SpanLink

logger = logging.getLogger(__name__)

MAX_BATCHES = 50  # pending batches a fold takes: its transaction (SQLite: the write lock) stays short
CHUNK = 400  # ids in one IN (...) list
MINUTE_NS = 60_000_000_000  # a bucket minute, in the nanoseconds spans are timed in
WIDTHS = (1, 10, 60)  # bucket widths in minutes: the wider rows serve long windows (queries.py)
MAX_SAMPLES = 5  # trace ids kept per edge and bucket
CONSUMER_KIND = 5  # OTLP SpanKind CONSUMER
ERROR = 2  # OTLP status code ERROR
MESSAGE_ID = "messaging.message.id"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOCK_KEY = 0x5E7F1CE  # pg_advisory_lock: one fold at a time, across processes

NEW, FOLDED, HELD = 1, 0, -1


class SpanRow(NamedTuple):
    id: int
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    name: str
    kind: int
    start_ns: int
    status_code: int
    received_at: datetime


class EventRow(NamedTuple):
    id: str
    event_id: str
    source: str
    detail_type: str
    time: datetime
    received_at: datetime
    trace_id: str
    parent_span_id: str
    idempotency_key: str


@dataclass
class Delta:
    """What one fold adds to one edge bucket."""

    count: int = 0
    errors: int = 0
    duplicates: int = 0
    lags: dict[int, int] = field(default_factory=dict)
    system: str = ""
    destination: str = ""
    operation: str = ""
    samples: list[str] = field(default_factory=list)


EdgeKey = tuple[int, int, int, str, str, str, str]  # width, minute, kind, from, to, via, event source


def time_ns(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


@contextmanager
def one_fold_at_a_time() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield  # SQLite: the fold's write transaction is the lock
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def fold_pending(max_folds: int = 1000) -> int:
    """Fold every pending batch (up to ``max_folds`` folds of ``MAX_BATCHES``); the number folded.
    Readers call it first, so what they answer never depends on the folder thread's timing.

    Precondition: outside any transaction (on PostgreSQL each fold needs a REPEATABLE READ
    transaction of its own; tests, whose transaction wraps everything, see their own writes only)."""
    if not Pending.objects.exists():
        return 0
    folded = 0
    with one_fold_at_a_time():
        for _ in range(max_folds):
            done = run_alone_in_write_transaction(_fold_once)
            folded += done
            if done < MAX_BATCHES:
                break
    return folded


def _fold_once() -> int:
    """One fold, inside its write transaction (see the module's docstring)."""
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        # The fold's own transaction (in a caller's, e.g. a test's, the caller's level holds).
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    batches = list(Pending.objects.order_by("id").values_list("id", "kind", "received_at", "traces")[:MAX_BATCHES])
    if not batches:
        return 0
    held = list(Pending.objects.filter(id__gt=batches[-1][0]).values_list("kind", "received_at"))
    fold = _Fold(
        new_spans={at for _, kind, at, _ in batches if kind == Pending.SPANS},
        new_events={at for _, kind, at, _ in batches if kind == Pending.EVENTS},
        held_spans={at for kind, at in held if kind == Pending.SPANS},
        held_events={at for kind, at in held if kind == Pending.EVENTS},
    )
    span_traces = {trace for _, kind, _, traces in batches if kind == Pending.SPANS for trace in traces}
    event_traces = {trace for _, kind, _, traces in batches if kind == Pending.EVENTS for trace in traces}
    fold.run(span_traces | _holding_spans(event_traces - span_traces))
    Pending.objects.filter(id__in=[batch[0] for batch in batches]).delete()
    return len(batches)


def _holding_spans(traces: set[str]) -> set[str]:
    """The traces of ``traces`` that hold at least one stored span.

    An event is matched only together with its publishing span, a span of its own trace. So the
    events of a trace that holds no span yet have nothing to match, and neither has anything else
    there (links are stored with their spans): the fold of the batch that brings the trace's spans
    reads its events then. Events usually arrive before their spans (exporters send spans in
    batches, seconds later), and this spares reading them back now."""
    found: set[str] = set()
    for chunk in _chunks(traces):
        found.update(
            trace
            for (trace,) in _select(
                f"SELECT DISTINCT trace_id FROM {_table(Span)} WHERE trace_id IN ({_marks(chunk)})",  # noqa: S608
                chunk,
            )
        )
    return found


def _marks(values: Sequence[Any] | set[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _select(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


def _as_datetime(value: Any) -> datetime:
    """A DateTimeField read raw: naive UTC on SQLite (text, or a datetime where the driver converts
    it), an aware datetime on PostgreSQL."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


_SPAN_SQL = "id, trace_id, span_id, parent_span_id, service, name, kind, start_ns, status_code, received_at"
_EVENT_SQL = "id, event_id, source, detail_type, time, received_at, trace_id, parent_span_id, idempotency_key"
Link = tuple[str, str, str, str, str | None]  # linking span (trace, span), linked span, the message id it names


class _Fold:
    """The reading and matching of one fold. Most spans are neither publishers nor processors: they
    are counted per service and per call in SQL (grouped), and only the spans of event hops are read
    into Python."""

    def __init__(
        self, new_spans: set[datetime], new_events: set[datetime], held_spans: set[datetime], held_events: set[datetime]
    ) -> None:
        self.new_spans, self.new_events = new_spans, new_events
        self.held_spans, self.held_events = held_spans, held_events
        # The same times as SQL parameters, in the form the database holds them.
        stored = connection.ops.adapt_datetimefield_value
        self.new_spans_sql = [stored(at) for at in sorted(new_spans)]
        self.held_spans_sql = [stored(at) for at in sorted(held_spans)]
        self.spans: dict[tuple[str, str], SpanRow] = {}
        self.edges: dict[EdgeKey, Delta] = defaultdict(Delta)
        self.services: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])

    def span_state(self, span: SpanRow) -> int:
        at = _as_datetime(span.received_at)
        return NEW if at in self.new_spans else HELD if at in self.held_spans else FOLDED

    def event_state(self, event: EventRow) -> int:
        at = _as_datetime(event.received_at)
        return NEW if at in self.new_events else HELD if at in self.held_events else FOLDED

    def run(self, traces: set[str]) -> None:
        for chunk in _chunks(traces):
            if self.new_spans:
                self._count_services(chunk)
                self._count_calls(chunk)
        self._match_events(traces)
        if self.edges or self.services:
            self._write()

    # --- spans and calls, counted in SQL ----------------------------------------------------------

    def _count_services(self, chunk: list[str]) -> None:
        new = self.new_spans_sql
        rows = _select(
            f"SELECT service, start_ns / 60000000000, COUNT(*), SUM(CASE WHEN status_code = {ERROR} THEN 1 ELSE 0 END)"  # noqa: S608
            f" FROM {_table(Span)} WHERE trace_id IN ({_marks(chunk)}) AND received_at IN ({_marks(new)})"
            " GROUP BY service, start_ns / 60000000000",
            [*chunk, *new],
        )
        for service, minute, spans, errors in rows:
            for width in WIDTHS:
                counts = self.services[(width, int(minute) - int(minute) % width, service)]
                counts[0] += int(spans)
                counts[1] += int(errors or 0)

    def _count_calls(self, chunk: list[str]) -> None:
        """Parent and child in another service, counted when one of them is new and neither held."""
        new, held = self.new_spans_sql, self.held_spans_sql
        not_held = (
            f" AND c.received_at NOT IN ({_marks(held)}) AND p.received_at NOT IN ({_marks(held)})" if held else ""
        )
        span = _table(Span)
        rows = _select(
            "SELECT p.service, c.service, c.name, c.start_ns / 60000000000, COUNT(*),"  # noqa: S608
            f" SUM(CASE WHEN c.status_code = {ERROR} THEN 1 ELSE 0 END), MAX(c.trace_id)"
            f" FROM {span} c JOIN {span} p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id"
            f" WHERE c.trace_id IN ({_marks(chunk)}) AND c.parent_span_id <> '' AND c.kind <> {CONSUMER_KIND}"
            f" AND p.service <> c.service AND (c.received_at IN ({_marks(new)}) OR p.received_at IN ({_marks(new)}))"
            f"{not_held} GROUP BY p.service, c.service, c.name, c.start_ns / 60000000000",
            [*chunk, *new, *new, *(held * 2 if held else [])],
        )
        for source, target, name, minute, count, errors, sample in rows:
            for width in WIDTHS:
                delta = self.edges[(width, int(minute) - int(minute) % width, EdgeBucket.CALL, source[:256],
                                    target[:256], name[:512], "")]  # fmt: skip
                delta.count += int(count)
                delta.errors += int(errors or 0)
                if len(delta.samples) < MAX_SAMPLES and sample not in delta.samples:
                    delta.samples.append(sample)

    # --- event hops, matched in Python --------------------------------------------------------------

    def _events(self, traces: Iterable[str], parents: set[tuple[str, str]] | None = None) -> list[EventRow]:
        rows = []
        for chunk in _chunks(traces):
            for values in _select(
                f"SELECT {_EVENT_SQL} FROM {_table(Event)} WHERE trace_id IN ({_marks(chunk)})"  # noqa: S608
                " AND parent_span_id <> ''",
                chunk,
            ):
                if parents is None or (values[6], values[7]) in parents:
                    rows.append(EventRow(*values))
        return rows

    def _links(self, traces: set[str]) -> set[Link]:
        links: set[Link] = set()
        for chunk in _chunks(traces):
            for column in ("trace_id", "linked_trace_id"):
                for trace, span, linked_trace, linked_span, attributes in _select(
                    "SELECT trace_id, span_id, linked_trace_id, linked_span_id, attributes"  # noqa: S608
                    f" FROM {_table(SpanLink)} WHERE {column} IN ({_marks(chunk)})",
                    chunk,
                ):
                    message = None
                    text = attributes if isinstance(attributes, str) else None
                    if text is None or MESSAGE_ID in text:  # most links name no message: skip the decoding
                        decoded = orjson.loads(text) if text is not None else attributes
                        found = decoded.get(MESSAGE_ID) if isinstance(decoded, dict) else None
                        message = str(found) if found else None
                    links.add((trace, span, linked_trace, linked_span, message))
        return links

    def _load_spans(self, keys: set[tuple[str, str]]) -> None:
        wanted = sorted(keys - self.spans.keys())
        for start in range(0, len(wanted), CHUNK):
            pairs = wanted[start : start + CHUNK]
            # Row values: two IN lists would make the planner try every trace with every span id.
            for values in _select(
                f"SELECT {_SPAN_SQL} FROM {_table(Span)} WHERE (trace_id, span_id) IN"  # noqa: S608
                f" (VALUES {', '.join(['(%s, %s)'] * len(pairs))})",
                [value for pair in pairs for value in pair],
            ):
                self.spans[(values[1], values[2])] = SpanRow(*values)

    def _children(self, parents: set[tuple[str, str]]) -> list[SpanRow]:
        """Spans whose parent is one of ``parents`` (publishing spans in the fold's traces)."""
        by_trace: dict[str, set[str]] = defaultdict(set)
        for trace, span_id in parents:
            by_trace[trace].add(span_id)
        children = []
        for chunk in _chunks(by_trace):
            span_ids = sorted({span_id for trace in chunk for span_id in by_trace[trace]})
            for values in _select(
                f"SELECT {_SPAN_SQL} FROM {_table(Span)} WHERE trace_id IN ({_marks(chunk)})"  # noqa: S608
                f" AND parent_span_id IN ({_marks(span_ids)})",
                [*chunk, *span_ids],
            ):
                if (values[1], values[3]) in parents:
                    row = SpanRow(*values)
                    self.spans[(row.trace_id, row.span_id)] = row
                    children.append(row)
        return children

    def _match_events(self, traces: set[str]) -> None:
        events = self._events(traces)
        links = self._links(traces)
        # The other ends of links out of these traces: publishing spans elsewhere, and their events.
        elsewhere = {(lt, ls) for t, s, lt, ls, _ in links if lt not in traces}
        if elsewhere:
            events += self._events({trace for trace, _ in elsewhere}, elsewhere)
        if not events:
            return
        publishers = {(event.trace_id, event.parent_span_id) for event in events}
        processors: dict[tuple[str, str], list[tuple[tuple[str, str], str | None]]] = defaultdict(list)
        for trace, span, linked_trace, linked_span, message in links:
            if (linked_trace, linked_span) in publishers:
                processors[(linked_trace, linked_span)].append(((trace, span), message))
        for child in self._children({key for key in publishers if key[0] in traces}):
            processors[(child.trace_id, child.parent_span_id)].append(((child.trace_id, child.span_id), "child"))
        self._load_spans(publishers | {key for found in processors.values() for key, _ in found})

        # A link may name the event it delivered (messaging.message.id): it then matches that event only,
        # when the id is one of the events published from that span (EventBridge assigns its own ids).
        published: dict[tuple[str, str], set[str]] = defaultdict(set)
        for event in events:
            published[(event.trace_id, event.parent_span_id)].add(event.event_id)
        matches: list[tuple[EventRow, SpanRow, SpanRow]] = []
        seen: set[tuple[str, int]] = set()
        for event in events:
            siblings = published[(event.trace_id, event.parent_span_id)]
            publisher = self.spans.get((event.trace_id, event.parent_span_id))
            if publisher is None:
                continue
            for key, message in processors.get((event.trace_id, event.parent_span_id), ()):
                processor = self.spans.get(key)
                if processor is None or processor is publisher:
                    continue
                if message == "child" and processor.service == publisher.service:
                    continue  # the publisher's own work under its span, not a consumer
                if message not in (None, "child") and message != event.event_id and message in siblings:
                    continue  # the link names another event published from the same span
                states = (self.event_state(event), self.span_state(publisher), self.span_state(processor))
                if HELD in states or NEW not in states or (event.id, processor.id) in seen:
                    continue
                seen.add((event.id, processor.id))
                matches.append((event, publisher, processor))
        if not matches:
            return

        keys = {event.idempotency_key for event, _, _ in matches if event.idempotency_key}
        first: dict[str, str] = {}
        for chunk in _chunks(keys):
            first.update(
                Event.objects.filter(idempotency_key__in=chunk)
                .values("idempotency_key")
                .annotate(first=Min("id"))
                .values_list("idempotency_key", "first")
            )
        # The messaging attributes an edge shows are its latest hop's: read for one hop an edge, not for all.
        last: dict[tuple[str, str, str, str], tuple[SpanRow, SpanRow]] = {}
        for event, publisher, processor in matches:
            last[(publisher.service, processor.service, event.detail_type, event.source)] = (publisher, processor)
        attributes = self._attributes({span.id for pair in last.values() for span in pair})
        messaging = {
            key: _messaging(attributes.get(processor.id, {}), attributes.get(publisher.id, {}))
            for key, (publisher, processor) in last.items()
        }
        for event, publisher, processor in matches:
            sent_ns = time_ns(_as_datetime(event.time))
            lag_ms = (processor.start_ns - sent_ns) / 1_000_000
            duplicate = bool(event.idempotency_key) and first.get(event.idempotency_key, event.id) != event.id
            edge = (publisher.service, processor.service, event.detail_type, event.source)
            self._add(
                EdgeBucket.EVENT, sent_ns // MINUTE_NS, publisher.service, processor.service, event.detail_type,
                event.source, processor, lag_ms, duplicate, messaging[edge],
            )  # fmt: skip

    def _attributes(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            for span_id, attributes in Span.objects.filter(id__in=ordered[start : start + CHUNK]).values_list(
                "id", "attributes"
            ):
                found[span_id] = attributes if isinstance(attributes, dict) else {}
        return found

    def _add(
        self,
        kind: int,
        minute: int,
        source: str,
        target: str,
        via: str,
        event_source: str,
        processor: SpanRow,
        lag_ms: float | None,
        duplicate: bool,
        messaging: tuple[str, str, str] = ("", "", ""),
    ) -> None:
        for width in WIDTHS:
            delta = self.edges[(width, minute - minute % width, kind, source[:256], target[:256], via[:512],
                                event_source[:256])]  # fmt: skip
            delta.count += 1
            delta.errors += processor.status_code == ERROR
            delta.duplicates += duplicate
            if lag_ms is not None:
                histogram.add(delta.lags, lag_ms)
            # Where (system, destination) and what (operation) are known on their own: a hop that
            # names only one of them keeps what earlier hops said of the other.
            if messaging[0] or messaging[1]:
                delta.system, delta.destination = messaging[0], messaging[1]
            if messaging[2]:
                delta.operation = messaging[2]
            if len(delta.samples) < MAX_SAMPLES and processor.trace_id not in delta.samples:
                delta.samples.append(processor.trace_id)

    # --- writing -----------------------------------------------------------------------------------

    def _write(self) -> None:
        for width in WIDTHS:
            self._write_services(width)
            self._write_edges(width)

    def _write_services(self, width: int) -> None:
        mine = {key: counts for key, counts in self.services.items() if key[0] == width}
        if not mine:
            return
        existing = {
            (row.width, row.minute, row.service): row
            for row in ServiceBucket.objects.filter(width=width, minute__in={key[1] for key in mine})
        }
        changed, created = [], []
        for key, (spans, errors) in mine.items():
            row = existing.get(key)
            if row is None:
                created.append(ServiceBucket(width=width, minute=key[1], service=key[2], spans=spans, errors=errors))
            else:
                row.spans += spans
                row.errors += errors
                changed.append(row)
        _update(ServiceBucket, ["spans", "errors"], changed)
        ServiceBucket.objects.bulk_create(created, batch_size=500)

    def _write_edges(self, width: int) -> None:
        mine = {key: delta for key, delta in self.edges.items() if key[0] == width}
        if not mine:
            return
        existing: dict[EdgeKey, EdgeBucket] = {}
        for row in EdgeBucket.objects.filter(width=width, minute__in={key[1] for key in mine}):
            existing[(row.width, row.minute, row.kind, row.source_service, row.target_service, row.via,
                      row.event_source)] = row  # fmt: skip
        changed: list[EdgeBucket] = []
        created: list[EdgeBucket] = []
        for key, delta in mine.items():
            found = existing.get(key)
            if found is not None:
                row = found
                changed.append(row)
            else:
                row = EdgeBucket(width=width, minute=key[1], kind=key[2], source_service=key[3], target_service=key[4],
                                 via=key[5], event_source=key[6], lags={}, samples=[])  # fmt: skip
                created.append(row)
            row.count += delta.count
            row.errors += delta.errors
            row.duplicates += delta.duplicates
            if delta.lags:
                lags = histogram.decode(row.lags or {})
                histogram.merge(lags, delta.lags)
                row.lags = histogram.encode(lags)
            if delta.system or delta.destination:
                row.messaging_system, row.messaging_destination = delta.system[:256], delta.destination[:512]
            if delta.operation:
                row.messaging_operation = delta.operation[:64]
            samples = list(row.samples or [])
            row.samples = (samples + [trace for trace in delta.samples if trace not in samples])[-MAX_SAMPLES:]
        fields = ["count", "errors", "duplicates", "lags", "messaging_system", "messaging_destination",
                  "messaging_operation", "samples"]  # fmt: skip
        _update(EdgeBucket, fields, changed)
        EdgeBucket.objects.bulk_create(created, batch_size=500)


def _update(model: Any, fields: list[str], rows: Sequence[Any]) -> None:
    """Write ``fields`` of ``rows`` back, one UPDATE by id executed for all (Django's bulk_update
    builds a CASE expression per field and row, several times slower here)."""
    if not rows:
        return
    meta = model._meta
    sets = ", ".join(f"{connection.ops.quote_name(meta.get_field(name).column)} = %s" for name in fields)
    params = [
        [meta.get_field(name).get_db_prep_save(getattr(row, name), connection) for name in fields] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {_table(model)} SET {sets} WHERE id = %s", params)  # noqa: S608


def _messaging(processor: dict[str, Any], publisher: dict[str, Any]) -> tuple[str, str, str]:
    """The OpenTelemetry messaging system, destination and operation of a hop: the system and
    destination of the processing span, else of the publishing span (``messaging.system``,
    ``messaging.destination.name``, or the older ``messaging.destination``); the operation of the
    processing span (``messaging.operation.type``, or the older ``messaging.operation``: ``process``
    or ``receive``, which tells what the hop's lag runs to)."""
    operation = _text(processor, "messaging.operation.type", "messaging.operation")[:64]
    for attributes in (processor, publisher):
        system = _text(attributes, "messaging.system")
        destination = _text(attributes, "messaging.destination.name", "messaging.destination")
        if system or destination:
            return system[:256], destination[:512], operation
    return "", "", operation


def _text(attributes: dict[str, Any], *names: str) -> str:
    """The first of ``names`` that ``attributes`` hold as a non-empty scalar, as text; else ""."""
    for name in names:
        value = attributes.get(name)
        if value not in (None, "") and isinstance(value, str | int | float | bool):
            return str(value)
    return ""
