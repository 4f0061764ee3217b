"""The supervisor of ``make serve``: the processes' output led by their names, all stopped when one
exits on its own, and none left behind when the supervisor is killed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.core.supervisor import Child, Supervisor, children

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_when_one_process_exits_the_others_are_stopped_and_the_status_says_so():
    out = io.BytesIO()
    processes = [
        Child("web:1", SLEEPER),
        Child("worker", [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"]),
    ]
    assert Supervisor(processes, dict(os.environ), grace=5, out=out).run() == 1
    assert all(child.process is not None and child.process.poll() is not None for child in processes)
    text = out.getvalue().decode()
    assert "web:1      | up\n" in text and "worker     | bye\n" in text
    assert "worker exited with status 3: stopping the others" in text


def test_the_processes_do_not_outlive_a_killed_supervisor(tmp_path: Path):
    pids = tmp_path / "pids"
    script = (
        "import io, os, sys, time\n"
        "from dashboard.core.supervisor import Child, Supervisor\n"
        f"sleeper = {SLEEPER!r}\n"
        "s = Supervisor([Child('a', sleeper), Child('b', sleeper)], dict(os.environ), grace=5, out=io.BytesIO())\n"
        "import threading\n"
        "write = lambda: open(sys.argv[1], 'w').write(' '.join(str(c.process.pid) for c in s.children))\n"
        "threading.Timer(1.0, write).start()\n"
        "s.run()\n"
    )  # fmt: skip
    supervisor = subprocess.Popen([sys.executable, "-c", script, str(pids)], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 30
    while not pids.exists() or not pids.read_text():
        assert time.monotonic() < deadline and supervisor.poll() is None
        time.sleep(0.05)
    children_pids = [int(pid) for pid in pids.read_text().split()]
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    while not all(_gone(pid) for pid in children_pids):
        assert time.monotonic() < deadline, "a process outlived its supervisor"
        time.sleep(0.05)


def test_make_serve_runs_the_web_processes_on_consecutive_ports_a_worker_and_beat(tmp_path: Path):
    made = children(manage_py=Path("manage.py"), host="0.0.0.0", port=8001, web_processes=3,
                    beat_schedule=tmp_path / "beat")  # fmt: skip
    assert [child.name for child in made] == ["web:8001", "web:8002", "web:8003", "worker", "beat"]
    assert made[2].command[-4:] == ["--host", "0.0.0.0", "--port", "8003"]
    assert made[3].command[-4:-2] == ["config", "worker"] and "beat" in made[4].command


def test_make_serve_needs_postgresql_and_redis(settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="set DATABASE_URL=postgres"):
        call_command("supervise")
