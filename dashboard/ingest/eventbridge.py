"""``POST /aws``: the EventBridge-compatible endpoint (AWS JSON 1.1, SigV4), for boto3 and the AWS CLI.

Supported targets: ``AWSEvents.PutEvents`` (scope ``ingest``) and ``AWSEvents.TestEventPattern``
(any scope). Errors are answered in AWS's JSON error form, ``{"__type": ..., "message": ...}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError
from dashboard.core.sigv4 import SigV4Error, verify_request
from dashboard.core.tokens import Principal, principal_for_key, secret_for
from dashboard.events.envelope import EntryError, NormalizedEvent, from_putevents
from dashboard.ingest.body import read_body
from dashboard.ingest.store import store_events
from dashboard.patterns.engine import PatternError, compile_pattern, json_too_deep

AMZ_JSON = "application/x-amz-json-1.1"
MAX_ENTRIES = 10
# The envelope fields EventBridge requires of the event given to TestEventPattern.
_TEST_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


class AwsError(Exception):
    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type, self.message, self.status = error_type, message, status


def _aws_response(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type=AMZ_JSON)


def _aws_error(err: AwsError) -> HttpResponse:
    response = _aws_response({"__type": err.error_type, "message": err.message}, err.status)
    response["x-amzn-ErrorType"] = err.error_type
    return response


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise AwsError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return document


def put_events(document: dict[str, Any], region: str, principal: Principal) -> dict[str, Any]:
    if "ingest" not in principal.scopes:
        raise AwsError("AccessDeniedException", "This token lacks the 'ingest' scope.", 403)
    entries = document.get("Entries")
    if not isinstance(entries, list) or not entries:
        raise AwsError("ValidationException", "1 validation error detected: Entries must hold 1 to 10 entries.")
    if len(entries) > MAX_ENTRIES:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_ENTRIES} (got {len(entries)}).",
        )
    now = timezone.now()
    normalised: list[NormalizedEvent | EntryError] = []
    for entry in entries:
        try:
            normalised.append(from_putevents(entry, now, settings.EVENTSCOPE_ACCOUNT, region))
        except EntryError as err:
            normalised.append(err)
    answers: list[dict[str, str]] = []
    failed = 0
    for result in store_events(normalised, now):
        if result.status == "rejected":
            failed += 1
            answers.append({"ErrorCode": result.code or "InvalidArgument", "ErrorMessage": result.error})
        else:
            # A resent (source, id) cannot happen here (ids are assigned), so every entry is new.
            answers.append({"EventId": result.id})
    return {"FailedEntryCount": failed, "Entries": answers}


def test_event_pattern(document: dict[str, Any]) -> dict[str, Any]:
    pattern_text, event_text = document.get("EventPattern"), document.get("Event")
    if not isinstance(pattern_text, str) or not isinstance(event_text, str):
        raise AwsError("ValidationException", "EventPattern and Event are required strings.")
    try:
        matcher = compile_pattern(pattern_text)
    except PatternError as err:
        raise AwsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {err}") from None
    try:
        event = orjson.loads(event_text)
    except orjson.JSONDecodeError as err:
        if json_too_deep(err):  # an event the parser reads (1,024 levels) is matched; deeper is refused
            reason = "it nests objects and arrays more than 1,024 levels deep."
            raise AwsError("InvalidArgument", f"Parameter Event is not valid: {reason}") from None
        raise AwsError("InvalidArgument", "Parameter Event is not valid: it is not valid JSON.") from None
    if not isinstance(event, dict) or any(name not in event for name in _TEST_EVENT_FIELDS):
        raise AwsError(
            "InvalidArgument",
            f"Parameter Event is not valid: it must be an object with the fields {', '.join(_TEST_EVENT_FIELDS)}.",
        )
    return {"Result": matcher.matches(event)}


@ingest_endpoint("aws")
@csrf_exempt
def aws_endpoint(request: HttpRequest) -> HttpResponse:
    try:
        if request.method != "POST":
            raise AwsError("UnknownOperationException", "Only POST is supported.", 405)
        try:
            body = read_body(request)
        except ApiError as err:
            error_type = "RequestEntityTooLarge" if err.status == 413 else "ValidationException"
            raise AwsError(error_type, err.message, err.status) from None
        try:
            identity = verify_request(
                method=request.method,
                path=request.path,
                query_string=request.META.get("QUERY_STRING", ""),
                headers=request.headers,
                body=body,
                secret_for=secret_for,
            )
        except SigV4Error as err:
            raise AwsError(err.code, err.message, err.status) from None
        principal = principal_for_key(identity.access_key_id)
        if principal is None:  # revoked between the signature check and now
            raise AwsError("UnrecognizedClientException", "The security token included in the request is invalid.")
        target = request.headers.get("X-Amz-Target", "")
        if target == "AWSEvents.PutEvents":
            return _aws_response(put_events(_document(body), identity.region, principal))
        if target == "AWSEvents.TestEventPattern":
            return _aws_response(test_event_pattern(_document(body)))
        raise AwsError("UnknownOperationException", f"Unknown or unsupported operation {target!r}.")
    except AwsError as err:
        return _aws_error(err)
