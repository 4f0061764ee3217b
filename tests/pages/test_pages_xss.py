"""Untrusted data stays data: hostile sources, types, keys, values, span names and attributes on every page.

Each payload would set ``window.__xss``, open a dialog or add an event-handler attribute if it were
ever interpreted. The pages are checked for all three, and for Content-Security-Policy violations:
a blocked inline script would still mean the markup was injected, so a violation fails the test
even though the CSP stopped it.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
import requests

from dashboard.events.models import Event

pytestmark = pytest.mark.usefixtures("transactional_db")

PAYLOADS = [
    "<script>window.__xss=1</script>",
    "</script><script>window.__xss=2</script>",
    '"><img src=x onerror="window.__xss=3">',
    '" onmouseover="window.__xss=4" x="',
    "' onmouseover='alert(5)' x='",
    "\u2028\u2029</script><svg onload=alert(6)>",
    "javascript:alert(7)",
    "<!--<script>window.__xss=8</script>-->",
]
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective));
"""


def _post(url: str, path: str, token: str, body: object) -> requests.Response:
    response = requests.post(
        f"{url}{path}",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def _seed(url: str, token: str) -> None:
    events = [
        {
            "source": payload,
            "detail-type": payload,
            "detail": {payload: payload, "nested": [payload, {"k": payload}], "metadata": {"idempotency-key": payload}},
            "resources": [payload],
            "traceparent": f"00-{TRACE}-{SPAN}-01",
        }
        for payload in PAYLOADS
    ]
    _post(url, "/api/events", token, events)
    attrs = [{"key": p, "value": {"stringValue": p}} for p in PAYLOADS]
    spans = [
        {
            "traceId": TRACE,
            "spanId": SPAN,
            "name": PAYLOADS[0],
            "kind": 4,
            "startTimeUnixNano": "1764300000000000000",
            "endTimeUnixNano": "1764300001000000000",
            "attributes": attrs,
            "status": {"code": 2, "message": PAYLOADS[2]},
            "links": [{"traceId": "1" * 32, "spanId": "2" * 16, "attributes": attrs}],
        },
        {
            "traceId": "1" * 32,
            "spanId": "2" * 16,
            "name": PAYLOADS[3],
            "kind": 5,
            "startTimeUnixNano": "1764300000000000000",
            "endTimeUnixNano": "1764300000100000000",
            "links": [{"traceId": TRACE, "spanId": SPAN}],
        },
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": PAYLOADS[1]}}]}
    _post(url, "/v1/traces", token, {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})


def _assert_inert(page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    # Hover and click what can be hovered or opened, so handlers would have had their chance.
    for locator in (page.locator(".wf-name"), page.locator("table.data tbody tr")):
        for i in range(min(locator.count(), 6)):
            locator.nth(i).hover()
    if page.locator(".wf-name").count():
        page.locator(".wf-name").first.click()
    state = page.evaluate(
        "() => ({xss: window.__xss, csp: window.__csp,"
        " handlers: document.querySelectorAll('[onerror],[onload],[onmouseover],[onclick]').length,"
        " scripts: [...document.scripts].filter(s => !s.src && s.type !== 'application/json').length})"
    )
    assert state == {"xss": None, "csp": [], "handlers": 0, "scripts": 0}, (path, state)


def test_no_payload_runs_on_any_page(page, live_server_url, token):
    _seed(live_server_url, token.token)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(WATCH)
    event = Event.objects.filter(source=PAYLOADS[1]).get()
    paths = [
        "/",
        "/events/",
        f"/events/?source={quote(PAYLOADS[3])}&q={quote(PAYLOADS[0])}",
        f"/events/?pattern={quote(orjson.dumps({'source': [PAYLOADS[2]]}).decode())}",
        f"/events/{event.id}/",
        f"/traces/{TRACE}/",
        f"/traces/{'1' * 32}/",
    ]
    paths += [f"/keys/{quote(p, safe='')}/" for p in PAYLOADS]
    # Every page in the navigation, whoever built it.
    page.goto("/")
    paths += page.locator("header.top nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for path in paths:
        _assert_inert(page, path)
    assert dialogs == []
    assert page.script_errors == []


def test_payloads_are_shown_as_the_text_they_are(page, live_server_url, token):
    _seed(live_server_url, token.token)
    page.goto(f"/keys/{quote(PAYLOADS[2], safe='')}/")
    assert PAYLOADS[2] in page.locator("h1").inner_text()
    page.goto(f"/traces/{TRACE}/")
    page.locator(".wf-name").first.click()
    detail = page.locator(".wf-detail").inner_text()
    assert PAYLOADS[3] in detail and PAYLOADS[4] in detail
    page.goto(f"/events/?source={quote(PAYLOADS[5])}")
    assert page.locator("#results tbody tr").count() == 1
