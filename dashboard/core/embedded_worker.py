"""The in-process task worker of the embedded mode (no ``REDIS_URL``).

Without Redis, Celery's broker is ``memory://``: a queue inside the process. Code enqueues tasks
exactly as in the scaled mode (``task.delay``, ``app.send_task``, ``delay_on_commit``); this worker
consumes that queue on a thread of the server process and runs each task on a pool of
``EVENTSCOPE_EMBEDDED_WORKER_THREADS`` threads, honouring ``countdown``/``eta``. A beat thread sends
the entries of ``CELERY_BEAT_SCHEDULE`` once when it starts and then on their schedules, as
``celery beat`` does in the scaled mode.

The queue is not durable, and need not be: the database is the record of the work, the queue only a
shortcut to starting it at once. Every task is either a beat entry that derives its work from the
database (the recovery sweep finds ``pending`` replays and ``running`` ones whose lease expired;
the transaction sweep finds transactions past their deadline) or declares, with
``recovered_by="<beat entry>"``, the entry that re-derives it (:func:`underived_tasks` lists those
that do neither; a test keeps the list empty). Beat runs every entry as the worker starts, so a
restart, even after SIGKILL, finds everything the last process had queued or was running; a
queued message that arrives as well is harmless, since a replay's run takes a lease and runs once.
See docs/architecture.md, "The embedded worker".

It is started and stopped with the server (registered in ``CoreConfig.ready`` with
``dashboard.core.background``, which ``manage.py serve`` starts), so ``make run`` has it and other
management commands and the test process do not (a test that wants it calls :func:`start`). Tasks
are found on the project's Celery app, ``celery.current_app``. A task that fails is logged; the
worker goes on. Tasks still queued when it stops are dropped with the in-memory queue (logged with
their count): the next start derives them again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from datetime import UTC, datetime
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.02


class EmbeddedWorker:
    def __init__(self, threads: int) -> None:
        self._stop = threading.Event()
        # How many tasks run at once: the pool's size, kept here (the pool does not say it).
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="embedded-task")
        self._timers: list[tuple[float, int, str, list[Any], dict[str, Any], str]] = []
        self._timers_lock = threading.Lock()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        # Tasks submitted and not finished; guarded with the decision to stop, so that no task is
        # submitted to a pool that was shut down.
        self._running: set[Future[None]] = set()
        self._submit_lock = threading.Lock()
        self.started_at = time.time()
        self.tasks_run = 0
        self.tasks_failed = 0
        self.last_error = ""

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        current_app.loader.import_default_modules()  # CELERY_IMPORTS: the task modules
        for target, name in ((self._consume, "embedded-consumer"), (self._beat, "embedded-beat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop taking tasks and wait up to ``timeout`` seconds for the running ones; True when they
        all finished. A long task (a replay run) must be told to stop by its own means first."""
        deadline = time.monotonic() + timeout
        with self._submit_lock:
            self._stop.set()
            running = list(self._running)  # before shutdown: cancelling a queued one forgets it
            self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        dropped = sum(1 for future in running if future.cancelled())
        with self._timers_lock:
            dropped += len(self._timers)
            self._timers.clear()
        if dropped:
            # Not lost: each is derived from the database again by a beat entry at the next start.
            logger.info("embedded worker: %d queued task(s) not run; the next start finds their work", dropped)
        running = [future for future in running if not future.cancelled()]
        _, unfinished = wait_for_futures(running, timeout=max(0.0, deadline - time.monotonic()))
        if unfinished:
            logger.warning("embedded worker: %d task(s) still running after %.1f s", len(unfinished), timeout)
        return not unfinished

    def alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    # --- running tasks -----------------------------------------------------------------------------

    def _execute(self, name: str, args: list[Any], kwargs: dict[str, Any], task_id: str) -> None:
        close_old_connections()
        try:
            task = current_app.tasks.get(name)
            if task is None:
                raise LookupError(f"no task named {name!r} is registered")
            result = task.apply(args=args, kwargs=kwargs, task_id=task_id)
            if result.failed():
                raise result.result if isinstance(result.result, BaseException) else RuntimeError(result.result)
            self.tasks_run += 1
        except Exception as err:  # one task's failure is logged; the worker goes on
            self.tasks_failed += 1
            self.last_error = f"{name}: {type(err).__name__}: {err}"[:300]
            logger.exception("embedded worker: task %s failed", name)
        finally:
            connections.close_all()

    def _run_task(self, name: str, args: list[Any], kwargs: dict[str, Any], task_id: str) -> None:
        with self._submit_lock:
            if self._stop.is_set():
                logger.info("embedded worker: stopping; task %s not run", name)
                return
            future = self._pool.submit(self._execute, name, args, kwargs, task_id)
            self._running.add(future)
        future.add_done_callback(self._running.discard)

    def _submit(self, name: str, args: list[Any], kwargs: dict[str, Any], task_id: str, eta: str | None) -> None:
        due = datetime.fromisoformat(eta).timestamp() if eta else 0.0
        if due > time.time():
            with self._timers_lock:
                heapq.heappush(self._timers, (due, next(self._order), name, args, kwargs, task_id))
            return
        self._run_task(name, args, kwargs, task_id)

    def _run_due_timers(self) -> None:
        now = time.time()
        while True:
            with self._timers_lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, name, args, kwargs, task_id = heapq.heappop(self._timers)
            self._run_task(name, args, kwargs, task_id)

    def _consume(self) -> None:
        from kombu import Consumer

        app = current_app

        def on_message(body: Any, message: Any) -> None:
            headers = message.headers or {}
            message.ack()
            try:
                args, kwargs, _embed = body
            except (TypeError, ValueError):
                logger.error("embedded worker: a message that is not a task (%r) was dropped", headers)
                return
            self._submit(headers.get("task", ""), list(args), dict(kwargs), headers.get("id", ""), headers.get("eta"))

        while not self._stop.is_set():
            try:
                with app.connection_for_read(transport_options={"polling_interval": _POLL_SECONDS}) as conn:
                    queue = app.amqp.queues[app.conf.task_default_queue]
                    with Consumer(conn, queues=[queue], callbacks=[on_message], accept=["json"]):
                        while not self._stop.is_set():
                            self._run_due_timers()
                            with contextlib.suppress(TimeoutError):
                                conn.drain_events(timeout=0.1)
            except Exception:  # keep the worker alive whatever the transport did
                logger.exception("embedded worker: the task consumer failed; restarting it")
                self._stop.wait(1)

    # --- beat --------------------------------------------------------------------------------------

    def _beat(self) -> None:
        from celery.schedules import maybe_schedule

        app = current_app
        entries = []
        for name, entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).items():
            entries.append([name, entry, maybe_schedule(entry["schedule"], app=app), None])
        while not self._stop.is_set():
            wait = 1.0
            for item in entries:
                name, entry, schedule, last_run = item
                try:
                    # Never run: due now (the first pass, as the worker starts).
                    due, next_check = schedule.is_due(last_run) if last_run else (True, 0.0)
                    if due:
                        item[3] = datetime.now(UTC)
                        app.send_task(entry["task"], args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
                    wait = min(wait, max(0.05, float(next_check)))
                except Exception:  # one bad entry must not stop the others
                    logger.exception("embedded beat: entry %s failed", name)
            self._stop.wait(wait)

    def status(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.alive() else "down",
            "mode": "embedded",
            "threads": self.threads,
            "tasks_run": self.tasks_run,
            "tasks_failed": self.tasks_failed,
        }


def underived_tasks() -> list[str]:
    """The project's tasks (named ``tasks.*``) whose queued messages the embedded mode could lose
    for good: neither a beat entry's task nor declaring ``recovered_by``, the name of a beat entry
    that derives their work from the database again."""
    current_app.loader.import_default_modules()
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {})
    periodic = {entry["task"] for entry in schedule.values()}
    return sorted(
        name
        for name, task in current_app.tasks.items()
        if name.startswith("tasks.") and name not in periodic and getattr(task, "recovered_by", None) not in schedule
    )


_worker: EmbeddedWorker | None = None
_lock = threading.Lock()


def start() -> EmbeddedWorker:
    """Start this process's embedded worker (once); returns it."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = EmbeddedWorker(settings.EVENTSCOPE_EMBEDDED_WORKER_THREADS)
            _worker.start()
        return _worker


def stop(timeout: float = 5.0) -> bool:
    """Stop this process's embedded worker, if it runs (see :meth:`EmbeddedWorker.stop`); True
    when no task is left running."""
    global _worker
    with _lock:
        if _worker is None:
            return True
        stopped = _worker.stop(timeout)
        _worker = None
        return stopped


def start_if_embedded() -> None:
    """Start the embedded worker unless tasks go to Redis workers or it is switched off."""
    if not settings.REDIS_URL and settings.EVENTSCOPE_EMBEDDED_WORKER:
        start()


def started_at() -> datetime | None:
    """When this process's embedded worker started, if one runs: its queue holds nothing older."""
    worker = _worker
    return datetime.fromtimestamp(worker.started_at, UTC) if worker is not None else None


def status() -> dict[str, Any]:
    """The worker's health for ``/healthz``: down when no embedded worker runs in this process."""
    if _worker is None:
        reason = "switched off (EVENTSCOPE_EMBEDDED_WORKER)" if not settings.EVENTSCOPE_EMBEDDED_WORKER else None
        return {
            "status": "down",
            "mode": "embedded",
            "error": f"no in-process task worker runs in this process{': ' + reason if reason else ''}",
        }
    return _worker.status()
