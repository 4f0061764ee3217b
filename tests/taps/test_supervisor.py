"""One owner per tap: the supervisors of two processes (here two in one) never run a tap at once; a
lease that expires is taken over, a stopped tap is let go, a stopping process releases its leases."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from django.utils import timezone

from dashboard.taps import supervisor
from dashboard.taps.actions import do_start_tap, do_stop_tap
from dashboard.taps.models import Tap
from dashboard.taps.supervisor import Supervisor
from tests.support.brokers import free_port


def test_a_tap_has_one_owner_and_is_taken_over_when_its_lease_expires(transactional_db: None) -> None:
    # A broker nobody listens on: the taps' threads only fail and retry, which is enough here.
    tap = Tap.objects.create(name="one", url=f"redis://127.0.0.1:{free_port()}/0", options={"stream": "s"})
    first, second = Supervisor(), Supervisor()
    try:
        first.tick()
        second.tick()
        tap.refresh_from_db()
        assert tap.owner == first.owner
        assert list(first.taps) == [tap.pk]
        assert second.taps == {}
        # The first process stops renewing (it hangs, or died): once the lease is over, the second takes it.
        Tap.objects.filter(pk=tap.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        second.tick()
        first.tick()
        assert Tap.objects.get(pk=tap.pk).owner == second.owner
        assert first.taps == {}
        assert list(second.taps) == [tap.pk]
        # Stopped: let go; started: claimed again by whoever looks first.
        do_stop_tap(tap)
        second.tick()
        assert second.taps == {}
        do_start_tap(tap)
        first.tick()
        second.tick()
        assert list(first.taps) == [tap.pk]
        assert second.taps == {}
    finally:
        assert first.stop(10)
        assert second.stop(10)
    # A stopping process releases its leases at once.
    assert Tap.objects.get(pk=tap.pk).owner == ""
    assert Tap.objects.get(pk=tap.pk).lease_until is None


def supervisors() -> int:
    return sum(thread.name == "tap supervisor" for thread in threading.enumerate())


def test_the_embedded_server_runs_taps_unless_they_are_switched_off(transactional_db: None, settings: Any) -> None:
    settings.REDIS_URL = ""  # the embedded mode
    before = supervisors()
    try:
        settings.EVENTSCOPE_EMBEDDED_TAPS = False
        supervisor.start_in_server()
        assert supervisors() == before
        settings.EVENTSCOPE_EMBEDDED_TAPS = True
        supervisor.start_in_server()
        assert supervisors() == before + 1
    finally:
        assert supervisor.stop(10)
    assert supervisors() == before
