"""What a view says about itself to the middleware.

An ingest endpoint (OTLP, native JSON, CloudEvents, PutEvents) reads its request body itself, bounded
by ``EVENTSCOPE_MAX_BODY_BYTES`` before and after decompression, and refuses an oversize body in its
protocol's own form (AWS JSON, OTLP status, ...). The middleware that refuses oversize bodies for
every other view (``dashboard.core.middleware.ApiErrorsMiddleware``) leaves those POSTs to the view:
it asks the view, through this mark, rather than keeping a list of ingest paths of its own.

The mark also names the endpoint for the metrics: its POSTs are timed and their items counted under
that name (``dashboard.core.metrics``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from dashboard.core.metrics import measure_ingest

View = TypeVar("View", bound=Callable[..., Any])

_MARK = "eventscope_ingest_endpoint"


def ingest_endpoint(name: str) -> Callable[[View], View]:
    """Mark a view as the ingest endpoint ``name`` (``events``, ``otlp_traces``…): on POST it
    bounds and answers its own body (see the module docstring), and it is measured under ``name``.
    Put it outermost, above the view's other decorators."""

    def mark(view: View) -> View:
        measured = functools.wraps(view)(measure_ingest(name, view))
        setattr(measured, _MARK, True)
        return cast(View, measured)

    return mark


def is_ingest_endpoint(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, _MARK, False))
