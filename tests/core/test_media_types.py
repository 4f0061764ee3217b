"""``dashboard.core.media``: the one reading of a ``Content-Type`` that native, CloudEvents and OTLP
ingest share."""

from __future__ import annotations

import pytest

from dashboard.core.media import is_json, media_type
from dashboard.ingest.cloudevents_format import detect_mode
from tracing.otlp import encoding_from_content_type


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("application/json", "application/json", id="plain"),
        pytest.param("Application/JSON", "application/json", id="any case"),
        pytest.param("application/json; charset=utf-8", "application/json", id="a parameter"),
        pytest.param("  application/json  ;charset=utf-8;x=1", "application/json", id="spaces and parameters"),
        pytest.param("application/cloudevents+json; charset=UTF-8", "application/cloudevents+json", id="structured"),
        pytest.param("text/plain;", "text/plain", id="an empty parameter list"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="absent"),
        pytest.param(";charset=utf-8", "", id="parameters only"),
    ],
)
def test_the_media_type_is_lowercased_without_parameters(content_type: str | None, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        ("application/json", True),
        ("text/json", True),
        ("application/cloudevents+json", True),
        ("application/cloudevents-batch+json", True),
        ("application/vnd.api+json", True),
        ("application/x-protobuf", False),
        ("application/jsonx", False),
        ("text/plain", False),
        ("json", False),
        ("", False),
    ],
)
def test_json_is_a_json_subtype_or_a_json_suffix(media: str, expected: bool) -> None:
    assert is_json(media) is expected


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/x-protobuf", "protobuf"),
        ("APPLICATION/X-PROTOBUF; proto=opentelemetry", "protobuf"),
        ("application/json; charset=utf-8", "json"),
        ("application/cloudevents+json", None),
        ("", None),
        (None, None),
    ],
)
def test_otlp_reads_the_content_type_the_same_way(content_type: str | None, encoding: str | None) -> None:
    assert encoding_from_content_type(content_type) == encoding


@pytest.mark.parametrize(
    ("content_type", "mode"),
    [
        ("Application/CloudEvents+JSON; charset=utf-8", "structured"),
        (" application/cloudevents-batch+json ", "batch"),
        ("application/cloudevents+avro", None),
        ("application/json", None),
    ],
)
def test_cloudevents_reads_the_content_type_the_same_way(content_type: str, mode: str | None) -> None:
    assert detect_mode(content_type, {}) == mode
