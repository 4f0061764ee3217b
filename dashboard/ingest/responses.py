"""The answer every event-ingest endpoint gives (docs/api.md)."""

from __future__ import annotations

from typing import Any

from dashboard.ingest.store import EntryResult


def summary(results: list[EntryResult]) -> dict[str, Any]:
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result.status] += 1
    return {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": [result.as_json() for result in results],
    }
