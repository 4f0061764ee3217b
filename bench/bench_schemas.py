"""Schemas: what discovery and a pinned version cost native ingest.

Three servers side by side, same settings and generator (``bench_ingest``: 100 events a request, 4
clients, three detail-types of one shape): discovery off (``EVENTSCOPE_SCHEMA_DISCOVERY=0``), on, and
on with version 1 of each type pinned (every event is checked; they all conform). The three are
measured in turn, each round starting with another, ``ROUNDS`` times; each keeps its best run and its
lowest server CPU time per event: a busy machine slows runs at random, and the comparison is between
configurations, not moments. The server's CPU time per event (from ``/proc``) is the steadier figure
on a shared machine.
Goals: at most 10% slower with discovery, at most 20% with a pinned version.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from contextlib import ExitStack

import requests

from bench.bench_ingest import CLIENTS, PER_REQUEST, event_request, run_ingest
from bench.server import BenchServer, bench_server, cpu_seconds, manage

ROUNDS = int(os.environ.get("BENCH_SCHEMAS_ROUNDS", "3"))
CONDITIONS = {
    "discovery_off": {"EVENTSCOPE_SCHEMA_DISCOVERY": "0"},
    "discovery_on": {"EVENTSCOPE_SCHEMA_DISCOVERY": "1"},
    "pinned": {"EVENTSCOPE_SCHEMA_DISCOVERY": "1"},
}
GOALS = {"discovery_on": 10, "pinned": 20}


def pin_every_type(server: BenchServer) -> None:
    """Send one batch (the types get version 1), pin version 1 of each, and wait until the server
    checks events against it (another process's pin applies within EVENTSCOPE_SCHEMA_CACHE_SECONDS)."""
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    rng = random.Random(5)
    requests.post(f"{server.url}/api/events", data=event_request(rng), headers=headers, timeout=30).raise_for_status()
    pin = "from dashboard.schemas.models import Schema\nSchema.objects.update(pinned_version=1)"
    manage(server.env, "shell", "-c", pin)
    for _ in range(300):
        answer = requests.post(f"{server.url}/api/events", data=event_request(rng), headers=headers, timeout=30)
        stored = answer.json()["results"][0]["id"]
        event = requests.get(f"{server.url}/api/events/{stored}", headers=headers, timeout=30).json()
        if event["schema_valid"] is True:
            return
        time.sleep(0.1)
    raise RuntimeError("the server never checked an event against the pinned version")


def main() -> None:
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in CONDITIONS}
    with ExitStack() as stack:
        servers = {name: stack.enter_context(bench_server(env)) for name, env in CONDITIONS.items()}
        for name, server in servers.items():
            # Every server gets the same history before it is measured.
            if name == "pinned":
                pin_every_type(server)
            else:
                headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
                requests.post(
                    f"{server.url}/api/events", data=event_request(random.Random(5)), headers=headers, timeout=30
                ).raise_for_status()
        names = list(servers)
        for round_number in range(ROUNDS):
            # A different condition goes first each round: whatever the machine does meanwhile
            # falls on each of them alike.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                server = servers[name]
                before = cpu_seconds(server.url)
                run = run_ingest(server, "/api/events", "application/json", event_request, "dashboard_event")
                spent = cpu_seconds(server.url) - before
                run["server_cpu_us_per_event"] = round(1e6 * spent / max(int(run["stored"]), 1), 1)  # type: ignore[call-overload]
                runs[name].append(run)
    best = {name: max(found, key=lambda run: int(run["per_second"])) for name, found in runs.items()}  # type: ignore[call-overload]
    cpu = {name: min(float(run["server_cpu_us_per_event"]) for run in found) for name, found in runs.items()}  # type: ignore[arg-type]
    baseline = int(best["discovery_off"]["per_second"])  # type: ignore[call-overload]
    for name in CONDITIONS:
        run = best[name]
        line: dict[str, object] = {
            "bench": f"ingest_native_events_schemas_{name}",
            "per_second": run["per_second"],
            "percent_slower_than_discovery_off": round(100 * (1 - int(run["per_second"]) / baseline), 1),  # type: ignore[call-overload]
            "server_cpu_us_per_event": cpu[name],
            "server_cpu_us_per_event_runs": [run["server_cpu_us_per_event"] for run in runs[name]],
            "percent_more_server_cpu_than_discovery_off": round(100 * (cpu[name] / cpu["discovery_off"] - 1), 1),
            **({"goal_percent_slower_at_most": GOALS[name]} if name in GOALS else {}),
            "run": run,
            "conditions": {
                "mode": "embedded (SQLite WAL, synchronous=NORMAL)",
                "server": "daphne, 1 process",
                "discovery": name != "discovery_off",
                "pinned": name == "pinned",
                "clients": CLIENTS,
                "items_per_request": PER_REQUEST,
                "rounds_best_of": ROUNDS,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
