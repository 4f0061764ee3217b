"""What the server does with each HTTP request besides running it: one access-log line, daphne's,
and the body handed to Django as sent (Twisted's own form parsing and access log are turned off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.live_support import logged_in_cookie
from tests.support.logged_server import logged_server

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]


def test_each_request_has_one_access_log_line(tmp_path: Path, auth: dict[str, str]) -> None:
    with logged_server(tmp_path / "server.log") as server:
        event = {"source": "shop.orders", "detail-type": "OrderPlaced", "detail": {"id": 1}}
        response = requests.post(f"{server.url}/api/events", json=event, headers=auth, timeout=10)
        assert response.status_code == 200, response.text
        log = server.wait_for_log(lambda text: '"POST /api/events" 200' in text)
    assert log.count('"POST /api/events"') == 1, log


def test_a_form_posted_through_the_server_reaches_django_as_sent(tmp_path: Path, django_user_model: Any) -> None:
    with logged_server(tmp_path / "server.log") as server:
        cookie = logged_in_cookie(server.url, django_user_model)  # the login form, url-encoded
        page = requests.get(f"{server.url}/", headers={"Cookie": cookie}, allow_redirects=False, timeout=10)
    assert page.status_code == 200
