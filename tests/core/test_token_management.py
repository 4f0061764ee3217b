"""``list_tokens``, ``revoke_token`` and what a revocation does: refused from the token's next request,
in the process that revoked it and in a server process that had it cached."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from dashboard.core import tokens
from dashboard.core.models import ApiToken
from tests.support.servers import ROOT, TASK_QUEUE, server_env, serving

EVENT = {"source": "shop", "detail-type": "OrderCreated", "detail": {"order-id": "o-1"}}


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_list_tokens_shows_names_scopes_and_times_but_never_a_secret(make_token):
    issued = make_token("ingest,read", name="billing")
    listed = _run("list_tokens")
    (line,) = [line for line in listed.splitlines() if issued.key_id in line]
    assert line.split()[:3] == ["billing", issued.key_id, "ingest,read"]
    assert issued.secret not in listed
    (row,) = [orjson.loads(line) for line in _run("list_tokens", "--json").splitlines()]
    assert row["name"] == "billing" and row["scopes"] == ["ingest", "read"] and row["last_used_at"] is None


@pytest.mark.django_db
def test_revoke_token_by_key_id_or_name_and_list_tokens_all_shows_it_revoked(make_token):
    first, second = make_token(name="billing"), make_token(name="orders")
    assert "Revoked 'billing'" in _run("revoke_token", first.key_id)
    assert "Revoked 'orders'" in _run("revoke_token", "orders")
    assert tokens.verify_bearer(first.token) is None and tokens.verify_bearer(second.token) is None
    assert first.key_id not in _run("list_tokens")
    (line,) = [line for line in _run("list_tokens", "--all").splitlines() if first.key_id in line]
    assert line.split()[-1].endswith("Z")  # its revocation time


@pytest.mark.django_db
def test_revoke_token_refuses_an_unknown_or_ambiguous_name(make_token):
    with pytest.raises(CommandError, match="No live token"):
        _run("revoke_token", "nobody")
    make_token(name="shared"), make_token(name="shared")
    with pytest.raises(CommandError, match="2 live tokens are named 'shared'"):
        _run("revoke_token", "shared")
    assert ApiToken.objects.filter(name="shared", revoked_at__isnull=True).count() == 2
    _run("revoke_token", "shared", "--all")
    assert ApiToken.objects.filter(name="shared", revoked_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_request_records_when_the_token_was_last_used_to_the_minute(client, make_token, settings):
    settings.EVENTSCOPE_TOKEN_CACHE_SECONDS = 0
    issued = make_token()
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/events", headers=headers).status_code == 200
    first = ApiToken.objects.get(key_id=issued.key_id).last_used_at
    assert first is not None and timezone.now() - first < timedelta(minutes=1)
    assert client.get("/api/events", headers=headers).status_code == 200
    assert ApiToken.objects.get(key_id=issued.key_id).last_used_at == first  # not rewritten within the minute
    ApiToken.objects.filter(key_id=issued.key_id).update(last_used_at=first - timedelta(minutes=5))
    assert client.get("/api/events", headers=headers).status_code == 200
    assert ApiToken.objects.get(key_id=issued.key_id).last_used_at > first - timedelta(minutes=1)


@pytest.mark.django_db
def test_a_revoked_token_is_refused_at_once_in_the_process_that_revoked_it(client, make_token, settings):
    settings.EVENTSCOPE_TOKEN_CACHE_SECONDS = 3600
    issued = make_token()
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/events", headers=headers).status_code == 200  # now cached for an hour
    tokens.revoke(issued.key_id)
    assert client.get("/api/events", headers=headers).status_code == 401


@pytest.mark.server
@pytest.mark.usefixtures("transactional_db")
def test_revoke_token_is_refused_from_the_next_request_by_a_server_that_cached_it(tmp_path: Path, make_token):
    issued = make_token()
    headers = {"Authorization": f"Bearer {issued.token}"}
    # The server keeps verified tokens for an hour: only the revocation stamp can tell it.
    env = server_env(EVENTSCOPE_TOKEN_CACHE_SECONDS="3600")
    with serving(tmp_path / "server.log", env) as (_, url):
        for _ in range(2):
            assert requests.post(f"{url}/api/events", json=EVENT, headers=headers, timeout=10).status_code == 200
        revoked = subprocess.run(
            [sys.executable, "manage.py", "revoke_token", issued.key_id],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        refused = requests.post(f"{url}/api/events", json=EVENT, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"


def _answers_from_its_cache(url: str, token: tokens.IssuedToken) -> bool:
    """Whether the server at ``url`` caches ``token`` (a fresh one): asked once, then asked again with
    its salt changed behind the server's back, which only a cached entry still verifies."""
    headers = {"Authorization": f"Bearer {token.token}"}
    assert requests.post(f"{url}/api/events", json=EVENT, headers=headers, timeout=10).status_code == 200
    ApiToken.objects.filter(key_id=token.key_id).update(salt="changed")
    return requests.post(f"{url}/api/events", json=EVENT, headers=headers, timeout=10).status_code == 200


def _until_it_hears_revocations(url: str, make_token: Any) -> None:
    """Until the server at ``url`` is subscribed to revocations: a token it cached, revoked here (on
    another "machine": this process shares no var/ with it), is refused there."""
    deadline = time.monotonic() + 30
    while True:
        probe = make_token()
        if _answers_from_its_cache(url, probe):
            tokens.revoke(probe.key_id)
            refused = requests.post(f"{url}/api/events", json=EVENT, headers={"Authorization": f"Bearer {probe.token}"},
                                    timeout=10)  # fmt: skip
            if refused.status_code == 401:
                return
        assert time.monotonic() < deadline, "the server never heard of a revocation"
        time.sleep(0.1)


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db")
def test_servers_on_other_machines_refuse_a_revoked_token_from_its_next_request(tmp_path: Path, make_token, settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = TASK_QUEUE  # the servers' deployment, whose channel they hear
    issued = make_token()
    headers = {"Authorization": f"Bearer {issued.token}"}
    salt = ApiToken.objects.get(key_id=issued.key_id).salt
    # Two "machines": nothing under var/ in common, the same database and Redis.
    machines = [server_env(EVENTSCOPE_TOKEN_CACHE_SECONDS="3600", EVENTSCOPE_VAR_DIR=str(tmp_path / name))
                for name in ("one", "two", "three")]  # fmt: skip
    with serving(tmp_path / "one.log", machines[0]) as (_, one), serving(tmp_path / "two.log", machines[1]) as (_, two):
        for url in (one, two):
            _until_it_hears_revocations(url, make_token)
            assert _answers_from_its_cache(url, issued)  # with its salt changed: only the cache knows it
            ApiToken.objects.filter(key_id=issued.key_id).update(salt=salt)
        revoked = subprocess.run(
            [sys.executable, "manage.py", "revoke_token", issued.key_id],
            cwd=ROOT, env=machines[2], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        for url in (one, two):
            assert requests.post(f"{url}/api/events", json=EVENT, headers=headers, timeout=10).status_code == 401
