"""System checks: a weak SECRET_KEY (token secrets are derived from it) stops a production start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.checks import ERROR, WARNING, run_checks

from dashboard.core import secret_key
from tests.support.servers import ROOT

GOOD_KEY = secrets.token_urlsafe(50)  # what `make run` generates into var/secret_key


def _secret_key_messages() -> list[tuple[int, str]]:
    return [(m.level, m.id or "") for m in run_checks() if m.id in ("dashboard.E004", "dashboard.W002")]


@pytest.mark.parametrize("key", ["x", "short-but-varied-key-0123456789", "ab" * 40, "django-insecure-" + GOOD_KEY])
def test_a_weak_secret_key_is_an_error_without_debug(settings, key):
    settings.DEBUG = False
    settings.SECRET_KEY = key
    assert _secret_key_messages() == [(ERROR, "dashboard.E004")]


def test_a_weak_secret_key_is_a_warning_in_debug_mode(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = "x"
    assert _secret_key_messages() == [(WARNING, "dashboard.W002")]


def test_the_generated_key_passes(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = GOOD_KEY
    assert _secret_key_messages() == []


def test_manage_py_refuses_to_start_with_secret_key_x(tmp_path):
    env = {**os.environ, "SECRET_KEY": "x", "DEBUG": "0", "EVENTSCOPE_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "dashboard.E004" in refused.stderr and "SECRET_KEY is weak" in refused.stderr
    accepted = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "SECRET_KEY": GOOD_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert accepted.returncode == 0, accepted.stderr


def _checks(*ids: str) -> list[tuple[int, str]]:
    return [(m.level, m.id or "") for m in run_checks() if m.id in ids]


def test_a_missing_secret_key_is_an_error(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = ""
    assert _checks("dashboard.E005", "dashboard.E004") == [(ERROR, "dashboard.E005")]


def test_a_made_up_key_is_a_warning_in_debug_mode_and_an_error_without(settings):
    settings.SECRET_KEY = secret_key.ephemeral()
    settings.DEBUG = True
    assert _checks("dashboard.W003", "dashboard.E005", "dashboard.W002") == [(WARNING, "dashboard.W003")]
    settings.DEBUG = False
    assert _checks("dashboard.W003", "dashboard.E005", "dashboard.E004") == [(ERROR, "dashboard.E005")]
