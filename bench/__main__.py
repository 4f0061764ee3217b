"""``make bench``: every benchmark, one JSON object per line."""

from __future__ import annotations

import importlib
import sys

MODULES = [
    "bench.bench_patterns",
    "bench.bench_ingest",
    "bench.bench_ingest_ratio",
    "bench.bench_web_processes",
    "bench.bench_transactions",
    "bench.bench_schemas",
    "bench.bench_live",
    "bench.bench_pages",
    "bench.bench_replay",
    "bench.bench_replay_brokers",
    "bench.bench_search",
    "bench.bench_servicemap",
    "bench.bench_metrics",
    "bench.bench_retention",
    "bench.bench_partition_drop",
    "bench.bench_taps",
    "bench.bench_publish_redis",
    "bench.bench_publish_amqp",
    "bench.bench_publish_nats",
]


def main() -> None:
    only = sys.argv[1:]
    for name in MODULES:
        if only and not any(part in name for part in only):
            continue
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
