"""``EVENTSCOPE_HTTPS=1``: secure cookies, HSTS, the redirect to HTTPS (probes exempt) and trust of
the proxy's ``X-Forwarded-Proto``; with ``DEBUG=0``, ``check --deploy --fail-level WARNING`` is clean."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, server_env, serving


def _production_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A production-like environment: the project's own settings, a strong key, SQLite in ``var_dir``."""
    var_dir.mkdir(parents=True, exist_ok=True)
    # Not the test run's database, Redis or debug switches (DJANGO_ALLOW_ASYNC_UNSAFE is an error here).
    dropped = ("DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "EVENTSCOPE_VAR_DIR": str(var_dir),
            "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "0", **extra}  # fmt: skip


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_with_the_switch_and_not_without(tmp_path):
    without = _check_deploy(_production_env(tmp_path / "var"))
    assert without.returncode == 1
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in without.stderr, without.stderr
    clean = _check_deploy(_production_env(tmp_path / "var", EVENTSCOPE_HTTPS="1"))
    assert clean.returncode == 0, clean.stderr
    assert "no issues" in clean.stdout


def test_the_switch_asks_for_preloading_only_when_told(tmp_path):
    env = _production_env(tmp_path / "var", EVENTSCOPE_HTTPS="1", EVENTSCOPE_HSTS_PRELOAD="1")
    assert _check_deploy(env).returncode == 0
    env["EVENTSCOPE_HSTS_INCLUDE_SUBDOMAINS"] = "0"
    refused = _check_deploy(env)
    assert refused.returncode == 1 and "security.W005" in refused.stderr


@pytest.mark.server
@pytest.mark.usefixtures("transactional_db")
def test_a_server_behind_the_proxy_redirects_plain_http_and_marks_https_answers(tmp_path):
    with serving(tmp_path / "server.log", server_env(EVENTSCOPE_HTTPS="1")) as (_, url):
        plain = requests.get(f"{url}/login/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://{url.removeprefix('http://')}/login/"
        # What the proxy forwards after terminating TLS: served, with HSTS and a secure cookie.
        forwarded = requests.get(f"{url}/login/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert forwarded.status_code == 200
        assert forwarded.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert "secure" in forwarded.headers["Set-Cookie"].lower()  # the CSRF cookie of the login form
        # Probes on plain HTTP from inside the network are answered, not redirected.
        assert requests.get(f"{url}/healthz", allow_redirects=False, timeout=10).status_code == 200
        assert requests.get(f"{url}/readyz", allow_redirects=False, timeout=10).status_code in (200, 503)
