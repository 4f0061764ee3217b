"""Any arrival order (and any split into requests) of the same events yields the same record, apart
from the out-of-order facts."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.store import store_events
from dashboard.lifecycles.definitions import forget_lifecycles
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction

pytestmark = pytest.mark.django_db

STEPS = ["OrderCreated", "OrderPaid", "OrderShipped"]
KINDS = [*STEPS, "OrderUpdated", "OrderNoted"]

# One event: (kind, key, seconds after the base time, traced?)
event_specs = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(["o-1", "o-2"]), st.integers(0, 5), st.booleans()),
    min_size=1,
    max_size=12,
)


def ingest(
    specs: list[tuple[str, str, int, bool]], order: list[int], cuts: list[int], base: datetime
) -> dict[str, Any]:
    Event.objects.all().delete()
    Transaction.objects.all().delete()
    events = [
        NormalizedEvent(
            event_id=f"e-{index}",
            source="shop",
            detail_type=kind,
            time=base + timedelta(seconds=offset),
            detail={"order-id": key},
            format="native",
            raw="{}",
            trace_id=f"{index:032x}" if traced else "",
            idempotency_key=f"idem-{index}",
        )
        for index, (kind, key, offset, traced) in enumerate(specs)
    ]
    arranged = [events[i] for i in order]
    bounds = [0, *sorted({cut % (len(arranged) + 1) for cut in cuts}), len(arranged)]
    for start, end in itertools.pairwise(bounds):
        if start < end:
            store_events(list(arranged[start:end]), timezone.now())
            fold_pending()  # on SQLite: each part merges into the record the parts before it left
    return {
        tx.key: {
            "steps_seen": {step: {k: v for k, v in seen.items() if k != "id"} for step, seen in tx.steps_seen.items()},
            "missing": (tx.steps_mask, tx.missing_count, tx.first_missing),
            "times": (tx.first_seen - base, tx.last_seen - base, tx.deadline - base),
            "counts": (tx.duplicates, tx.updates),
            "links": (tx.trace_ids, tx.idempotency_keys),
            "status": tx.status,
        }
        for tx in Transaction.objects.all()
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=event_specs, data=st.data())
def test_any_arrival_order_yields_the_same_record_apart_from_out_of_order_facts(
    specs: list[tuple[str, str, int, bool]], data: st.DataObject
) -> None:
    if not Lifecycle.objects.exists():
        Lifecycle.objects.create(name="order", key="detail.order-id", steps=STEPS, timeout_seconds=3600)
        forget_lifecycles()
    order = data.draw(st.permutations(range(len(specs))))
    cuts = data.draw(st.lists(st.integers(0, 12), max_size=4))
    base = timezone.now()
    in_order = ingest(specs, list(range(len(specs))), [], base)
    shuffled = ingest(specs, list(order), cuts, base)
    assert shuffled == in_order
    assert set(in_order) == {key for _, key, _, _ in specs}
