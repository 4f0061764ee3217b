"""The server's background work: registered by the apps, started with the server in their order and
stopped in the reverse one, all within one grace period."""

from __future__ import annotations

import logging

import pytest

from dashboard.core import background


def test_the_apps_register_their_background_work_lowest_first():
    assert [service.name for service in background.services()] == [
        "embedded task worker",  # core
        "trace summariser",  # tracing
        "transaction folder",  # lifecycles
        "service map folder",  # servicemap
        "broker taps",  # taps (embedded mode only; the Celery worker runs them otherwise)
        "replay runs",  # replay: told to stop before the worker that runs them is stopped
    ]


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(background, "_services", {})


@pytest.mark.usefixtures("registry")
def test_services_start_in_order_and_stop_in_reverse_within_one_deadline(caplog):
    calls: list[str] = []

    def stopper(name: str, result: bool = True):
        def stop(seconds_left: float) -> bool:
            assert 0 < seconds_left <= 5
            calls.append(f"stop {name}")
            if name == "b":
                raise RuntimeError("b cannot stop")
            return result

        return stop

    background.register("a", start=lambda: calls.append("start a"), stop=stopper("a"))
    background.register("b", start=lambda: calls.append("start b"), stop=stopper("b"))
    background.register("c", stop=stopper("c"))
    background.start()
    with caplog.at_level(logging.ERROR, logger="dashboard.core.background"):
        assert background.stop(5) is False  # b failed; a and c were still stopped
    assert calls == ["start a", "start b", "stop c", "stop b", "stop a"]
    assert "stopping b failed" in caplog.text


@pytest.mark.usefixtures("registry")
def test_registering_a_name_again_replaces_it():
    background.register("a", stop=lambda seconds: False)
    background.register("a", stop=lambda seconds: True)
    assert len(background.services()) == 1
    assert background.stop(1) is True
