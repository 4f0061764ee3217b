"""Event-pattern evaluation throughput: 100 compiled patterns against 10,000 events on one core.

The patterns cover every operator family (exact values, prefix/suffix, equals-ignore-case,
wildcard, every anything-but form, numeric ranges, exists, cidr, $or, nested objects and arrays of
objects) and the events are EventBridge envelopes with varied details, both generated from a fixed
seed so runs are comparable. Every pattern is evaluated against every event (1,000,000 calls to
``CompiledPattern.matches``) in a single thread; compilation is not timed.

Run with ``python -m bench.bench_patterns``; prints one JSON object per line. The goal is at
least 200,000 evaluations per second.

A second line, ``pattern_limits``, measures the limits on what one pattern may ask for: how long
refusing a 200,000-alternative ``$or`` (about 7 MB, which used to cost ten seconds of CPU to
compile) takes, as a parsed pattern, as pattern text, and with the JSON parse of a request body
that carries it; and, for the largest patterns the limits allow (each shape filled up to a limit),
the compile time and the time to evaluate one event, with the cost of a search scanning its
20,000-row bound with the slowest of them.
"""

from __future__ import annotations

import functools
import json
import platform
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from dashboard.patterns.engine import (
    MAX_ALTERNATIVES,
    MAX_PATTERN_SIZE,
    MAX_VALUES,
    CompiledPattern,
    PatternError,
    compile_pattern,
)

SEED = 20240611
PATTERN_COUNT = 100
EVENT_COUNT = 10_000
GOAL_PER_SECOND = 200_000

SOURCES = [f"com.example.{name}" for name in ("orders", "billing", "users", "search", "inventory")] + [
    "aws.ec2",
    "aws.s3",
    "aws.cloudwatch",
]
DETAIL_TYPES = [
    "Order Created",
    "Order Shipped",
    "Payment Failed",
    "User Signed Up",
    "EC2 Instance State-change Notification",
    "Object Created",
    "CloudWatch Alarm State Change",
]
STATES = ["pending", "running", "stopped", "terminated", "initializing", "RUNNING", "Stopped"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
TAGS = ["prod", "staging", "dev", "blue", "green", "canary"]
FILES = ["report.png", "photo.PNG", "notes.txt", "lib/core.so", "bin/tool", "data.csv", "a*b.txt"]


def make_event(rng: random.Random, index: int) -> dict[str, Any]:
    """One EventBridge envelope; optional fields come and go so exists/anything-but have work."""
    detail: dict[str, Any] = {
        "state": rng.choice(STATES),
        "price": round(rng.uniform(-50, 500), rng.choice((0, 2, 4))),
        "count": rng.randint(0, 20),
        "sourceIPAddress": rng.choice(
            [f"10.0.{rng.randint(0, 3)}.{rng.randint(0, 255)}", "192.168.1.7", "2001:db8::1", "not-an-ip"],
        ),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "file": rng.choice(FILES),
        "user": {"id": f"u-{rng.randint(1, 500)}", "tier": rng.choice(["free", "pro", "enterprise"])},
    }
    if rng.random() < 0.5:
        items = []
        for _ in range(rng.randint(1, 4)):
            items.append({"sku": f"sku-{rng.randint(1, 30)}", "qty": rng.randint(1, 5)})
        detail["items"] = items
    if rng.random() < 0.3:
        detail["error"] = {"code": rng.choice(["E100", "E200", "timeout"]), "retryable": rng.random() < 0.5}
    if rng.random() < 0.2:
        detail["note"] = None
    return {
        "version": "0",
        "id": f"evt-{index:06d}",
        "source": rng.choice(SOURCES),
        "detail-type": rng.choice(DETAIL_TYPES),
        "time": f"2024-06-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:00:00Z",
        "account": rng.choice(["123456789012", "210987654321"]),
        "region": rng.choice(REGIONS),
        "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/i-{rng.randint(1, 99):04d}"],
        "detail": detail,
    }


def _pattern_makers(rng: random.Random) -> list[Callable[[], dict[str, Any]]]:
    """One maker per pattern family; each call draws fresh values from ``rng``."""

    def pick(values: list[str], most: int = 3) -> list[str]:
        return rng.sample(values, rng.randint(1, most))

    return [
        lambda: {"source": pick(SOURCES)},
        lambda: {"source": pick(SOURCES), "detail-type": pick(DETAIL_TYPES)},
        lambda: {"source": [{"prefix": "com.example."}], "detail": {"state": pick(STATES, 2)}},
        lambda: {"detail": {"file": [{"suffix": rng.choice([".png", ".txt", ".csv"])}]}},
        lambda: {"detail": {"file": [{"suffix": {"equals-ignore-case": ".PNG"}}]}},
        lambda: {"detail-type": [{"prefix": {"equals-ignore-case": "order"}}]},
        lambda: {"detail": {"state": [{"equals-ignore-case": rng.choice(STATES)}]}},
        lambda: {"detail": {"file": [{"wildcard": rng.choice(["*/*", "*.png", "lib/*.so", "a\\*b*"])}]}},
        lambda: {"detail": {"state": [{"anything-but": pick(STATES, 2)}]}},
        lambda: {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        lambda: {"detail": {"file": [{"anything-but": {"suffix": ".txt"}}]}},
        lambda: {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["running", "stopped"]}}]}},
        lambda: {"detail": {"file": [{"anything-but": {"wildcard": "*/*"}}]}},
        lambda: {"detail": {"count": [{"anything-but": [0, 1, 2]}]}},
        lambda: {"detail": {"price": [{"numeric": [">", rng.randint(0, 100), "<=", rng.randint(200, 400)]}]}},
        lambda: {"detail": {"count": [{"numeric": ["=", rng.randint(0, 20)]}], "state": ["running"]}},
        lambda: {"detail": {"price": [{"numeric": ["<", 0]}, {"numeric": [">=", 450]}]}},
        lambda: {"detail": {"error": {"code": [{"exists": True}]}}},
        lambda: {"detail": {"note": [{"exists": False}], "source": [{"exists": False}]}},
        lambda: {"detail": {"sourceIPAddress": [{"cidr": rng.choice(["10.0.0.0/24", "10.0.0.0/16"])}]}},
        lambda: {"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}},
        lambda: {"detail": {"tags": pick(TAGS, 2)}},
        lambda: {"detail": {"items": {"sku": [f"sku-{rng.randint(1, 30)}"], "qty": [{"numeric": [">", 2]}]}}},
        lambda: {"detail": {"user": {"tier": ["pro", "enterprise"], "id": [{"prefix": "u-1"}]}}},
        lambda: {
            "source": pick(SOURCES, 2),
            "$or": [{"detail": {"state": ["running"]}}, {"detail": {"price": [{"numeric": [">", 300]}]}}],
        },
        lambda: {"$or": [{"region": [rng.choice(REGIONS)]}, {"detail": {"error": {"retryable": [True]}}}]},
        lambda: {"resources": [{"wildcard": "arn:aws:ec2:*:instance/i-00*"}], "account": ["123456789012"]},
        lambda: {"time": [{"prefix": f"2024-06-{rng.randint(1, 3)}"}], "detail": {"note": [None]}},
    ]


def make_patterns(rng: random.Random) -> list[dict[str, Any]]:
    makers = _pattern_makers(rng)
    # Every family at least three times, the rest drawn at random, in a shuffled order.
    chosen = [maker for maker in makers for _ in range(3)]
    chosen += [rng.choice(makers) for _ in range(PATTERN_COUNT - len(chosen))]
    rng.shuffle(chosen)
    return [maker() for maker in chosen[:PATTERN_COUNT]]


def run() -> dict[str, Any]:
    rng = random.Random(SEED)
    patterns = [compile_pattern(pattern) for pattern in make_patterns(rng)]
    events: list[Mapping[str, Any]] = [make_event(rng, index) for index in range(EVENT_COUNT)]
    checks = [pattern.matches for pattern in patterns]

    matched = 0
    started = time.perf_counter()
    for event in events:
        for check in checks:
            if check(event):
                matched += 1
    seconds = time.perf_counter() - started

    evaluations = len(checks) * len(events)
    return {
        "bench": "pattern_evaluations",
        "evaluations_per_second": round(evaluations / seconds),
        "goal_per_second": GOAL_PER_SECOND,
        "patterns": len(checks),
        "events": len(events),
        "evaluations": evaluations,
        "matched": matched,
        "seconds": round(seconds, 3),
        "python": platform.python_version(),
        "cores_used": 1,
    }


HUGE_ALTERNATIVES = 200_000
SCAN_LIMIT = 20_000  # rows one pattern= search looks at (dashboard.events.queries.SCAN_LIMIT)
REPEATS = 5


def _compact_size(pattern: Any) -> int:
    return len(json.dumps(pattern, separators=(",", ":"), ensure_ascii=False))


def _padded(make: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """``make(padding)`` with the largest padding that keeps it within MAX_PATTERN_SIZE."""
    padding = 0
    assert _compact_size(make(padding)) <= MAX_PATTERN_SIZE
    while _compact_size(make(padding + 1)) <= MAX_PATTERN_SIZE:
        padding += 1
    return make(padding)


def largest_patterns() -> dict[str, dict[str, Any]]:
    """One pattern per expensive shape, each filled up to a limit (and to the size limit)."""

    def alternatives(pad: int) -> list[dict[str, Any]]:
        # Prefixes no event's state has: every alternative is evaluated for every event.
        return [
            {"detail": {"state": [{"prefix": f"s{index:02d}" + "x" * (pad if index == 0 else 0)}]}}
            for index in range(MAX_ALTERNATIVES)
        ]

    def wildcards(pad: int) -> list[dict[str, Any]]:
        return [
            {"wildcard": f"*{index:03d}*.z*" + "y" * (pad if index == 0 else 0)}
            for index in range(MAX_PATTERN_SIZE // 26)
        ]

    return {
        "or_alternatives": _padded(lambda pad: {"$or": alternatives(pad)}),
        "values": {"detail": {"count": list(range(MAX_VALUES))}},
        "wildcards": _padded(lambda pad: {"detail": {"file": wildcards(pad)}}),
        "numeric_ranges": _padded(
            lambda count: {"detail": {"price": [{"numeric": [">", i * 10, "<=", i * 10 + 5]} for i in range(count)]}}
        ),
    }


def _best_of(work: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _refusal(pattern: Any) -> Callable[[], None]:
    def refuse() -> None:
        try:
            compile_pattern(pattern)
        except PatternError:
            return
        raise AssertionError("the pattern was accepted")

    return refuse


def _match_all(compiled: CompiledPattern, events: list[Mapping[str, Any]]) -> int:
    return sum(1 for event in events if compiled.matches(event))


def run_limits() -> dict[str, Any]:
    huge = {"$or": [{"source": [f"shop.orders-{index}"]} for index in range(HUGE_ALTERNATIVES)]}
    text = orjson.dumps(huge).decode()
    body = orjson.dumps({"pattern": huge, "event": {"source": "shop.orders-1"}})

    def refuse_body() -> None:
        _refusal(orjson.loads(body)["pattern"])()

    rng = random.Random(SEED)
    events: list[Mapping[str, Any]] = [make_event(rng, index) for index in range(2_000)]
    largest: dict[str, Any] = {}
    for shape, pattern in largest_patterns().items():
        compiled = compile_pattern(pattern)  # within the limits, or this raises
        matching = functools.partial(_match_all, compiled, events)
        largest[shape] = {
            "size": _compact_size(pattern),
            "compile_ms": round(_best_of(functools.partial(compile_pattern, pattern)) * 1e3, 2),
            "us_per_event": round(_best_of(matching, 3) / len(events) * 1e6, 2),
        }
    slowest = max(item["us_per_event"] for item in largest.values())
    return {
        "bench": "pattern_limits",
        "huge_pattern_alternatives": HUGE_ALTERNATIVES,
        "huge_pattern_bytes": len(text),
        "refuse_parsed_ms": round(_best_of(_refusal(huge)) * 1e3, 3),
        "refuse_text_ms": round(_best_of(_refusal(text)) * 1e3, 3),
        "refuse_request_body_ms": round(_best_of(refuse_body) * 1e3, 1),
        "largest_allowed": largest,
        "largest_compile_ms": max(item["compile_ms"] for item in largest.values()),
        "scan_bound_rows": SCAN_LIMIT,
        "slowest_scan_matching_s": round(slowest * SCAN_LIMIT / 1e6, 2),
        "python": platform.python_version(),
    }


def main() -> None:
    print(json.dumps(run()))
    print(json.dumps(run_limits()))


if __name__ == "__main__":
    main()
