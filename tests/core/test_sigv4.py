"""SigV4 verification against requests signed by botocore's own signer (no server, no network)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from django.http.request import HttpHeaders
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.core.sigv4 import (
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION,
    UNRECOGNIZED_CLIENT,
    SigV4Error,
    SigV4Identity,
    verify_request,
)

KEY_ID = "AKIAEVENTSCOPETEST01"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {KEY_ID: SECRET}
ENDPOINT = "http://eventscope.test:8000/aws"
AMZ_JSON = "application/x-amz-json-1.1"
BODY = b'{"Entries": [{"Source": "app.orders", "DetailType": "OrderPlaced", "Detail": "{\\"id\\": 7}"}]}'
MISMATCH = "The request signature we calculated does not match the signature you provided."


@dataclass(frozen=True)
class Wire:
    """A request as the server receives it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def signed_at(self) -> datetime:
        return datetime.strptime(self.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    def with_header(self, name: str, value: str) -> Wire:
        return replace(self, headers={**self.headers, name: value})


def to_wire(prepared: AWSPreparedRequest) -> Wire:
    url = urlsplit(prepared.url)
    headers = {name: value.decode() if isinstance(value, bytes) else value for name, value in prepared.headers.items()}
    # urllib3 adds Host (the URL's netloc) when it sends the request.
    headers.setdefault("Host", url.netloc)
    body = prepared.body or b""
    return Wire(
        method=prepared.method,
        path=url.path,
        query_string=url.query,
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
    )


def sign(
    url: str = ENDPOINT,
    *,
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    method: str = "POST",
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "events",
) -> Wire:
    """Sign a request exactly as botocore does for AWS and return what goes on the wire."""
    request = AWSRequest(
        method=method,
        url=url,
        data=body,
        params=params or {},
        headers={"Content-Type": AMZ_JSON, "X-Amz-Target": "AWSEvents.PutEvents", **(headers or {})},
    )
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    return to_wire(request.prepare())


def verify(
    wire: Wire,
    *,
    now: datetime | None = None,
    secret_for: Callable[[str], str | None] = SECRETS.get,
    max_skew: timedelta = timedelta(minutes=15),
) -> SigV4Identity:
    return verify_request(
        method=wire.method,
        path=wire.path,
        query_string=wire.query_string,
        headers=wire.headers,
        body=wire.body,
        secret_for=secret_for,
        now=now or wire.signed_at,
        max_skew=max_skew,
    )


def rejection(wire: Wire, **kwargs: Any) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        verify(wire, **kwargs)
    return caught.value


def with_authorization(wire: Wire, transform: Callable[[str], str]) -> Wire:
    return wire.with_header("Authorization", transform(wire.headers["Authorization"]))


# --- requests that must pass ---------------------------------------------------------------------


def test_a_botocore_signed_request_verifies_and_returns_the_signer() -> None:
    wire = sign()

    identity = verify(wire)

    assert identity == SigV4Identity(
        access_key_id=KEY_ID, region="us-east-1", service="events", signed_at=wire.signed_at
    )


@pytest.mark.parametrize("region", ["eu-west-3", "ap-southeast-2", "us-gov-west-1", "local"])
def test_any_region_the_client_signed_for_is_accepted_and_reported(region: str) -> None:
    assert verify(sign(region=region)).region == region


@pytest.mark.parametrize(
    "url",
    [
        "http://eventscope.test:8000/aws",
        "http://eventscope.test:8000/aws/",
        "http://eventscope.test/aws",
        "https://eventscope.test/aws/",
        "http://eventscope.test/aws//events/./x/../y/",
        "http://eventscope.test/aws/a%20b",
        "http://eventscope.test/aws/caf%C3%A9/%E2%82%AC",
        "http://eventscope.test/aws/a%2Fb:c@d",
        "http://eventscope.test/aws/~user_1.-x",
        "http://eventscope.test",
    ],
)
def test_paths_are_canonicalised_like_the_sdk_does(url: str) -> None:
    assert verify(sign(url)).access_key_id == KEY_ID


@pytest.mark.parametrize(
    "query",
    [
        "b=2&a=1",
        "a=2&a=1&a=10",
        "flag",
        "empty=&z=1",
        "x=%E2%82%AC&y=caf%C3%A9",
        "c=%20x%2By",
        "sp%20ace=1&slash=a%2Fb&tilde=~-._",
        "Action=PutEvents&Version=2015-10-07",
    ],
)
def test_query_strings_in_the_url_are_canonicalised(query: str) -> None:
    wire = sign(f"{ENDPOINT}?{query}")

    assert wire.query_string == query
    assert verify(wire).access_key_id == KEY_ID


def test_query_parameters_encoded_by_the_sdk_verify() -> None:
    wire = sign(params={"b": "x y", "a": "1/2", "é": "€+~", "Z": "", "q": "a=b&c"})

    assert verify(wire).access_key_id == KEY_ID


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        ("k=a%2Bb", "k=a%2bb"),
        ("slash=a%2Fb&colon=a%3Ab", "slash=a/b&colon=a:b"),
        ("u=~-", "u=%7E%2D"),
        ("e=caf%C3%A9", "e=caf%c3%a9"),
    ],
)
def test_other_spellings_of_the_same_query_values_verify(signed: str, sent: str) -> None:
    wire = replace(sign(f"{ENDPOINT}?{signed}"), query_string=sent)

    assert verify(wire).access_key_id == KEY_ID


def test_a_plus_in_the_query_is_read_as_a_space() -> None:
    wire = replace(sign(f"{ENDPOINT}?q=a%20b"), query_string="q=a+b")

    assert verify(wire).access_key_id == KEY_ID


def test_a_signed_plus_sign_cannot_be_replayed_as_a_space() -> None:
    # Django reads "a+b" as "a b": the signed value "a+b" (a%2Bb) must not pass for it.
    wire = replace(sign(f"{ENDPOINT}?q=a%2Bb"), query_string="q=a+b")

    assert rejection(wire).code == INVALID_SIGNATURE


def test_extra_signed_headers_are_trimmed_and_whitespace_collapsed() -> None:
    wire = sign(headers={"X-Custom-Label": "  two   spaced\t words  ", "X-Amz-Meta-Empty": ""})

    assert "x-custom-label" in wire.headers["Authorization"]
    assert verify(wire).access_key_id == KEY_ID


def test_header_names_are_matched_case_insensitively() -> None:
    wire = sign()
    shuffled = {
        name.upper() if index % 2 else name.lower(): value for index, (name, value) in enumerate(wire.headers.items())
    }

    assert verify(replace(wire, headers=shuffled), now=wire.signed_at).access_key_id == KEY_ID


def test_django_request_headers_can_be_passed_as_they_are() -> None:
    wire = sign(headers={"X-Custom-Label": "kept"})
    meta = {"CONTENT_TYPE": wire.headers["Content-Type"], "CONTENT_LENGTH": wire.headers["Content-Length"]}
    for name, value in wire.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            meta["HTTP_" + name.upper().replace("-", "_")] = value

    identity = verify_request(
        method="POST",
        path=wire.path,
        query_string=wire.query_string,
        headers=HttpHeaders(meta),
        body=wire.body,
        secret_for=SECRETS.get,
        now=wire.signed_at,
    )

    assert identity.access_key_id == KEY_ID


def test_a_request_dated_with_the_date_header_verifies() -> None:
    # botocore signs with (a fresh) HTTP Date header when the request already has one.
    wire = sign(headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert "X-Amz-Date" not in wire.headers
    signed_at = parsedate_to_datetime(wire.headers["Date"]).replace(tzinfo=UTC)

    identity = verify(wire, now=signed_at)

    assert identity.signed_at == signed_at


def test_a_session_token_header_is_covered_by_the_signature() -> None:
    wire = sign(token="FQoGZXIvYXdzEXAMPLETOKEN")
    assert "x-amz-security-token" in wire.headers["Authorization"]

    assert verify(wire).access_key_id == KEY_ID
    assert rejection(wire.with_header("X-Amz-Security-Token", "other")).code == INVALID_SIGNATURE


def test_a_matching_x_amz_content_sha256_header_is_accepted() -> None:
    wire = sign(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})

    assert verify(wire).access_key_id == KEY_ID


def test_the_default_clock_is_used_when_now_is_not_given() -> None:
    wire = sign()

    identity = verify_request(
        method=wire.method,
        path=wire.path,
        query_string=wire.query_string,
        headers=wire.headers,
        body=wire.body,
        secret_for=SECRETS.get,
    )

    assert identity.access_key_id == KEY_ID


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=300),
    params=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=4),
    segment=st.text(max_size=10).filter(lambda text: text not in (".", "..")),
)
def test_any_body_query_and_path_signed_by_botocore_verifies(body: bytes, params: dict[str, str], segment: str) -> None:
    url = f"{ENDPOINT}/{segment.replace('/', '_')}".replace("?", "_").replace("#", "_")

    assert verify(sign(url, body=body, params=params)).access_key_id == KEY_ID


@settings(max_examples=40, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(BODY) - 1), flip=st.integers(min_value=1, max_value=255))
def test_changing_any_byte_of_the_body_breaks_the_signature(position: int, flip: int) -> None:
    wire = sign()
    tampered = bytearray(wire.body)
    tampered[position] ^= flip

    assert rejection(replace(wire, body=bytes(tampered))).code == INVALID_SIGNATURE


# --- tampering and wrong credentials -------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda wire: replace(wire, body=wire.body + b" "), id="body"),
        pytest.param(lambda wire: wire.with_header("X-Amz-Target", "AWSEvents.PutRule"), id="signed-header"),
        pytest.param(lambda wire: wire.with_header("Host", "proxy.internal:8080"), id="host-rewritten"),
        pytest.param(lambda wire: replace(wire, path="/aws/other"), id="path"),
        pytest.param(lambda wire: replace(wire, query_string="a=1"), id="query-added"),
        pytest.param(lambda wire: replace(wire, method="PUT"), id="method"),
        pytest.param(
            lambda wire: with_authorization(wire, lambda auth: auth[:-1] + ("0" if auth[-1] != "0" else "1")),
            id="signature",
        ),
        pytest.param(
            lambda wire: with_authorization(wire, lambda auth: auth.replace(", Signature=", ", Signature=A")),
            id="signature-longer",
        ),
        pytest.param(
            lambda wire: with_authorization(wire, lambda auth: auth.replace("content-type;", "")),
            id="signed-headers-list",
        ),
    ],
)
def test_a_tampered_request_is_refused_as_invalid_signature(tamper: Callable[[Wire], Wire]) -> None:
    error = rejection(tamper(sign()))

    assert error.code == INVALID_SIGNATURE
    assert error.status == 400
    assert error.message.startswith(MISMATCH)


def test_a_wrong_secret_is_refused_and_the_expected_canonical_request_is_explained() -> None:
    wire = sign(secret="not-the-secret")

    error = rejection(wire)

    assert error.code == INVALID_SIGNATURE
    assert "The Canonical String for this request should have been\n'POST\n/aws\n\n" in error.message
    assert "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in error.message


def test_an_unknown_access_key_is_an_unrecognized_client() -> None:
    error = rejection(sign(key_id="AKIAUNKNOWNKEY000000"))

    assert (error.code, error.status) == (UNRECOGNIZED_CLIENT, 400)
    assert error.message == "The security token included in the request is invalid."


def test_the_key_lookup_receives_the_access_key_id() -> None:
    looked_up: list[str] = []

    def secret_for(key_id: str) -> str | None:
        looked_up.append(key_id)
        return SECRET

    verify(sign(), secret_for=secret_for)

    assert looked_up == [KEY_ID]


@pytest.mark.parametrize(
    "declared",
    [hashlib.sha256(b"another body").hexdigest(), "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"],
)
def test_a_content_sha256_header_that_does_not_describe_the_body_is_refused(declared: str) -> None:
    wire = sign(headers={"X-Amz-Content-SHA256": declared})

    error = rejection(wire)

    assert error.code == INVALID_SIGNATURE
    assert "x-amz-content-sha256" in error.message


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(left: bytes, right: bytes) -> bool:
        compared.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    wire = sign()

    verify(wire)

    provided = wire.headers["Authorization"].rsplit("Signature=", 1)[1].encode()
    assert compared == [(provided, provided)]


# --- missing and malformed authentication --------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "AWS AKIAEVENTSCOPETEST01:frJIUN8DYpKDtOLCwo//yllqDzg=",
    ],
)
def test_a_request_without_aws4_authorization_is_missing_the_token(authorization: str | None) -> None:
    wire = sign()
    headers = {name: value for name, value in wire.headers.items() if name != "Authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization

    error = rejection(replace(wire, headers=headers))

    assert (error.code, error.status) == (MISSING_AUTHENTICATION, 400)
    assert error.message == "Request is missing Authentication Token"


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        pytest.param(
            lambda auth: auth.split(", Signature=")[0],
            "Authorization header requires 'Signature' parameter.",
            id="no-signature",
        ),
        pytest.param(
            lambda auth: "AWS4-HMAC-SHA256 Signature=abc",
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256 Signature=abc",
            id="only-signature",
        ),
        pytest.param(
            lambda auth: auth.replace("Credential=", "Credential "),
            "not a valid key=value pair (missing equal-sign) in Authorization header",
            id="missing-equal-sign",
        ),
        pytest.param(
            lambda auth: auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
            id="algorithm",
        ),
        pytest.param(
            lambda auth: auth.replace("/aws4_request", ""),
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '",
            id="credential-four-parts",
        ),
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(
    transform: Callable[[str], str], expected: str
) -> None:
    error = rejection(with_authorization(sign(), transform))

    assert (error.code, error.status) == (INCOMPLETE_SIGNATURE, 400)
    assert expected in error.message


def test_trailing_slashes_after_the_credential_terminator_are_ignored() -> None:
    wire = with_authorization(sign(), lambda auth: auth.replace("/aws4_request,", "/aws4_request/,"))

    assert verify(wire).access_key_id == KEY_ID


def test_a_request_without_any_date_header_is_an_incomplete_signature() -> None:
    wire = sign()
    headers = {name: value for name, value in wire.headers.items() if name != "X-Amz-Date"}

    error = rejection(replace(wire, headers=headers), now=wire.signed_at)

    assert error.code == INCOMPLETE_SIGNATURE
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message
    assert error.message.endswith(f"Authorization={wire.headers['Authorization']}")


@pytest.mark.parametrize("amz_date", ["2026-01-01T00:00:00Z", "20261301T000000Z", "20260101T000000", "yesterday"])
def test_an_x_amz_date_not_in_iso8601_basic_format_is_an_incomplete_signature(amz_date: str) -> None:
    wire = sign()

    error = rejection(wire.with_header("X-Amz-Date", amz_date), now=wire.signed_at)

    assert error.code == INCOMPLETE_SIGNATURE
    assert error.message.startswith(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")


def test_presigned_query_authentication_is_not_supported() -> None:
    wire = sign()
    headers = {name: value for name, value in wire.headers.items() if name != "Authorization"}
    presigned = replace(
        wire,
        headers=headers,
        query_string="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=y",
    )

    error = rejection(presigned)

    assert (error.code, error.status) == (INCOMPLETE_SIGNATURE, 400)
    assert "presigned" in error.message


def test_both_presigned_parameters_and_an_authorization_header_are_refused() -> None:
    wire = replace(sign(), query_string="X-Amz-Algorithm=AWS4-HMAC-SHA256")

    error = rejection(wire)

    assert error.code == INVALID_SIGNATURE
    assert error.message.startswith("Found both 'X-Amz-Algorithm'")


# --- credential scope ------------------------------------------------------------------------------


def test_a_credential_for_another_service_is_refused() -> None:
    error = rejection(sign(service="execute-api"))

    assert (error.code, error.status) == (INVALID_SIGNATURE, 400)
    assert error.message == "Credential should be scoped to correct service: 'events'."


def test_a_credential_with_an_empty_region_is_refused() -> None:
    error = rejection(sign(region=""))

    assert error.code == INVALID_SIGNATURE
    assert "Credential should be scoped to a valid region, not ''." in error.message


def test_a_credential_with_a_wrong_terminator_is_refused() -> None:
    error = rejection(with_authorization(sign(), lambda auth: auth.replace("/aws4_request", "/aws5_request")))

    assert error.code == INVALID_SIGNATURE
    assert "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'." in (error.message)


def test_the_credential_scope_date_must_be_the_request_date() -> None:
    wire = sign()
    next_day = wire.signed_at + timedelta(days=1)
    redated = wire.with_header("X-Amz-Date", next_day.strftime("%Y%m%dT%H%M%SZ"))

    error = rejection(redated, now=next_day)

    assert error.code == INVALID_SIGNATURE
    assert error.message.startswith(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{wire.signed_at:%Y%m%d}' != '{next_day:%Y%m%d}'"
    )


def test_the_host_header_must_be_signed() -> None:
    wire = with_authorization(sign(), lambda auth: auth.replace("host;", ""))

    error = rejection(wire)

    assert error.code == INVALID_SIGNATURE
    assert error.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


# --- clock skew ----------------------------------------------------------------------------------


def test_a_signature_older_than_the_allowed_skew_has_expired() -> None:
    wire = sign()
    now = wire.signed_at + timedelta(minutes=15, seconds=1)

    error = rejection(wire, now=now)

    assert (error.code, error.status) == (INVALID_SIGNATURE, 400)
    stamp = "%Y%m%dT%H%M%SZ"
    assert error.message == (
        f"Signature expired: {wire.signed_at:{stamp}} is now earlier than "
        f"{now - timedelta(minutes=15):{stamp}} ({now:{stamp}} - 15 min.)"
    )


def test_a_signature_dated_too_far_in_the_future_is_not_yet_current() -> None:
    wire = sign()
    now = wire.signed_at - timedelta(minutes=16)

    error = rejection(wire, now=now)

    assert error.code == INVALID_SIGNATURE
    assert error.message.startswith(f"Signature not yet current: {wire.signed_at:%Y%m%dT%H%M%SZ} is still later")
    assert error.message.endswith("+ 15 min.)")


def test_signatures_exactly_at_the_skew_limit_are_accepted() -> None:
    wire = sign()

    assert verify(wire, now=wire.signed_at + timedelta(minutes=15)).access_key_id == KEY_ID
    assert verify(wire, now=wire.signed_at - timedelta(minutes=15)).access_key_id == KEY_ID


def test_the_allowed_skew_is_configurable() -> None:
    wire = sign()

    error = rejection(wire, now=wire.signed_at + timedelta(minutes=6), max_skew=timedelta(minutes=5))

    assert error.message.endswith("- 5 min.)")


def test_now_in_another_timezone_is_compared_as_the_same_instant() -> None:
    wire = sign()
    tokyo = wire.signed_at.astimezone(timezone(timedelta(hours=9)))

    assert verify(wire, now=tokyo).access_key_id == KEY_ID


def test_a_naive_now_is_a_programming_error() -> None:
    wire = sign()

    with pytest.raises(ValueError, match="timezone-aware"):
        verify(wire, now=wire.signed_at.replace(tzinfo=None))


# --- the real boto3 client -------------------------------------------------------------------------


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def _events_client(secret: str, captured: list[AWSPreparedRequest]) -> Any:
    """A boto3 EventBridge client whose HTTP exchange is answered in-process by verify_request."""
    client = boto3.client(
        "events",
        endpoint_url=ENDPOINT,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        region_name="eu-central-1",
    )

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        captured.append(request)
        wire = to_wire(request)
        try:
            verify(wire, now=datetime.now(UTC))
        except SigV4Error as error:
            payload = orjson.dumps({"__type": error.code, "message": error.message})
            headers = {"Content-Type": AMZ_JSON, "x-amzn-ErrorType": error.code}
            return AWSResponse(request.url, error.status, headers, _Body(payload))
        payload = orjson.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": "evt-1"}]})
        return AWSResponse(request.url, 200, {"Content-Type": AMZ_JSON}, _Body(payload))

    client.meta.events.register("before-send.events.PutEvents", answer)
    return client


def test_boto3_put_events_requests_pass_verification() -> None:
    captured: list[AWSPreparedRequest] = []
    client = _events_client(SECRET, captured)

    response = client.put_events(
        Entries=[{"Source": "app.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 7, "note": "é €"}'}]
    )

    assert response["Entries"] == [{"EventId": "evt-1"}]
    assert len(captured) == 1
    identity = verify(to_wire(captured[0]), now=datetime.now(UTC))
    assert (identity.access_key_id, identity.region, identity.service) == (KEY_ID, "eu-central-1", "events")


def test_boto3_surfaces_a_refusal_as_the_aws_error_code() -> None:
    captured: list[AWSPreparedRequest] = []
    client = _events_client("a-wrong-secret", captured)

    with pytest.raises(ClientError) as caught:
        client.put_events(Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}])

    assert caught.value.response["Error"]["Code"] == INVALID_SIGNATURE
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(captured) == 1  # a client error is not retried


# --- the error type --------------------------------------------------------------------------------


def test_an_error_reads_as_code_and_message() -> None:
    error = SigV4Error(INVALID_SIGNATURE, "nope")

    assert str(error) == "InvalidSignatureException: nope"
    assert (error.code, error.message, error.status) == (INVALID_SIGNATURE, "nope", 400)


def test_an_error_survives_pickling() -> None:
    error = SigV4Error(UNRECOGNIZED_CLIENT, "who?", 403)

    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.code, copy.message, copy.status, str(copy)) == (
        SigV4Error,
        UNRECOGNIZED_CLIENT,
        "who?",
        403,
        str(error),
    )


def test_an_error_can_propagate_through_a_generator_context_manager_and_take_notes() -> None:
    @contextlib.contextmanager
    def passthrough() -> Iterator[None]:
        yield

    error = SigV4Error(INVALID_SIGNATURE, "nope")
    with pytest.raises(SigV4Error) as caught, passthrough():
        raise error
    caught.value.add_note("while verifying")

    assert caught.value is error
    assert error.__notes__ == ["while verifying"]
