"""The /replays/ page in a real browser: add a consumer, dry run, start, watch it finish live, and
re-drive dead letters with the outcome said on the page."""

from __future__ import annotations

import pytest

from dashboard.replay.models import Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.task_worker import scaled_mode_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("scaled_mode_worker")


@pytest.fixture
def archive(transactional_db: None) -> None:
    for i in range(12):
        archive_event(i, detail_type="OrderCreated" if i % 3 else "OrderPaid")


@pytest.mark.usefixtures("archive")
def test_a_person_adds_a_consumer_dry_runs_then_starts_and_watches_a_replay(page):
    with consumer_server() as server:
        page.goto("/replays/")
        page.fill("#consumer-form input[name=name]", "orders-v2")
        page.fill("#consumer-form input[name=url]", server.url)
        page.click("#consumer-form button[type=submit]")
        page.wait_for_selector("#consumer-table td:has-text('orders-v2')")

        page.fill("#replay-form input[name=name]", "from-the-page")
        page.fill("#replay-form input[name=since]", "2026-01-01T00:00:00Z")
        page.fill("#replay-form input[name=until]", "2026-01-02T00:00:00Z")
        page.fill("#replay-form input[name=rate_per_second]", "20")
        page.check("#replay-form input[name=consumers][value=orders-v2]")
        assert page.is_disabled("#start-replay")
        page.click("#dry-run")
        page.wait_for_selector("#plan:not([hidden])")
        assert page.text_content("#plan-matched") == "12"
        assert "OrderPaid" in page.text_content("#plan-types")
        assert server.count() == 0  # a dry run delivers nothing

        page.click("#start-replay")
        row = page.locator("#replay-rows tr").first
        row.locator("td.state-running, td.state-completed").first.wait_for(timeout=15000)
        row.locator("td.state-completed").wait_for(timeout=30000)
        assert row.locator("td.delivered").text_content() == "12"
        assert server.count() == 12
    assert page.script_errors == []  # type: ignore[attr-defined]


@pytest.mark.usefixtures("archive")
def test_dead_letters_are_listed_and_re_driven_from_the_page(page):
    accepting = {"now": False}
    with consumer_server(lambda received, count: (200, {}) if accepting["now"] else (410, {})) as server:
        replay = make_replay([make_consumer("gone", server.url)], name="doomed")
        from dashboard.replay.engine import run_replay

        assert run_replay(replay.pk) == Replay.COMPLETED
        page.goto(f"/replays/?replay={replay.pk}")
        assert page.locator("#dead-letters .redrive-one").count() == 12
        assert "HTTP 410" in page.text_content("#dead-letters")
        accepting["now"] = True
        page.click("#dead-letters .redrive-one >> nth=0")
        page.wait_for_selector("#redrive-status:has-text('1 dead letter re-driven')")
        first = page.locator("#dead-letters tbody tr").first
        assert "re-driven" in first.locator(".redrive-state").text_content()
        assert first.locator(".redrive-one").is_disabled()
        page.click("#redrive-all")
        page.wait_for_selector("#redrive-status:has-text('re-driven')")
        assert "11 dead letters re-driven" in page.text_content("#redrive-status")  # the first is not dead now
        assert page.locator("#dead-letters .redrive-one:not([disabled])").count() == 0
        assert page.is_disabled("#redrive-all")
        page.locator(f"#replay-{replay.pk} td.delivered", has_text="12").wait_for(timeout=30000)
        assert sorted(server.event_ids()) == sorted(set(server.event_ids())) and len(server.event_ids()) == 12
    assert page.script_errors == []  # type: ignore[attr-defined]


@pytest.mark.usefixtures("archive")
def test_a_start_whose_answer_is_lost_can_be_tried_again_and_makes_one_replay(page):
    make_consumer("orders-v2", "http://127.0.0.1:9/")
    lost: list[str] = []

    def lose_the_first_answer(route):
        if route.request.method == "POST" and "idempotency-key" in route.request.headers and not lost:
            route.fetch()  # the server makes the replay ...
            lost.append(route.request.headers["idempotency-key"])
            route.abort()  # ... and the browser never hears of it
            return
        route.continue_()

    page.route("**/api/replays", lose_the_first_answer)
    page.goto("/replays/")
    page.fill("#replay-form input[name=name]", "lost-answer")
    page.fill("#replay-form input[name=since]", "2026-01-01T00:00:00Z")
    page.fill("#replay-form input[name=until]", "2026-01-02T00:00:00Z")
    page.check("#replay-form input[name=consumers][value=orders-v2]")
    page.click("#dry-run")
    page.wait_for_selector("#plan:not([hidden])")
    page.click("#start-replay")
    page.wait_for_selector("#replay-status.error")
    assert lost and Replay.objects.filter(name="lost-answer").count() == 1
    page.click("#start-replay")  # enabled again: trying once more is safe
    page.wait_for_selector("#replay-status:has-text('started')")
    assert Replay.objects.filter(name="lost-answer").count() == 1
