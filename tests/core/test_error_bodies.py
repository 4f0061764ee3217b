"""Errors on API paths are the contract's JSON whichever layer refuses the request, and refusals of
bad requests are logged at INFO, one line, without a traceback.

- a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` on a JSON API: 413 (Django answered an HTML 400);
- a URL over the HTTP server's 16 KiB line limit: 414 (the connection was dropped unanswered);
- an unknown API path: 404; a Host outside ``ALLOWED_HOSTS``: 400 (both were HTML pages);
- ingest endpoints keep their protocols' own error forms (AWS JSON here).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import orjson
import pytest
import requests
from django.urls import resolve

from dashboard.core.endpoints import is_ingest_endpoint
from tests.support.logged_server import LoggedServer, logged_server

# Starts server processes of its own, on the test database: it must be set up even when no test here
# writes to it (run alone, the module's server otherwise found the development database in var/, or none).
pytestmark = [pytest.mark.server, pytest.mark.django_db]

OVERSIZE = 10 * 1024 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE (9 MiB by default)
LONG_QUERY = "q=" + "a" * 20_000


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    with logged_server(tmp_path_factory.mktemp("errors") / "server.log") as running:
        yield running


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


def test_an_oversize_body_on_a_json_api_is_a_json_413(server):
    response = requests.post(
        f"{server.url}/api/consumers", data=b"x" * OVERSIZE, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert "larger than the limit" in _error(response, 413, "payload_too_large")


def test_an_oversize_form_on_a_page_is_a_413(server):
    response = requests.post(
        f"{server.url}/login/",
        data=b"x" * OVERSIZE,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 413


def test_a_20_kb_url_is_a_json_414(server):
    response = requests.get(f"{server.url}/api/events?{LONG_QUERY}", timeout=10)
    assert "16384 bytes" in _error(response, 414, "uri_too_long")


def test_a_header_over_the_limit_is_a_json_431(server):
    response = requests.get(f"{server.url}/api/events", headers={"X-Padding": "p" * 20_000}, timeout=10)
    _error(response, 431, "request_header_fields_too_large")


def test_something_that_is_not_http_gets_a_json_400(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"HELLO\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/json" in head
    assert orjson.loads(body)["error"]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/no-such-endpoint", "/v1/metrics"])
def test_an_unknown_api_path_is_a_json_404(server, path):
    assert path in _error(requests.get(f"{server.url}{path}", timeout=10), 404, "not_found")


def test_a_host_outside_allowed_hosts_is_a_json_400_on_the_api(server):
    response = requests.get(f"{server.url}/api/events", headers={"Host": "attacker.example"}, timeout=10)
    assert "attacker.example" in _error(response, 400, "invalid_host")


def test_refusals_are_logged_at_info_without_a_traceback(server):
    refused = [
        requests.get(f"{server.url}/static/..%2f..%2fconfig/settings.py", timeout=10),
        requests.get(f"{server.url}/events/", headers={"Host": "attacker.example"}, timeout=10),
        requests.get(f"{server.url}/api/no-such-endpoint", timeout=10),
        requests.get(f"{server.url}/api/events?{LONG_QUERY}", timeout=10),
        requests.post(f"{server.url}/api/patterns/test", data=b"x" * OVERSIZE, timeout=30),
    ]
    assert [r.status_code for r in refused] == [400, 400, 404, 414, 413]
    expected = [
        "INFO django.security.SuspiciousFileOperation",
        "INFO django.security.DisallowedHost",
        "INFO django.request Not Found: /api/no-such-endpoint",
        "INFO dashboard.core.httpserver refused a request",
        "INFO django.request Request Entity Too Large: /api/patterns/test",
    ]
    log = server.wait_for_log(lambda text: all(line in text for line in expected))
    assert "Traceback" not in log
    assert not re.search(r" (WARNING|ERROR|CRITICAL) ", log), log


def test_ingest_endpoints_keep_their_own_error_form(client):
    response = client.post(
        "/aws", b"x" * OVERSIZE, content_type="application/x-amz-json-1.1", HTTP_X_AMZ_TARGET="AWSEvents.PutEvents"
    )
    assert response.status_code == 413
    assert orjson.loads(response.content)["__type"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/api/events", "/api/cloudevents", "/aws", "/aws/"])
def test_ingest_routes_are_marked_as_answering_their_own_oversize_bodies(path):
    assert is_ingest_endpoint(resolve(path).func)


@pytest.mark.parametrize("path", ["/api/consumers", "/api/patterns/test", "/login/", "/healthz"])
def test_other_routes_are_not(path):
    assert not is_ingest_endpoint(resolve(path).func)
