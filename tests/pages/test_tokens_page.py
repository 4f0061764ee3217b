"""``/settings/tokens/``: staff create a token (shown once), see the live ones, revoke one after a
confirmation; other users are told it is for staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard.core.models import ApiToken
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    browser = logged_in(django_user_model, "lead", csrf=True)
    django_user_model.objects.filter(username="lead").update(is_staff=True)
    return browser


def _csrf(browser: Client) -> str:
    browser.get("/settings/tokens/")
    return str(browser.cookies["csrftoken"].value)


def test_it_needs_a_login(client):
    response = client.get("/settings/tokens/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_a_user_who_is_not_staff_is_told_it_is_for_staff(ops, make_token):
    issued = make_token(name="hidden")
    response = ops.get("/settings/tokens/")
    assert response.status_code == 403
    assert b"for staff users" in response.content and issued.key_id.encode() not in response.content
    assert ops.post(f"/settings/tokens/{issued.key_id}/revoke/").status_code == 403
    assert ApiToken.objects.get(key_id=issued.key_id).revoked_at is None


def test_staff_create_a_token_shown_once_that_authenticates(staff, client):
    csrf = _csrf(staff)
    response = staff.post("/settings/tokens/", {"name": "billing", "scopes": ["ingest", "read"],
                                                "csrfmiddlewaretoken": csrf})  # fmt: skip
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    row = ApiToken.objects.get(name="billing")
    assert row.scopes == ["ingest", "read"]
    page = response.content.decode()
    start = page.index("Bearer ", page.index('id="issued-bearer"')) + len("Bearer ")
    token = page[start : page.index("<", start)]
    assert token.startswith(row.key_id + ".")
    assert client.get("/api/events", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # The list shows it, never its secret again.
    listed = staff.get("/settings/tokens/").content.decode()
    assert row.key_id in listed and "billing" in listed and token not in listed


@pytest.mark.parametrize(
    ("form", "said"),
    [({"name": "", "scopes": ["ingest"]}, "Give the token a name"),
     ({"name": "x", "scopes": []}, "At least one scope"),
     ({"name": "x", "scopes": ["admin"]}, "Unknown scope"),
     ({"name": "x" * 101, "scopes": ["read"]}, "at most 100")],
)  # fmt: skip
def test_a_bad_form_is_said_with_400_and_creates_nothing(staff, form, said):
    response = staff.post("/settings/tokens/", {**form, "csrfmiddlewaretoken": _csrf(staff)})
    assert response.status_code == 400
    assert said in response.content.decode()
    assert not ApiToken.objects.exists()


def test_staff_revoke_a_token_after_a_confirmation(staff, client, make_token):
    issued = make_token(name="old-service")
    confirm = staff.get(f"/settings/tokens/{issued.key_id}/revoke/")
    assert confirm.status_code == 200 and b"Revoke old-service?" in confirm.content
    assert ApiToken.objects.get(key_id=issued.key_id).revoked_at is None  # asking revokes nothing
    done = staff.post(f"/settings/tokens/{issued.key_id}/revoke/", {"csrfmiddlewaretoken": _csrf(staff)}, follow=True)
    assert done.status_code == 200
    assert b"Revoked old-service" in done.content
    assert client.get("/api/events", headers={"Authorization": f"Bearer {issued.token}"}).status_code == 401
    gone = staff.get(f"/settings/tokens/{issued.key_id}/revoke/")
    assert gone.status_code == 404 and b"No such live token" in gone.content


def test_a_revocation_needs_the_csrf_token(staff, make_token):
    issued = make_token()
    assert staff.post(f"/settings/tokens/{issued.key_id}/revoke/").status_code == 403
    assert ApiToken.objects.get(key_id=issued.key_id).revoked_at is None
