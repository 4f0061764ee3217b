"""Changing a lifecycle that already has transaction records, without making them wrong.

A record remembers which steps it has seen as bits by position (``steps_mask``), and its deadline
and persisted status come from the lifecycle's timeout. So:

- ``steps`` may be extended at the end once records exist; reordering, renaming or removing steps
  would change what the existing bits mean, and is refused (define a new lifecycle instead). Added
  steps are missing from every existing record: a complete one becomes in progress, or incomplete
  when its deadline has passed.
- a new ``timeout_seconds`` moves every record's deadline (``first_seen`` + timeout) and its
  persisted status and ``overdue_at`` with it.
- ``name``, ``key`` and ``pattern`` apply to events ingested from then on; records stay as they are.

All of it happens in one transaction with the lifecycle's row locked, so two changes do not
interleave. Ingest in other processes picks the new definition up within
``EVENTSCOPE_LIFECYCLE_CACHE_SECONDS``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from dashboard.lifecycles.definitions import LifecycleError, LifecycleNameTaken, check_lifecycle
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction

FIELDS = ("name", "key", "steps", "timeout_seconds", "pattern")


def check_steps_change(lifecycle: Lifecycle, steps: list[str]) -> None:
    """Refuse ``steps`` for ``lifecycle`` unless its records stay right (LifecycleError).

    Folds what is pending first: events stored under the definition so far count as records, and
    (called by ``save_change``, in its transaction) are merged under that definition.
    """
    old = list(lifecycle.steps)
    fold_pending()
    if steps[: len(old)] == old or not Transaction.objects.filter(lifecycle=lifecycle).exists():
        return
    raise LifecycleError(
        f"Lifecycle {lifecycle.name!r} has transactions, so its steps can only be extended at the end "
        f"(keep {', '.join(old)} first, in that order); to reorder, rename or remove steps, define a new lifecycle."
    )


def update_lifecycle(lifecycle: Lifecycle, changes: Any) -> Lifecycle:
    """Apply ``changes`` (some of the definition's fields; the others stay) and bring the records
    in line; the lifecycle as saved. LifecycleError when the result is invalid or not allowed."""
    if not isinstance(changes, dict):
        raise LifecycleError("A lifecycle change must be a JSON object.")
    current = {name: getattr(lifecycle, name) for name in FIELDS}
    fields = check_lifecycle({**current, **changes})
    try:
        with transaction.atomic():
            locked = Lifecycle.objects.select_for_update().get(pk=lifecycle.pk)
            save_change(locked, fields)
    except IntegrityError:  # the new name was taken meanwhile
        raise LifecycleNameTaken(f"A lifecycle named {fields['name']!r} already exists.") from None
    return locked


def save_change(lifecycle: Lifecycle, fields: dict[str, Any]) -> None:
    """Save ``fields`` (checked by ``check_lifecycle``) on ``lifecycle`` and reconcile its records.
    Precondition: inside a transaction (the admin's save and ``update_lifecycle`` hold one)."""
    if Lifecycle.objects.filter(name=fields["name"]).exclude(pk=lifecycle.pk).exists():
        raise LifecycleNameTaken(f"A lifecycle named {fields['name']!r} already exists.")
    check_steps_change(lifecycle, fields["steps"])
    old_steps, old_timeout = len(lifecycle.steps), lifecycle.timeout_seconds
    for name, value in fields.items():
        setattr(lifecycle, name, value)
    lifecycle.save()
    reconcile_records(lifecycle, added_steps=len(lifecycle.steps) - old_steps, old_steps=old_steps,
                      timeout_changed=lifecycle.timeout_seconds != old_timeout)  # fmt: skip


def reconcile_records(lifecycle: Lifecycle, *, added_steps: int, old_steps: int, timeout_changed: bool) -> int:
    """Bring ``lifecycle``'s records in line with steps added at the end and a new timeout; how
    many records the change touched."""
    records = Transaction.objects.filter(lifecycle=lifecycle)
    changes: dict[str, Any] = {}
    if added_steps > 0:
        changes["missing_count"] = F("missing_count") + added_steps
        changes["first_missing"] = Coalesce(F("first_missing"), Value(old_steps))
    if timeout_changed:
        changes["deadline"] = F("first_seen") + timedelta(seconds=lifecycle.timeout_seconds)
    if not changes:
        return 0
    now = timezone.now()
    touched = records.update(**changes, updated_at=now)
    # The persisted status, as the deadline sweep would set it now (readers compute it anyway).
    missing = records.filter(missing_count__gt=0)
    records.filter(missing_count=0).update(status=Transaction.COMPLETE)
    missing.filter(deadline__lt=now).update(status=Transaction.INCOMPLETE, overdue_at=F("deadline"))
    missing.filter(deadline__gte=now).update(status=Transaction.IN_PROGRESS, overdue_at=None)
    return touched
