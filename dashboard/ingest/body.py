"""Reading an ingest request's body: size limits (before and after decompression) and encodings."""

from __future__ import annotations

import zlib

from django.conf import settings
from django.http import HttpRequest

from dashboard.core.http import ApiError


def _too_large(limit: int, what: str = "request body") -> ApiError:
    return ApiError(413, "payload_too_large", f"The {what} is larger than the limit of {limit} bytes.")


_GZIP = 16 + zlib.MAX_WBITS


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    # Decompress in bounded calls: a small compressed body that inflates past the limit (a "zip
    # bomb") is refused after at most limit+1 bytes of output, never expanded in memory. A gzip
    # body may be several members one after the other (gzip's own concatenation): all are read.
    out = b""
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as err:
            raise ApiError(400, "bad_encoding", f"The body is not valid for its Content-Encoding: {err}.") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise _too_large(limit, "decompressed request body")
        if not inflater.eof:
            raise ApiError(400, "bad_encoding", "The compressed body is truncated.")
        data = inflater.unused_data
        if not data:
            return out
        if wbits != _GZIP:  # silently dropping what follows could lose spans or events
            raise ApiError(400, "bad_encoding", "The body has data after its compressed stream.")


def read_body(request: HttpRequest) -> bytes:
    """The request body, decompressed per Content-Encoding (gzip, deflate, identity).

    Raises ApiError 413 past ``EVENTSCOPE_MAX_BODY_BYTES`` (compressed or not), 415 for an unknown
    encoding, 400 for a corrupt compressed body.
    """
    limit: int = settings.EVENTSCOPE_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise ApiError(400, "bad_request", "Content-Length is not a number.") from None
    if declared > limit:
        raise _too_large(limit)
    data = request.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("identity", ""):
        return data
    if encoding in ("gzip", "x-gzip"):
        return _inflate(data, _GZIP, limit)
    if encoding == "deflate":
        # HTTP "deflate" is the zlib format, but raw deflate is common in the wild: accept both.
        return _inflate(data, zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS, limit)
    raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported: use gzip or deflate.")
