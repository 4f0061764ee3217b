"""The demo is a development tool: the server never imports its requirements, and the command says
what to install when they are missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management.base import CommandError

from dashboard.demo.requirements import require
from tests.support.servers import ROOT

DEV_ONLY = ("boto3", "botocore", "cloudevents", "requests", "playwright", "schemathesis", "hypothesis")


def test_the_server_imports_none_of_the_development_requirements():
    probe = (
        "import sys, django; django.setup(); import config.urls, config.asgi, tasks.replay, tasks.transactions; "
        f"print(','.join(sorted(m for m in {DEV_ONLY!r} if m in sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "EVENTSCOPE_FOLDER_THREAD": "false"})
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_a_missing_requirement_is_named_with_how_to_install_it():
    with pytest.raises(CommandError, match=r"eventscope_no_such_module missing.*requirements-dev\.txt"):
        require("json", "eventscope_no_such_module")
    require("json")  # present: nothing to say
