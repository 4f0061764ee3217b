"""Media types of ``Content-Type`` values, for the ingest endpoints (and anything else that reads one).

Pure, no Django: the CloudEvents and OTLP decoders take header values as plain text. Django's own
``parse_header_parameters`` gives the same media type, but it parses every parameter (with the email
package, which may raise on an RFC 2231 one) where ingest only needs the type.
"""

from __future__ import annotations


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value: lowercased, without parameters or the space
    around it; "" when the value is absent or empty. ``"Application/JSON; charset=utf-8"`` gives
    ``"application/json"``."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    """Whether ``media`` (a media type as :func:`media_type` gives it) is JSON: ``*/json`` or a
    structured ``*/*+json`` type (``application/cloudevents+json``)."""
    _, _, subtype = media.partition("/")
    return subtype == "json" or subtype.endswith("+json")
