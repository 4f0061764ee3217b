"""Trace-context header parsing: W3C traceparent and AWS X-Ray.

The traceparent cases follow the W3C Trace Context specification and the cases of
its conformance test suite; the X-Ray cases follow the AWS X-Ray tracing-header
documentation.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.core.trace_context import (
    TraceContext,
    parse_trace_id,
    parse_traceparent,
    parse_xray_header,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SUITE_TRACE_ID = "12345678901234567890123456789012"
SUITE_PARENT_ID = "1234567890123456"


# --------------------------------------------------------------------------- traceparent: valid


def test_it_reads_the_specification_example_of_a_sampled_request() -> None:
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-01") == TraceContext(
        trace_id=TRACE_ID, parent_span_id=PARENT_ID, sampled=True
    )


def test_it_reads_the_specification_example_of_an_unsampled_request() -> None:
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-00") == TraceContext(
        trace_id=TRACE_ID, parent_span_id=PARENT_ID, sampled=False
    )


@pytest.mark.parametrize(
    ("flags", "sampled"),
    [
        pytest.param("02", False, id="random-trace-id flag alone (level 2) is not sampled"),
        pytest.param("03", True, id="random-trace-id and sampled"),
        pytest.param("09", True, id="unknown bit with sampled"),
        pytest.param("fe", False, id="every bit but sampled"),
        pytest.param("ff", True, id="every bit"),
    ],
)
def test_it_reads_sampled_from_the_low_bit_only(flags: str, sampled: bool) -> None:
    context = parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-{flags}")
    assert context is not None
    assert context.sampled is sampled


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f" 00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="leading space"),
        pytest.param(f"\t00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="leading tab"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01 ", id="trailing space"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01\t", id="trailing tab"),
        pytest.param(f"\t 00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01 \t", id="both"),
    ],
)
def test_it_ignores_optional_whitespace_around_the_value(value: str) -> None:
    context = parse_traceparent(value)
    assert context is not None
    assert context.trace_id == SUITE_TRACE_ID


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"cc-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="same layout"),
        pytest.param(f"cc-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01-what-the-future-will-be-like", id="extra fields"),
        pytest.param(f"01-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01-", id="empty extra field"),
    ],
)
def test_it_reads_a_future_version_by_the_version_00_layout(value: str) -> None:
    assert parse_traceparent(value) == TraceContext(
        trace_id=SUITE_TRACE_ID, parent_span_id=SUITE_PARENT_ID, sampled=True
    )


# --------------------------------------------------------------------------- traceparent: invalid


def test_it_rejects_an_all_zero_trace_id() -> None:
    assert parse_traceparent(f"00-{'0' * 32}-{SUITE_PARENT_ID}-01") is None


def test_it_rejects_an_all_zero_parent_id() -> None:
    assert parse_traceparent(f"00-{SUITE_TRACE_ID}-{'0' * 16}-01") is None


def test_it_rejects_version_ff() -> None:
    assert parse_traceparent(f"ff-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01") is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01.", id="trailing character"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01-what-the-future-will-be-like", id="extra field"),
    ],
)
def test_it_rejects_anything_after_the_flags_in_version_00(value: str) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"cc-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01.what-the-future-will-be-like", id="no dash"),
        pytest.param(f"cc-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-0", id="shorter than 55"),
        pytest.param(f"cc-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-xx-more", id="flags not hex"),
        pytest.param(f"cc-{'0' * 32}-{SUITE_PARENT_ID}-01-more", id="zero trace id"),
    ],
)
def test_it_rejects_a_future_version_that_breaks_the_known_layout(value: str) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f".0-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version illegal first character"),
        pytest.param(f"0.-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version illegal second character"),
        pytest.param(f"000-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version three digits"),
        pytest.param(f"0000-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version four digits"),
        pytest.param(f"0-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version one digit"),
        pytest.param(f"0A-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01", id="version uppercase"),
        pytest.param(f"00-.{SUITE_TRACE_ID[1:]}-{SUITE_PARENT_ID}-01", id="trace id illegal first character"),
        pytest.param(f"00-{SUITE_TRACE_ID[:-1]}.-{SUITE_PARENT_ID}-01", id="trace id illegal last character"),
        pytest.param(f"00-{SUITE_TRACE_ID}3-{SUITE_PARENT_ID}-01", id="trace id too long"),
        pytest.param(f"00-{SUITE_TRACE_ID[:-1]}-{SUITE_PARENT_ID}-01", id="trace id too short"),
        pytest.param(f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", id="trace id uppercase"),
        pytest.param(f"00-{SUITE_TRACE_ID}-.{SUITE_PARENT_ID[1:]}-01", id="parent id illegal first character"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID[:-1]}.-01", id="parent id illegal last character"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}7-01", id="parent id too long"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID[:-1]}-01", id="parent id too short"),
        pytest.param(f"00-{TRACE_ID}-{PARENT_ID.upper()}-01", id="parent id uppercase"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-.0", id="flags illegal first character"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-0.", id="flags illegal second character"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-001", id="flags too long"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-1", id="flags too short"),
        pytest.param(f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-0F", id="flags uppercase"),
        pytest.param(f"00_{SUITE_TRACE_ID}_{SUITE_PARENT_ID}_01", id="wrong delimiter"),
        pytest.param(
            f"00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01,00-{SUITE_TRACE_ID}-{SUITE_PARENT_ID}-01",
            id="two headers folded into one",
        ),
    ],
)
def test_it_rejects_a_malformed_header(value: str) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_it_returns_none_without_a_header(value: str | None) -> None:
    assert parse_traceparent(value) is None


# --------------------------------------------------------------------------- traceparent: any valid one


hex_ids = st.integers(min_value=1, max_value=2**128 - 1).map(lambda n: f"{n:032x}")
hex_span_ids = st.integers(min_value=1, max_value=2**64 - 1).map(lambda n: f"{n:016x}")


@given(trace_id=hex_ids, span_id=hex_span_ids, sampled=st.booleans())
def test_any_valid_version_00_header_parses_to_its_context(trace_id: str, span_id: str, sampled: bool) -> None:
    header = f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"
    assert parse_traceparent(header) == TraceContext(trace_id=trace_id, parent_span_id=span_id, sampled=sampled)


@given(st.text(max_size=80))
def test_parsing_arbitrary_text_never_raises(value: str) -> None:
    context = parse_traceparent(value)
    if context is not None:
        assert len(context.trace_id) == 32
        assert len(context.parent_span_id) == 16


# --------------------------------------------------------------------------- X-Ray


def test_it_converts_the_documented_xray_header_to_w3c_ids() -> None:
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert parse_xray_header(header) == TraceContext(
        trace_id="5759e988bd862e3fe1be46a994272793", parent_span_id="53995c3f42cd8ad8", sampled=True
    )


def test_it_accepts_an_xray_header_without_a_parent() -> None:
    assert parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1") == TraceContext(
        trace_id="5759e988bd862e3fe1be46a994272793", parent_span_id="", sampled=True
    )


def test_it_accepts_xray_fields_in_any_order_and_with_spaces() -> None:
    header = " Sampled = 0 ;  Parent=53995c3f42cd8ad8 ; Root = 1-5759e988-bd862e3fe1be46a994272793 ; "
    assert parse_xray_header(header) == TraceContext(
        trace_id="5759e988bd862e3fe1be46a994272793", parent_span_id="53995c3f42cd8ad8", sampled=False
    )


@pytest.mark.parametrize(
    ("header", "sampled"),
    [
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", True, id="sampled"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0", False, id="not sampled"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?", None, id="decision requested"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793", None, id="no decision"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes", None, id="unknown value"),
    ],
)
def test_it_reads_the_xray_sampling_decision(header: str, sampled: bool | None) -> None:
    context = parse_xray_header(header)
    assert context is not None
    assert context.sampled is sampled


def test_it_ignores_other_xray_fields_such_as_self_and_lineage() -> None:
    header = (
        "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;"
        "Lineage=a87bd80c:1|68fd508a:5;CalledFrom=app"
    )
    context = parse_xray_header(header)
    assert context is not None
    assert context.trace_id == "5759e988bd862e3fe1be46a994272793"


def test_it_normalises_uppercase_xray_ids_and_keys() -> None:
    header = "root=1-5759E988-BD862E3FE1BE46A994272793;PARENT=53995C3F42CD8AD8"
    assert parse_xray_header(header) == TraceContext(
        trace_id="5759e988bd862e3fe1be46a994272793", parent_span_id="53995c3f42cd8ad8", sampled=None
    )


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Parent=53995c3f42cd8ad8;Sampled=1", id="no root"),
        pytest.param("Root=2-5759e988-bd862e3fe1be46a994272793", id="unknown root version"),
        pytest.param("Root=1-5759e98-bd862e3fe1be46a994272793", id="short epoch"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a99427279", id="short unique part"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a9942727933", id="long unique part"),
        pytest.param("Root=1-5759e98g-bd862e3fe1be46a994272793", id="root not hex"),
        pytest.param("Root=5759e988bd862e3fe1be46a994272793", id="root in w3c form"),
        pytest.param("Root=1-00000000-000000000000000000000000", id="all-zero root"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad", id="short parent"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8adz", id="parent not hex"),
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", id="all-zero parent"),
        pytest.param("Root=", id="empty root"),
        pytest.param("", id="empty header"),
        pytest.param(None, id="no header"),
    ],
)
def test_it_rejects_an_invalid_xray_header(header: str | None) -> None:
    assert parse_xray_header(header) is None


@given(st.text(max_size=120))
def test_parsing_arbitrary_xray_text_never_raises(value: str) -> None:
    context = parse_xray_header(value)
    if context is not None:
        assert len(context.trace_id) == 32


# --------------------------------------------------------------------------- trace ids (URLs, queries)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(TRACE_ID, TRACE_ID, id="lowercase"),
        pytest.param(TRACE_ID.upper(), TRACE_ID, id="uppercase is lowered"),
        pytest.param("0" * 32, "0" * 32, id="all zeros names no trace but is an id"),
        pytest.param(TRACE_ID[:31], None, id="31 characters"),
        pytest.param(TRACE_ID + "0", None, id="33 characters"),
        pytest.param(TRACE_ID + "\n", None, id="a trailing newline"),
        pytest.param(TRACE_ID[:31] + "g", None, id="not hex"),
        pytest.param("", None, id="empty"),
        pytest.param("1-5759e988-bd862e3fe1be46a994272793", None, id="an X-Ray root"),
    ],
)
def test_a_trace_id_is_32_hex_characters_stored_lowercase(value: str, expected: str | None) -> None:
    assert parse_trace_id(value) == expected
