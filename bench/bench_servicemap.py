"""The service map: what it costs ingest, and how fast a window is read.

1. ``servicemap_ingest``: OTLP spans/s with the map on and off (``EVENTSCOPE_SERVICE_MAP``), two
   servers on fresh embedded databases, the same requests, ``BENCH_MAP_ROUNDS`` rounds (default 4)
   alternated (off, on, off, on, …) so both see the same machine; the best round of each, and the
   median over the rounds of on against the off just before it. The spans are a shop's: each request carries
   10 flows of 10 spans over 4 services (a request span, a call to another service, a publishing
   span, and a consumer span in another service and trace linking to it), with the flows' events
   posted between span requests. Goal: at most 10% slower with the map on. Also the time the map's
   reader then takes to fold what the burst left pending (``catch_up_seconds``).
2. ``servicemap_api``: ``GET /api/servicemap`` p50/p95 for a 1 h and a 24 h window, at varied
   offsets not aligned to the hour (so both the hour rows and the minute rows are read), over
   rollups of ``BENCH_MAP_DAYS`` days (default 7) of ``BENCH_MAP_SERVICES`` services (default 50)
   with ``BENCH_MAP_EDGES`` edges (default 80: 60 event, 20 call), every edge busy every minute
   (the worst case: real edges are idle in many minutes, and an idle minute has no row), with
   ``BENCH_MAP_SPANS`` spans (default 5,000,000) and ``BENCH_MAP_EVENTS`` events (default
   1,000,000) stored beside them in the same database, loaded in bulk by ``bench_search``'s loader
   (500,000 traces of 10 spans over 12 services). The rollups are written in bulk with the fold's
   own row format, not folded from those spans (folding 5,000,000 spans would measure the fold, and
   the synthetic rows are the worse case for reading); the map reads only the rollups, and the
   stored spans and events are there so that the figure is taken on a database of the size the
   goal names. Goal: p95 < 200 ms.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from bench.bench_ingest import drive, percentile_ms
from bench.bench_search import _fill as fill_store
from bench.server import BenchServer, bench_server

CLIENTS = 4
FLOWS_PER_REQUEST = 10
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_MAP_REQUESTS", "250"))
ROUNDS = int(os.environ.get("BENCH_MAP_ROUNDS", "4"))
DAYS = int(os.environ.get("BENCH_MAP_DAYS", "7"))
SERVICES = int(os.environ.get("BENCH_MAP_SERVICES", "50"))
EDGES = int(os.environ.get("BENCH_MAP_EDGES", "80"))
REPEATS = int(os.environ.get("BENCH_MAP_REPEATS", "40"))
STORED_SPANS = int(os.environ.get("BENCH_MAP_SPANS", "5000000"))
STORED_EVENTS = int(os.environ.get("BENCH_MAP_EVENTS", "1000000"))
SHOP = ["orders", "billing", "inventory", "shipping"]


def _attr(key: str, value: str) -> KeyValue:
    kv = KeyValue(key=key)
    kv.value.string_value = value
    return kv


def flow_request(rng: random.Random, base_ns: int) -> tuple[bytes, bytes]:
    """One span request (``FLOWS_PER_REQUEST`` flows, 10 spans each) and the events they publish."""
    by_service: dict[str, list[Any]] = {service: [] for service in SHOP}
    events = []
    for flow in range(FLOWS_PER_REQUEST):
        start = base_ns + flow * 1_000_000
        publisher_service, consumer_service = rng.sample(SHOP, 2)
        trace, consumer_trace = rng.randbytes(16), rng.randbytes(16)
        root, publish, consume = rng.randbytes(8), rng.randbytes(8), rng.randbytes(8)
        spans = [
            (publisher_service, trace, root, b"", "POST /orders", 2, start, []),
            (rng.choice(SHOP), trace, rng.randbytes(8), root, "GET /stock", 2, start + 100_000, []),
            (publisher_service, trace, publish, root, "publish OrderCreated", 4, start + 200_000, []),
            (consumer_service, consumer_trace, consume, b"", "process OrderCreated", 5, start + 30_000_000,
             [(trace, publish)]),
        ]  # fmt: skip
        spans += [
            (consumer_service, consumer_trace, rng.randbytes(8), consume, f"step {i}", 1, start + 31_000_000 + i, [])
            for i in range(6)
        ]
        for service, trace_id, span_id, parent, name, kind, begin, links in spans:
            by_service[service].append((trace_id, span_id, parent, name, kind, begin, links))
        events.append({
            "source": f"shop.{publisher_service}", "detail-type": "OrderCreated", "detail": {"n": flow},
            "time": datetime.fromtimestamp((start + 200_000) / 1e9, UTC).isoformat(),
            "traceparent": f"00-{trace.hex()}-{publish.hex()}-01",
        })  # fmt: skip
    request = ExportTraceServiceRequest()
    for service, spans_of in by_service.items():
        if not spans_of:
            continue
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(_attr("service.name", service))
        scope = resource_spans.scope_spans.add()
        for trace_id, span_id, parent, name, kind, begin, links in spans_of:
            span = scope.spans.add()
            span.trace_id, span.span_id, span.parent_span_id = trace_id, span_id, parent
            span.name, span.kind = name, kind
            span.start_time_unix_nano, span.end_time_unix_nano = begin, begin + rng.randint(10_000, 5_000_000)
            for linked_trace, linked_span in links:
                link = span.links.add()
                link.trace_id, link.span_id = linked_trace, linked_span
    return request.SerializeToString(), orjson.dumps(events)


def _ingest_round(server: BenchServer, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    now = time.time_ns()
    pairs = [[flow_request(rng, now + n * 100_000_000) for n in range(REQUESTS_PER_CLIENT)] for _ in range(CLIENTS)]
    spans = [[body for body, _ in own] for own in pairs]
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/x-protobuf"}
    seconds, latencies, failures = drive(server.url + "/v1/traces", headers, spans)
    # The flows' events (not timed: the figure is spans/s, as the goal states it).
    events = [[body for _, body in own] for own in pairs]
    drive(server.url + "/api/events", {**headers, "Content-Type": "application/json"}, events)
    sent = CLIENTS * REQUESTS_PER_CLIENT * FLOWS_PER_REQUEST * 10
    started = time.perf_counter()
    since, until = datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC) + timedelta(hours=1)
    answer = requests.get(
        f"{server.url}/api/servicemap",
        headers={"Authorization": headers["Authorization"]},
        params={"since": since.isoformat(), "until": until.isoformat()},  # the flows' times run ahead of now
        timeout=600,
    )
    catch_up = time.perf_counter() - started
    answer.raise_for_status()
    processed = sum(edge["count"] for edge in answer.json()["edges"] if edge["kind"] == "event")
    return {
        "spans_per_second": round(sent / seconds),
        "failed_requests": failures,
        "p50_ms": round(percentile_ms(latencies, 0.5), 2),
        "p99_ms": round(percentile_ms(latencies, 0.99), 2),
        "catch_up_seconds": round(catch_up, 3),
        "event_hops_counted": processed,
    }


def _fill_rollups(server: BenchServer) -> int:
    """``DAYS`` days of rollups, every edge and service busy every minute; the row count."""
    rng = random.Random(5)
    names = [f"svc-{i:02d}" for i in range(SERVICES)]
    edges = []
    for i in range(EDGES):
        source, target = rng.sample(names, 2)
        kind = 0 if i < EDGES * 3 // 4 else 1
        edges.append((kind, source, target, f"Thing{i}Happened" if kind == 0 else f"POST /thing/{i}",
                      f"shop.{source}" if kind == 0 else ""))  # fmt: skip
    first = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 60
    minutes = DAYS * 1440
    lags = [orjson.dumps({str(b): rng.randint(1, 30) for b in rng.sample(range(150, 220), 20)}).decode()
            for _ in range(50)]  # fmt: skip
    samples = orjson.dumps([rng.randbytes(16).hex() for _ in range(5)]).decode()
    edge_rows = []
    service_rows = []
    for width in (1, 10, 60):  # the fold's bucket widths (dashboard.servicemap.fold.WIDTHS)
        for minute in range(first, first + minutes, width):
            for kind, source, target, via, event_source in edges:
                edge_rows.append((width, minute, kind, source, target, via, event_source, 40 * width, width,
                                  width // 2, rng.choice(lags) if kind == 0 else "{}", "kafka" if kind == 0 else "",
                                  via if kind == 0 else "", "process" if kind == 0 else "", samples))  # fmt: skip
            for name in names:
                service_rows.append((width, minute, name, 300 * width, 3 * width))
    with sqlite3.connect(server.var_dir / "eventscope.sqlite3") as db:
        db.executemany(
            "INSERT INTO servicemap_edgebucket (width, minute, kind, source_service, target_service, via, event_source,"
            " count, errors, duplicates, lags, messaging_system, messaging_destination, messaging_operation, samples)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            edge_rows,
        )
        db.executemany(
            "INSERT INTO servicemap_servicebucket (width, minute, service, spans, errors) VALUES (?, ?, ?, ?, ?)",
            service_rows,
        )
        db.execute("ANALYZE")
    return len(edge_rows) + len(service_rows)


def _timed(server: BenchServer, hours: int) -> dict[str, float]:
    rng = random.Random(hours)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {server.token}"
    start = datetime(2026, 3, 1, tzinfo=UTC)
    times = []
    for n in range(REPEATS + 1):
        since = start + timedelta(minutes=rng.randrange(0, DAYS * 1440 - hours * 60), seconds=rng.randrange(1, 59))
        params = {"since": since.isoformat(), "until": (since + timedelta(hours=hours)).isoformat()}
        began = time.perf_counter()
        response = session.get(f"{server.url}/api/servicemap", params=params, timeout=60)
        elapsed = time.perf_counter() - began
        response.raise_for_status()
        assert len(response.json()["edges"]) == EDGES
        if n:  # the first one warms up
            times.append(elapsed)
    return {
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(percentile_ms(times, 0.95), 1),
    }


def main() -> None:
    only = os.environ.get("BENCH_MAP_ONLY", "")  # "ingest" or "api": one part alone
    conditions = {
        "mode": "embedded (SQLite WAL)",
        "server": "daphne, 1 process",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if only != "api":
        _ingest(conditions)
    if only != "ingest":
        _api(conditions)


def _ingest(conditions: dict[str, Any]) -> None:
    rounds: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with bench_server({"EVENTSCOPE_SERVICE_MAP": "0"}) as off, bench_server({"EVENTSCOPE_SERVICE_MAP": "1"}) as on:
        for n in range(ROUNDS):
            for name, server in (("off", off), ("on", on)):
                rounds[name].append(_ingest_round(server, seed=n))
    best = {name: max(results, key=lambda r: r["spans_per_second"]) for name, results in rounds.items()}
    slower = round(100 * (1 - best["on"]["spans_per_second"] / best["off"]["spans_per_second"]), 1)
    # Each round's "on" against the "off" just before it: the machine is shared, so pairs are fairer.
    paired = statistics.median(
        1 - on["spans_per_second"] / off["spans_per_second"]
        for off, on in zip(rounds["off"], rounds["on"], strict=True)
    )
    print(json.dumps({
        "bench": "servicemap_ingest",
        "spans_per_second_map_off": best["off"]["spans_per_second"],
        "spans_per_second_map_on": best["on"]["spans_per_second"],
        "percent_slower": slower,
        "percent_slower_median_of_pairs": round(100 * paired, 1),
        "goal_percent_slower": 10,
        "rounds_off": [r["spans_per_second"] for r in rounds["off"]],
        "rounds_on": [r["spans_per_second"] for r in rounds["on"]],
        "p99_ms_off": best["off"]["p99_ms"],
        "p99_ms_on": best["on"]["p99_ms"],
        "catch_up_seconds_on": best["on"]["catch_up_seconds"],
        "event_hops_counted_on": best["on"]["event_hops_counted"],
        "spans_per_round": CLIENTS * REQUESTS_PER_CLIENT * FLOWS_PER_REQUEST * 10,
        "clients": CLIENTS,
        "spans_per_request": FLOWS_PER_REQUEST * 10,
        **conditions,
    }))  # fmt: skip


def _api(conditions: dict[str, Any]) -> None:
    """The rollups alone first, then the same requests again once the spans and events are stored
    (``servicemap_api_1h`` and ``_24h``, the goal's figures): the same server, minutes apart, so
    that what the stored rows change is told from what the shared machine does."""
    with bench_server() as server:
        rows = _fill_rollups(server)
        before = {hours: _timed(server, hours) for hours in (1, 24)}
        started = time.perf_counter()
        stored = (
            fill_store(server, STORED_SPANS, STORED_EVENTS)
            if STORED_SPANS and STORED_EVENTS  # BENCH_MAP_SPANS=0 BENCH_MAP_EVENTS=0: the rollups alone
            else {"tracing_span": 0, "dashboard_event": 0}
        )
        load_seconds = round(time.perf_counter() - started, 1)
        for hours in (1, 24):
            timed = _timed(server, hours)
            print(json.dumps({
                "bench": f"servicemap_api_{hours}h",
                **timed,
                "goal_p95_ms": 200,
                "spans_stored": stored["tracing_span"],
                "events_stored": stored["dashboard_event"],
                "p50_ms_rollups_alone": before[hours]["p50_ms"],
                "p95_ms_rollups_alone": before[hours]["p95_ms"],
                "bulk_load_seconds": load_seconds,
                "rollup_rows": rows,
                "days": DAYS,
                "services": SERVICES,
                "edges": EDGES,
                "requests": REPEATS,
                **conditions,
            }))  # fmt: skip


if __name__ == "__main__":
    main()
