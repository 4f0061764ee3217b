"""The /replays/ page in a real browser: running consumers (edit, pause, test, attempts, delete),
"replay these" from a key page, and an unknown replay's not-found state."""

from __future__ import annotations

import pytest

from dashboard.replay.models import Consumer, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer
from tests.support.task_worker import scaled_mode_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("scaled_mode_worker")


def test_a_person_edits_pauses_tests_and_reads_the_attempts_of_a_consumer(page):
    with consumer_server() as server:
        make_consumer("orders-v2", server.url, pattern={"detail-type": ["OrderPaid"]})
        page.goto("/replays/")
        row = page.locator("#consumer-orders-v2")
        assert row.locator("td.pattern-json").text_content() == '{"detail-type":["OrderPaid"]}'

        row.locator("button.edit-consumer").click()
        assert page.input_value("#consumer-form input[name=name]") == "orders-v2"
        page.fill("#consumer-form input[name=rate_per_second]", "5")
        page.click("#consumer-submit")
        page.wait_for_selector("#consumer-status:has-text('orders-v2 saved')")
        assert Consumer.objects.get().rate_per_second == 5
        assert page.locator("#consumer-orders-v2 td.num").first.text_content() == "5"

        page.click("#consumer-orders-v2 button.pause-consumer")
        page.wait_for_selector("#consumer-orders-v2 td.consumer-state:has-text('paused')")
        assert Consumer.objects.get().paused is True

        page.click("#consumer-orders-v2 button.test-consumer")
        result = page.locator("#consumer-orders-v2 .test-result")
        result.filter(has_text="Test delivered: 200 in").wait_for()
        assert server.count() == 1  # sent although paused: checking before resuming is the point

        page.click("#consumer-orders-v2 button.consumer-attempts")
        page.wait_for_selector("#attempts:not([hidden]) #attempts-rows tr.attempt")
        assert page.locator("#attempts-rows td.attempt-outcome").all_text_contents() == ["test"]
        page.select_option("#attempts-outcome", "dead")
        page.wait_for_selector("#attempts-status:has-text('No attempts with this outcome')")
        assert page.locator("#attempts-rows tr").count() == 0

        page.click("#consumer-orders-v2 button.pause-consumer")  # now "Resume"
        page.wait_for_selector("#consumer-orders-v2 td.consumer-state:has-text('active')")
        assert Consumer.objects.get().paused is False

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#consumer-orders-v2 button.delete-consumer")
        page.wait_for_selector("#consumer-action-status:has-text('orders-v2 deleted')")
        assert not Consumer.objects.exists()
        assert page.locator("#consumer-orders-v2").count() == 0
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_a_failing_test_event_and_a_refused_delete_say_why(page):
    with consumer_server(lambda received, count: (503, {})) as server:
        consumer = make_consumer("flaky", server.url)
        replay = Replay.objects.create(name="busy", since="2026-01-01T00:00:00Z", until="2026-01-02T00:00:00Z")
        replay.consumers.set([consumer])
        Replay.objects.filter(pk=replay.pk).update(state=Replay.RUNNING)
        page.goto("/replays/")
        page.click("#consumer-flaky button.test-consumer")
        page.locator("#consumer-flaky .test-result.error").filter(has_text="Test failed: 503").wait_for()
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#consumer-flaky button.delete-consumer")
        page.wait_for_selector("#consumer-action-status.error:has-text('cancel them first')")
        assert Consumer.objects.filter(name="flaky").exists()
        Replay.objects.filter(pk=replay.pk).update(state=Replay.CANCELLED)
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_replay_these_from_a_key_page_plans_first_then_replays_exactly_that_key(page):
    keyed = [archive_event(i, key="order-7") for i in range(3)]
    for i in range(4):
        archive_event(10 + i, key="order-8")
    with consumer_server() as server:
        make_consumer("orders-v2", server.url)
        page.goto("/keys/order-7/")
        page.click("#replay-these")
        page.wait_for_url("**/replays/?idempotency_key=order-7*")
        assert page.text_content("#selection-label") == "key order-7"
        page.wait_for_selector("#plan:not([hidden])")  # the selection's plan comes first
        assert page.text_content("#plan-matched") == "3"
        assert page.is_disabled("#start-replay")  # no consumer chosen yet
        assert not page.is_visible("#replay-form input[name=since]")

        page.check("#replay-form input[name=consumers][value=orders-v2]")
        page.click("#dry-run")
        page.wait_for_selector("#plan-consumers td:has-text('orders-v2')")
        assert page.text_content("#plan-deliveries") == "3"
        assert server.count() == 0
        page.click("#start-replay")
        row = page.locator("#replay-rows tr").first
        row.locator("td.state-completed").wait_for(timeout=30000)
        assert row.locator("td.delivered").text_content() == "3"
        assert server.event_ids() == [e.id for e in keyed]
    assert Replay.objects.get().selection == {"kind": "idempotency_key", "idempotency_key": "order-7", "events": 3}
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_an_unknown_replay_is_a_not_found_state(page):
    response = page.goto("/replays/?replay=999")
    assert response.status == 404
    assert "No replay 999" in page.text_content("#replay-not-found")
    assert page.locator("#consumer-table").is_visible()  # the rest of the page is still there
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_a_person_adds_and_edits_broker_consumers_whose_options_follow_the_url(page):
    page.goto("/replays/")
    form = page.locator("#consumer-form")
    assert not form.locator("input[name=exchange]").is_visible()  # an empty URL takes no options
    page.fill("#consumer-form input[name=name]", "orders-amqp")
    page.fill("#consumer-form input[name=url]", "amqp://guest:guest@127.0.0.1:5672/")
    assert form.locator("input[name=exchange]").is_visible() and form.locator("input[name=routing_key]").is_visible()
    assert not form.locator("input[name=subject]").is_visible()
    page.fill("#consumer-form input[name=exchange]", "shop")
    page.click("#consumer-submit")
    page.wait_for_selector("#consumer-status:has-text('orders-amqp added')")
    row = page.locator("#consumer-orders-amqp")
    assert row.locator("td.consumer-kind").text_content() == "amqp"
    assert row.locator("td.consumer-url").text_content() == "amqp://guest:***@127.0.0.1:5672/"
    assert row.locator("td.consumer-target").text_content() == "exchange shop, routing key = detail-type"
    assert (Consumer.objects.get().url, Consumer.objects.get().target) == (
        "amqp://guest:guest@127.0.0.1:5672/", {"exchange": "shop"},
    )  # fmt: skip
    assert "guest:guest" not in page.content()

    # Editing shows the masked URL; saved as it is, the stored password stays.
    row.locator("button.edit-consumer").click()
    assert page.input_value("#consumer-form input[name=url]") == "amqp://guest:***@127.0.0.1:5672/"
    assert page.input_value("#consumer-form input[name=exchange]") == "shop"
    page.fill("#consumer-form input[name=routing_key]", "orders.replayed")
    page.click("#consumer-submit")
    page.wait_for_selector("#consumer-status:has-text('orders-amqp saved')")
    consumer = Consumer.objects.get()
    assert (consumer.url, consumer.target) == (
        "amqp://guest:guest@127.0.0.1:5672/", {"exchange": "shop", "routing_key": "orders.replayed"},
    )  # fmt: skip

    # A NATS consumer; a refused option is said, and untrusted option text stays text.
    page.fill("#consumer-form input[name=name]", "orders-redis")
    page.fill("#consumer-form input[name=url]", "nats://127.0.0.1:4222")
    assert form.locator("input[name=subject]").is_visible() and not form.locator("input[name=exchange]").is_visible()
    page.fill("#consumer-form input[name=subject]", "orders.*")
    page.click("#consumer-submit")
    page.wait_for_selector("#consumer-status.error:has-text('no wildcards')")
    page.fill("#consumer-form input[name=url]", "redis://127.0.0.1:6379/6")
    page.fill("#consumer-form input[name=stream]", "<img src=x onerror=window.pwned=1>")
    page.click("#consumer-submit")
    page.wait_for_selector("#consumer-status:has-text('orders-redis added')")
    target = page.locator("#consumer-orders-redis td.consumer-target")
    assert target.text_content() == "stream <img src=x onerror=window.pwned=1>"
    assert target.locator("img").count() == 0
    assert Consumer.objects.get(name="orders-redis").target == {"stream": "<img src=x onerror=window.pwned=1>"}
    page.reload()  # rendered from the page's own data too
    assert page.locator("#consumer-orders-redis td.consumer-target img").count() == 0
    assert page.evaluate("window.pwned === undefined")
    assert page.script_errors == []  # type: ignore[attr-defined]
