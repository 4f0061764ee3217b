"""A committed batch's counts reach ``eventscope_tap_messages_total`` by tap and outcome.

The batch is stored here, in this process, rather than by a running tap: any process of the test run
(a server another test started) may own a tap, and each counts in its own registry."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import REGISTRY

from dashboard.taps.messages import TappedMessage
from dashboard.taps.models import Tap
from dashboard.taps.sink import store_batch

pytestmark = pytest.mark.django_db


def count(tap: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("eventscope_tap_messages_total", {"tap": tap, "outcome": outcome}) or 0.0


def test_a_batch_counts_what_it_stored_what_it_had_and_what_it_rejected() -> None:
    # Not enabled: no supervisor anywhere is to read the made-up broker.
    tap = Tap.objects.create(name="counted", url="amqp://127.0.0.1:9/", format="cloudevents", enabled=False)
    event = orjson.dumps({"specversion": "1.0", "id": "m-1", "source": "s", "type": "T", "data": {}})
    content = "application/cloudevents+json"
    before = {outcome: count("counted", outcome) for outcome in ("stored", "duplicate", "rejected")}
    outcome = store_batch(
        tap,
        [
            TappedMessage(event, "k", "a", content_type=content),
            TappedMessage(event, "k", "b", content_type=content),  # the same event again
            TappedMessage(b"plain text", "k", "c"),  # no CloudEvent
        ],
    )
    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (1, 1, 1)
    after = {name: count("counted", name) - before[name] for name in before}
    assert after == {"stored": 1, "duplicate": 1, "rejected": 1}
