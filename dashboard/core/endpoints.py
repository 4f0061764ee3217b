"""What a view says about itself to the middleware.

An ingest endpoint (OTLP, native JSON, CloudEvents, PutEvents) reads its request body itself, bounded
by ``EVENTSCOPE_MAX_BODY_BYTES`` before and after decompression, and refuses an oversize body in its
protocol's own form (AWS JSON, OTLP status, ...). The middleware that refuses oversize bodies for
every other view (``dashboard.core.middleware.ApiErrorsMiddleware``) leaves those POSTs to the view:
it asks the view, through this mark, rather than keeping a list of ingest paths of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

View = TypeVar("View", bound=Callable[..., Any])

_MARK = "eventscope_ingest_endpoint"


def ingest_endpoint(view: View) -> View:
    """Mark ``view`` as an ingest endpoint: on POST it bounds and answers its own body (see the
    module docstring). Put it outermost, above the view's other decorators."""
    setattr(view, _MARK, True)
    return view


def is_ingest_endpoint(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, _MARK, False))
