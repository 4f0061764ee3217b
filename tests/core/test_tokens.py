"""``create_token``: scopes, the JSON form, and what gets stored."""

from __future__ import annotations

import io

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dashboard.core.models import ApiToken
from dashboard.core.tokens import secret_for, verify_bearer

pytestmark = pytest.mark.django_db


def test_create_token_prints_json_that_authenticates():
    out = io.StringIO()
    call_command("create_token", "orders-service", "--scopes", "read,ingest", "--json", stdout=out)
    issued = orjson.loads(out.getvalue().strip().splitlines()[-1])
    assert issued["scopes"] == ["ingest", "read"]
    assert issued["token"] == f"{issued['key_id']}.{issued['secret']}"
    principal = verify_bearer(issued["token"])
    assert principal is not None and principal.scopes == {"ingest", "read"} and principal.name == "orders-service"
    assert secret_for(issued["key_id"]) == issued["secret"]


def test_the_secret_is_not_stored():
    out = io.StringIO()
    call_command("create_token", "x", "--json", stdout=out)
    issued = orjson.loads(out.getvalue().strip())
    row = ApiToken.objects.get(key_id=issued["key_id"])
    assert issued["secret"] not in str(row.__dict__)


def test_an_unknown_scope_is_refused():
    with pytest.raises(CommandError, match="unknown scope"):
        call_command("create_token", "x", "--scopes", "ingest,admin")


def test_the_first_start_prints_a_login_and_a_working_token(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    text = out.getvalue()
    assert "Log in at http://127.0.0.1:8000/ as admin / " in text
    token = text.split("Ingest token (scopes ingest, read): ")[1].split()[0]
    assert verify_bearer(token) is not None
    again = io.StringIO()
    call_command("bootstrap", stdout=again)
    # A later start: where to log in, never the password or the token again.
    assert again.getvalue().startswith("Eventscope: log in at http://127.0.0.1:8000/")
    password = text.split(" as admin / ")[1].split()[0]
    assert password not in again.getvalue() and token not in again.getvalue()
