"""Taps running in the test process: a supervisor of its own (as the server or worker runs one), on
the committed test database (``transactional_db``), stopped at the end of the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.taps.supervisor import Supervisor


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
