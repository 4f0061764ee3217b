"""Events the purge keeps whatever their age: those a pending or running replay still needs.

A replay of a time range walks the archive by ``(time, stored id)`` cursor and plans deliveries as it
goes; a replay of a selection planned all of its deliveries when it was created. So an active replay
needs (1) every event one of its delivery rows points at (its planned work; the rows are also what
its counters are recomputed from, so they must not lose rows while it runs), and (2) while its walk
is not done, every event of its range at or after its cursor (not planned yet). Finished replays
need nothing: their deliveries go with their events (see ``dashboard.retention.purge``).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from dashboard.replay.models import Delivery, Replay


def needed_by_active_replays() -> Q | None:
    """A filter on ``Event`` matching the events a pending or running replay still needs; None
    when no replay is active. Read afresh for every batch, so a replay started during a purge is
    protected from the next batch on."""
    active = list(
        Replay.objects.filter(state__in=Replay.ACTIVE).values_list("id", "since", "until", "cursor_time", "walk_done")
    )
    if not active:
        return None
    needed = Q(Exists(Delivery.objects.filter(event_id=OuterRef("pk"), replay_id__in=[row[0] for row in active])))
    for _, since, until, cursor_time, walk_done in active:
        if not walk_done:
            # The walk resumes at its cursor's time (ties at that time included), on the time index.
            start = max(since, cursor_time) if cursor_time else since
            needed |= Q(time__gte=start, time__lt=until)
    return needed
