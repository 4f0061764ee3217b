"""Prometheus metrics: the series, how several processes share them, and ``GET /metrics``.

Counted where things happen, at a few points that already hold the numbers (a request's items by
outcome, not each item; a replay attempt's outcome; a live item dropped): an increment is a dict
lookup and an add, or a write to a memory-mapped file in multiprocess mode.

**Several processes.** A web node behind a load balancer is several processes (``make serve``:
daphne processes, a Celery worker and beat), and a scrape reaches one of them. With
``PROMETHEUS_MULTIPROC_DIR`` set in their environment, prometheus-client's multiprocess mode keeps
each process's values in files of that folder, and the process that answers the scrape
(``GET /metrics``, ``dashboard.core.metrics_endpoint``) adds them all up: the totals are the
machine's, whichever process is asked. ``make serve`` makes a fresh folder for each run
(``var/metrics/``); processes started by hand share one by setting the variable alike, and empty it
when they all restart. Without it (``make run``: one process) the values are the process's own.

**Read at scrape time.** What is a state rather than a count (how far the lifecycle fold or the
trace summariser is behind the newest row, the dead letters waiting) is read from the database when
scraped, by functions the apps register in their ``AppConfig.ready()`` (:func:`register_gauge`):
this app knows none of them by name.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:  # the processes' value files go there from the first metric declared below
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

logger = logging.getLogger(__name__)

INGEST_ITEMS = Counter(
    "eventscope_ingest_items",
    "Items that reached an ingest endpoint, by endpoint, kind (event, span, log) and outcome "
    "(accepted, duplicate, rejected).",
    ["endpoint", "kind", "outcome"],
)
INGEST_SECONDS = Histogram(
    "eventscope_ingest_request_seconds",
    "Time to answer an ingest request, by endpoint (from the view's start to its answer).",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INGEST_OVERLOADED = Counter(
    "eventscope_ingest_overloaded",
    "Ingest requests answered 503 at once because EVENTSCOPE_INGEST_MAX_INFLIGHT were in flight.",
)
DATABASE_BUSY = Counter(
    "eventscope_database_busy",
    "Requests answered 503 because the database was busy (locked) or unreachable.",
)
LIVE_DROPPED = Counter(
    "eventscope_live_dropped",
    "Live items that matched a websocket's filter but were not sent (a slow client): reported to it as dropped.",
)
REPLAY_DELIVERIES = Counter(
    "eventscope_replay_deliveries",
    "Replay delivery attempts, by what followed: delivered, retry, or dead (a dead letter).",
    ["outcome"],
)
TAP_MESSAGES = Counter(
    "eventscope_tap_messages",
    "Messages read by a broker tap, by tap and outcome.",
    ["tap", "outcome"],
)

# The ingest endpoint a request came by, for the counts made deeper down (the event store).
_endpoint: ContextVar[str] = ContextVar("eventscope_ingest_endpoint", default="")


def current_endpoint() -> str:
    """The ingest endpoint of the request being answered on this thread ("" outside one)."""
    return _endpoint.get()


# The counters of each (endpoint, kind, outcome), kept: ``labels()`` checks and locks on every call.
_item_counters: dict[tuple[str, str, str], Any] = {}


def _items(endpoint: str, kind: str, outcome: str) -> Any:
    key = (endpoint, kind, outcome)
    counter = _item_counters.get(key)
    if counter is None:
        counter = _item_counters[key] = INGEST_ITEMS.labels(endpoint, kind, outcome)
    return counter


def count_items(kind: str, accepted: int, duplicate: int = 0, rejected: int = 0) -> None:
    """Count one request's items of ``kind`` by outcome (zeros cost nothing)."""
    endpoint = _endpoint.get() or "other"
    if accepted:
        _items(endpoint, kind, "accepted").inc(accepted)
    if duplicate:
        _items(endpoint, kind, "duplicate").inc(duplicate)
    if rejected:
        _items(endpoint, kind, "rejected").inc(rejected)


def measure_ingest(endpoint: str, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``view`` timed into ``eventscope_ingest_request_seconds`` and its items counted under
    ``endpoint``; a view reached through another measured one (``/api/events`` hands its POSTs to
    native ingest) is measured once, by the outer one. Only POSTs are ingest."""

    seconds: list[Any] = []  # the histogram of ``endpoint``, made at the first request

    def measured(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST" or _endpoint.get():
            return view(request, *args, **kwargs)
        token = _endpoint.set(endpoint)
        started = time.perf_counter()
        try:
            return view(request, *args, **kwargs)
        finally:
            if not seconds:
                seconds.append(INGEST_SECONDS.labels(endpoint))
            seconds[0].observe(time.perf_counter() - started)
            _endpoint.reset(token)

    return measured


@dataclass(frozen=True)
class _Gauge:
    name: str
    documentation: str
    read: Callable[[], float | None]


_gauges: dict[str, _Gauge] = {}


def register_gauge(name: str, documentation: str, read: Callable[[], float | None]) -> None:
    """Report ``read()`` as gauge ``name`` at every scrape (None: not reported, e.g. a state this
    database does not have). ``read`` runs in the scrape's request; keep it one cheap query.
    Registering a name again replaces it (``ready()`` may run again in tests)."""
    _gauges[name] = _Gauge(name, documentation, read)


class _ScrapeGauges(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        for gauge in list(_gauges.values()):
            try:
                value = gauge.read()
            except Exception as err:  # a scrape answers what it can: one failing read is left out
                logger.warning("metrics: %s could not be read: %s", gauge.name, err)
                continue
            if value is not None:
                yield GaugeMetricFamily(gauge.name, gauge.documentation, value=value)


_SCRAPE_GAUGES = _ScrapeGauges()
if not MULTIPROCESS_DIR:
    REGISTRY.register(_SCRAPE_GAUGES)


def exposition() -> bytes:
    """The metrics in Prometheus's text format: this machine's processes' sums in multiprocess
    mode, else this process's (with its process and runtime collectors)."""
    if not MULTIPROCESS_DIR:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_SCRAPE_GAUGES)
    return generate_latest(registry)
