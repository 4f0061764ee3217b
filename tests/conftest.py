"""Shared fixtures: tokens, logged-in browsers, and a real server (daphne) on the test database.

The settings of the test run (and of the servers it starts) are ``tests/settings.py``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError
from django.db.backends.base.operations import BaseDatabaseOperations
from django.test import Client

from dashboard.core import tokens
from dashboard.core.tokens import IssuedToken
from dashboard.retention.policy import DAYS_SETTINGS
from tests.support.servers import server_env, serving

# Playwright's sync API keeps an event loop running in the test thread; the ORM calls the tests make
# beside it are still plain synchronous calls on that thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Fixtures that start a server process (daphne, a Celery worker) or a browser: a test that uses one
# is marked `server`, so `make test-fast` (-m "not server") runs only the in-process tests.
SERVER_FIXTURES = frozenset({"live_server_url", "browser", "page", "scaled_mode_worker"})


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_a_deadlock() -> Iterator[None]:
    """PostgreSQL: after a transactional test the database is flushed with one TRUNCATE of every
    table, which locks them one after the other, while the shared server's background work (a fold
    of the service map, say) may be reading two of them in the other order. The database breaks
    such a deadlock by refusing one side; when that is the flush, nothing of it was done, and it is
    run again (a refused fold folds again later)."""
    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        for attempt in range(5):
            try:
                flush(self, sql_list)
                return
            except OperationalError as error:
                if "deadlock detected" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
    # A test of what only PostgreSQL has (partitioned tables) is for the PostgreSQL run alone.
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        postgres_only = [item for item in items if item.get_closest_marker("postgres")]
        if postgres_only:
            items[:] = [item for item in items if not item.get_closest_marker("postgres")]
            config.hook.pytest_deselected(items=postgres_only)
    # The PostgreSQL run repeats only the tests that touch the database; the rest ran on SQLite.
    if os.environ.get("EVENTSCOPE_TEST_DB_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        uses_db = item.get_closest_marker("django_db") or any(
            name in fixtures for name in ("db", "transactional_db", "live_server_url", "django_db_setup")
        )
        (keep if uses_db and not item.get_closest_marker("sqlite") else drop).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    tokens.clear_cache()
    yield
    tokens.clear_cache()


@pytest.fixture(autouse=True)
def _fresh_lifecycle_cache() -> Iterator[None]:
    # Lifecycle definitions are cached per process; a test's rolled-back lifecycles must not outlive it.
    from dashboard.lifecycles.definitions import forget_lifecycles

    forget_lifecycles()
    yield
    forget_lifecycles()


@pytest.fixture(autouse=True)
def _fresh_schema_cache() -> Iterator[None]:
    # Schema versions are cached per process; a test's rolled-back schemas must not outlive it.
    from dashboard.schemas.cache import forget

    forget()
    yield
    forget()


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real daphne server running the project on the test database, as `make run` serves it.

    Tests that use it must use ``transactional_db`` so that what they create is committed and
    visible to the server, and what the server commits is visible to them.
    """
    env = server_env(
        EVENTSCOPE_MAX_BODY_BYTES=str(settings.EVENTSCOPE_MAX_BODY_BYTES),
        # A live-tail buffer small enough that one ingest request can overflow it (dropped counts).
        EVENTSCOPE_LIVE_BUFFER="200",
        # This server outlives the test that starts it; running taps, it would claim through the
        # lease the taps of later tests, which run them on a supervisor or server of their own
        # (tests/taps) and wait for that one to run them.
        EVENTSCOPE_EMBEDDED_TAPS="false",
        # Nor may its recovery sweep take over the replays that later tests run on servers or
        # workers of their own and look at as those left them (tests/core/test_shutdown.py): what
        # this server runs, its API queued itself.
        EVENTSCOPE_REPLAY_RECOVER_SECONDS="3600",
        # Nor purge by itself (as it starts, then hourly): the tests that store rows as received
        # long ago purge them themselves, and count what they deleted (tests/retention).
        **dict.fromkeys(DAYS_SETTINGS.values(), "0"),
    )
    with serving(tmp_path_factory.mktemp("server") / "daphne.log", env) as (_, url):
        yield url


def logged_in(user_model: Any, username: str, *, superuser: bool = False, csrf: bool = False) -> Client:
    """A browser logged in as a new user ``username`` (``csrf``: it enforces CSRF checks, as a
    real browser's requests are checked)."""
    password = f"pw-{username}-123456"
    create = user_model.objects.create_superuser if superuser else user_model.objects.create_user
    create(username, password=password)
    browser = Client(enforce_csrf_checks=csrf)
    assert browser.login(username=username, password=password)
    return browser


@pytest.fixture
def admin(django_user_model: Any) -> Client:
    """A logged-in superuser's browser (the Django admin)."""
    return logged_in(django_user_model, "root", superuser=True)


@pytest.fixture
def ops(django_user_model: Any) -> Client:
    """A logged-in operator's browser (every page)."""
    return logged_in(django_user_model, "ops")


@pytest.fixture
def make_token(db: None) -> object:
    def make(scopes: str = "ingest,read,operate", name: str = "test") -> IssuedToken:
        return tokens.create_token(name, scopes.split(","))

    return make


@pytest.fixture
def token(make_token: object) -> IssuedToken:
    """A token with every scope."""
    return make_token()  # type: ignore[operator]


@pytest.fixture
def auth(token: IssuedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


CHROMIUM = os.environ.get("EVENTSCOPE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (nothing is downloaded). It must be installed."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: object, live_server_url: str, transactional_db: None, django_user_model: object) -> Iterator[object]:
    """A logged-in browser page on the real server (user ``ops``). Script errors fail the test."""
    django_user_model.objects.create_user("ops", password="pw-ops-123456")  # type: ignore[attr-defined]
    context = browser.new_context(base_url=live_server_url)  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    tab.goto("/login/")
    tab.fill("input[name=username]", "ops")
    tab.fill("input[name=password]", "pw-ops-123456")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server_url}/")
    tab.script_errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        context.close()
