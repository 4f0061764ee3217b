"""Broker taps in the scaled mode: the Celery worker process runs them (one owner per tap across all
workers, through the tap's lease; see ``dashboard.taps.supervisor``). No task: the taps run on
threads of the worker process from its start to its stop."""

from __future__ import annotations

from celery.signals import worker_ready, worker_shutdown

from dashboard.taps import supervisor


@worker_ready.connect
def _start_taps(**kwargs: object) -> None:
    supervisor.start()


@worker_shutdown.connect
def _stop_taps(**kwargs: object) -> None:
    supervisor.stop()
