"""``dashboard.core.tokens.bearer_token``: the one reading of ``Authorization: Bearer`` that the HTTP
API and the websocket handshake share."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from dashboard.core.tokens import IssuedToken, bearer_token
from dashboard.live.credentials import authenticate as authenticate_socket


@pytest.mark.parametrize(
    ("header", "token"),
    [
        pytest.param(None, None, id="no header: look at the session instead"),
        pytest.param("Bearer ES123.secret", "ES123.secret", id="bearer"),
        pytest.param("bearer ES123.secret", "ES123.secret", id="the scheme in any case"),
        pytest.param("BEARER   ES123.secret  ", "ES123.secret", id="spaces around the token"),
        pytest.param("  Bearer ES123.secret", "ES123.secret", id="spaces before the scheme"),
        pytest.param("Bearer", "", id="no token"),
        pytest.param("Bearer    ", "", id="only spaces after the scheme"),
        pytest.param("", "", id="an empty header"),
        pytest.param("Basic dXNlcjpwYXNz", "", id="another scheme"),
        pytest.param("Bearer\tES123.secret", "", id="a tab is no separator"),
        pytest.param("ES123.secret", "", id="a token without its scheme"),
    ],
)
def test_it_reads_the_token_of_a_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        pytest.param("bearer {token}", True, id="lower-case scheme"),
        pytest.param("Bearer  {token} ", True, id="spaces"),
        pytest.param("Basic {token}", False, id="another scheme"),
        pytest.param("Bearer", False, id="no token"),
    ],
)
def test_the_api_and_the_websocket_handshake_agree(
    client: Client, token: IssuedToken, header: str, accepted: bool
) -> None:
    value = header.format(token=token.token)

    response = client.get("/api/events", HTTP_AUTHORIZATION=value)
    socket = async_to_sync(authenticate_socket)({"headers": [(b"authorization", value.encode("latin1"))]})

    assert (response.status_code == 200) is accepted
    assert (socket is not None) is accepted
