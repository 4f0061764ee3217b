"""The transactions report: ``GET /api/transactions``, ``/api/transactions.csv`` and
``/api/transactions/funnel`` (all ``read``, same filters)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from dashboard.core.http import api_view, json_response
from dashboard.lifecycles.report import build_report, csv_rows, first_page, funnel
from dashboard.lifecycles.report import transaction_json as record_json


@api_view("read")
def list_transactions(request: HttpRequest) -> HttpResponse:
    report = build_report(request.GET.dict())
    rows, next_cursor = first_page(report)
    return json_response({
        "results": [record_json(tx, report.lifecycles[tx.lifecycle_id], report.now) for tx in rows],
        "next_cursor": next_cursor,
    })  # fmt: skip


class _Line:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


_CSV_CHUNK = 500


@api_view("read")
def export_csv(request: HttpRequest) -> HttpResponse:
    report = build_report(request.GET.dict())
    writer = csv.writer(_Line())

    rows = csv_rows(report)

    def next_chunk() -> str:
        return "".join(writer.writerow(row) for row in itertools.islice(rows, _CSV_CHUNK))

    async def chunks() -> AsyncIterator[str]:
        # The server is ASGI: a synchronous iterator would be read whole before the first byte went
        # out. Each chunk is read on the request's own thread (its database connection and cursor).
        while chunk := await sync_to_async(next_chunk, thread_sensitive=True)():
            yield chunk

    response = StreamingHttpResponse(chunks(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="transactions.csv"'
    return response  # type: ignore[return-value]  # a streaming response, which api_view passes through


@api_view("read")
def get_funnel(request: HttpRequest) -> HttpResponse:
    report = build_report(request.GET.dict())
    return json_response({"lifecycles": funnel(report)})
