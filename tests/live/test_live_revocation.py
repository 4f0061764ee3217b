"""An open socket lasts only as long as what authenticated it: a revoked token, a logout or a
deactivated user closes it with 4401, whichever process withdrew the credential."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from django.contrib.sessions.models import Session
from django.utils import timezone
from websockets.sync.client import ClientConnection, connect

from dashboard.core import tokens
from dashboard.core.models import ApiToken
from dashboard.live.credentials import Credential, withdrawn
from tests.support.live_support import logged_in_cookie, project_server, until_closed, ws_url

# Starts server processes of its own.
pytestmark = pytest.mark.server

# The promise is one second; the bound leaves room for a busy test machine.
CLOSED_WITHIN = 3.0
TRACE = "5b8efff798038103d269b633813fc60c"


def token_socket(live_server_url: str, path: str, token: str) -> ClientConnection:
    return connect(ws_url(live_server_url, path), additional_headers={"Authorization": f"Bearer {token}"})


def subscribe(socket: ClientConnection) -> None:
    socket.send(orjson.dumps({"type": "subscribe", "pattern": None, "kinds": ["event"]}).decode())
    assert orjson.loads(socket.recv(timeout=10))["type"] == "subscribed"


def post_event(live_server_url: str, token: str, detail_type: str) -> None:
    answer = requests.post(
        f"{live_server_url}/api/events",
        json=[{"source": "s", "detail-type": detail_type, "detail": {}}],
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_a_revoked_tokens_open_sockets_are_closed_with_4401_and_the_others_go_on(
    live_server_url: str, transactional_db: None, make_token: Any
) -> None:
    revoked, kept = make_token("read"), make_token("ingest,read")
    with (
        token_socket(live_server_url, "/ws/live/", revoked.token) as tail,
        token_socket(live_server_url, f"/ws/traces/{TRACE}/", revoked.token) as trace,
        token_socket(live_server_url, "/ws/replays/1/", revoked.token) as replay,
        token_socket(live_server_url, "/ws/live/", kept.token) as other,
    ):
        subscribe(tail)
        subscribe(other)
        assert tokens.revoke(revoked.key_id)  # in this process, not the server's
        for socket in (tail, trace, replay):
            assert until_closed(socket, timeout=CLOSED_WITHIN) == (4401, [])
        post_event(live_server_url, kept.token, "StillStreaming")
        assert orjson.loads(other.recv(timeout=10))["event"]["detail-type"] == "StillStreaming"


def test_every_server_process_closes_the_revoked_tokens_sockets(
    live_server_url: str, transactional_db: None, make_token: Any, tmp_path: Path
) -> None:
    token = make_token("read")
    with (
        project_server(tmp_path / "second.log") as second,
        token_socket(live_server_url, "/ws/live/", token.token) as on_first,
        token_socket(second, "/ws/live/", token.token) as on_second,
    ):
        subscribe(on_first)
        subscribe(on_second)
        tokens.revoke(token.key_id)
        assert until_closed(on_first, timeout=CLOSED_WITHIN) == (4401, [])
        assert until_closed(on_second, timeout=CLOSED_WITHIN) == (4401, [])


@pytest.mark.parametrize("withdraw", ["revoked_at", "deleted", "read_scope_removed"])
def test_a_token_withdrawn_by_hand_closes_its_socket(
    live_server_url: str, transactional_db: None, make_token: Any, withdraw: str
) -> None:
    token = make_token("read,operate")
    with token_socket(live_server_url, "/ws/live/", token.token) as socket:
        subscribe(socket)
        rows = ApiToken.objects.filter(key_id=token.key_id)
        if withdraw == "revoked_at":
            rows.update(revoked_at=timezone.now())
        elif withdraw == "deleted":
            rows.delete()
        else:
            rows.update(scopes=["operate"])
        assert until_closed(socket, timeout=CLOSED_WITHIN) == (4401, [])


@contextmanager
def _page_socket(live_server_url: str, cookie: str) -> Iterator[ClientConnection]:
    """A socket of a logged-in page of the server, subscribed to every event."""
    with connect(
        ws_url(live_server_url, "/ws/live/"),
        origin=live_server_url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    ) as socket:
        subscribe(socket)
        yield socket


def test_logging_out_closes_the_sessions_sockets(
    live_server_url: str, transactional_db: None, django_user_model: Any
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model)
    with _page_socket(live_server_url, cookie) as socket:
        page = requests.get(f"{live_server_url}/", headers={"Cookie": cookie}, timeout=10).text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert csrf
        logout = requests.post(
            f"{live_server_url}/logout/",
            data={"csrfmiddlewaretoken": csrf.group(1)},
            headers={"Cookie": cookie, "Referer": f"{live_server_url}/"},
            allow_redirects=False,
            timeout=10,
        )
        assert logout.status_code == 302
        assert until_closed(socket, timeout=CLOSED_WITHIN) == (4401, [])


def test_a_deactivated_users_sockets_are_closed(
    live_server_url: str, transactional_db: None, django_user_model: Any
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model, "leaver")
    with _page_socket(live_server_url, cookie) as socket:
        django_user_model.objects.filter(username="leaver").update(is_active=False)
        assert until_closed(socket, timeout=CLOSED_WITHIN) == (4401, [])


def test_an_expired_session_counts_as_logged_out(
    live_server_url: str, transactional_db: None, django_user_model: Any
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model, "sleeper")
    with _page_socket(live_server_url, cookie) as socket:
        Session.objects.update(expire_date=timezone.now())
        assert until_closed(socket, timeout=CLOSED_WITHIN) == (4401, [])


# --- The check: one query for every token socket of a process --------------------------------------


def test_one_query_checks_the_tokens_of_every_socket(
    make_token: Any, django_assert_num_queries: Any, django_user_model: Any
) -> None:
    issued = [make_token("read") for _ in range(30)]
    for token in issued[:10]:
        tokens.revoke(token.key_id)
    ApiToken.objects.filter(key_id=issued[10].key_id).delete()
    ApiToken.objects.filter(key_id=issued[11].key_id).update(scopes=["ingest"])
    credentials = [Credential(key_id=token.key_id) for token in issued]
    with django_assert_num_queries(1):
        gone = withdrawn(credentials)
    assert gone == set(credentials[:12])


def test_two_queries_check_every_logged_in_socket(
    db: None, django_assert_num_queries: Any, django_user_model: Any
) -> None:
    users = [django_user_model.objects.create_user(f"u{n}") for n in range(3)]
    expires = timezone.now() + timedelta(days=1)
    for n in range(3):
        Session.objects.create(session_key=f"s{n}" * 8, session_data="", expire_date=expires)
    users[2].is_active = False
    users[2].save()
    credentials = [Credential(session_key=f"s{n}" * 8, user_id=users[n].pk) for n in range(3)]
    logged_out = Credential(session_key="gone" * 8, user_id=users[0].pk)
    with django_assert_num_queries(2):
        gone = withdrawn([*credentials, logged_out])
    assert gone == {credentials[2], logged_out}
