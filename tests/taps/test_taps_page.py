"""The /taps/ page: login required, the taps with their state and counts (passwords masked), rejected
messages as text; in a real browser, a tap created from the form, stopped, started and deleted."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import timezone

from dashboard.taps.models import Tap, TapRejection
from tests.support.brokers import redis_client, redis_url, unique


def test_it_needs_a_login() -> None:
    response = Client().get("/taps/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_lists_taps_with_masked_passwords_and_rejections_as_text(ops: Client) -> None:
    tap = Tap.objects.create(name="orders", url="amqp://shop:hunter2@mq:5672/", options={"exchange": "shop",
                             "binding_key": "order.#"}, state=Tap.FAILING, received=12, stored=9, rejected=3,
                             last_error="cannot connect", last_error_at=timezone.now())  # fmt: skip
    TapRejection.objects.create(tap=tap, received_at=timezone.now(), reason="not a CloudEvent",
                                message_id="m-1", body="<script>alert(1)</script>")  # fmt: skip
    page = ops.get("/taps/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'href="/taps/" aria-current="page"' in html
    assert "amqp://shop:***@mq:5672/" in html
    assert "hunter2" not in html
    assert "state-failing" in html
    assert "cannot connect" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_a_person_creates_stops_starts_and_deletes_a_tap(page: Any) -> None:
    stream, name = unique("test:page:"), unique("page")
    page.goto("/taps/")
    page.fill("#tap-form input[name=name]", name)
    page.fill("#tap-form input[name=url]", redis_url())
    assert page.is_hidden("#tap-form input[name=exchange]")  # only the stream field for redis://
    page.fill("#tap-form input[name=stream]", stream)
    page.click("#tap-form button[type=submit]")
    row = page.locator(f"#tap-rows tr[data-tap={name}]")
    row.wait_for()
    assert "created" in page.text_content("#tap-status")
    assert Tap.objects.get(name=name).options == {"stream": stream}
    row.locator("button:has-text('Stop')").click()
    page.locator(f"#tap-rows tr[data-tap={name}][data-state=stopped]").wait_for()
    assert Tap.objects.get(name=name).enabled is False
    page.locator(f"#tap-rows tr[data-tap={name}] button:has-text('Start')").click()
    page.locator(f"#tap-rows tr[data-tap={name}] button:has-text('Stop')").wait_for()
    assert Tap.objects.get(name=name).enabled is True
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f"#tap-rows tr[data-tap={name}] button:has-text('Delete')").click()
    page.locator(f"#tap-rows tr[data-tap={name}]").wait_for(state="detached")
    assert not Tap.objects.filter(name=name).exists()
    # A bad URL: the API's message is shown.
    page.fill("#tap-form input[name=name]", "bad")
    page.fill("#tap-form input[name=url]", "kafka://127.0.0.1:9092")
    page.click("#tap-form button[type=submit]")
    page.locator("#tap-status.error").wait_for()
    assert "scheme" in page.text_content("#tap-status")
    assert page.script_errors == []
    redis_client().delete(stream)


def test_a_person_edits_a_tap_whose_masked_password_stays(page: Any) -> None:
    from tests.support.brokers import AMQP_URL, amqp_channel, amqp_exchange

    name = unique("edit")
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        page.goto("/taps/")
        page.fill("#tap-form input[name=name]", name)
        page.fill("#tap-form input[name=url]", AMQP_URL)
        page.fill("#tap-form input[name=exchange]", exchange)
        page.fill("#tap-form input[name=binding_key]", "order.created")
        page.click("#tap-submit")
        row = page.locator(f"#tap-rows tr[data-tap={name}]")
        row.wait_for()

        row.locator("button.edit-tap").click()
        assert page.text_content("#tap-form-title") == f"Edit tap {name}"
        assert page.input_value("#tap-form input[name=url]") == "amqp://guest:***@127.0.0.1:5672/"
        assert page.input_value("#tap-form input[name=binding_key]") == "order.created"
        page.fill("#tap-form input[name=binding_key]", "order.paid")
        page.select_option("#tap-form select[name=format]", "raw")
        page.click("#tap-submit")
        page.wait_for_selector("#tap-status:has-text('saved')")
        page.locator(f"#tap-rows tr[data-tap={name}] td:has-text('order.paid')").wait_for()
        tap = Tap.objects.get(name=name)
        assert (tap.url, tap.options, tap.format) == (
            AMQP_URL,
            {"exchange": exchange, "binding_key": "order.paid"},
            "raw",
        )
        assert page.text_content("#tap-submit") == "Add tap"  # the form adds again
    assert page.script_errors == []
