"""The API's routes: text with line breaks in keys and lifecycle names."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dashboard.tokens import IssuedToken

pytestmark = pytest.mark.usefixtures("transactional_db")


def bearer(token: IssuedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


# --- defects the fuzz found -----------------------------------------------------------------------


def test_a_key_with_a_line_break_has_its_ledger(live_server_url: str, token: IssuedToken) -> None:
    event = {"source": "s", "detail-type": "T", "detail": {"metadata": {"idempotency-key": "pay\no-1"}}}
    requests.post(f"{live_server_url}/api/events", json=event, headers=bearer(token), timeout=30).raise_for_status()
    response = requests.get(f"{live_server_url}/api/keys/pay%0Ao-1", headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["key"] == "pay\no-1"


def test_a_lifecycle_named_with_a_line_break_can_be_read_changed_and_deleted(client: Any, auth: dict[str, str]) -> None:
    definition = {"name": "order\nv2", "key": "detail.id", "steps": ["A"], "timeout_seconds": 60}
    assert client.post("/api/lifecycles", definition, content_type="application/json", headers=auth).status_code == 201
    assert client.get("/api/lifecycles/order%0Av2", headers=auth).json()["name"] == "order\nv2"
    changed = client.patch("/api/lifecycles/order%0Av2", {"timeout_seconds": 5}, content_type="application/json",
                           headers=auth)  # fmt: skip
    assert changed.status_code == 200
    assert client.delete("/api/lifecycles/order%0Av2", headers=auth).status_code == 204
