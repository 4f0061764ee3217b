"""Taps running in the test process: a supervisor of its own (as the server or worker runs one), on
the committed test database (``transactional_db``), stopped at the end of the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.taps.supervisor import Supervisor
from tests.support.brokers import forget_streams


@pytest.fixture(autouse=True)
def _leave_the_brokers_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: its taps' queues, durable consumers and group consumers removed from the
    shared brokers (as deleting the tap does), and its JetStream streams deleted."""
    uses_db = "transactional_db" in request.fixturenames
    if uses_db:
        request.getfixturevalue("transactional_db")  # set up first, so torn down after this
    yield
    if uses_db:
        from dashboard.taps.actions import do_delete_tap
        from dashboard.taps.models import Tap

        for tap in Tap.objects.all():
            do_delete_tap(tap)
    forget_streams()


@pytest.fixture
def taps_running(transactional_db: None, settings: Any) -> Iterator[Supervisor]:
    settings.EVENTSCOPE_TAP_BACKOFF_MS = 1500  # long enough for a test to see `failing`
    settings.EVENTSCOPE_TAP_LEASE_SECONDS = 5
    supervisor = Supervisor()
    supervisor.start()
    try:
        yield supervisor
    finally:
        assert supervisor.stop(10), "a tap did not stop"


@pytest.fixture
def operator(transactional_db: None) -> dict[str, str]:
    from dashboard.core import tokens

    issued = tokens.create_token("taps", ["read", "operate"])
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.token}"}
