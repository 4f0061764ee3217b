"""``/schemas/`` and ``/schemas/<id>/``: the discovered types, versions side by side, consumers and the
pin; a breaking change on the overview; the check on the event page."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from dashboard.events.models import Event
from dashboard.schemas.models import Schema
from tests.conftest import logged_in

ORDER = {"order-id": "o-1", "amount": 42, "customer": {"id": "c-1"}}


def send(client: Client, auth: dict[str, str], detail_type: str, *details: Any) -> None:
    body = [{"source": "shop.orders", "detail-type": detail_type, "detail": detail} for detail in details]
    response = client.post("/api/events", data=orjson.dumps(body), content_type="application/json", headers=auth)
    assert response.status_code == 200, response.content


@pytest.fixture
def ops(django_user_model: Any, auth: dict[str, str]) -> Client:
    browser = logged_in(django_user_model, "ops", csrf=True)
    send(browser, auth, "OrderCreated", ORDER, ORDER)
    send(browser, auth, "OrderCreated", {**ORDER, "coupon": "X"})
    send(browser, auth, "OrderCreated", {**ORDER, "amount": "42"})
    send(browser, auth, "PaymentCaptured", {"payment-id": "p-1"})
    return browser


def created() -> Schema:
    return Schema.objects.get(detail_type="OrderCreated")


@pytest.mark.django_db
def test_the_pages_need_a_login(client: Client) -> None:
    for url in ("/schemas/", "/schemas/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_list_shows_breaking_changes_first(ops: Client) -> None:
    html = ops.get("/schemas/").content.decode()
    rows = html.split("<tbody>")[1]  # not the filter's placeholder, which names OrderCreated too
    assert rows.index("OrderCreated") < rows.index("PaymentCaptured")
    assert "1 breaking" in html and "v3" in html
    assert 'aria-current="page">Schemas<' in html


@pytest.mark.django_db
def test_the_list_shows_the_newest_breaking_change_first(ops: Client, auth: dict[str, str]) -> None:
    # ShipmentPacked breaks three times, then OrderCreated (which broke once in the fixture) a second
    # time: the newest comes first, however many breaking changes the other had; then the others.
    send(ops, auth, "ShipmentPacked", {"id": "s-1", "weight": 1, "carrier": "ups"})
    send(ops, auth, "ShipmentPacked", {"id": "s-1", "weight": "1", "carrier": "ups"})
    send(ops, auth, "ShipmentPacked", {"id": "s-1", "weight": "1"})
    send(ops, auth, "ShipmentPacked", {"weight": "1"})
    send(ops, auth, "OrderCreated", {**ORDER, "amount": None})
    send(ops, auth, "AlsoQuiet", {"a": 1})
    assert Schema.objects.get(detail_type="ShipmentPacked").breaking_changes == 3
    assert created().breaking_changes == 2
    rows = ops.get("/schemas/").content.decode().split("<tbody>")[1]
    order = sorted(["ShipmentPacked", "OrderCreated", "AlsoQuiet", "PaymentCaptured"], key=rows.index)
    assert order == ["OrderCreated", "ShipmentPacked", "AlsoQuiet", "PaymentCaptured"]


@pytest.mark.django_db
def test_the_schema_page_shows_versions_side_by_side_with_the_change(ops: Client) -> None:
    schema = created()
    response = ops.get(f"/schemas/{schema.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="version-head') == 3
    assert 'class="mono mark-added">string' in html  # coupon, added in v2
    assert 'class="mono mark-changed">integer | string' in html  # amount, a string in v3
    first_ids = list(Event.objects.filter(detail_type="OrderCreated").order_by("id").values_list("id", flat=True))
    assert f'href="/events/{first_ids[0]}/" class="first-event"' in html
    assert f'href="/events/{first_ids[3]}/" class="first-event"' in html
    assert "Breaking change in v3" in html and "/amount" in html
    assert "No consumer seen yet" in html


@pytest.mark.django_db
def test_the_schema_page_reads_only_the_versions_it_shows_in_full(
    django_user_model: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A producer that adds a key to every event (a map keyed by ids) makes a version each time.
    browser = logged_in(django_user_model, "watcher")
    detail: dict[str, int] = {}
    for n in range(30):
        detail[f"sku-{n}"] = n
        send(browser, auth, "StockCounted", dict(detail))
    schema = Schema.objects.get(detail_type="StockCounted")
    assert schema.latest_version == 30
    from dashboard.schemas import queries

    made: list[str] = []
    real = queries.json_schema
    monkeypatch.setattr(queries, "json_schema", lambda *args, **kw: made.append(kw["title"]) or real(*args, **kw))
    html = browser.get(f"/schemas/{schema.id}/").content.decode()
    assert [title.rpartition(" ")[2] for title in made] == [str(n) for n in range(23, 31)]
    assert html.count('class="version-head') == 8 and "22 older in the API" in html
    pin_form = html.split('class="pin-form"')[1].split("</form>")[0]
    assert pin_form.count("<option value=") == 31  # every version can be pinned, and "none"
    assert 'class="mono mark-added">integer' in html  # each shown version's added key
    made.clear()
    body = browser.get(f"/api/schemas/{schema.id}", headers=auth).json()
    assert len(made) == 30 and all("schema" in version for version in body["versions"])


@pytest.mark.django_db
def test_the_pin_form_pins_and_says_so(ops: Client) -> None:
    schema = created()
    page = ops.get(f"/schemas/{schema.id}/")
    token = page.cookies["csrftoken"].value
    response = ops.post(f"/schemas/{schema.id}/", {"version": "2", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Schema.objects.get(id=schema.id).pinned_version == 2
    assert "version 2: new events are checked against it" in ops.get(f"/schemas/{schema.id}/").content.decode()
    refused = ops.post(f"/schemas/{schema.id}/", {"version": "9", "csrfmiddlewaretoken": token})
    assert refused.status_code == 400 and "has no version 9" in refused.content.decode()
    without_csrf = ops.post(f"/schemas/{schema.id}/", {"version": "1"})
    assert without_csrf.status_code == 403
    assert Schema.objects.get(id=schema.id).pinned_version == 2


@pytest.mark.django_db
def test_the_pin_form_refuses_odd_versions_with_a_400(ops: Client) -> None:
    schema = created()
    token = ops.get(f"/schemas/{schema.id}/").cookies["csrftoken"].value
    for raw in ("\u00b2", "\u0663", "9" * 5000, "99999999999999999999", "-1", "1.0", "v1"):
        response = ops.post(f"/schemas/{schema.id}/", {"version": raw, "csrfmiddlewaretoken": token})
        assert response.status_code == 400, raw[:20]
        assert 'role="alert"' in response.content.decode()
    assert Schema.objects.get(id=schema.id).pinned_version is None


@pytest.mark.django_db
def test_an_unknown_schema_is_the_layouts_not_found_state(ops: Client) -> None:
    for schema_id in ("424242", "nope"):
        response = ops.get(f"/schemas/{schema_id}/")
        assert response.status_code == 404
        assert f"No schema with the id {schema_id}" in response.content.decode()


@pytest.mark.django_db
def test_a_breaking_change_is_on_the_overview(ops: Client) -> None:
    html = ops.get("/").content.decode()
    assert "Breaking schema changes" in html
    section = html.split("Breaking schema changes")[1].split("</section>")[0]
    assert f'href="/schemas/{created().id}/"' in section and "/amount" in section


@pytest.mark.django_db
def test_the_event_page_shows_the_check_against_the_pinned_version(ops: Client, auth: dict[str, str]) -> None:
    schema = created()
    ops.post(
        f"/api/schemas/{schema.id}/pin", data=b'{"version": 1}', content_type="application/json", headers=auth
    )  # fmt: skip
    send(ops, auth, "OrderCreated", {"order-id": "o-9"})
    event = Event.objects.order_by("-id").first()
    html = ops.get(f"/events/{event.id}/").content.decode()
    assert "invalid" in html and "version 1: /amount: required, missing" in html
    assert f'href="/schemas/{schema.id}/"' in html
    # The events page finds the failures (and only them) with the same filter as the API.
    send(ops, auth, "OrderCreated", ORDER)
    passed = Event.objects.order_by("-id").first()
    assert event is not None and passed is not None
    failed_page = ops.get("/events/?schema_valid=false").content.decode()
    assert f'href="/events/{event.id}/"' in failed_page and f'href="/events/{passed.id}/"' not in failed_page
    passed_page = ops.get("/events/?schema_valid=true").content.decode()
    assert f'href="/events/{passed.id}/"' in passed_page and f'href="/events/{event.id}/"' not in passed_page


@pytest.mark.django_db
def test_producer_text_is_escaped(ops: Client, auth: dict[str, str]) -> None:
    send(ops, auth, "<script>alert(1)</script>", {"<img src=x onerror=alert(1)>": 1})
    schema = Schema.objects.get(detail_type__startswith="<script>")
    for url in ("/schemas/", f"/schemas/{schema.id}/"):
        html = ops.get(url).content.decode()
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)" in html


@pytest.mark.usefixtures("transactional_db")
def test_in_a_browser_the_schema_page_shows_the_change_and_pins_a_version(page: Any, auth: dict[str, str]) -> None:
    client = Client()
    send(client, auth, "OrderCreated", ORDER)
    send(client, auth, "OrderCreated", {key: value for key, value in ORDER.items() if key != "customer"})
    page.goto("/schemas/")
    page.click("text=OrderCreated")
    page.wait_for_selector("table.schema-tree")
    assert page.locator("th.version-head").count() == 2
    assert page.locator("td.mark-removed").first.inner_text().startswith("object")
    assert "breaking" in page.locator("th.version-head.kind-breaking").inner_text()
    page.select_option("form.pin-form select[name=version]", "1")
    page.click("#pin-button")
    page.wait_for_selector("text=version 1: new events are checked against it")
    assert page.locator("th.version-head").first.inner_text().endswith("pinned")
    assert Schema.objects.get(detail_type="OrderCreated").pinned_version == 1
    assert page.script_errors == []


@pytest.mark.django_db
def test_the_schema_page_names_the_consumers_a_breaking_change_hurt(django_user_model: Any, auth: dict[str, str]):
    from datetime import UTC, datetime

    from tracing.models import Span, SpanLink

    browser = logged_in(django_user_model, "watcher")
    now = datetime.now(UTC)
    for n, (amount, failed) in enumerate([(1, False), (2, False), ("3", True)]):
        trace, publish, consume = f"{n + 1:032x}", f"{n + 1:016x}", f"{n + 101:016x}"
        body = [{"source": "shop.orders", "detail-type": "OrderCreated", "detail": {"amount": amount},
                 "traceparent": f"00-{trace}-{publish}-01"}]  # fmt: skip
        browser.post("/api/events", data=orjson.dumps(body), content_type="application/json", headers=auth)
        common = {"start_ns": n, "end_ns": n + 1, "received_at": now}
        Span.objects.create(trace_id=trace, span_id=publish, name="publish", service="orders", **common)
        Span.objects.create(
            trace_id=f"{n + 1:031x}f", span_id=consume, name="charge", service="billing<b>", kind=5,
            status_code=Span.STATUS_ERROR if failed else Span.STATUS_OK, **common,
        )  # fmt: skip
        SpanLink.objects.create(
            trace_id=f"{n + 1:031x}f", span_id=consume, linked_trace_id=trace, linked_span_id=publish
        )
    html = browser.get(f"/schemas/{created().id}/").content.decode()
    impact = html.split("Breaking change in v2")[1].split("</section>")[0]
    assert "billing&lt;b&gt;" in impact and "started failing" in impact
    assert "0/2" in impact and "1/1" in impact
    consumers = html.split("<h2>Consumers</h2>")[1].split("</section>")[0]
    assert "billing&lt;b&gt;" in consumers and "v1, v2" in consumers and "orders" not in consumers
