"""Server-side verification of AWS Signature Version 4 (``AWS4-HMAC-SHA256``) requests.

The EventBridge-compatible endpoint (``POST /aws``, AWS JSON 1.1) accepts requests
produced by unmodified AWS SDKs, e.g. ``boto3.client("events", endpoint_url=...)``.
Those requests are signed with SigV4 in the ``Authorization`` header; this module
recomputes the signature from the request as received and either returns the
verified identity or raises :class:`SigV4Error` carrying the error type, message and
HTTP status that EventBridge itself would answer with, so SDKs surface familiar
errors (``botocore.exceptions.ClientError`` with the same code).

The module is framework-free: the caller passes the raw pieces of the request.

Scope and deliberate choices:

* Only header-based authentication is supported. Presigned (query-string) requests
  are refused with ``IncompleteSignatureException``.
* The request body must be signed. ``x-amz-content-sha256`` may be sent, but it must
  equal the SHA-256 of the body actually received; ``UNSIGNED-PAYLOAD`` and the
  streaming variants are refused, otherwise the body would not be authenticated.
* Any non-empty region is accepted (clients may be configured with any region);
  the service in the credential scope must be ``events``.
* ``X-Amz-Security-Token`` is not interpreted: there is no token service behind this
  endpoint, keys are long-lived. If a client signs it, it is covered by the
  signature like any other header.
* The ``Host`` header is used exactly as received. A reverse proxy that rewrites
  ``Host`` breaks signatures; configure it to preserve the client's ``Host``.

Every error EventBridge (an AWS JSON protocol service) reports for authentication
problems uses HTTP 400, including ``InvalidSignatureException`` for bad or expired
signatures; the messages below follow the ones those services return.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from dashboard.core.errors import Problem

__all__ = [
    "ALGORITHM",
    "INCOMPLETE_SIGNATURE",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION",
    "SERVICE",
    "UNRECOGNIZED_CLIENT",
    "SigV4Error",
    "SigV4Identity",
    "verify_request",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
#: Signing name of EventBridge; it is what SDKs put in the credential scope.
SERVICE: Final = "events"
_TERMINATOR: Final = "aws4_request"
_AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_REGION_RE: Final = re.compile(r"[a-z0-9-]{1,64}")

MISSING_AUTHENTICATION: Final = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE: Final = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT: Final = "UnrecognizedClientException"
INVALID_SIGNATURE: Final = "InvalidSignatureException"

_STATUS: Final = 400

_SIGNATURE_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class SigV4Error(Problem):
    """A request failed SigV4 authentication.

    ``code`` is the AWS error type to put in the JSON error body (``__type``) and the
    ``x-amzn-ErrorType`` header, ``message`` the human-readable text (``message``
    member), ``status`` the HTTP status code to answer with.
    """

    def __init__(self, code: str, message: str, status: int = _STATUS) -> None:
        super().__init__(message, code=code)
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class SigV4Identity:
    """The verified origin of a request.

    ``signed_at`` is the (timezone-aware, UTC) request timestamp covered by the
    signature, taken from ``X-Amz-Date`` or, failing that, ``Date``.
    """

    access_key_id: str
    region: str
    service: str
    signed_at: datetime


def verify_request(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
) -> SigV4Identity:
    """Verify the SigV4 ``Authorization`` header of a request and return who signed it.

    :param method: HTTP method as received (case-insensitive).
    :param path: the request path as it appeared on the wire, still percent-encoded and
        without the query string (for Django: the raw path, e.g. ASGI ``raw_path``;
        ``request.path`` is equivalent for paths without escapes, such as ``/aws``).
    :param query_string: the raw query string without ``?`` (``""`` when absent).
    :param headers: request headers; names are matched case-insensitively, so a plain
        ``dict`` or Django's ``request.headers`` both work. Repeated headers are
        expected joined with ``","`` as WSGI/ASGI servers do.
    :param body: the exact request body bytes.
    :param secret_for: returns the secret access key for an access key id, or ``None``
        when the key id is unknown (or disabled).
    :param now: the current time (timezone-aware); defaults to the system clock.
    :param max_skew: how far the signed timestamp may lie in the past or the future.
    :returns: the verified identity.
    :raises SigV4Error: when the request is not authenticated; checks run in the order
        AWS applies them (token presence, completeness, date, scope, key, signature).
    :raises ValueError: if ``now`` is naive.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")

    lowered = _lowercase_headers(headers)
    authorization = lowered.get("authorization", "").strip()
    query_pairs = _split_query(query_string)
    presigned = any(unquote_to_bytes(name) == b"X-Amz-Algorithm" for name, _ in query_pairs)

    if presigned and authorization:
        raise SigV4Error(
            INVALID_SIGNATURE,
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        )
    if presigned:
        raise SigV4Error(
            INCOMPLETE_SIGNATURE,
            "Query-string (presigned) authentication is not supported by this endpoint; "
            "sign the request with the Authorization header.",
        )
    # Anything that is not an AWS4 scheme (no header, Bearer, SigV2 "AWS ...") is
    # treated by AWS as carrying no AWS credentials at all.
    if not authorization.startswith("AWS4-"):
        raise SigV4Error(MISSING_AUTHENTICATION, "Request is missing Authentication Token")

    algorithm, params = _parse_authorization(authorization)

    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name) and not (name == "SignedHeaders" and name in params)
    ]
    amz_date = lowered.get("x-amz-date")
    http_date = lowered.get("date")
    if not amz_date and not http_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise SigV4Error(INCOMPLETE_SIGNATURE, " ".join([*missing, f"Authorization={authorization}"]))

    signed_at = _request_time(amz_date, http_date)
    timestamp = signed_at.strftime(_AMZ_DATE_FORMAT)
    _check_clock_skew(signed_at, now, max_skew)

    signed_header_names = [name.strip().lower() for name in params["SignedHeaders"].split(";")]
    if "host" not in signed_header_names:
        raise SigV4Error(INVALID_SIGNATURE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    if algorithm != ALGORITHM:
        raise SigV4Error(
            INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now)."
        )

    credential = params["Credential"]
    scope = credential.split("/")
    # AWS ignores trailing slashes after the terminator.
    while scope and scope[-1] == "":
        scope.pop()
    if len(scope) != 5:
        raise SigV4Error(
            INCOMPLETE_SIGNATURE,
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'",
        )
    access_key_id, scope_date, region, service, terminator = scope

    scope_problems = []
    if not _REGION_RE.fullmatch(region):  # it is stored with each event (at most 64 characters)
        scope_problems.append(f"Credential should be scoped to a valid region, not '{region}'.")
    if service != SERVICE:
        scope_problems.append(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if terminator != _TERMINATOR:
        scope_problems.append(
            f"Credential should be scoped with a valid terminator: '{_TERMINATOR}', not '{terminator}'."
        )
    if scope_date != timestamp[:8]:
        scope_problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    if scope_problems:
        raise SigV4Error(INVALID_SIGNATURE, " ".join(scope_problems))

    secret = secret_for(access_key_id)
    if secret is None:
        raise SigV4Error(UNRECOGNIZED_CLIENT, "The security token included in the request is invalid.")

    payload_hash = hashlib.sha256(body).hexdigest()
    declared_hash = lowered.get("x-amz-content-sha256")
    if declared_hash is not None:
        # The declared value is what the client signed; it must describe the body we
        # actually got, or a valid signature would vouch for a different body.
        if declared_hash.lower() != payload_hash:
            raise SigV4Error(
                INVALID_SIGNATURE,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        payload_hash = declared_hash

    canonical_headers = "".join(
        f"{name}:{_canonical_header_value(lowered.get(name, ''))}\n" for name in signed_header_names
    )
    credential_scope = f"{scope_date}/{region}/{service}/{terminator}"
    signing_key = _signing_key(secret, scope_date, region, service)
    provided = params["Signature"].encode("utf-8", "replace")

    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            _canonical_query(query_pairs),
            canonical_headers,
            ";".join(signed_header_names),
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            timestamp,
            credential_scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    expected = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    # Constant-time comparison so response timing does not reveal how many leading
    # characters of a forged signature were right.
    if not hmac.compare_digest(expected.encode("ascii"), provided):
        # Like AWS, show what was expected so a client author can diff it against
        # their own; none of it is secret.
        raise SigV4Error(
            INVALID_SIGNATURE,
            f"{_SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n"
            f"'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
        )

    return SigV4Identity(access_key_id=access_key_id, region=region, service=service, signed_at=signed_at)


def _lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Index headers by lowercase name; same-named entries are joined with ``","``."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    return lowered


def _parse_authorization(authorization: str) -> tuple[str, dict[str, str]]:
    """Split ``ALGORITHM k=v, k=v, ...`` into the algorithm and its parameters.

    Parameters may be separated by commas and/or whitespace, as AWS accepts.
    """
    algorithm, _, rest = authorization.partition(" ")
    params: dict[str, str] = {}
    for token in re.split(r"[,\s]+", rest):
        if not token:
            continue
        name, equals, value = token.partition("=")
        if not equals:
            raise SigV4Error(
                INCOMPLETE_SIGNATURE,
                f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{authorization}'.",
            )
        params[name] = value
    return algorithm, params


def _request_time(amz_date: str | None, http_date: str | None) -> datetime:
    """The signed request time: ``X-Amz-Date`` (ISO 8601 basic) wins over ``Date`` (RFC 7231)."""
    if amz_date:
        value = amz_date.strip()
        if _AMZ_DATE_RE.fullmatch(value):
            try:
                return datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                pass  # e.g. month 13: same answer as a malformed value
    else:
        value = (http_date or "").strip()
        try:
            parsed = parsedate_to_datetime(value)
            # "-0000" yields a naive datetime; HTTP dates are GMT by definition.
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (TypeError, ValueError, OverflowError):  # overflow: e.g. 31 Dec 9999 23:59:59 -0100
            pass
    raise SigV4Error(
        INCOMPLETE_SIGNATURE,
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601",
    )


def _check_clock_skew(signed_at: datetime, now: datetime, max_skew: timedelta) -> None:
    """Reject requests signed too long ago (replay window) or too far in the future."""
    current = now.astimezone(UTC)
    minutes = f"{max_skew.total_seconds() / 60:g}"
    if signed_at < current - max_skew:
        raise SigV4Error(
            INVALID_SIGNATURE,
            f"Signature expired: {_fmt(signed_at)} is now earlier than {_fmt(current - max_skew)} "
            f"({_fmt(current)} - {minutes} min.)",
        )
    if signed_at > current + max_skew:
        raise SigV4Error(
            INVALID_SIGNATURE,
            f"Signature not yet current: {_fmt(signed_at)} is still later than {_fmt(current + max_skew)} "
            f"({_fmt(current)} + {minutes} min.)",
        )


def _fmt(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE_FORMAT)


def _canonical_uri(path: str) -> str:
    """Canonical URI for services other than S3.

    The path is normalized as RFC 3986 section 5.2.4 describes (``.`` and ``..``
    segments removed) and, as AWS additionally requires, empty segments are
    collapsed; then the wire form is URI-encoded once more, keeping ``/``. Because
    the wire form is already percent-encoded, this is the "encode each segment
    twice" rule of the SigV4 specification (``%20`` becomes ``%2520``).
    """
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = "/" if segments and path.endswith("/") else ""
    normalized = "/" + "/".join(segments) + trailing
    return quote(normalized, safe="/")


def _split_query(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query string into its (still percent-encoded) ``name=value`` pairs."""
    pairs = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((name, value))
    return pairs


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    """Canonical query string: names and values decoded, AWS-URI-encoded again, sorted by name then value.

    Decoding first makes the result independent of how the client spelled characters
    on the wire (``%2f`` or ``/``). A literal ``+`` is decoded as a space, the way
    Django (and form encoding generally) reads it: two spellings then share a
    canonical form only when the application sees the same value, so a signed
    ``a%2Bb`` ("a+b") cannot be replayed as ``a+b`` ("a b").
    """
    encoded = sorted((_canonical_component(name), _canonical_component(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def _canonical_component(component: str) -> str:
    return quote(unquote_to_bytes(component.replace("+", " ")), safe="")


def _canonical_header_value(value: str) -> str:
    """Trim the value and collapse runs of whitespace to one space, as SigV4 requires."""
    return " ".join(value.split())


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, scope_date: str, region: str, service: str) -> bytes:
    """Derive the key scoped to one day, region and service from the secret access key."""
    key = _hmac_sha256(f"AWS4{secret}".encode(), scope_date)
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, service)
    return _hmac_sha256(key, _TERMINATOR)
