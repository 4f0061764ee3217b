"""The scaled mode's processes of one machine, run together in the foreground (``make serve``).

``WEB_PROCESSES`` web processes (``manage.py serve``: daphne, HTTP and websockets) on consecutive
ports from ``PORT``, one Celery worker and one Celery beat. Their output is shown with each line
led by the process's name. A signal (Ctrl-C, SIGTERM) is passed on as one SIGTERM to each, so each
stops gracefully in its own way (the web processes finish their requests and close websockets with
1001; the worker finishes its tasks); what is still running after the grace period is killed. When
one of them exits on its own, the others are stopped too and the exit status says so: a process
manager above (systemd, a container runtime) then restarts the whole set, rather than serving on
with a part missing unseen.

Each runs in its own session, so the terminal's Ctrl-C reaches only this supervisor, which stops
them once; a second signal kills what is left at once. The processes share a fresh folder for
their metrics (``PROMETHEUS_MULTIPROC_DIR``, see ``dashboard.core.metrics``) unless one is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

# Beyond the web processes' own grace period: how long the others have to stop before they are killed.
EXTRA_STOP_SECONDS = 10.0


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def children(
    *, manage_py: Path, host: str, port: int, web_processes: int, beat_schedule: Path, log_level: str = "INFO"
) -> list[Child]:
    """What ``make serve`` runs, in the order it starts them."""
    python = sys.executable
    web = [
        Child(f"web:{port + n}", [python, str(manage_py), "serve", "--host", host, "--port", str(port + n)])
        for n in range(web_processes)
    ]
    celery = [python, "-m", "celery", "-A", "config"]
    return [
        *web,
        Child("worker", [*celery, "worker", "--loglevel", log_level]),
        Child("beat", [*celery, "beat", "--loglevel", log_level, "--schedule", str(beat_schedule)]),
    ]


def _die_with_parent() -> None:
    """In the child, before it runs: on Linux, a SIGTERM when this supervisor dies, however it dies
    (even SIGKILL), so that no process of the set is left running without it. Runs between fork and
    exec, which is safe while the supervisor has no other thread (it starts its threads after)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def fresh_metrics_folder(folder: Path) -> Path:
    """``folder``, emptied: the counters of a previous run's processes must not add to this run's."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Supervisor:
    """Starts ``children`` with ``env``, relays their output to ``out``, and stops them all together."""

    def __init__(self, processes: Sequence[Child], env: dict[str, str], *, grace: float, out: IO[bytes]) -> None:
        self.children = list(processes)
        self.env = env
        self.grace = grace
        self.out = out
        self._out_lock = threading.Lock()
        self._stop = threading.Event()
        self._signals = 0
        self._relays: list[threading.Thread] = []

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            self._say(f"{signal.Signals(signum).name} again: killing what is left")
            self._kill()
        self._stop.set()

    def _say(self, text: str) -> None:
        self._write("serve", text.encode() + b"\n")

    def _write(self, name: str, line: bytes) -> None:
        with self._out_lock:
            self.out.write(f"{name:<11}| ".encode() + line)
            self.out.flush()

    def _relay(self, child: Child, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._write(child.name, line)
        stream.close()

    def run(self) -> int:
        """Run until a signal (status 0 when everything stopped in time) or until one process exits
        on its own (status 1)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for child in self.children:  # all started before any thread of ours runs (see _die_with_parent)
            # Our own commands (this interpreter, manage.py, celery), no shell.
            child.process = subprocess.Popen(  # noqa: S603
                child.command,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        for child in self.children:
            assert child.process is not None
            assert child.process.stdout is not None
            relay = threading.Thread(target=self._relay, args=(child, child.process.stdout), daemon=True)
            relay.start()
            self._relays.append(relay)
        failed: Child | None = None
        while not self._stop.wait(0.2):
            failed = next((c for c in self.children if c.process is not None and c.process.poll() is not None), None)
            if failed is not None:
                assert failed.process is not None
                self._say(f"{failed.name} exited with status {failed.process.returncode}: stopping the others")
                break
        clean = self._stop_all()
        for relay in self._relays:
            relay.join(timeout=2)
        if failed is not None:
            return 1
        self._say("stopped" if clean else "stopped (some had to be killed)")
        return 0 if clean else 1

    def _running(self) -> list[Child]:
        return [c for c in self.children if c.process is not None and c.process.poll() is None]

    def _stop_all(self) -> bool:
        """SIGTERM to each; True when all exited within the grace period, else they are killed."""
        for child in self._running():
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + EXTRA_STOP_SECONDS
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self._running():
            return True
        self._say("still running past the grace period: " + ", ".join(c.name for c in self._running()))
        self._kill()
        return False

    def _kill(self) -> None:
        for child in self._running():
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)  # its own session: the worker's pool too
            child.process.wait()
