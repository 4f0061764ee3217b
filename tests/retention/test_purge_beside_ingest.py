"""The purge beside a running server: ingest requests made while it deletes all succeed, and the
worker runs it by itself (the embedded worker as it starts; Celery beat in the scaled mode)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from dashboard.core.tokens import IssuedToken
from dashboard.events.models import Event
from dashboard.retention.purge import Outcome, purge
from tests.retention.helpers import store_old_events
from tests.support.servers import server_env, serving
from tests.support.task_worker import start_worker, stop_worker, wait_until_ready

OLD = 3000


@pytest.mark.django_db(transaction=True)
def test_ingest_requests_made_during_a_purge_all_succeed(live_server_url: str, token: IssuedToken) -> None:
    store_old_events(OLD, days_ago=60)
    outcomes: list[Outcome] = []

    def purge_in_background() -> None:
        from django.db import connection

        try:
            outcomes.extend(purge(kinds=("events",), batch_size=100, pause_ms=0))
        finally:
            connection.close()

    purger = threading.Thread(target=purge_in_background)
    headers = {"Authorization": f"Bearer {token.token}"}
    statuses: list[int] = []
    purger.start()
    with requests.Session() as session:
        while purger.is_alive() or len(statuses) < 5:
            batch = [
                {"source": "live", "detail-type": "Tick", "detail": {"n": len(statuses), "i": i}} for i in range(50)
            ]
            statuses.append(
                session.post(f"{live_server_url}/api/events", json=batch, headers=headers, timeout=60).status_code
            )
    purger.join()
    assert set(statuses) == {200}
    assert [outcome.deleted for outcome in outcomes] == [OLD]
    assert Event.objects.filter(source="live").count() == 50 * len(statuses)
    assert not Event.objects.filter(source="shop.orders").exists()


def wait_for_purge(process_log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while Event.objects.filter(event_id__startswith="bulk-").exists():
        assert time.monotonic() < deadline, f"nothing was purged:\n{process_log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_worker_purges_on_its_schedule(tmp_path: Path) -> None:
    store_old_events(200, days_ago=60)
    store_old_events(5, days_ago=1, tag="recent")
    log = tmp_path / "worker.log"
    if settings.REDIS_URL:
        # The scaled mode: Celery beat sends the purge on its schedule to a worker.
        worker = start_worker(log, beat=True, EVENTSCOPE_RETENTION_PURGE_SECONDS="1")
        try:
            wait_until_ready(worker, log)
            wait_for_purge(log)
        finally:
            stop_worker(worker)
    else:
        # The embedded mode: the server's own worker purges as it starts, then on the schedule.
        with serving(log, server_env(redis=False)):
            wait_for_purge(log)
    assert sorted(Event.objects.values_list("event_id", flat=True)) == [f"recent-{i}" for i in range(5)]
