"""Settings without side effects: importing the settings and the ASGI application writes nothing and
starts no thread; ``bootstrap`` makes what a fresh checkout needs (var/, a lasting secret key); a
missing key is an error (a warning, on a made-up key, in debug mode)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from dashboard.core import secret_key
from tests.support.servers import ROOT


def _production_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh checkout: the project's own settings, no key, SQLite in ``var_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "EVENTSCOPE_VAR_DIR": str(var_dir), **extra}


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_importing_the_settings_and_the_asgi_application_writes_nothing_and_starts_no_thread(tmp_path):
    probe = (
        "import threading, django; django.setup(); before = set(threading.enumerate()); "
        "import config.urls, config.asgi; "
        "print(sorted(t.name for t in set(threading.enumerate()) - before))"
    )
    done = _run(_production_env(tmp_path / "var"), "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_a_fresh_checkout_without_bootstrap_is_refused_with_how_to_prepare_it(tmp_path):
    refused = _run(_production_env(tmp_path / "var"), "manage.py", "check")
    assert refused.returncode == 1
    assert "dashboard.E005" in refused.stderr  # no key
    assert "dashboard.E006" in refused.stderr  # no folder for the SQLite database
    assert "manage.py bootstrap" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_debug_mode_without_a_key_runs_on_a_made_up_key_and_says_so(tmp_path):
    (tmp_path / "var").mkdir()
    warned = _run(_production_env(tmp_path / "var", DEBUG="1"), "manage.py", "check")
    assert warned.returncode == 0, warned.stderr
    assert "dashboard.W003" in warned.stderr and "stop working when it restarts" in warned.stderr
    assert list((tmp_path / "var").iterdir()) == []


def test_bootstrap_makes_a_fresh_checkout_ready_and_its_token_works_in_later_processes(tmp_path):
    var = tmp_path / "var"
    env = _production_env(var)
    first = _run(env, "manage.py", "bootstrap")
    assert first.returncode == 0, first.stderr
    assert f"Generated a secret key into {var / 'secret_key'}" in first.stdout
    key = (var / "secret_key").read_text().strip()
    assert len(key) >= 50 and not secret_key.is_ephemeral(key)
    assert stat.S_IMODE((var / "secret_key").stat().st_mode) == 0o600
    token = first.stdout.split("Ingest token (scopes ingest, read): ")[1].split()[0]

    verify = f"from dashboard.core.tokens import verify_bearer; print(verify_bearer({token!r}) is not None)"
    checked = _run(env, "manage.py", "shell", "-c", verify)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith("True")

    # The hint for more tokens works as printed, from the checkout.
    hint = first.stdout.split("More tokens: ")[1].split(" (or ")[0].replace("NAME", "more")
    made = subprocess.run(shlex.split(hint), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and "Bearer ES" in made.stdout, (hint, made.stderr)

    again = _run(env, "manage.py", "bootstrap")
    assert again.returncode == 0, again.stderr
    # A later start says where to log in, and who may, without a secret.
    assert again.stdout.startswith("Eventscope: log in at http://127.0.0.1:8000/\n  Staff logins: admin.")
    assert str(var / "first-run.txt") in again.stdout and token not in again.stdout
    assert (var / "secret_key").read_text().strip() == key


def test_bootstrap_leaves_a_key_from_the_environment_alone(tmp_path):
    var = tmp_path / "var"
    done = _run(_production_env(var, SECRET_KEY=secret_key.generate()), "manage.py", "bootstrap")
    assert done.returncode == 0, done.stderr
    assert not (var / "secret_key").exists()
    assert (var / "first-run.txt").exists()


def test_a_key_file_is_created_once_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "var" / "secret_key"
    key, written = secret_key.create(path)
    assert written and secret_key.read(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key.create(path) == (key, False)
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]  # no draft left behind
    assert secret_key.read(tmp_path / "none") == ""
