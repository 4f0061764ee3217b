"""Which pages may open a logged-in websocket: origins compared as scheme + host + port.

A browser sends the session cookie (SameSite=Lax) to every port of the host, so another web app on
the same machine must not be able to open the live tail of a logged-in user.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from websockets.sync.client import connect

from dashboard.live.origin import is_page_origin
from tests.support.live_support import logged_in_cookie, until_closed, ws_url

# --- A real server, a real client ------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9999", "http://localhost:3000", "http://testserver", "https://{here}", "http://evil.example"],
    ids=["other-port", "localhost-other-port", "testserver", "https-same-host-port", "other-site"],
)
def test_a_logged_in_socket_from_a_page_that_is_not_ours_is_closed_with_4401(
    live_server_url: str, transactional_db: None, django_user_model: Any, origin: str
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model)
    foreign = origin.format(here=live_server_url.removeprefix("http://"))
    socket = connect(ws_url(live_server_url, "/ws/live/"), origin=foreign, additional_headers={"Cookie": cookie})  # type: ignore[arg-type]
    with socket:
        assert until_closed(socket) == (4401, [])
    # The same cookie from the server's own page is let in.
    with connect(
        ws_url(live_server_url, "/ws/live/"),
        origin=live_server_url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    ) as page:
        page.send(orjson.dumps({"type": "subscribe", "pattern": None}).decode())
        assert orjson.loads(page.recv(timeout=10))["type"] == "subscribed"


def test_another_name_of_this_server_on_its_port_is_one_of_its_pages(
    live_server_url: str, transactional_db: None, django_user_model: Any
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model)
    port = live_server_url.rsplit(":", 1)[1]
    with connect(
        ws_url(live_server_url, "/ws/live/"),
        origin=f"http://localhost:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    ) as page:
        page.send(orjson.dumps({"type": "subscribe", "pattern": None}).decode())
        assert orjson.loads(page.recv(timeout=10))["type"] == "subscribed"


@pytest.mark.parametrize("path", ["/ws/live/", "/ws/traces/5b8efff798038103d269b633813fc60c/", "/ws/replays/1/"])
def test_a_socket_without_token_or_origin_is_closed_with_4401_not_refused(
    live_server_url: str, transactional_db: None, path: str
) -> None:
    # No Origin at all (the client sends none unless told): the handshake completes, then 4401.
    with connect(ws_url(live_server_url, path)) as socket:
        assert until_closed(socket) == (4401, [])


@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/live", "/ws/traces/not-a-trace/", "/"])
def test_a_socket_on_a_path_that_serves_none_is_closed_with_4404(live_server_url: str, path: str) -> None:
    with connect(ws_url(live_server_url, path)) as socket:
        assert until_closed(socket) == (4404, [])


# --- The rule itself -------------------------------------------------------------------------------


def scope(origin: str | None, host: str | None = "dash.example:8000", **extra: Any) -> dict[str, Any]:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if host is not None:
        headers.append((b"host", host.encode()))
    return {"type": "websocket", "headers": headers, "server": ["10.0.0.5", 8000], **extra}


@pytest.fixture
def hosts(settings: Any) -> Any:
    settings.ALLOWED_HOSTS = ["dash.example", "127.0.0.1", ".corp.example"]
    settings.CSRF_TRUSTED_ORIGINS = []
    return settings


@pytest.mark.parametrize(
    "origin",
    [
        "http://dash.example:8000",  # the handshake's own origin
        "HTTP://DASH.EXAMPLE:8000",
        "http://127.0.0.1:8000",  # another allowed name of this server, same port
        "http://eu.corp.example:8000",  # an allowed subdomain, same port
    ],
)
def test_page_origins_are_the_allowed_hosts_on_the_port_the_browser_used(hosts: Any, origin: str) -> None:
    assert is_page_origin(scope(origin))


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "",
        "http://dash.example",  # port 80
        "http://dash.example:3000",
        "https://dash.example:8000",  # not the connection's scheme
        "http://other.example:8000",
        "http://user@dash.example:8000",
        "ftp://dash.example:8000",
        "http://dash.example:notaport",
        "http://testserver",
    ],
)
def test_anything_else_is_not_a_page_origin(hosts: Any, origin: str | None) -> None:
    assert not is_page_origin(scope(origin))


def test_default_ports_are_compared_as_numbers(hosts: Any) -> None:
    assert is_page_origin(scope("http://dash.example", host="dash.example"))
    assert is_page_origin(scope("http://dash.example:80", host="dash.example"))
    assert is_page_origin(scope("https://dash.example", host="dash.example", scheme="wss"))
    assert not is_page_origin(scope("http://dash.example", host="dash.example", scheme="wss"))


def test_without_a_host_header_the_servers_own_port_stands_in(hosts: Any) -> None:
    assert is_page_origin(scope("http://dash.example:8000", host=None))
    assert not is_page_origin(scope("http://dash.example:8001", host=None))
    assert not is_page_origin({"type": "websocket", "headers": [(b"origin", b"http://dash.example:8000")]})


def test_a_malformed_host_header_gives_no_page_origin(hosts: Any) -> None:
    assert not is_page_origin(scope("http://dash.example", host="evil@dash.example"))


def test_a_host_not_allowed_gives_no_page_origin_even_as_its_own(hosts: Any) -> None:
    # DNS rebinding: a hostile name pointed at this server is not one of its names.
    assert not is_page_origin(scope("http://rebound.example:8000", host="rebound.example:8000"))


def test_any_host_allowed_admits_only_the_handshakes_own_origin(hosts: Any) -> None:
    hosts.ALLOWED_HOSTS = ["*"]
    assert is_page_origin(scope("http://anything.example:8000", host="anything.example:8000"))
    assert not is_page_origin(scope("http://elsewhere.example:8000", host="anything.example:8000"))


def test_csrf_trusted_origins_are_taken_as_given(hosts: Any) -> None:
    # Behind a TLS proxy: the browser's origin is https, the server hears plain ws on port 8000.
    hosts.CSRF_TRUSTED_ORIGINS = ["https://dash.example", "https://*.apps.example"]
    assert is_page_origin(scope("https://dash.example", host="dash.example"))
    assert is_page_origin(scope("https://dash.example:443", host="dash.example"))
    assert is_page_origin(scope("https://team.apps.example", host="dash.example"))
    assert not is_page_origin(scope("http://team.apps.example", host="dash.example"))
    assert not is_page_origin(scope("https://dash.example:8443", host="dash.example"))


def test_a_proxys_forwarded_scheme_is_taken_when_configured(hosts: Any) -> None:
    hosts.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = scope("https://dash.example", host="dash.example")
    forwarded["headers"].append((b"x-forwarded-proto", b"https"))
    assert is_page_origin(forwarded)
    assert not is_page_origin(scope("https://dash.example", host="dash.example"))
