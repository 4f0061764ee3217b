"""A restart of the embedded server loses nothing it had queued: its in-memory task queue goes with
the process, and the next start derives the work from the database (docs/architecture.md, "The
embedded worker").

The server runs one task at a time, so that a second replay's run waits in the queue behind a slow
first one; the process is then killed (SIGKILL: no graceful stop gives anything up) and started
again.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard.replay.engine import UNKNOWN_OUTCOME
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer
from tests.support.servers import server_env, serving

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]

# One task at a time; a killed run's lease runs out in 3 s and the sweep looks every second.
ENV = {
    "EVENTSCOPE_EMBEDDED_WORKER_THREADS": "1",
    "EVENTSCOPE_REPLAY_LEASE_SECONDS": "3",
    "EVENTSCOPE_REPLAY_RECOVER_SECONDS": "1",
}


def wait_for(predicate: Callable[[], object], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; server log:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def state(replay_id: int) -> str:
    return str(Replay.objects.get(pk=replay_id).state)


def test_work_queued_and_running_when_the_server_is_killed_completes_after_a_restart(
    tmp_path: Path, token: Any
) -> None:
    log = tmp_path / "server.log"
    total = 30
    for i in range(total):
        archive_event(i, key=f"k-{i % 3}")
    auth = {"Authorization": f"Bearer {token.token}"}
    window = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}
    with consumer_server() as slow, consumer_server() as queued:
        make_consumer("slow", slow.url)
        make_consumer("queued", queued.url)
        with serving(log, server_env(redis=False, **ENV)) as (process, url):
            first = requests.post(f"{url}/api/replays", headers=auth, timeout=10, json={
                "name": "slow", **window, "consumers": ["slow"], "rate_per_second": 2,
            })  # fmt: skip
            assert first.status_code == 202, first.text
            slow.wait_for(3)
            second = requests.post(f"{url}/api/replays", headers=auth, timeout=10, json={
                "name": "queued", **window, "consumers": ["queued"],
            })  # fmt: skip
            assert second.status_code == 202, second.text
            running_id, queued_id = first.json()["id"], second.json()["id"]
            # The second run waits behind the first for the only thread: queued in memory.
            assert (state(running_id), state(queued_id)) == (Replay.RUNNING, Replay.PENDING)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        assert queued.count() == 0
        assert slow.count() < total

        # The rest of the slow one at full speed, so that the test does not wait for it.
        Replay.objects.filter(pk=running_id).update(rate_per_second=None)
        with serving(log, server_env(redis=False, **ENV)):
            wait_for(lambda: state(running_id) == state(queued_id) == Replay.COMPLETED, "both replays completing", log)

    # The queued replay: every event once.
    assert sorted(Counter(queued.event_ids()).values()) == [1] * total
    assert Replay.objects.values_list("delivered", "failed").get(pk=queued_id) == (total, 0)
    # The killed one: nothing sent twice. What was in flight at the kill may or may not have
    # arrived; it is dead-lettered as "outcome unknown" (re-drivable), never sent again. A claim at
    # 2 a second is one delivery.
    received = slow.event_ids(status=None)
    assert [event for event, n in Counter(received).items() if n > 1] == []
    unknown = Delivery.objects.filter(replay_id=running_id, state=Delivery.DEAD, last_error=UNKNOWN_OUTCOME)
    assert unknown.count() <= 1
    assert Delivery.objects.filter(replay_id=running_id).exclude(state=Delivery.DELIVERED).count() == unknown.count()
    delivered_ids = set(  # the stored ids, which deliveries carry
        Delivery.objects.filter(replay_id=running_id, state=Delivery.DELIVERED).values_list("event_id", flat=True)
    )
    assert len(delivered_ids) + unknown.count() == total
    assert delivered_ids <= set(received)
