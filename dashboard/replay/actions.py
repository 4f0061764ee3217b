"""Operations on consumers and replays, shared by the API, the page and the tasks.

``check_*`` functions validate input and raise :class:`Invalid` (answered as a 4xx by the API);
``do_*`` functions change state. Runs are enqueued after commit, so a worker never looks for a row
that is not visible yet.

Starting a replay and the task broker: a replay must neither be lost nor run twice when the broker
is down. Two pieces make that so:

* Before saving a replay (or re-driving a finished one), ``check_broker`` asks the broker to
  answer within a second. When it does not, nothing is saved and the API answers ``503`` with
  ``Retry-After``: the client's retry is then the only replay, not a second one.
* The broker can still fail between that check and the message sent after commit. That message is
  only a shortcut: the recovery task (``replays_to_resume``, on beat every few seconds) starts any
  ``pending`` replay that no run took within a few seconds, so a replay whose message was lost
  still starts once the broker is back, and the answer stays the ``202`` it was. A run takes the
  replay's lease with a conditional UPDATE (``dashboard.replay.engine``), so a replay whose
  message arrives twice (sent after commit and again by the recovery) still runs once.

The check happens before the replay's transaction, not inside it: on SQLite a write transaction
holds the database's write lock, which ingest waits for, and a broker that does not answer would
hold it for the whole second. (A request with an ``Idempotency-Key`` runs inside the key's
transaction, ``dashboard.api.idempotency``; that second is then the bound, and only with SQLite and
an unresponsive Redis together: the embedded mode's in-process queue answers at once.)
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from dashboard.core.broker import check_broker
from dashboard.core.errors import Problem
from dashboard.core.numbers import whole_number
from dashboard.core.url_credentials import MaskedPasswordError, unmask
from dashboard.events.envelope import EntryError, canonical_envelope, parse_time
from dashboard.events.models import Event
from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern
from dashboard.replay.broker_options import OPTIONS, OptionError, check_target, consumer_kind
from dashboard.replay.delivery import DELIVERED, Message, Sender, delivery_body, delivery_headers
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay
from dashboard.replay.plan import compiled_or_none, dry_run, plan_selected, walk
from dashboard.replay.selection import Found, SelectionError, resolve, selected_pages, selection_kinds
from dashboard.replay.targets import Resolver, TargetRefused, check_broker_url, check_url

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")  # \Z: "$" would allow a final newline
MAX_RATE = 100_000.0
MIN_RATE = 0.001  # one delivery every ~17 minutes; below that a limiter's wait outgrows a timer
MAX_LIST = 10_000  # ids or names in one request (each is a query parameter)
_ID_MAX = 2**63 - 1
RUN_TASK = "tasks.replay.run_replay"
logger = logging.getLogger(__name__)


class Invalid(Problem, ValueError):
    """Bad input; ``status`` is the HTTP status to answer (400, 404 or 409) and ``code`` its code."""

    def __init__(
        self, message: str, *, status: int = 400, code: str = "invalid_request", where: str | None = None
    ) -> None:
        super().__init__(message, code=code, where=where)
        self.status = status


def enqueue_run(replay_id: int) -> None:
    """Start a run of the replay once the current transaction commits (a Celery task: a worker
    process with ``REDIS_URL``, the server's in-process worker otherwise).

    A message that cannot be sent is logged, not raised: the replay is committed ``pending`` by
    then, and the recovery task starts it when the broker is back (see the module docstring)."""

    def send() -> None:
        try:
            current_app.send_task(RUN_TASK, args=[replay_id])
        except Exception as err:  # the broker went away after the check: recovery starts the run
            logger.warning("replay %s: run not queued (%s); the recovery task will start it", replay_id, err)

    transaction.on_commit(send)


# --- validation ------------------------------------------------------------------------------------


def _object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise Invalid("The body must be a JSON object.")
    return document


def check_pattern(value: Any, field: str = "pattern") -> CompiledPattern | None:
    if value is None:
        return None
    try:
        return compile_pattern(value)
    except PatternError as err:
        raise Invalid(f"'{field}' is not a valid event pattern: {err}", code="invalid_pattern") from None


def check_rate(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("'rate_per_second' must be a positive number or null.")
    if not MIN_RATE <= value <= MAX_RATE:
        raise Invalid(f"'rate_per_second' must be from {MIN_RATE:g} to {MAX_RATE:g}.")
    return float(value)


def check_url_field(value: Any) -> str:
    """A consumer URL, checked against the target rules of its kind (``dashboard.replay.targets``):
    ``check_broker_url`` for a broker URL (its login allowed), ``check_url`` otherwise."""
    if not isinstance(value, str):
        raise Invalid("'url' must be a string: an http(s)://, amqp(s)://, nats://, tls:// or redis(s):// URL.",
                      where="url")  # fmt: skip
    try:
        if consumer_kind(value) == "http":
            check_url(value)
        else:
            check_broker_url(value)
    except TargetRefused as err:
        raise Invalid(f"'url' is refused: {err}", code="url_refused", where="url") from None
    return value


def _time_field(document: dict[str, Any], name: str, default: datetime | None = None) -> datetime:
    value = document.get(name)
    if value is None:
        if default is None:
            raise Invalid(f"'{name}' is required (an RFC 3339 time).")
        return default
    try:
        return parse_time(value, name)
    except EntryError as err:
        raise Invalid(str(err)) from None


# --- consumers -------------------------------------------------------------------------------------


CONSUMER_FIELDS = ("name", "url", "pattern", "secret", "rate_per_second", "paused")
#: Every field a consumer takes: its own, and the broker options of its kind (``broker_options``).
CONSUMER_INPUT = (*CONSUMER_FIELDS, *OPTIONS)


def check_consumer_target(url: str, document: Any) -> dict[str, str]:
    """The ``target`` of a consumer at ``url`` from the broker options in ``document``; Invalid
    naming the field for a missing, foreign or bad option."""
    try:
        return check_target(consumer_kind(url), document)
    except OptionError as err:
        raise Invalid(str(err), where=err.where) from None


def check_consumer(document: Any) -> dict[str, Any]:
    """A consumer's fields from ``{"name", "url", "pattern"?, "secret"?, "rate_per_second"?,
    "paused"?}`` and the broker options the URL's kind takes (``exchange`` and ``routing_key``?,
    ``subject``, ``stream``), checked (the URL against the target rules); Invalid with the reason."""
    document = _object(document)
    unknown = sorted(set(document) - set(CONSUMER_INPUT))
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(unknown)}.")
    name = document.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid("'name' must be 1-100 characters of letters, digits, '.', '_', ':' or '-'.")
    url = check_url_field(document.get("url"))
    target = check_consumer_target(url, document)
    pattern = document.get("pattern")
    check_pattern(pattern)
    secret = document.get("secret") or ""
    if not isinstance(secret, str) or len(secret) > 256 or "\x00" in secret:
        raise Invalid("'secret' must be a string of at most 256 characters (no U+0000).")
    rate = check_rate(document.get("rate_per_second"))
    paused = document.get("paused") or False
    if not isinstance(paused, bool):
        raise Invalid("'paused' must be true or false.")
    return {"name": name, "url": url, "target": target, "pattern": pattern, "secret": secret,
            "rate_per_second": rate, "paused": paused}  # fmt: skip


def do_create_consumer(document: Any) -> Consumer:
    """A new consumer (see ``check_consumer``); 409 for a taken name."""
    fields = check_consumer(document)
    try:
        with transaction.atomic():
            return Consumer.objects.create(**fields)
    except IntegrityError:
        raise Invalid(f"A consumer named {fields['name']!r} exists already.", status=409, code="conflict") from None


def get_consumer(name: str) -> Consumer:
    consumer = Consumer.objects.filter(name=name).first()
    if consumer is None:
        raise Invalid(f"No consumer named {name!r}.", status=404, code="not_found")
    return consumer


def do_update_consumer(consumer: Consumer, changes: Any) -> Consumer:
    """Change some of ``consumer``'s fields (the others stay; ``null`` clears the pattern, the
    secret or the rate). Deliveries made from then on use the new values (a running replay reads
    them within a second): ``paused`` true holds its replays' deliveries, false lets them go on; the
    URL is checked again, as it is before every delivery.

    Broker options: the stored ones stay unless changed (``null`` clears ``routing_key``); a URL of
    another kind takes only the options given with it, and needs those its kind requires. A broker
    URL whose password is the mask ``***`` (the URL as shown) keeps the stored password, when it
    still names the same scheme, user, host and port (``dashboard.core.url_credentials``)."""
    changes = dict(_object(changes))
    current: dict[str, Any] = {name: getattr(consumer, name) for name in CONSUMER_FIELDS}
    url = changes.get("url", consumer.url)
    if isinstance(url, str) and consumer_kind(url) != "http":
        try:
            changes["url"] = url = unmask(url, consumer.url)
        except MaskedPasswordError as err:
            raise Invalid(f"'url': {err}.", where="url") from None
    if isinstance(url, str) and consumer_kind(url) == consumer_kind(consumer.url):
        current.update(consumer.target)
    fields = check_consumer({**current, **changes})
    try:
        with transaction.atomic():
            for name, value in fields.items():
                setattr(consumer, name, value)
            consumer.save()
    except IntegrityError:
        raise Invalid(f"A consumer named {fields['name']!r} exists already.", status=409, code="conflict") from None
    return consumer


def do_delete_consumer(consumer: Consumer) -> None:
    """Delete ``consumer`` and the record of its deliveries; refused (409) while a replay that
    delivers to it is pending or running (cancel it first)."""
    with transaction.atomic():
        busy = consumer.replays.filter(state__in=Replay.ACTIVE).values_list("name", flat=True)
        if busy:
            names = ", ".join(sorted(busy))
            raise Invalid(f"Replays deliver to {consumer.name!r} now ({names}): cancel them first.", status=409,
                          code="conflict")  # fmt: skip
        consumer.delete()


TEST_REPLAY_NAME = "eventscope-test"
TEST_SOURCE, TEST_DETAIL_TYPE = "eventscope.test", "EventscopeTest"


@dataclass(frozen=True)
class TestSend:
    """A "send test event": the attempt as logged, and whether it arrived (a 2xx, or the broker's
    confirmation: a broker answers with no HTTP status)."""

    attempt: DeliveryAttempt
    delivered: bool


def do_test_consumer(consumer: Consumer, *, resolver: Resolver | None = None) -> TestSend:
    """Send one sample event to ``consumer`` as a replay would (same body shape, headers, signature,
    URL checks and timeouts; ``X-Eventscope-Replay: eventscope-test``, source ``eventscope.test``)
    and record the attempt (outcome ``test``, no replay). Sent whether or not it is paused: checking
    an endpoint before resuming it is the point. Never raises for what the network or the consumer
    did: the attempt says it."""
    now = timezone.now()
    test_id = f"test-{uuid.uuid4().hex}"
    envelope = canonical_envelope(
        event_id=test_id, source=TEST_SOURCE, detail_type=TEST_DETAIL_TYPE, time=now, account="000000000000",
        region="local", resources=[], detail={"test": True, "consumer": consumer.name},
    )  # fmt: skip
    body = delivery_body(envelope, TEST_REPLAY_NAME)
    headers = delivery_headers(
        replay_name=TEST_REPLAY_NAME, event_id=test_id, idempotency_key="", secret=consumer.secret, body=body
    )
    sender = Sender(resolver=resolver)
    try:
        message = Message(body, headers, TEST_DETAIL_TYPE, test_id, test_id)
        (outcome,) = sender.publish(consumer.url, dict(consumer.target or {}), [message])
    finally:
        sender.close()
    attempt = DeliveryAttempt.objects.create(
        consumer=consumer, number=1, at=now, status=outcome.status, latency_ms=outcome.latency_ms,
        error=outcome.error, response=outcome.response, outcome=DeliveryAttempt.TEST,
    )  # fmt: skip
    return TestSend(attempt, outcome.kind == DELIVERED)


ATTEMPT_OUTCOMES = (Delivery.DELIVERED, Delivery.RETRY, Delivery.DEAD, DeliveryAttempt.TEST)
ATTEMPT_PAGE = 100


def attempts_page(
    *, consumer: Consumer | None = None, replay: Replay | None = None, outcome: str | None, cursor: str | None
) -> tuple[list[DeliveryAttempt], str | None]:
    """A consumer's or a replay's attempts, newest first, ``ATTEMPT_PAGE`` at a time (one range of
    the ``(consumer, id)`` or ``(replay, id)`` index), optionally of one ``outcome``; and the cursor
    of the next page (None at the end). Invalid for an unknown outcome or a cursor not given out."""
    query = DeliveryAttempt.objects.select_related("delivery", "consumer").order_by("-id")
    query = query.filter(consumer=consumer) if consumer is not None else query.filter(replay=replay)
    if outcome:
        if outcome not in ATTEMPT_OUTCOMES:
            raise Invalid(f"'outcome' must be one of {', '.join(ATTEMPT_OUTCOMES)}.", where="outcome")
        query = query.filter(outcome=outcome)
    if cursor:
        before = whole_number(cursor)
        if before is None or before > _ID_MAX:
            raise Invalid("'cursor' is not a cursor this API gave out.", where="cursor")
        query = query.filter(id__lt=before)
    rows = list(query[: ATTEMPT_PAGE + 1])
    more = len(rows) > ATTEMPT_PAGE
    rows = rows[:ATTEMPT_PAGE]
    return rows, str(rows[-1].pk) if more else None


# --- replays ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayRequest:
    name: str
    since: datetime
    until: datetime
    pattern: Any
    compiled: CompiledPattern | None
    consumers: list[Consumer]
    rate: float | None
    dry_run: bool
    # What a person found (event ids, a key, a trace, a transaction); None for a time range.
    found: Found | None = None


def _check_selection(document: dict[str, Any]) -> tuple[datetime, datetime, Found | None]:
    """The replay's time bounds and, for a selection, its resolved events: exactly one of a time
    range (``since``, ``until``) and the selection kinds."""
    kinds = selection_kinds(document)
    if len(kinds) != 1:
        choices = "a time range ('since', 'until'), 'event_ids', 'idempotency_key', 'trace_id' or 'transaction'"
        if not kinds:
            raise Invalid(f"Say what to replay: {choices}.")
        raise Invalid(f"Give one of {choices}, not several (this request gives {', '.join(kinds)}).")
    if kinds[0] == "time range":
        since = _time_field(document, "since")
        until = _time_field(document, "until", default=timezone.now())
        if until <= since:
            raise Invalid("'until' must be after 'since'.")
        return since, until, None
    try:
        found = resolve(kinds[0], document[kinds[0]])
    except SelectionError as err:
        raise Invalid(err.message, status=err.status, code=err.code, where=err.where) from None
    times = Event.objects.filter(pk__in=[found.ids[0], found.ids[-1]]).aggregate(first=Min("time"), last=Max("time"))
    return times["first"], times["last"] + timedelta(microseconds=1), found


def check_replay(document: Any) -> ReplayRequest:
    """A replay request, checked: its name, what it replays (a time range or a selection, see
    ``dashboard.replay.selection``), pattern, consumers (a dry run may name none: it then shows
    what the selection holds) and rate; Invalid with the reason."""
    document = _object(document)
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 256 or not name.isprintable():
        raise Invalid("'name' is required: a string of at most 256 printable characters.")
    dry = document.get("dry_run", False)
    if not isinstance(dry, bool):
        raise Invalid("'dry_run' must be true or false.")
    pattern = document.get("pattern")
    compiled = check_pattern(pattern)
    names = document.get("consumers")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not (names or dry):
        raise Invalid("'consumers' must be a non-empty list of consumer names.")
    if len(names) > MAX_LIST:
        raise Invalid(f"'consumers' lists more than {MAX_LIST} names.")
    unknown = sorted(n for n in names if not _NAME.match(n))  # not a name any consumer can have
    consumers = list(Consumer.objects.filter(name__in=[n for n in names if _NAME.match(n)]))
    missing = sorted(set(names) - {c.name for c in consumers} - set(unknown)) + unknown
    if missing:
        raise Invalid(f"Unknown consumer(s): {', '.join(missing)}.")
    since, until, found = _check_selection(document)
    return ReplayRequest(
        name, since, until, pattern, compiled, consumers, check_rate(document.get("rate_per_second")), dry, found
    )


def _pages(request: ReplayRequest) -> Iterable[list[Event]]:
    if request.found is not None:
        return selected_pages(request.found.ids)
    return walk(request.since, request.until, request.compiled)


def plan_replay(request: ReplayRequest) -> dict[str, Any]:
    """The dry run's answer: what the replay would deliver."""
    consumers = [(c, compiled_or_none(c.pattern)) for c in sorted(request.consumers, key=lambda c: c.name)]
    plan = dry_run(_pages(request), request.compiled, consumers)
    selection = request.found.describe if request.found else None
    return {"name": request.name, "since": request.since, "until": request.until, "selection": selection, **plan}


def do_create_replay(request: ReplayRequest) -> Replay:
    """Store the replay (``pending``) and enqueue its run after commit; BrokerUnavailable, with
    nothing stored, when the task broker does not answer (see the module docstring). A selection's
    deliveries are planned here, in the same transaction (``plan_selected``)."""
    check_broker()
    with transaction.atomic():
        replay = Replay.objects.create(
            name=request.name,
            since=request.since,
            until=request.until,
            pattern=request.pattern,
            rate_per_second=request.rate,
            selection=request.found.describe if request.found else None,
        )
        replay.consumers.set(request.consumers)
        if request.found is not None:
            consumers = [(c, compiled_or_none(c.pattern)) for c in sorted(request.consumers, key=lambda c: c.name)]
            matched, skipped, planned = plan_selected(replay.pk, _pages(request), request.compiled, consumers)
            Replay.objects.filter(pk=replay.pk).update(
                matched=matched, skipped=skipped, planned=planned, total=planned, walk_done=True
            )
            replay.refresh_from_db()
        enqueue_run(replay.pk)
    return replay


def get_replay(replay_id: Any) -> Replay:
    try:
        pk = int(replay_id)
    except (TypeError, ValueError):
        pk = -1
    replay = Replay.objects.filter(pk=pk).first()
    if replay is None:
        raise Invalid(f"No replay with id {replay_id!r}.", status=404, code="not_found")
    return replay


def do_cancel_replay(replay: Replay) -> Replay:
    """Cancel a pending or running replay: its run stops within a moment; what was delivered stays
    delivered, the rest is not sent. Cancelling a finished replay is a 409."""
    cancelled = Replay.objects.filter(pk=replay.pk, state__in=Replay.ACTIVE).update(
        state=Replay.CANCELLED, finished_at=timezone.now()
    )
    replay.refresh_from_db()
    if not cancelled and replay.state != Replay.CANCELLED:
        raise Invalid(f"The replay is {replay.state} already.", status=409, code="conflict")
    return replay


def do_redrive(replay: Replay, delivery_ids: Iterable[int] | None = None) -> int:
    """Send dead letters again (all of the replay's, or those of ``delivery_ids``): they become
    pending with a fresh attempt budget, and a finished replay runs again to send them. Returns how
    many were re-driven. A finished replay needs a new run: BrokerUnavailable, with nothing
    changed, when the task broker does not answer (a running one picks the dead letters up itself)."""
    if replay.state not in Replay.ACTIVE:
        check_broker()
    with transaction.atomic():
        locked = Replay.objects.select_for_update().get(pk=replay.pk)
        query = Delivery.objects.filter(replay_id=replay.pk, state=Delivery.DEAD)
        if delivery_ids is not None:
            query = query.filter(id__in=list(delivery_ids))
        count = query.update(
            state=Delivery.PENDING, drive_attempts=0, next_attempt_at=None, claim="", updated_at=timezone.now()
        )
        if count:
            dead = Delivery.objects.filter(replay_id=replay.pk, state=Delivery.DEAD).count()
            Replay.objects.filter(pk=replay.pk).update(failed=dead)
            if locked.state not in Replay.ACTIVE:
                Replay.objects.filter(pk=replay.pk).update(
                    state=Replay.PENDING, finished_at=None, lease_owner="", lease_expires_at=None, error=""
                )
                enqueue_run(replay.pk)
    return count


def check_delivery_ids(value: Any) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= _ID_MAX for v in value
    ):
        raise Invalid("'ids' must be a list of delivery ids.")
    if len(value) > MAX_LIST:
        raise Invalid(f"'ids' lists more than {MAX_LIST} deliveries; re-drive all with an empty body.")
    return value


# --- recovery --------------------------------------------------------------------------------------


def replays_to_resume(now: datetime | None = None, *, unqueued_before: datetime | None = None) -> list[int]:
    """Replays that need a run: ``running`` with an expired lease (their worker stopped), and
    ``pending`` ones not taken within a few seconds (their enqueued run was lost, e.g. the embedded
    server restarted before it started). ``unqueued_before``: a time before which no run message
    can be waiting (the embedded worker's start: its in-memory queue began empty), so pending
    replays created earlier need no grace."""
    now = now or timezone.now()
    pending = Q(state=Replay.PENDING, lease_owner="", created_at__lt=now - timedelta(seconds=5))
    if unqueued_before is not None:
        pending |= Q(state=Replay.PENDING, lease_owner="", created_at__lt=unqueued_before)
    return list(
        Replay.objects.filter(Q(state=Replay.RUNNING, lease_expires_at__lt=now) | pending)
        .order_by("id")
        .values_list("id", flat=True)
    )
