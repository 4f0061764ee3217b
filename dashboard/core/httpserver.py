"""What the HTTP server itself answers to a request it refuses before the application sees it.

daphne parses HTTP with Twisted's ``HTTPChannel``, which holds a request line and each header line to
16 KiB (``MAX_LENGTH``) and the request line and headers together to 16 KiB (``totalHeadersSize``).
Past those limits, or on a request that is not valid HTTP, Twisted either drops the connection
without a word (a line too long) or writes a bare ``400`` without a body. Clients then see a reset
connection and retry, or an error they cannot explain.

``answer_refusals_as_json()`` keeps the limits and makes those answers the API's own error shape:

- a request line (the URL) over the limit: ``414``, code ``uri_too_long``;
- a header line, or the request line and headers together, over the limit, or more headers than
  ``maxHeaders``: ``431``, code ``request_header_fields_too_large``;
- anything else Twisted refuses (a malformed request line, header or body framing): ``400``.

The answer closes the connection. It is written before the client has finished sending, so the
server stops sending (half-close) and reads and drops what still arrives for up to
``LINGER_SECONDS``: closing with unread data would reset the connection, and the client could lose
the answer with it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson

from dashboard.core.http import STATUS_CODES

logger = logging.getLogger(__name__)

# How long a refused connection may keep sending (dropped) before it is closed anyway.
LINGER_SECONDS = 5

_installed = False


def answer_refusals_as_json() -> None:
    """Make daphne's HTTP parser (Twisted's ``HTTPChannel``) answer the requests it refuses with a
    JSON error and a fitting status (see the module's docstring). Once per process; call it where
    the ASGI application is built."""
    global _installed
    if _installed:
        return
    from twisted.web.http import HTTPChannel

    # lineLengthExceeded is LineReceiver's documented hook for a line over MAX_LENGTH; the bare 400
    # comes from a private method, replaced only while this Twisted version has it.
    setattr(HTTPChannel, "lineLengthExceeded", _line_too_long)  # noqa: B010
    if hasattr(HTTPChannel, "_respondToBadRequestAndDisconnect"):
        setattr(HTTPChannel, "_respondToBadRequestAndDisconnect", _bad_request)  # noqa: B010
    _installed = True


def _line_too_long(channel: Any, line: bytes) -> None:
    # The request object is created when the request line has been read: none yet means the line
    # that is too long is the request line.
    if not channel.requests:
        _refuse(channel, 414, f"The request line (method, URL and version) is longer than {channel.MAX_LENGTH} bytes.")
    else:
        _refuse(channel, 431, f"A request header line is longer than {channel.MAX_LENGTH} bytes.")


def _bad_request(channel: Any) -> None:
    if getattr(channel, "_receivedHeaderSize", 0) > channel.totalHeadersSize:
        _refuse(channel, 431, f"The request line and headers are longer than {channel.totalHeadersSize} bytes.")
    elif getattr(channel, "_receivedHeaderCount", 0) > channel.maxHeaders:
        _refuse(channel, 431, f"The request has more than {channel.maxHeaders} headers.")
    else:
        _refuse(channel, 400, "The request is not valid HTTP (request line, headers or body framing).")


def _refuse(channel: Any, status: int, message: str) -> None:
    phrase = HTTPStatus(status).phrase
    body = orjson.dumps({"error": {"code": STATUS_CODES[status], "message": message}})
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    transport = channel.transport
    logger.info("refused a request from %s: %d %s", _peer(transport), status, message)
    # Nothing more of this connection is parsed: what still arrives is dropped.
    channel.dataReceived = channel.lineReceived = channel.rawDataReceived = _drop
    transport.write(head.encode("ascii") + body)
    transport.unregisterProducer()  # the channel is no longer reading requests to pace
    half_close = getattr(transport, "loseWriteConnection", None)
    if half_close is None:
        transport.loseConnection()
        return
    half_close()
    channel.setTimeout(LINGER_SECONDS)  # then HTTPChannel.timeoutConnection closes it


def _drop(*args: object) -> None:
    return None


def _peer(transport: Any) -> str:
    try:
        peer = transport.getPeer()
        return f"{peer.host}:{peer.port}"
    except Exception:  # a transport without an address (tests, unix sockets)
        return "?"
