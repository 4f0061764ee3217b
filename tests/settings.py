"""Settings of the test suite: the project's settings, and what only the tests need.

pytest uses this module (``DJANGO_SETTINGS_MODULE`` in pyproject.toml) and pytest-django puts its
name in the environment, so the servers and workers the tests start (``manage.py serve``, ``daphne``,
``celery``) inherit it and run with these settings too.
"""

from __future__ import annotations

import os
import tempfile

from config.env import env_secret

# One live-layer namespace per test run, shared with the servers the run starts (they inherit the
# variable): concurrent runs on one Redis database must not receive each other's live items.
os.environ.setdefault("EVENTSCOPE_CHANNEL_PREFIX", f"test{os.getpid()}")

from config.settings import *  # noqa: F403
from config.settings import DATABASES

# The tests never run ``bootstrap``: a fixed key, unless the environment gives one (a test that
# starts a process with a key of its own, e.g. a weak one for the checks).
SECRET_KEY = env_secret("SECRET_KEY") or "eventscope-tests-only-7Qm2vXb9LpZr4KcW8dNf3HjT6sYe1UaG5oRiE0wBxVyCq"

# Password hashing that costs microseconds instead of a second (users are created in most tests).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The test database: one per test run (by process id), so that concurrent runs on one machine do not
# meet. On SQLite a file, not :memory:, so that the servers the tests start share it; in the
# temporary folder, so that a fresh checkout (no var/) runs the tests.
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), f"eventscope-test-{os.getpid()}.sqlite3")
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("TEST", {})["NAME"] = f"test_{_db['NAME']}_{os.getpid()}"
    # Between tests the database is emptied with one TRUNCATE of every table, partitions included,
    # while servers the tests started may still be reading: a deadlock aborts whichever side looks
    # for it first (after its deadlock_timeout, 1 s by default). The test process looks last, so the
    # server's read is the one retried, not the emptying the next test depends on.
    _db.setdefault("OPTIONS", {})["options"] = "-c deadlock_timeout=10s"
