"""Trace search and find with a large store: 1,000,000 events and 5,000,000 spans (500,000 traces of
10 spans over 12 services), loaded in bulk with raw SQL into the embedded default (SQLite), the
search tables filled as ingest fills them (``tracing.summaries``' rules), then searched through the
real server (daphne, HTTP, a ``read`` token).

Figures (p50/p95 over varied values, after one warm-up request each):
- ``/api/traces?service=`` (a service in about half of the traces);
- ``/api/traces?service=&status=error&min_duration_ms=`` (a rare combination: ~3% of traces fail);
- ``/api/traces?attr=order.id=`` (one trace a value) and ``attr=customer.id=`` (about ten);
- ``/api/find?q=`` for a trace id, a stored event id, a producer event id, a transaction key, an
  idempotency key, a service and a detail-type, together.
Goal: p95 < 200 ms each. Sizes: ``BENCH_SEARCH_SPANS`` (default 5,000,000; 10 spans a trace) and
``BENCH_SEARCH_EVENTS`` (default 1,000,000; two a trace, the rest without one).
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from typing import Any

import orjson
import requests

from bench.server import BenchServer, bench_server, manage

SPANS = int(os.environ.get("BENCH_SEARCH_SPANS", "5000000"))
EVENTS = int(os.environ.get("BENCH_SEARCH_EVENTS", "1000000"))
REPEATS = int(os.environ.get("BENCH_SEARCH_REPEATS", "40"))
SPANS_PER_TRACE = 10
SERVICES = [
    "gateway", "orders", "billing", "shipping", "inventory", "payments", "users", "search", "email", "fraud",
    "ledger", "labels",
]  # fmt: skip
NAMES = {
    service: [f"{verb} {service}" for verb in ("GET", "POST", "publish", "consume", "query")] for service in SERVICES
}
T0 = 1_772_359_200_000_000_000  # 2026-03-01T10:00:00Z
CHILD_RANK = 1 << 62
# TraceTerm kinds (tracing.models)
SERVICE, SPAN_NAME, ATTRIBUTE = 0, 1, 2


def _trace_id(n: int) -> str:
    return random.Random(n).randbytes(16).hex()


def _spans(traces: int) -> Iterator[tuple[list[tuple[Any, ...]], tuple[Any, ...], set[tuple[Any, ...]]]]:
    """Per trace: its span rows, its summary row and its terms (by the summary id, n + 1)."""
    rng = random.Random(7)
    resources = {s: orjson.dumps({"service.name": s, "deployment.environment": "prod"}).decode() for s in SERVICES}
    for n in range(traces):
        trace_id = _trace_id(n)
        start = T0 + n * 10_000_000  # a trace every 10 ms
        total = int(rng.lognormvariate(4, 1.2) * 1_000_000)  # median ~55 ms
        failing = rng.random() < 0.03
        root_service = SERVICES[n % 2 * 1] if n % 2 else "gateway"  # half through gateway, half orders
        services = [root_service, *rng.sample(SERVICES[2:], 3)]
        rows, terms = [], set()
        counts = [0, 0, 0]  # unset, ok, error
        for i in range(SPANS_PER_TRACE):
            service = services[0 if i == 0 else 1 + i % 3]
            name = NAMES[service][0 if i == 0 else rng.randrange(1, 5)]
            s_start = start + (0 if i == 0 else rng.randrange(0, max(1, total // 2)))
            s_end = start + total if i == 0 else min(start + total, s_start + rng.randrange(1, max(2, total // 2)))
            status = 2 if failing and i == SPANS_PER_TRACE - 1 else (1 if i == 0 else 0)
            counts[status] += 1
            attributes: dict[str, Any] = {"http.status_code": 500 if status == 2 else 200}
            if i == 0:
                attributes["order.id"] = f"o-{n}"
                attributes["customer.id"] = f"c-{n % max(1, traces // 10)}"
            rows.append((
                trace_id, f"{n:08x}{i:08x}", "" if i == 0 else f"{n:08x}{0:08x}", "", name, 2, service, s_start,
                s_end, status, "", orjson.dumps(attributes).decode(), resources[service], "bench", "[]", "[]",
                "2026-03-01 10:00:00",
            ))  # fmt: skip
            terms.add((SERVICE, "", service, n + 1))
            terms.add((SPAN_NAME, service, name, n + 1))
            terms.add((ATTRIBUTE, "deployment.environment", "prod", n + 1))
            for key, value in attributes.items():
                terms.add((ATTRIBUTE, key, str(value), n + 1))
        summary = (
            n + 1, trace_id, start, start + total, start, root_service, NAMES[root_service][0], SPANS_PER_TRACE,
            counts[2], counts[1], counts[0],
        )  # fmt: skip
        yield rows, summary, terms


def _without_indexes(db: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Drop the indexes of ``tables`` (recreated after the load: building one sorts once, far faster
    than inserting 5,000,000 random keys); their CREATE statements."""
    found = db.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' * len(tables))})",
        tables,
    ).fetchall()
    for name, _ in found:
        db.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def _fill(server: BenchServer, spans_wanted: int = SPANS, events_wanted: int = EVENTS) -> dict[str, Any]:
    """Load ``spans_wanted`` spans and ``events_wanted`` events in bulk (also used by
    ``bench_servicemap``); the row counts of the tables filled."""
    db = sqlite3.connect(server.var_dir / "eventscope.sqlite3", isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA cache_size=-262144")
    traces = spans_wanted // SPANS_PER_TRACE
    tables = ["tracing_span", "tracing_tracesummary", "tracing_traceterm", "dashboard_event"]
    indexes = _without_indexes(db, tables)
    span_sql = (
        "INSERT INTO tracing_span (trace_id, span_id, parent_span_id, trace_state, name, kind, service, start_ns, "
        "end_ns, status_code, status_message, attributes, resource, scope, events, links, received_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    summary_sql = (
        "INSERT INTO tracing_tracesummary (id, trace_id, start_ns, end_ns, root_rank, root_service, root_name, "
        "span_count, error_count, ok_count, unset_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    )
    operations: dict[tuple[str, str], list[int]] = {}
    db.execute("BEGIN")
    spans, summaries, terms = [], [], []
    for rows, summary, trace_terms in _spans(traces):
        spans += rows
        summaries.append(summary)
        terms += trace_terms
        for row in rows:
            op = operations.setdefault((row[6], row[4]), [0, 0])
            op[0] += 1
            op[1] = max(op[1], row[7])
        if len(spans) >= 200_000:
            db.executemany(span_sql, spans)
            db.executemany(summary_sql, summaries)
            db.executemany("INSERT INTO tracing_traceterm (kind, key, value, trace) VALUES (?,?,?,?)", terms)
            spans, summaries, terms = [], [], []
    db.executemany(span_sql, spans)
    db.executemany(summary_sql, summaries)
    db.executemany("INSERT INTO tracing_traceterm (kind, key, value, trace) VALUES (?,?,?,?)", terms)
    db.executemany(
        "INSERT INTO tracing_serviceoperation (service, name, shard, spans, last_start_ns) VALUES (?,?,0,?,?)",
        [(service, name, count, last) for (service, name), (count, last) in operations.items()],
    )
    event_sql = (
        "INSERT INTO dashboard_event (id, event_id, source, detail_type, time, account, region, resources, detail, "
        "extra, raw, received_at, format, trace_id, parent_span_id, idempotency_key, replay_name, lifecycle_matches) "
        "VALUES (?,?,?,?,?,'','','[]',?,'{}','',?,'native',?,'',?,'',NULL)"
    )
    types = ["OrderCreated", "OrderPaid", "OrderShipped", "PaymentCaptured", "StockReserved"]
    events = []
    for n in range(events_wanted):
        trace = n // 2 if n // 2 < traces else None
        events.append((
            f"01J{n:023d}", f"evt-{n}", "shop.orders", types[n % 5], "2026-03-01 10:00:00",
            orjson.dumps({"order-id": f"o-{n // 2}"}).decode(), "2026-03-01 10:00:00",
            _trace_id(trace) if trace is not None else "", f"k-{n}",
        ))  # fmt: skip
        if len(events) >= 100_000:
            db.executemany(event_sql, events)
            events = []
    db.executemany(event_sql, events)
    db.execute("COMMIT")
    for sql in indexes:
        db.execute(sql)
    # The fold of transaction records starts after the bulk rows (they belong to no lifecycle).
    db.execute("DELETE FROM dashboard_trackingcursor")
    db.execute(
        "INSERT INTO dashboard_trackingcursor (position, last_id) "
        "SELECT max(rowid), (SELECT id FROM dashboard_event ORDER BY rowid DESC LIMIT 1) FROM dashboard_event"
    )
    # The bulk spans come with their summaries: the summary position (SQLite) starts after them.
    db.execute("DELETE FROM tracing_tracesummarycursor")
    db.execute("INSERT INTO tracing_tracesummarycursor (id, position) SELECT 1, max(id) FROM tracing_span")
    db.execute("ANALYZE")
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("tracing_span", "tracing_tracesummary", "tracing_traceterm", "dashboard_event")
    }
    db.close()
    return counts


def _timed(session: requests.Session, urls: list[str]) -> dict[str, float]:
    session.get(urls[0], timeout=120).raise_for_status()  # warm
    times = []
    for url in urls:
        started = time.perf_counter()
        response = session.get(url, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        assert response.json()["results"], url
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "max_ms": round(times[-1], 1),
        "requests": len(times),
    }


def main() -> None:
    conditions = {
        "mode": "embedded (SQLite WAL, synchronous=NORMAL)",
        "server": "daphne, 1 process",
        "client": "requests, one keep-alive connection, sequential",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:

        def token(scopes: str) -> str:
            issued = manage(server.env, "create_token", f"bench-{scopes}", "--scopes", scopes, "--json")
            return str(json.loads(issued.splitlines()[-1])["token"])

        ingest = requests.Session()
        ingest.headers["Authorization"] = f"Bearer {server.token}"
        lifecycle = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"],
                     "timeout_seconds": 900}  # fmt: skip
        requests.post(f"{server.url}/api/lifecycles", json=lifecycle, timeout=30,
                      headers={"Authorization": f"Bearer {token('operate')}"}).raise_for_status()  # fmt: skip
        started = time.perf_counter()
        counts = _fill(server)
        fill_seconds = round(time.perf_counter() - started, 1)
        # A few tracked events through the API, so that transaction keys exist to be found.
        tracked = [{"source": "shop.orders", "detail-type": "OrderCreated", "detail": {"order-id": f"t-{n}"}}
                   for n in range(50)]  # fmt: skip
        ingest.post(f"{server.url}/api/events", json=tracked, timeout=60).raise_for_status()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token('read')}"
        traces = SPANS // SPANS_PER_TRACE
        rng = random.Random(3)
        base = server.url
        searches = {
            "traces_by_service": [f"{base}/api/traces?service={rng.choice(['orders', 'billing', 'fraud'])}"
                                  for _ in range(REPEATS)],
            "traces_by_service_error_min_duration": [
                f"{base}/api/traces?service={rng.choice(['gateway', 'orders'])}&status=error"
                f"&min_duration_ms={rng.choice([50, 100, 200])}" for _ in range(REPEATS)
            ],
            "traces_by_attribute_unique": [f"{base}/api/traces?attr=order.id%3Do-{rng.randrange(traces)}"
                                           for _ in range(REPEATS)],
            "traces_by_attribute_shared": [
                f"{base}/api/traces?attr=customer.id%3Dc-{rng.randrange(max(1, traces // 10))}" for _ in range(REPEATS)
            ],
        }  # fmt: skip
        finds = []
        for i in range(REPEATS):
            n = rng.randrange(min(traces, EVENTS // 2))
            finds.append([
                _trace_id(n), f"01J{2 * n:023d}", f"evt-{2 * n}", f"t-{i % 50}", f"k-{2 * n}",
                rng.choice(SERVICES), "OrderPaid",
            ][i % 7])  # fmt: skip
        searches["find"] = [f"{base}/api/find?q={q}" for q in finds]
        for name, urls in searches.items():
            print(json.dumps({
                "bench": f"search_{name}", **_timed(session, urls), "goal_p95_ms": 200, "example": urls[0][len(base):],
                "spans": counts["tracing_span"], "traces": counts["tracing_tracesummary"],
                "terms": counts["tracing_traceterm"], "events": counts["dashboard_event"],
                "bulk_load_seconds": fill_seconds, **conditions,
            }))  # fmt: skip


if __name__ == "__main__":
    main()
