"""Durable ingest throughput on the embedded default, next to the raw SQLite limit on the same disk.

- OTLP spans/s: protobuf, 100 spans a request, 4 concurrent clients, against daphne.
- Native events/s: 100 events a request, 4 concurrent clients.
- Request latency p50/p99 for both.
- The raw limit: plain ``sqlite3`` ``executemany`` of equivalent span rows into a copy of the span
  table (same columns, same indexes, same pragmas) in 1,000-row transactions.

"Durable" means counted in the database after the run: every acknowledged item must be there.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from bench.server import BenchServer, bench_server

CLIENTS = 4
PER_REQUEST = 100
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_INGEST_REQUESTS", "150"))


def _attr(key: str, value: str | int) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value
    return kv


def span_request(rng: random.Random, base_ns: int) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_attr("service.name", rng.choice(["orders", "billing", "shipping"])))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    trace_id = rng.randbytes(16)
    root = rng.randbytes(8)
    for i in range(PER_REQUEST):
        span = scope.spans.add()
        span.trace_id = trace_id if i < 50 else rng.randbytes(16)
        span.span_id = root if i == 0 else rng.randbytes(8)
        if i:
            span.parent_span_id = root
        span.name = rng.choice(["POST /orders", "publish OrderCreated", "charge card", "reserve stock"])
        span.kind = rng.randint(1, 5)
        span.start_time_unix_nano = base_ns + i * 1000
        span.end_time_unix_nano = base_ns + i * 1000 + rng.randint(10_000, 5_000_000)
        span.attributes.extend([_attr("http.status_code", 200), _attr("order.id", f"o-{rng.randint(1, 10**6)}")])
    return request.SerializeToString()


def event_request(rng: random.Random) -> bytes:
    events = [
        {
            "source": "shop.orders",
            "detail-type": rng.choice(["OrderCreated", "OrderPaid", "OrderShipped"]),
            "detail": {
                "order-id": f"o-{rng.randint(1, 10**6)}",
                "amount": rng.randint(1, 500),
                "metadata": {"idempotency-key": f"k-{rng.randint(1, 10**6)}"},
            },
            "traceparent": f"00-{rng.randbytes(16).hex()}-{rng.randbytes(8).hex()}-01",
        }
        for _ in range(PER_REQUEST)
    ]
    return orjson.dumps(events)


def drive(url: str, headers: dict[str, str], bodies: list[list[bytes]]) -> tuple[float, list[float], int]:
    """Send each client's bodies over its own keep-alive connection; wall time, latencies, failures.

    The clients share the machine with the server, so they use ``http.client`` (a fraction of the
    CPU ``requests`` spends per call): the figure is the server's, not the load generator's.
    """
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    parts = urlsplit(url)

    def client(own: list[bytes]) -> None:
        nonlocal failures
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        for body in own:
            started = time.perf_counter()
            connection.request("POST", parts.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                failures += response.status != 200
        connection.close()

    threads = [threading.Thread(target=client, args=(own,)) for own in bodies]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, failures


def _count(server: BenchServer, table: str) -> int:
    with sqlite3.connect(server.var_dir / "eventscope.sqlite3") as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def percentile_ms(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_ingest(
    server: BenchServer,
    path: str,
    content_type: str,
    make_body: Callable[[random.Random], bytes],
    table: str,
    count: Callable[[BenchServer, str], int] = _count,
) -> dict[str, object]:
    """Drive ``server`` with the bodies ``make_body`` makes; ``count`` counts ``table``'s rows (the
    embedded SQLite database's by default)."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": content_type}
    drive(server.url + path, headers, [[make_body(rng) for _ in range(3)] for _ in range(CLIENTS)])  # warm-up
    bodies = [[make_body(rng) for _ in range(REQUESTS_PER_CLIENT)] for _ in range(CLIENTS)]
    before = count(server, table)
    seconds, latencies, failures = drive(server.url + path, headers, bodies)
    stored = count(server, table) - before
    sent = CLIENTS * REQUESTS_PER_CLIENT * PER_REQUEST
    return {
        "per_second": round(stored / seconds),
        "sent": sent,
        "stored": stored,
        "failed_requests": failures,
        "seconds": round(seconds, 3),
        "p50_ms": round(percentile_ms(latencies, 0.50), 2),
        "p99_ms": round(percentile_ms(latencies, 0.99), 2),
    }


def _span_rows(rows: int) -> list[tuple[object, ...]]:
    """Span rows with the same values the ingest run stores (same generator, same encoding)."""
    from tracing.otlp import decode_traces

    rng = random.Random(11)
    out: list[tuple[object, ...]] = []
    while len(out) < rows:
        for span in decode_traces(span_request(rng, time.time_ns()), "protobuf").spans:
            attributes, resource = orjson.dumps(span.attributes).decode(), orjson.dumps(span.resource).decode()
            out.append((
                span.trace_id, span.span_id, span.parent_span_id, span.trace_state, span.name, span.kind, span.service,
                span.start_ns, span.end_ns, span.status_code, span.status_message, attributes, resource, span.scope,
                "[]", "[]", "2026-01-01 00:00:00",
            ))  # fmt: skip
    return out[:rows]


def _event_rows(rows: int) -> list[tuple[object, ...]]:
    """Event rows with the same values the ingest run stores (same generator, same encoding)."""
    rng = random.Random(11)
    out: list[tuple[object, ...]] = []
    serial = 0
    while len(out) < rows:
        for entry in orjson.loads(event_request(rng)):
            serial += 1
            stored_id = f"01K{serial:023d}"
            detail = orjson.dumps(entry["detail"]).decode()
            traceparent = entry["traceparent"].split("-")
            out.append((
                stored_id, stored_id, entry["source"], entry["detail-type"], "2026-01-01 00:00:00", "000000000000",
                "local", "[]", detail, "{}", orjson.dumps(entry).decode(), "2026-01-01 00:00:00", "native",
                traceparent[1], traceparent[2], entry["detail"]["metadata"]["idempotency-key"], "",
            ))  # fmt: skip
    return out[:rows]


SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "service", "start_ns", "end_ns",
    "status_code", "status_message", "attributes", "resource", "scope", "events", "links", "received_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "event_id", "source", "detail_type", "time", "account", "region", "resources", "detail", "extra", "raw",
    "received_at", "format", "trace_id", "parent_span_id", "idempotency_key", "replay_name",
)  # fmt: skip


def raw_sqlite_limit(
    server: BenchServer, table: str, columns: tuple[str, ...], values: list[tuple[object, ...]]
) -> float:
    """Rows/s of plain ``sqlite3`` executemany into a copy of ``table`` (same columns, indexes and
    pragmas), 1,000 rows a transaction."""
    source = sqlite3.connect(server.var_dir / "eventscope.sqlite3")
    schema = [
        sql for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE tbl_name=? AND sql IS NOT NULL", (table,))
    ]
    source.close()
    db = sqlite3.connect(server.var_dir / f"raw-{table}.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=10000")  # the same pragmas the server uses
    for sql in schema:
        db.execute(sql)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    for offset in range(0, len(values), 1000):
        db.execute("BEGIN")
        db.executemany(insert, values[offset : offset + 1000])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return len(values) / elapsed


def main() -> None:
    conditions = {
        "mode": "embedded (SQLite WAL, synchronous=NORMAL, wal_autocheckpoint=10000)",
        "server": "daphne, 1 process",
        "client": "http.client keep-alive, one connection per client thread, separate process",
        "clients": CLIENTS,
        "items_per_request": PER_REQUEST,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        spans = run_ingest(
            server,
            "/v1/traces",
            "application/x-protobuf",
            lambda rng: span_request(rng, time.time_ns()),
            "tracing_span",
        )
        events = run_ingest(server, "/api/events", "application/json", event_request, "dashboard_event")
        sent = CLIENTS * REQUESTS_PER_CLIENT * PER_REQUEST
        raw_spans = raw_sqlite_limit(server, "tracing_span", SPAN_COLUMNS, _span_rows(sent))
        raw_events = raw_sqlite_limit(server, "dashboard_event", EVENT_COLUMNS, _event_rows(sent))
    for name, result, table, raw in (
        ("otlp_spans", spans, "tracing_span", raw_spans),
        ("native_events", events, "dashboard_event", raw_events),
    ):
        print(
            json.dumps(
                {
                    "bench": f"raw_sqlite_executemany_{table}",
                    "rows_per_second": round(raw),
                    "rows_per_transaction": 1000,
                    **conditions,
                }
            )
        )
        share = round(100 * int(result["per_second"]) / raw, 1)  # type: ignore[call-overload]
        print(
            json.dumps(
                {
                    "bench": f"ingest_{name}",
                    **result,
                    "raw_sqlite_rows_per_second": round(raw),
                    "percent_of_raw_sqlite": share,
                    "goal_percent": 25,
                    **conditions,
                }
            )
        )


if __name__ == "__main__":
    main()
