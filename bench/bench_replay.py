"""Replay on the embedded default: throughput to one local consumer with no rate limit, and the time
from ``POST /api/replays`` to the first delivery.

- The archive: ``BENCH_REPLAY_EVENTS`` events (default 20,000) ingested through ``/api/events``.
- The consumer: a minimal asyncio HTTP/1.1 server (keep-alive) in a separate process on the same
  machine, answering 200 and reporting when it received the first and the last request. (Python's
  ``http.server`` tops out near 1,500 requests/s on one connection here, so it would measure itself.)
- Throughput: events delivered per second, first to last delivery as the consumer saw them.
- Start latency: from just before the ``POST /api/replays`` is sent to the consumer receiving the
  first delivery (both clocks are this machine's ``time.time``).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import socket
import time
from multiprocessing.connection import Connection

import requests

from bench.server import bench_server, manage

EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "20000"))
BATCH = 500


def _consumer(expected: int, pipe: Connection) -> None:
    """A minimal HTTP/1.1 consumer on asyncio (keep-alive, answers 200 to every POST), fast enough
    not to be what is measured. Reports its port, then the wall times of the first and the last of
    ``expected`` requests."""
    state = {"count": 0, "first": 0.0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                now = time.time()
                if not state["count"]:
                    state["first"] = now
                state["count"] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                if state["count"] == expected:
                    pipe.send((state["first"], now))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(serve())


def main() -> None:
    conditions = {
        "mode": "embedded (SQLite WAL, in-process worker)",
        "server": "daphne, 1 process",
        "consumer": "asyncio HTTP/1.1 keep-alive, separate process, same machine",
        "rate_limit": None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        token = json.loads(manage(server.env, "create_token", "bench-replay", "--scopes", "ingest,operate", "--json")
                           .splitlines()[-1])["token"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        session = requests.Session()
        for start in range(0, EVENTS, BATCH):
            batch = [
                {"source": "bench.orders", "detail-type": "OrderCreated", "time": f"2026-01-01T00:00:00.{i:06d}Z",
                 "detail": {"n": i, "metadata": {"idempotency-key": f"k-{i % 1000}"}}}
                for i in range(start, min(EVENTS, start + BATCH))
            ]  # fmt: skip
            assert session.post(f"{server.url}/api/events", json=batch, headers=headers, timeout=60).ok

        parent, child = multiprocessing.Pipe()
        process = multiprocessing.Process(target=_consumer, args=(EVENTS, child), daemon=True)
        process.start()
        try:
            port = parent.recv()
            url = f"http://127.0.0.1:{port}/hook"
            created = session.post(f"{server.url}/api/consumers", json={"name": "bench", "url": url}, headers=headers)
            assert created.status_code == 201, created.text
            posted_at = time.time()
            answer = session.post(
                f"{server.url}/api/replays",
                json={"name": "bench", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
                      "consumers": ["bench"]},
                headers=headers,
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            if not parent.poll(600):
                raise RuntimeError("the replay did not deliver every event within 10 minutes")
            first, last = parent.recv()
        finally:
            process.terminate()
    per_second = (EVENTS - 1) / (last - first) if last > first else float("inf")
    print(
        json.dumps(
            {"bench": "replay_throughput", "events_per_second": round(per_second), "events": EVENTS,
             "goal_events_per_second": 2000, **conditions}
        )
    )  # fmt: skip
    print(
        json.dumps(
            {"bench": "replay_time_to_first_delivery", "seconds": round(first - posted_at, 3),
             "goal_seconds": 1.0, "archive_events": EVENTS, **conditions}
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
