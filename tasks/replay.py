"""Replay tasks: thin wrappers over ``dashboard.replay``; they take ids and fetch rows again."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from dashboard.core import embedded_worker
from dashboard.replay.actions import replays_to_resume
from dashboard.replay.engine import run_replay as run


# acks_late: a run is safe to start twice (the lease lets one through, claims are in the database),
# so a message is only acknowledged once the run is over and a lost worker's message comes back.
# recovered_by: a run whose message was lost (the embedded mode's in-memory queue at a restart) is
# started again by the recovery sweep, which finds its replay pending or running in the database.
@shared_task(name="tasks.replay.run_replay", acks_late=True, ignore_result=True, recovered_by="recover-replays")
def run_replay(replay_id: int) -> str:
    """Run replay ``replay_id`` to its end (or until it is cancelled); exits quietly when the replay
    is gone or another worker's run holds it."""
    return run(replay_id)


@shared_task(name="tasks.replay.recover_replays", ignore_result=True, time_limit=60, soft_time_limit=50)
def recover_replays() -> list[int]:
    """Enqueue a run for each replay left running by a stopped worker (lease expired) or left
    pending (its start message was lost: a restart, or the broker went away just after the replay
    was saved); beat runs it every few seconds. A replay that also has its first message queued
    runs once: the run's lease lets one through. Returns the replay ids enqueued."""
    # In the embedded mode a replay saved before this process's worker started has no message
    # left anywhere (the in-memory queue began empty): it starts at once, without the grace.
    ids = replays_to_resume(unqueued_before=embedded_worker.started_at())
    for replay_id in ids:
        run_replay.delay(replay_id)
    return ids


@worker_ready.connect
def _resume_on_worker_start(**kwargs: object) -> None:
    # A worker coming back resumes what a killed one left, even without beat: once the lease the
    # killed run held has had time to expire.
    recover_replays.apply_async(countdown=settings.EVENTSCOPE_REPLAY_LEASE_SECONDS + 1)
