"""Ingest's bulk writes: ``insert_rows`` stores rows exactly as given on both databases (PostgreSQL
takes a conflict-free batch by COPY, whose text format escapes tabs, newlines and backslashes),
constraint errors are raised as Django's, trace search's terms of a new trace go the fast way with a
safe fallback, and the dedupe keys and summaries PostgreSQL passes as arrays keep awkward text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from dashboard.core.bulk import db_datetime, db_json, insert_rows
from dashboard.events.models import Event
from tests.retention.helpers import post_spans, trace_id
from tracing.models import LogRecord, TraceSummary, TraceTerm
from tracing.store import LOG_FIELDS
from tracing.summaries import deferred, summarise_pending

pytestmark = pytest.mark.django_db

AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote ' and \"", "ünïcødé ✓", "", "carriage\rreturn"]


def test_a_batch_is_stored_exactly_as_given() -> None:
    start = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    rows = []
    for n, text in enumerate(AWKWARD * 2):  # 16 rows: PostgreSQL takes them by COPY
        body = None if n == 3 else {"text": text, "n": n, "nested": [text, None, True]}
        rows.append((
            f"{n:032x}", f"{n:016x}", 10**18 + n, n, n % 24, text[:32], db_json(body) if body is not None else None,
            db_json({"key": text}), f"service {text}", text, db_datetime(start + timedelta(microseconds=n)),
        ))  # fmt: skip
    with transaction.atomic():
        assert insert_rows(LogRecord, LOG_FIELDS, rows) == len(rows)
    stored = {record.trace_id: record for record in LogRecord.objects.all()}
    assert len(stored) == len(rows)
    for n, text in enumerate(AWKWARD * 2):
        record = stored[f"{n:032x}"]
        assert (record.span_id, record.time_ns, record.observed_ns) == (f"{n:016x}", 10**18 + n, n)
        assert (record.severity_text, record.service, record.scope) == (text[:32], f"service {text}", text)
        assert record.body == (None if n == 3 else {"text": text, "n": n, "nested": [text, None, True]})
        assert record.attributes == {"key": text}
        assert record.received_at == start + timedelta(microseconds=n)


def test_a_row_against_a_constraint_raises_djangos_integrity_error_and_stores_none_of_the_batch() -> None:
    rows = [(TraceTerm.ATTRIBUTE, "k", f"v{n}", 1) for n in range(12)] + [(TraceTerm.ATTRIBUTE, "k", "v0", 1)]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(TraceTerm, ("kind", "key", "value", "trace"), rows)
    assert not TraceTerm.objects.exists()
    with transaction.atomic():  # the same rows, skipping what conflicts
        assert insert_rows(TraceTerm, ("kind", "key", "value", "trace"), rows, ignore_conflicts=True) == 12


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def _terms(trace: str) -> set[tuple[int, str, str]]:
    if deferred():  # SQLite: summarised after the commit, and by every reader before it reads
        summarise_pending()
    summary = TraceSummary.objects.get(trace_id=trace)
    return set(TraceTerm.objects.filter(trace=summary.id).values_list("kind", "key", "value"))


def test_a_traces_terms_come_from_its_first_batch_and_later_ones(api: Client) -> None:
    post_spans(api, trace_id(1), 3)  # a new trace: its terms go in with nothing to skip
    first = _terms(trace_id(1))
    assert (TraceTerm.SERVICE, "", "orders") in first and (TraceTerm.ATTRIBUTE, "tag", trace_id(1)) in first
    # The same trace again, its first three spans sent again (stored already: they add nothing) and two
    # new ones of another service: the trace's known terms are skipped, its new ones added.
    post_spans(api, trace_id(1), 5, service="billing")
    assert _terms(trace_id(1)) == first | {(TraceTerm.SERVICE, "", "billing")} | {
        (TraceTerm.SPAN_NAME, "billing", f"step {i}") for i in (3, 4)
    }
    assert TraceSummary.objects.get(trace_id=trace_id(1)).span_count == 5


@pytest.mark.postgres
def test_a_term_already_naming_a_new_summarys_id_does_not_fail_the_export(api: Client) -> None:
    # Cannot happen while ids come from the sequence; should it (a sequence set back by hand), the
    # spans are still stored and their terms added, the stray one kept once.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('tracing_tracesummary', 'id'))")
        upcoming = cursor.fetchone()[0] + 1
    TraceTerm.objects.create(kind=TraceTerm.SERVICE, key="", value="orders", trace=upcoming)
    post_spans(api, trace_id(2), 2)
    summary = TraceSummary.objects.get(trace_id=trace_id(2))
    assert summary.id == upcoming and summary.span_count == 2
    assert (TraceTerm.SPAN_NAME, "orders", "step 1") in _terms(trace_id(2))
    assert TraceTerm.objects.filter(kind=TraceTerm.SERVICE, value="orders", trace=upcoming).count() == 1


def test_json_text_round_trips_through_the_batch() -> None:
    tricky = {"s": "a\tb\nc\\d\u2028", "deep": {"x": [1, 2.5, "\\N"]}}
    rows = [
        (f"{n:032x}", "", n, 0, 0, "", db_json(tricky), "{}", "", "", db_datetime(datetime.now(UTC))) for n in range(9)
    ]
    with transaction.atomic():
        insert_rows(LogRecord, LOG_FIELDS, rows)
    assert [record.body for record in LogRecord.objects.all()] == [tricky] * 9


def test_awkward_text_survives_the_keys_and_summaries(api: Client) -> None:
    # Array literals quote braces, commas, quotes and backslashes: each must come back as sent.
    awkward = 'a{b},"c"\\d e\'f NULL'
    post_spans(api, trace_id(3), 2, service=awkward)
    assert _terms(trace_id(3)) >= {(TraceTerm.SERVICE, "", awkward), (TraceTerm.SPAN_NAME, awkward, "step 0")}
    assert TraceSummary.objects.get(trace_id=trace_id(3)).root_service == awkward
    post_spans(api, trace_id(3), 2, service=awkward)  # sent again: the keys know every span
    assert TraceSummary.objects.get(trace_id=trace_id(3)).span_count == 2
    batch = [{"id": f"{awkward}-{n}", "source": awkward, "detail-type": "T", "detail": {}} for n in range(3)]
    first = api.post("/api/events", batch, content_type="application/json").json()
    again = api.post("/api/events", [batch[0], {**batch[1], "id": "new"}], content_type="application/json").json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "accepted"]
    assert again["results"][0]["id"] == first["results"][0]["id"]
    assert Event.objects.filter(source=awkward).count() == 4
