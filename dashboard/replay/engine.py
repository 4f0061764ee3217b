"""Running a replay: one run holds the replay, walks the archive and feeds one lane per consumer.

The run (``ReplayRun.execute``, called by the Celery task) takes the replay's lease with a
conditional UPDATE, so two workers never run one replay at once, and renews it while it works; a
replay whose run died (a worker killed with SIGKILL) keeps ``state = running`` with an expiring
lease, and the recovery sweep (``tasks.replay.recover_replays``) starts a new run once it expired.

Work is claimed in the database, which is what makes a restart safe:

* Planning writes one ``Delivery`` row per (event, consumer), unique on (replay, event, consumer),
  in the same transaction that moves the replay's cursor. A resumed walk starts after the cursor,
  and a page planned twice creates nothing new.
* A lane claims a small batch of its deliveries (``state = sending``, ``claim = <run>``) before
  sending them, and records each outcome afterwards (``delivered``, ``retry`` with a due time, or
  ``dead``). A delivery is only ever sent by the run that claimed it.
* A new run first turns deliveries still ``sending`` under a dead run into dead letters with an
  "outcome unknown" error: they may or may not have reached the consumer, and sending them again
  could deliver an event twice. An operator can re-drive them. Claims are sized to about 0.05 s of
  sending, so a crash leaves few of them.

Order: a lane sends its deliveries' first attempts in ``seq`` order (the events' time order). A
delivery waiting for a retry blocks its idempotency key: later deliveries with that key wait
("held") until it is delivered or dead-lettered; deliveries with other keys go on.

Stopping (a server or worker shutting down, :func:`stop_runs`): every run of the process stops at a
delivery boundary. A delivery in flight completes and is recorded; what a lane claimed but did not
send goes back to ``pending`` (or ``retry``) unclaimed; a wait for the rate limiter or for a retry is
cut short. The run then gives the replay up still ``running`` with its lease expired, so that the
recovery sweep starts a new run at once (on another worker, or when the server starts again), and
the new run finds nothing "outcome unknown".
"""

from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from dashboard.core import metrics
from dashboard.core.bulk import db_datetime, insert_rows
from dashboard.events.envelope import canonical_envelope
from dashboard.events.models import Event
from dashboard.patterns.engine import CompiledPattern
from dashboard.replay import progress
from dashboard.replay.delivery import (
    DELIVERED,
    RETRY,
    Message,
    Outcome,
    Sender,
    delivery_body,
    delivery_headers,
)
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay
from dashboard.replay.plan import WALK_FIELDS, archive_range, compiled_or_none, insert_deliveries, select, walk
from dashboard.replay.ratelimit import TokenBucket
from dashboard.replay.targets import Resolver

logger = logging.getLogger(__name__)

# How far (in matched events) planning may run ahead of the slowest lane (of a consumer not paused).
BACKLOG = 5000
LANE_PAGE = 500
MAX_BATCH = 100
# A claim covers about this much sending time: what a crash may leave as "outcome unknown".
CLAIM_SECONDS = 0.05
PUBLISH_EVERY = 0.25
RESCAN_EVERY = 0.5
UNKNOWN_OUTCOME = (
    "outcome unknown: the worker stopped while this delivery was claimed or in flight; it is not sent "
    "again automatically (it may have arrived) — re-drive it if the consumer did not receive it"
)
# A delivery whose event no longer exists (deleted by retention after it was planned; deliveries have
# no database foreign key to events): lanes load deliveries with their events, so it would never be
# sent, and the replay would wait for it forever.
EVENT_GONE = "the event was deleted by retention"
# How often a run whose lanes are idle while deliveries are still to send looks for those whose event
# is gone (an anti-join over them: not at every turn of the loop).
ORPHAN_SWEEP_EVERY = 5.0


class LeaseLost(Exception):
    """Another run holds the replay now, or it was cancelled or deleted."""


@dataclass(slots=True)
class Item:
    """A delivery as a lane holds it in memory."""

    id: int
    seq: int
    key: str
    event_id: str
    event_time: datetime
    envelope: dict[str, Any]
    attempts: int
    drive_attempts: int
    state: str
    due: float = 0.0
    # Claimed before: its last write may still be queued for the recorder.
    touched: bool = False


@dataclass(slots=True)
class Result:
    item: Item
    outcome: Outcome
    state: str
    at: datetime
    next_attempt_at: datetime | None


@dataclass
class Shared:
    """What the run and its lanes share: how far planning got, and the stop signal."""

    stop: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
    planned_seq: int = 0
    walk_done: bool = False
    error: str = ""
    # Stopped because the process is stopping (not cancelled, not failed): the replay is given up.
    interrupted: bool = False

    def advance(self, planned_seq: int, walk_done: bool) -> None:
        with self.cond:
            self.planned_seq = planned_seq
            self.walk_done = walk_done
            self.cond.notify_all()

    def halt(self, error: str = "") -> None:
        if error and not self.error:
            self.error = error
        self.stop.set()
        with self.cond:
            self.cond.notify_all()

    def interrupt(self) -> None:
        self.interrupted = True
        self.halt()


def backoff_seconds(drive_attempts: int, retry_after: float | None) -> float:
    """The wait before the next attempt: the consumer's ``Retry-After`` when it gave one, else
    exponential backoff (doubling from ``EVENTSCOPE_REPLAY_BACKOFF_MS``, capped) with jitter, so that
    many deliveries failing together do not come back together."""
    if retry_after is not None:
        return min(retry_after, 3600.0)
    base = settings.EVENTSCOPE_REPLAY_BACKOFF_MS / 1000
    cap = settings.EVENTSCOPE_REPLAY_MAX_BACKOFF_MS / 1000
    delay = min(cap, base * (2 ** max(0, drive_attempts - 1)))
    return delay * random.uniform(0.5, 1.0)


ATTEMPT_COLUMNS = (
    "delivery_id", "consumer_id", "replay_id", "number", "at", "status", "latency_ms", "error", "response", "outcome",
)  # fmt: skip
# How often a lane reads its consumer again (a change of URL, secret or rate; a pause or a resume).
CONSUMER_REFRESH_EVERY = 0.5
_ITEM_FIELDS = ("id", "seq", "idempotency_key", "attempts", "drive_attempts", "state", "next_attempt_at")


class Lane(threading.Thread):
    """Sends one replay's deliveries to one consumer, in order, at the allowed rate."""

    def __init__(self, run: ReplayRun, consumer: Consumer) -> None:
        super().__init__(name=f"replay-{run.replay_id}-{consumer.name}", daemon=True)
        self.run_ = run
        self.shared = run.shared
        self.consumer = consumer
        self.bucket = TokenBucket(_min_rate(run.replay.rate_per_second, consumer.rate_per_second))
        self.sender = Sender(resolver=run.resolver)
        self.ready: deque[Item] = deque()
        self.released: deque[Item] = deque()
        self.held: dict[str, deque[Item]] = defaultdict(deque)
        self.blocked: dict[str, int] = {}
        self.retries: list[tuple[float, int, int, Item]] = []
        self.loaded_upto = 0
        self.idle = False
        self._last_rescan = 0.0
        self._last_refresh = time.monotonic()
        self._latency = 0.001
        self._recorder = Recorder(self)

    # --- loading -----------------------------------------------------------------------------------

    def _rows(self, query: Any) -> list[Item]:
        # Plain tuples, not model instances: a lane loads every delivery it sends.
        rows = query.values_list(*_ITEM_FIELDS, *(f"event__{name}" for name in WALK_FIELDS))
        now_wall, now_mono = timezone.now(), time.monotonic()
        items = []
        for row in rows:
            pk, seq, key, attempts, drive_attempts, state, next_at = row[:7]
            event = dict(zip(WALK_FIELDS, row[7:], strict=True))
            envelope = canonical_envelope(
                event_id=event["event_id"],
                source=event["source"],
                detail_type=event["detail_type"],
                time=event["time"],
                account=event["account"],
                region=event["region"],
                resources=event["resources"],
                detail=event["detail"],
            )
            item = Item(pk, seq, key, event["id"], event["time"], envelope, attempts, drive_attempts, state)
            if next_at is not None:
                item.due = now_mono + max(0.0, (next_at - now_wall).total_seconds())
            items.append(item)
        return items

    def _base(self) -> Any:
        return Delivery.objects.filter(replay_id=self.run_.replay_id, consumer_id=self.consumer.pk)

    def _load_retries(self) -> None:
        for item in self._rows(self._base().filter(state=Delivery.RETRY).order_by("seq")):
            heapq.heappush(self.retries, (item.due, item.seq, item.id, item))
            if item.key:
                self.blocked[item.key] = item.id

    def _refill(self) -> bool:
        upto = self.shared.planned_seq
        if self.loaded_upto >= upto:
            return False
        query = self._base().filter(state=Delivery.PENDING, seq__gte=self.loaded_upto, seq__lt=upto).order_by("seq")
        items = self._rows(query[:LANE_PAGE])
        self.loaded_upto = items[-1].seq + 1 if len(items) == LANE_PAGE else upto
        self.ready.extend(items)
        return bool(items)

    def _rescan(self) -> bool:
        """Pick up deliveries re-driven while this lane runs (pending rows it does not hold)."""
        self._last_rescan = time.monotonic()
        known = {item.id for queue in self.held.values() for item in queue}
        query = self._base().filter(state=Delivery.PENDING, seq__lt=self.loaded_upto).exclude(id__in=known)
        items = self._rows(query.order_by("seq")[:LANE_PAGE])
        self.ready.extend(items)
        return bool(items)

    # --- scheduling --------------------------------------------------------------------------------

    def _batch_size(self) -> int:
        per_send = max(self._latency, self.bucket.interval, 1e-4)
        return max(1, min(MAX_BATCH, int(CLAIM_SECONDS / per_send)))

    def _blocked_by_other(self, item: Item) -> bool:
        if not item.key:
            return False
        blocker = self.blocked.get(item.key)
        return blocker is not None and blocker != item.id

    def _take_batch(self) -> list[Item]:
        batch: list[Item] = []
        size = self._batch_size()
        now = time.monotonic()
        while len(batch) < size:
            if self.released:
                item = self.released.popleft()
            elif self.retries and self.retries[0][0] <= now:
                item = heapq.heappop(self.retries)[3]
            elif self.ready:
                item = self.ready.popleft()
            elif self._refill():
                continue
            else:
                break
            if self._blocked_by_other(item):
                self.held[item.key].append(item)
                continue
            batch.append(item)
        return batch

    def _release(self, item: Item) -> None:
        if item.key and self.blocked.get(item.key) == item.id:
            del self.blocked[item.key]
            waiting = self.held.pop(item.key, None)
            if waiting:
                self.released.extend(waiting)

    # --- sending -----------------------------------------------------------------------------------

    def _claim(self, batch: list[Item]) -> set[int]:
        ids = [item.id for item in batch]
        claimed = Delivery.objects.filter(id__in=ids, state__in=(Delivery.PENDING, Delivery.RETRY)).update(
            state=Delivery.SENDING, claim=self.run_.owner, updated_at=timezone.now()
        )
        if claimed == len(ids):
            return set(ids)
        return set(Delivery.objects.filter(id__in=ids, claim=self.run_.owner).values_list("id", flat=True))

    def _send_batch(self, batch: list[Item]) -> None:
        """Send the batch's deliveries that this run owns, in order. To a broker they go out in
        pipelined groups (written together, confirmations awaited together) that never hold two
        deliveries with the same idempotency key, so a refused message cannot be overtaken by a
        later one with its key; to HTTP one at a time."""
        if any(item.touched for item in batch):
            # A retried or held delivery: its previous outcome must be written before it is claimed.
            self._recorder.drain()
        for item in batch:
            item.touched = True
        owned = self._claim(batch)
        results: list[Result] = []
        unsent: list[Item] = []
        replay = self.run_.replay
        url, options = self.consumer.url, consumer_options(self.consumer)
        pipeline = self.sender.pipeline(url)
        group: list[tuple[Item, Message]] = []
        keys: set[str] = set()

        def flush() -> None:
            if not group:
                return
            at = timezone.now()
            started = time.perf_counter()
            outcomes = self.sender.publish(url, options, [message for _, message in group])
            per_send = (time.perf_counter() - started) / len(group)
            self._latency = 0.8 * self._latency + 0.2 * per_send
            for (item, _), outcome in zip(group, outcomes, strict=True):
                results.append(self._outcome(item, outcome, at))
            group.clear()
            keys.clear()

        for item in batch:
            if item.id not in owned:
                continue  # someone else's now (a re-drive raced it, or another run): leave it alone
            if self.shared.stop.is_set():
                unsent.append(item)
                continue
            if item.key in keys:
                flush()  # its key's earlier delivery must be settled first
            if self._blocked_by_other(item):  # an earlier delivery of this batch with its key failed
                self.held[item.key].append(item)
                unsent.append(item)
                continue
            if not self.bucket.acquire(self.shared.stop):
                unsent.append(item)
                continue
            body = delivery_body(item.envelope, replay.name)
            headers = delivery_headers(
                replay_name=replay.name,
                event_id=item.event_id,
                idempotency_key=item.key,
                secret=self.consumer.secret,
                body=body,
            )
            delivery_id = f"eventscope-delivery-{item.id}"
            group.append((item, Message(body, headers, item.envelope["detail-type"], item.event_id, delivery_id)))
            if item.key:
                keys.add(item.key)
            if len(group) >= pipeline:
                flush()
        flush()
        if results or unsent:
            self._recorder.submit(results, unsent)

    def _outcome(self, item: Item, outcome: Outcome, at: datetime) -> Result:
        """What ``outcome`` makes of ``item``: delivered, a retry due later (holding back its key),
        or a dead letter."""
        item.attempts += 1
        item.drive_attempts += 1
        next_at = None
        if outcome.kind == DELIVERED:
            state = Delivery.DELIVERED
            self._release(item)
        elif outcome.kind == RETRY and item.drive_attempts < max(1, settings.EVENTSCOPE_REPLAY_MAX_ATTEMPTS):
            state = Delivery.RETRY
            delay = backoff_seconds(item.drive_attempts, outcome.retry_after)
            item.due = time.monotonic() + delay
            item.state = Delivery.RETRY
            next_at = at + timedelta(seconds=delay)
            heapq.heappush(self.retries, (item.due, item.seq, item.id, item))
            if item.key:
                self.blocked[item.key] = item.id
        else:
            state = Delivery.DEAD
            self._release(item)
        metrics.REPLAY_DELIVERIES.labels(state).inc()
        return Result(item, outcome, state, at, next_at)

    def _record(self, results: list[Result], unsent: list[Item]) -> None:
        """Write the batch's outcomes, its attempts and the replay's counters in one transaction."""
        if not results and not unsent:
            return
        table = connection.ops.quote_name(Delivery._meta.db_table)
        owner = self.run_.owner
        consumer_id, replay_id = self.consumer.pk, self.run_.replay_id
        now = db_datetime(timezone.now())
        updates = []
        attempts = []
        delivered = dead = 0
        latest: datetime | None = None
        for result in results:
            item, outcome = result.item, result.outcome
            done_at = db_datetime(result.at) if result.state == Delivery.DELIVERED else None
            next_at = db_datetime(result.next_attempt_at) if result.next_attempt_at else None
            updates.append((
                result.state, item.attempts, item.drive_attempts, next_at, outcome.status, outcome.error,
                outcome.latency_ms, done_at, now, item.id, owner,
            ))  # fmt: skip
            attempts.append((
                item.id, consumer_id, replay_id, item.attempts, db_datetime(result.at), outcome.status,
                outcome.latency_ms, outcome.error, outcome.response, result.state,
            ))  # fmt: skip
            if result.state == Delivery.DELIVERED:
                delivered += 1
                latest = item.event_time if latest is None else max(latest, item.event_time)
            elif result.state == Delivery.DEAD:
                dead += 1
        with transaction.atomic():
            with connection.cursor() as cursor:
                if updates:
                    cursor.executemany(
                        f"UPDATE {table} SET state = %s, claim = '', attempts = %s, drive_attempts = %s, "  # noqa: S608
                        "next_attempt_at = %s, last_status = %s, last_error = %s, last_latency_ms = %s, "
                        "delivered_at = COALESCE(%s, delivered_at), updated_at = %s WHERE id = %s AND claim = %s",
                        updates,
                    )
                if unsent:
                    cursor.executemany(
                        f"UPDATE {table} SET state = %s, claim = '' WHERE id = %s AND claim = %s",  # noqa: S608
                        [(item.state, item.id, owner) for item in unsent],
                    )
            if attempts:
                insert_rows(
                    DeliveryAttempt,
                    ATTEMPT_COLUMNS,
                    attempts,
                )
            if delivered or dead:
                changes: dict[str, Any] = {"delivered": F("delivered") + delivered, "failed": F("failed") + dead}
                if latest is not None:
                    changes["last_replayed_time"] = Greatest(
                        Coalesce(F("last_replayed_time"), Value(latest)), Value(latest)
                    )
                Replay.objects.filter(pk=self.run_.replay_id).update(**changes)

    # --- the loop ----------------------------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self.ready or self.released or self.retries or self.loaded_upto < self.shared.planned_seq)

    def _wait(self) -> None:
        timeout = 0.25
        if self.retries:
            timeout = max(0.0, min(timeout, self.retries[0][0] - time.monotonic()))
        nothing_left = self.shared.walk_done and not self._has_work() and not self.held
        if nothing_left and time.monotonic() - self._last_rescan >= RESCAN_EVERY:
            if self._rescan():
                self.idle = False
                return
            self.idle = True
        with self.shared.cond:
            if not self.shared.stop.is_set() and not (self.loaded_upto < self.shared.planned_seq):
                self.shared.cond.wait(timeout)

    def _refresh_consumer(self) -> None:
        """Read the consumer again: deliveries from now on use its current URL, target, secret and rate, and
        a paused consumer is sent nothing (``_paused_wait``)."""
        self._last_refresh = time.monotonic()
        row = (
            Consumer.objects.filter(pk=self.consumer.pk)
            .values_list("url", "target", "secret", "rate_per_second", "paused")
            .first()
        )
        if row is None:  # deleted (only possible once the replay is no longer active): send nothing more
            self.consumer.paused = True
            return
        url, target, secret, rate, paused = row
        if rate != self.consumer.rate_per_second:
            self.bucket = TokenBucket(_min_rate(self.run_.replay.rate_per_second, rate))
        self.consumer.url, self.consumer.target, self.consumer.secret = url, target, secret
        self.consumer.rate_per_second, self.consumer.paused = rate, paused

    def _paused_wait(self) -> None:
        """Wait while the consumer is paused: the replay stays running (its lease renewed by the
        run) and completes only once this lane has nothing left to send."""
        self._recorder.drain()
        self.idle = self.shared.walk_done and not self._has_work() and not self.held
        self.shared.stop.wait(CONSUMER_REFRESH_EVERY)

    def run(self) -> None:
        self._recorder.start()
        try:
            self._load_retries()
            while not self.shared.stop.is_set():
                if time.monotonic() - self._last_refresh >= CONSUMER_REFRESH_EVERY or self.consumer.paused:
                    self._refresh_consumer()
                if self.consumer.paused:
                    self._paused_wait()
                    continue
                batch = self._take_batch()
                if batch:
                    self.idle = False
                    self._send_batch(batch)
                else:
                    self._recorder.drain()  # "idle" means every outcome is written
                    self._wait()
        except Exception as err:  # a bug or a database failure: stop the whole run, say why
            logger.exception("replay %s: lane %s failed", self.run_.replay_id, self.consumer.name)
            self.shared.halt(f"lane {self.consumer.name}: {type(err).__name__}: {err}")
        finally:
            self._recorder.finish()
            self.sender.close()
            connection.close()


class Recorder(threading.Thread):
    """Writes a lane's batch outcomes on its own thread, so the next batch's sends overlap the
    previous batch's database writes. ``drain`` waits until everything submitted is written."""

    def __init__(self, lane: Lane) -> None:
        super().__init__(name=f"{lane.name}-recorder", daemon=True)
        self.lane = lane
        self.queue: queue.Queue[tuple[list[Result], list[Item]] | None] = queue.Queue(maxsize=4)

    def submit(self, results: list[Result], unsent: list[Item]) -> None:
        self.queue.put((results, unsent))

    def drain(self) -> None:
        self.queue.join()

    def finish(self) -> None:
        if self.is_alive():
            self.queue.put(None)
            self.join()

    def run(self) -> None:
        try:
            while True:
                work = self.queue.get()
                try:
                    if work is None:
                        return
                    self.lane._record(*work)
                except Exception as err:  # the run stops; what was not written is resolved on resume
                    logger.exception("replay %s: recording outcomes failed", self.lane.run_.replay_id)
                    self.lane.shared.halt(f"recording outcomes: {type(err).__name__}: {err}")
                finally:
                    self.queue.task_done()
        finally:
            connection.close()


def consumer_options(consumer: Consumer) -> dict[str, str]:
    """The consumer's broker target options (empty for HTTP)."""
    return dict(consumer.target or {})


def _delivery_counts(replay_id: int) -> dict[str, int]:
    """How many of the replay's deliveries are in each state (the counters' source of truth)."""
    rows = Delivery.objects.filter(replay_id=replay_id).values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def _min_rate(*rates: float | None) -> float | None:
    present = [rate for rate in rates if rate]
    return min(present) if present else None


class ReplayRun:
    """One run of one replay (see the module docstring). ``execute`` returns when the replay is
    completed, cancelled, failed, or held by another run."""

    def __init__(self, replay_id: int, *, resolver: Resolver | None = None) -> None:
        self.replay_id = replay_id
        self.owner = uuid.uuid4().hex
        self.resolver = resolver
        self.shared = Shared()
        self.lanes: list[Lane] = []
        self.replay: Replay
        self._pattern: CompiledPattern | None = None
        self._consumers: list[tuple[Consumer, CompiledPattern | None]] = []
        self._pages: Iterator[list[Event]] | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=40)
        self._orphans_swept_at = float("-inf")

    # --- lease -------------------------------------------------------------------------------------

    def _lease_until(self) -> datetime:
        return timezone.now() + timedelta(seconds=settings.EVENTSCOPE_REPLAY_LEASE_SECONDS)

    def _acquire(self) -> bool:
        now = timezone.now()
        taken = (
            Replay.objects.filter(pk=self.replay_id, state__in=Replay.ACTIVE)
            .filter(Q(lease_owner="") | Q(lease_expires_at__lt=now))
            .update(
                state=Replay.RUNNING,
                lease_owner=self.owner,
                lease_expires_at=self._lease_until(),
                started_at=Coalesce(F("started_at"), Value(now)),
                finished_at=None,
            )
        )
        return taken == 1

    def _heartbeat(self) -> None:
        renewed = Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner, state=Replay.RUNNING).update(
            lease_expires_at=self._lease_until()
        )
        if not renewed:
            raise LeaseLost

    # --- preparation -------------------------------------------------------------------------------

    def _recover_in_flight(self) -> None:
        """Dead-letter what a stopped run left claimed (see the module docstring)."""
        now = timezone.now()
        stale = list(
            Delivery.objects.filter(replay_id=self.replay_id, state=Delivery.SENDING)
            .exclude(claim=self.owner)
            .values_list("id", "attempts", "consumer_id")
        )
        if stale:
            with transaction.atomic():
                Delivery.objects.filter(id__in=[pk for pk, _, _ in stale], state=Delivery.SENDING).exclude(
                    claim=self.owner
                ).update(
                    state=Delivery.DEAD,
                    claim="",
                    attempts=F("attempts") + 1,
                    drive_attempts=F("drive_attempts") + 1,
                    last_status=None,
                    last_error=UNKNOWN_OUTCOME,
                    updated_at=now,
                )
                DeliveryAttempt.objects.bulk_create(
                    DeliveryAttempt(
                        delivery_id=pk, consumer_id=consumer_id, replay_id=self.replay_id, number=attempts + 1, at=now,
                        status=None, latency_ms=0.0, error=UNKNOWN_OUTCOME, outcome=Delivery.DEAD,
                    )
                    for pk, attempts, consumer_id in stale
                )  # fmt: skip
            metrics.REPLAY_DELIVERIES.labels(Delivery.DEAD).inc(len(stale))
            logger.warning(
                "replay %s: %d in-flight deliveries dead-lettered (outcome unknown)", self.replay_id, len(stale)
            )
        counts = _delivery_counts(self.replay_id)
        Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner).update(
            delivered=counts.get(Delivery.DELIVERED, 0),
            failed=counts.get(Delivery.DEAD, 0),
            planned=sum(counts.values()),
        )

    def _prepare(self) -> None:
        self.replay = Replay.objects.get(pk=self.replay_id)
        self._pattern = compiled_or_none(self.replay.pattern)
        self._consumers = [(c, compiled_or_none(c.pattern)) for c in self.replay.consumers.order_by("name")]
        self.shared.advance(self.replay.matched, self.replay.walk_done)
        if not self.replay.walk_done:
            after = (self.replay.cursor_time, self.replay.cursor_event) if self.replay.cursor_time else None
            self._pages = walk(self.replay.since, self.replay.until, self._pattern, after)
            if not self.replay.total:
                estimate = archive_range(self.replay.since, self.replay.until, self._pattern).count()
                Replay.objects.filter(pk=self.replay_id).update(total=estimate * len(self._consumers))

    # --- planning ----------------------------------------------------------------------------------

    def _plan_page(self) -> None:
        assert self._pages is not None
        page = next(self._pages, None)
        if page is None:
            with transaction.atomic():
                if not Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner).update(
                    walk_done=True, total=F("planned")
                ):
                    raise LeaseLost
            self.shared.advance(self.shared.planned_seq, True)
            return
        selection = select(page, self._pattern, self._consumers)
        first_seq = self.shared.planned_seq
        with transaction.atomic():
            created = insert_deliveries(self.replay_id, first_seq, selection)
            last = page[-1]
            if not Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner).update(
                cursor_time=last.time,
                cursor_event=last.id,
                matched=F("matched") + len(selection.matched),
                skipped=F("skipped") + selection.skipped,
                planned=F("planned") + created,
            ):
                raise LeaseLost
        self.shared.advance(first_seq + len(selection.matched), False)

    # --- progress ----------------------------------------------------------------------------------

    def _publish(self) -> None:
        replay = Replay.objects.filter(pk=self.replay_id).first()
        if replay is None:
            self.shared.halt()
            return
        if replay.state != Replay.RUNNING or replay.lease_owner != self.owner:
            # Cancelled (or taken over): stop sending now, not at the next lease renewal.
            self.shared.halt()
        done = replay.delivered + replay.failed
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5:
            self._samples.popleft()
        rate = None
        if len(self._samples) >= 2 and self._samples[-1][0] > self._samples[0][0]:
            rate = (self._samples[-1][1] - self._samples[0][1]) / (self._samples[-1][0] - self._samples[0][0])
        progress.publish(replay, rate=rate)

    # --- the run -----------------------------------------------------------------------------------

    def _try_finish(self) -> bool:
        with transaction.atomic():
            replay = Replay.objects.select_for_update().filter(pk=self.replay_id).first()
            if replay is None or replay.state != Replay.RUNNING or replay.lease_owner != self.owner:
                return True
            unsent = Delivery.objects.filter(
                replay_id=self.replay_id, state__in=(Delivery.PENDING, Delivery.RETRY, Delivery.SENDING)
            )
            # What is left may be deliveries whose event is gone: dead letters, then look again.
            if unsent.exists() and (not self._dead_letter_orphans() or unsent.exists()):
                return False
            counts = _delivery_counts(self.replay_id)
            Replay.objects.filter(pk=self.replay_id).update(
                state=Replay.COMPLETED,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                delivered=counts.get(Delivery.DELIVERED, 0),
                failed=counts.get(Delivery.DEAD, 0),
                planned=sum(counts.values()),
            )
        return True

    def _dead_letter_orphans(self) -> int:
        """Dead-letter this replay's deliveries still to send whose event is gone (``EVENT_GONE``);
        how many. At most once every ``ORPHAN_SWEEP_EVERY`` seconds (0 in between). Precondition: the
        lanes are idle (what they hold in memory is not pending in the database)."""
        now_mono = time.monotonic()
        if now_mono - self._orphans_swept_at < ORPHAN_SWEEP_EVERY:
            return 0
        self._orphans_swept_at = now_mono
        gone = Delivery.objects.filter(replay_id=self.replay_id, state__in=(Delivery.PENDING, Delivery.RETRY)).exclude(
            Exists(Event.objects.filter(pk=OuterRef("event_id")))
        )
        count = gone.update(
            state=Delivery.DEAD, claim="", next_attempt_at=None, last_status=None, last_error=EVENT_GONE,
            updated_at=timezone.now(),
        )  # fmt: skip
        if count:
            metrics.REPLAY_DELIVERIES.labels(Delivery.DEAD).inc(count)
            logger.warning("replay %s: %d deliveries dead-lettered (%s)", self.replay_id, count, EVENT_GONE)
        return count

    def _fail(self, error: str) -> None:
        Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner, state=Replay.RUNNING).update(
            state=Replay.FAILED, error=error[:2000], finished_at=timezone.now(), lease_owner="", lease_expires_at=None
        )

    def _slowest_loaded(self) -> int:
        """How far the slowest lane has loaded. A paused consumer's lane does not count (it loads its
        rows from the database when resumed, however far planning got), so that it does not hold the
        other consumers back; when every lane is paused, planning stops a backlog ahead."""
        running = [lane.loaded_upto for lane in self.lanes if not lane.consumer.paused]
        return min(running, default=0)

    def _loop(self) -> None:
        renew_every = max(0.5, settings.EVENTSCOPE_REPLAY_LEASE_SECONDS / 4)
        last_beat = last_publish = time.monotonic()
        self._publish()
        while not self.shared.stop.is_set():
            now = time.monotonic()
            planning = (
                self._pages is not None
                and not self.shared.walk_done
                and self.shared.planned_seq - self._slowest_loaded() < BACKLOG
            )
            if planning:
                self._plan_page()
            if now - last_beat >= renew_every:
                self._heartbeat()
                last_beat = now
            if now - last_publish >= PUBLISH_EVERY:
                self._publish()
                last_publish = now
            if self.shared.walk_done and all(lane.idle for lane in self.lanes) and self._try_finish():
                return
            if not planning:
                self.shared.stop.wait(0.05)

    def _give_up(self) -> None:
        """Release the replay, still running, with its lease already expired: the recovery sweep
        starts a new run at once instead of waiting for the lease to run out."""
        Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner, state=Replay.RUNNING).update(
            lease_owner="", lease_expires_at=timezone.now()
        )

    def execute(self) -> str:
        """Run the replay to its end; returns the state it was left in, ``busy`` when another run
        holds it (or it is no longer pending/running), or ``stopped`` when this process is stopping
        (see :func:`stop_runs`). A run stopped on the way returns ``running``."""
        with _runs_lock:
            if _stopping:
                return "stopped"
            _runs.add(self)
        try:
            return self._execute()
        finally:
            with _runs_lock:
                _runs.discard(self)

    def _execute(self) -> str:
        if not self._acquire():
            return "busy"
        try:
            self._recover_in_flight()
            self._prepare()
            self.lanes = [Lane(self, consumer) for consumer, _ in self._consumers]
            for lane in self.lanes:
                lane.start()
            self._loop()
        except LeaseLost:
            pass  # cancelled, or another run took over: leave the row as it is
        except Exception as err:
            logger.exception("replay %s failed", self.replay_id)
            self.shared.halt(f"{type(err).__name__}: {err}")
        finally:
            self.shared.halt()
            for lane in self.lanes:
                lane.join()
        if self.shared.error:
            self._fail(self.shared.error)
        elif self.shared.interrupted:
            self._give_up()
        Replay.objects.filter(pk=self.replay_id, lease_owner=self.owner).exclude(state=Replay.RUNNING).update(
            lease_owner="", lease_expires_at=None
        )
        self._publish()
        replay = Replay.objects.filter(pk=self.replay_id).only("state").first()
        return replay.state if replay else "gone"


# This process's runs, so that a stopping server or worker can stop them (``stop_runs``).
_runs: set[ReplayRun] = set()
_runs_lock = threading.Lock()
_stopping = False


def stop_runs() -> int:
    """Stop every replay run of this process at its next delivery boundary (see the module
    docstring), and refuse to start new ones until :func:`allow_runs`. Returns at once, with the
    number of runs told to stop; each returns from ``execute`` once its outcomes are written and
    its replay released."""
    global _stopping
    with _runs_lock:
        _stopping = True
        runs = list(_runs)
    for run in runs:
        run.shared.interrupt()
    if runs:
        logger.info("stopping %d replay run(s) at a delivery boundary", len(runs))
    return len(runs)


def wait_runs(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for this process's runs to return (after :func:`stop_runs`);
    True when none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _runs_lock:
            if not _runs:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def allow_runs() -> None:
    """Let runs start again after :func:`stop_runs` (a process that goes on, e.g. a test)."""
    global _stopping
    with _runs_lock:
        _stopping = False


def run_replay(replay_id: int, *, resolver: Resolver | None = None) -> str:
    """Run replay ``replay_id`` (see :class:`ReplayRun`); quietly ``busy``/``gone`` when there is
    nothing for this caller to do."""
    if not Replay.objects.filter(pk=replay_id).exists():
        return "gone"
    return ReplayRun(replay_id, resolver=resolver).execute()
