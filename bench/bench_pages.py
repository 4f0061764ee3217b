"""Server time of the trace page and the events page with a large archive stored.

The archive (default 1,000,000 events and 5,000,000 spans, ``BENCH_PAGES_EVENTS`` /
``BENCH_PAGES_SPANS`` to change) is generated in bulk with plain ``sqlite3`` ``executemany`` into a
fresh embedded-mode database (migrated by the project, so the schema and indexes are the real ones):
traces of 50 spans over four services, 10 events per trace placed under their publishing spans,
one consumer trace linked back to each producer trace, idempotency keys with retries. Then a
daphne server runs on it, a logged-in client requests the pages one at a time, and the latency of
each response (the server's time, over loopback) is reported as p50/p95/p99.

Pages timed: ``/traces/<id>/`` for random traces (each in a flow of four linked traces, drawn
whole); ``/events/`` unfiltered, by source, by
detail-type, by trace, by key, and the next page through the cursor; and the overview (rates over
the last hour, which holds the whole generated archive). Goal: p95 under 200 ms.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import requests

from bench.bench_ingest import percentile_ms
from bench.server import KEEP_FOREVER, manage, serve

EVENTS = int(os.environ.get("BENCH_PAGES_EVENTS", "1000000"))
SPANS = int(os.environ.get("BENCH_PAGES_SPANS", "5000000"))
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "200"))
SPANS_PER_TRACE = 50
EVENTS_PER_TRACE = 10
SERVICES = ["orders", "billing", "inventory", "shipping"]
TYPES = ["OrderCreated", "OrderPaid", "StockReserved", "OrderShipped", "OrderUpdated"]
GOAL_P95_MS = 200
PASSWORD = "bench-pages-pw-1"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(ms: int, serial: int) -> str:
    out = []
    for value, length in ((ms, 10), (serial, 16)):
        chars = []
        for _ in range(length):
            chars.append(_ALPHABET[value & 31])
            value >>= 5
        out.append("".join(reversed(chars)))
    return "".join(out)


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000 // 1000:06d}"


def _traces(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.getrandbits(128):032x}" for _ in range(count)]


def _span_batches(rng: random.Random, trace_ids: list[str], base_ns: int) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Span rows (and link rows) trace by trace: a root, then children nested three levels deep."""
    attributes = orjson.dumps(
        {"http.request.method": "POST", "shop.order_id": "o-1", "messaging.system": "bench"}
    ).decode()
    resource = '{"service.name": "%s"}'
    spans: list[tuple] = []
    links: list[tuple] = []
    previous: list[str] = []
    for t, trace_id in enumerate(trace_ids):
        start = base_ns + t * 20_000_000
        ids = [f"{rng.getrandbits(64):016x}" for _ in range(SPANS_PER_TRACE)]
        service = SERVICES[t % 4]
        for i, span_id in enumerate(ids):
            parent = "" if i == 0 else ids[(i - 1) // 3]
            s = start + i * 100_000
            link = "[]"
            if i == 0 and t % 4:
                # Flows of four traces, as in the shop: each consumes a message published in the one before.
                link = orjson.dumps([{"trace_id": trace_ids[t - 1], "span_id": previous[3], "attributes": {}}]).decode()
                links.append((trace_id, span_id, trace_ids[t - 1], previous[3], "{}"))
            spans.append(
                (
                    trace_id,
                    span_id,
                    parent,
                    "",
                    f"step {i % 7}",
                    1 + i % 5,
                    service,
                    s,
                    s + rng.randint(50_000, 5_000_000),
                    2 if rng.random() < 0.02 else 1,
                    "",
                    attributes,
                    resource % service,
                    "bench",
                    "[]",
                    link,
                    _iso(s),
                )
            )
        previous = ids
        if len(spans) >= 50_000:
            yield spans, links
            spans, links = [], []
    if spans:
        yield spans, links


def _event_batches(rng: random.Random, trace_ids: list[str], span_parents: dict[str, str], base_ns: int, total: int):
    serial = 0
    rows: list[tuple] = []
    for t, trace_id in enumerate(trace_ids):
        for j in range(EVENTS_PER_TRACE):
            if serial >= total:
                break
            serial += 1
            ns = base_ns + t * 20_000_000 + j * 1_000_000
            order = f"o-{t}"
            kind = TYPES[j % len(TYPES)]
            key = f"{order}/{kind}" if rng.random() > 0.05 else f"{order}/{TYPES[0]}"
            detail = orjson.dumps(
                {"data": {"order-id": order, "amount": j * 7}, "metadata": {"idempotency-key": key}}
            ).decode()
            stored = _ulid(ns // 1_000_000, serial)
            raw = orjson.dumps({"source": f"shop.{SERVICES[j % 4]}", "detail-type": kind, "detail": detail}).decode()
            rows.append(
                (
                    stored,
                    f"e-{serial}",
                    f"shop.{SERVICES[j % 4]}",
                    kind,
                    _iso(ns),
                    "000000000000",
                    "local",
                    "[]",
                    detail,
                    "{}",
                    raw,
                    _iso(ns),
                    "native",
                    trace_id,
                    span_parents.get(trace_id, ""),
                    key,
                    "",
                )
            )
            if len(rows) >= 50_000:
                yield rows
                rows = []
    if rows:
        yield rows


def generate(database: Path) -> dict[str, object]:
    rng = random.Random(42)
    started = time.perf_counter()
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2000000")
    trace_ids = _traces(rng, max(1, SPANS // SPANS_PER_TRACE))
    base_ns = time.time_ns() - len(trace_ids) * 20_000_000
    span_sql = (
        "INSERT INTO tracing_span (trace_id, span_id, parent_span_id, trace_state, name, kind, service,"
        " start_ns, end_ns, status_code, status_message, attributes, resource, scope, events, links, received_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    link_sql = (
        "INSERT INTO tracing_spanlink (trace_id, span_id, linked_trace_id, linked_span_id, attributes)"
        " VALUES (?,?,?,?,?)"
    )
    publishers: dict[str, str] = {}
    for spans, links in _span_batches(rng, trace_ids, base_ns):
        db.execute("BEGIN")
        db.executemany(span_sql, spans)
        db.executemany(link_sql, links)
        db.execute("COMMIT")
        for row in spans:
            if row[4] == "step 3":
                publishers.setdefault(row[0], row[1])
    event_traces = trace_ids[: max(1, EVENTS // EVENTS_PER_TRACE)]
    event_sql = (
        "INSERT INTO dashboard_event (id, event_id, source, detail_type, time, account, region, resources, detail,"
        " extra, raw, received_at, format, trace_id, parent_span_id, idempotency_key, replay_name)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    for rows in _event_batches(rng, event_traces, publishers, base_ns, EVENTS):
        db.execute("BEGIN")
        db.executemany(event_sql, rows)
        db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {
        "events": db.execute("SELECT COUNT(*) FROM dashboard_event").fetchone()[0],
        "spans": db.execute("SELECT COUNT(*) FROM tracing_span").fetchone()[0],
        "span_links": db.execute("SELECT COUNT(*) FROM tracing_spanlink").fetchone()[0],
    }
    db.close()
    return {**counts, "generate_seconds": round(time.perf_counter() - started, 1), "trace_ids": event_traces}


def login(url: str, username: str = "bench", password: str = PASSWORD) -> requests.Session:
    """A session logged in through the login form, as a browser does."""
    session = requests.Session()
    form = session.get(f"{url}/login/", timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert csrf is not None
    response = session.post(
        f"{url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf.group(1)},
        headers={"Referer": f"{url}/login/"},
        timeout=30,
    )
    assert response.url.rstrip("/") == url, "login failed"
    return session


def _time(session: requests.Session, url: str, paths: list[str]) -> dict[str, float]:
    for path in paths[:5]:  # warm-up: page cache, connection, template loading
        session.get(url + path, timeout=60)
    latencies = []
    for path in paths:
        started = time.perf_counter()
        response = session.get(url + path, timeout=60)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return {f"p{round(q * 100)}_ms": round(percentile_ms(latencies, q), 1) for q in (0.5, 0.95, 0.99)}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="eventscope-bench-pages-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            {"EVENTSCOPE_VAR_DIR": tmp, "SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
             **KEEP_FOREVER}
        )  # fmt: skip
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "createsuperuser", "--no-input", "--username", "bench", "--email", "bench@example.com")
        stored = generate(Path(tmp) / "eventscope.sqlite3")
        trace_ids: list[str] = stored.pop("trace_ids")  # type: ignore[assignment]
        with serve(env) as url:
            session = login(url)
            rng = random.Random(7)
            traces = [rng.choice(trace_ids) for _ in range(REQUESTS)]
            trace_page = _time(session, url, [f"/traces/{t}/" for t in traces])
            first = session.get(f"{url}/events/", timeout=60).text
            cursor = re.search(r'href="\?cursor=([0-9A-Z]{26})"', first)
            event_paths = []
            for i in range(REQUESTS):
                trace = traces[i]
                t = trace_ids.index(trace)
                event_paths.append(
                    [
                        "/events/",
                        f"/events/?source=shop.{SERVICES[i % 4]}",
                        f"/events/?detail_type={TYPES[i % 5]}",
                        f"/events/?trace_id={trace}",
                        f"/events/?idempotency_key=o-{t}%2F{TYPES[0]}",
                        f"/events/?cursor={cursor.group(1)}" if cursor else "/events/",
                    ][i % 6]
                )
            events_page = _time(session, url, event_paths)
            overview_page = _time(session, url, ["/"] * max(10, REQUESTS // 10))
    conditions = {
        "mode": "embedded (SQLite WAL)",
        "server": "daphne, 1 process, requests one at a time over loopback",
        "stored": stored,
        "requests": REQUESTS,
        "spans_per_trace": SPANS_PER_TRACE,
        "events_per_trace": EVENTS_PER_TRACE,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    for name, result in (("page_trace", trace_page), ("page_events", events_page), ("page_overview", overview_page)):
        print(json.dumps({"bench": name, **result, "goal_p95_ms": GOAL_P95_MS, **conditions}))


if __name__ == "__main__":
    main()
