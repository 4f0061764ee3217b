"""One transaction in full (its steps in lifecycle order, who usually sends a missing step) and a
lifecycle's step-to-step timings: the queries behind ``/api/transactions/<lifecycle>/<key>`` and
``/api/lifecycles/<name>/timings``."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
from django.db.models import F
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.events.envelope import parse_time
from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction
from dashboard.lifecycles.report import transaction_json

# How many other records of the lifecycle are asked who sent a step (the newest that saw it), and how
# many of a lifecycle's newest records the timings are computed over: both read one bounded slice of
# the table however large it grows, so the answer stays fast and reflects recent behaviour.
USUAL_SOURCE_SAMPLE = 200
TIMINGS_SAMPLE = 10_000


class NotFound(Problem):
    status = 404
    default_code = "not_found"


def lifecycle_named(name: str) -> Lifecycle:
    """The lifecycle called ``name``; a 404 Problem when there is none."""
    lifecycle = Lifecycle.objects.filter(name=name).first()
    if lifecycle is None:
        raise NotFound(f"No lifecycle named {name!r}.")
    return lifecycle


def transaction_at(path: str, now: datetime | None = None) -> dict[str, Any]:
    """The transaction at ``<lifecycle>/<key>`` (the path of its page and of its API, decoded):
    :func:`transaction_detail` of it. A lifecycle name may hold "/" (it is any text) and so may a
    key: the lifecycle is the shortest leading part, up to a "/", that names one (one query finds
    it). Raises a 404 Problem when no leading part names a lifecycle, or the key is unknown."""
    parts = path.split("/")
    leading = ["/".join(parts[:cut]) for cut in range(1, len(parts))]
    named = {lifecycle.name: lifecycle for lifecycle in Lifecycle.objects.filter(name__in=leading)} if leading else {}
    for cut, name in enumerate(leading, start=1):
        if name in named:
            return _detail(named[name], "/".join(parts[cut:]), now)
    raise NotFound(f"No transaction at {path!r}: no lifecycle named by its leading part.")


def transaction_event_ids(lifecycle_name: str, key: str, limit: int) -> list[str]:
    """The stored ids of the events of the transaction ``key`` in the lifecycle — every event that
    ingest matched to it, steps and updates alike — in time order (then stored id), at most
    ``limit``. Raises a 404 Problem for an unknown lifecycle or key.

    The record's ``first_seen``/``last_seen`` (event times) bound the search to the ``event_time``
    index; within them an event's ``lifecycle_matches`` text must name the lifecycle and the key (it
    is written by ``orjson``, so the JSON prefix ``[<id>,"<key>",`` finds it; SQLite's LIKE ignores
    case, so each candidate's matches are read to be sure)."""
    lifecycle = lifecycle_named(lifecycle_name)
    fold_pending()
    tx = Transaction.objects.filter(lifecycle=lifecycle, key=key).only("first_seen", "last_seen").first()
    if tx is None:
        raise NotFound(f"No transaction {key!r} in lifecycle {lifecycle.name!r}.")
    needle = orjson.dumps([lifecycle.id, key]).decode()[:-1] + ","
    rows = (
        Event.objects.filter(time__gte=tx.first_seen, time__lte=tx.last_seen, lifecycle_matches__contains=needle)
        .order_by("time", "id")
        .values_list("id", "lifecycle_matches")
    )
    found = []
    for stored_id, matches in rows.iterator(chunk_size=2000):
        if any(match[0] == lifecycle.id and match[1] == key for match in orjson.loads(matches or "[]")):
            found.append(stored_id)
            if len(found) >= limit:
                break
    return found


def _ms(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() * 1000, 3)


def _usual_sources(lifecycle: Lifecycle, steps: list[str], exclude_id: int) -> dict[str, str | None]:
    """Per step: the source that most often sent it among the newest records of the lifecycle that
    saw it (ties go to the alphabetically first); None when no other record saw it."""
    found: dict[str, str | None] = {}
    for step in steps:
        bit = 1 << lifecycle.steps.index(step)
        records = (
            Transaction.objects.filter(lifecycle=lifecycle)
            .exclude(pk=exclude_id)
            .annotate(has=F("steps_mask").bitand(bit))
            .filter(has=bit)
            .order_by("-id")
            .values_list("steps_seen", flat=True)[:USUAL_SOURCE_SAMPLE]
        )
        ids = [seen[step]["id"] for seen in records if step in seen]
        counts = Counter(Event.objects.filter(pk__in=ids).values_list("source", flat=True))
        found[step] = min(counts, key=lambda source: (-counts[source], source)) if counts else None
    return found


def transaction_detail(lifecycle_name: str, key: str, now: datetime | None = None) -> dict[str, Any]:
    """The record of ``key`` in the lifecycle (the report's shape, CONTRACT §7) plus ``steps``: one
    entry per lifecycle step in order, ``{"step", "seen", "time", "event_id", "trace_id",
    "since_previous_ms", "usual_source"}``. ``event_id`` is the stored id of the step's earliest
    event (by event time), ``since_previous_ms`` the time from the nearest earlier seen step (None
    for the first seen one and for a missing step), ``usual_source`` (a missing step only) the
    source that sent that step for other keys. Also ``out_of_order_facts`` (the recorded facts).
    Raises a 404 Problem for an unknown lifecycle or key."""
    return _detail(lifecycle_named(lifecycle_name), key, now)


def _detail(lifecycle: Lifecycle, key: str, now: datetime | None) -> dict[str, Any]:
    fold_pending()  # every event whose ingest has been answered is in the record
    tx = Transaction.objects.filter(lifecycle=lifecycle, key=key).first()
    if tx is None:
        raise NotFound(f"No transaction {key!r} in lifecycle {lifecycle.name!r}.")
    item = transaction_json(tx, lifecycle, now or timezone.now())
    seen_ids = [tx.steps_seen[step]["id"] for step in lifecycle.steps if step in tx.steps_seen]
    traces = dict(Event.objects.filter(pk__in=seen_ids).values_list("id", "trace_id"))
    missing = [step for step in lifecycle.steps if step not in tx.steps_seen]
    usual = _usual_sources(lifecycle, missing, tx.pk) if missing else {}
    steps: list[dict[str, Any]] = []
    previous: datetime | None = None
    for step in lifecycle.steps:
        seen = tx.steps_seen.get(step)
        if seen is None:
            steps.append({
                "step": step, "seen": False, "time": None, "event_id": None, "trace_id": None,
                "since_previous_ms": None, "usual_source": usual.get(step),
            })  # fmt: skip
            continue
        time = parse_time(seen["time"], "time")
        steps.append({
            "step": step, "seen": True, "time": seen["time"], "event_id": seen["id"],
            "trace_id": traces.get(seen["id"]) or None, "since_previous_ms": _ms(time, previous) if previous else None,
            "usual_source": None,
        })  # fmt: skip
        previous = time
    item["steps"] = steps
    item["out_of_order_facts"] = tx.out_of_order_events
    return item


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[min(len(ordered), int(rank)) - 1]


def step_timings(lifecycle_name: str) -> dict[str, Any]:
    """Per consecutive step pair of the lifecycle, ``{"from", "to", "count", "p50_ms", "p95_ms",
    "p99_ms"}``: the time from the earlier step's event to the later one's (event times; negative
    when the later step's event is older), over the records that saw both steps, among the
    lifecycle's ``TIMINGS_SAMPLE`` newest records. Percentiles are None when ``count`` is 0."""
    lifecycle = lifecycle_named(lifecycle_name)
    fold_pending()
    steps: list[str] = lifecycle.steps
    gaps: list[list[float]] = [[] for _ in steps[1:]]
    records = (
        Transaction.objects.filter(lifecycle=lifecycle)
        .order_by("-id")
        .values_list("steps_seen", flat=True)[:TIMINGS_SAMPLE]
    )
    for seen in records:
        times = [parse_time(seen[step]["time"], "time") if step in seen else None for step in steps]
        for index, (earlier, later) in enumerate(itertools.pairwise(times)):
            if earlier is not None and later is not None:
                gaps[index].append(_ms(later, earlier))
    pairs = []
    for index, values in enumerate(gaps):
        values.sort()
        pairs.append({
            "from": steps[index], "to": steps[index + 1], "count": len(values),
            **{f"p{p}_ms": _percentile(values, p / 100) if values else None for p in (50, 95, 99)},
        })  # fmt: skip
    return {"lifecycle": lifecycle.name, "results": pairs}
