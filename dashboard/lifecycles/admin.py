"""The Django admin (``/admin/``) for the models operators define or inspect by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from dashboard.lifecycles.changes import FIELDS, check_steps_change, save_change
from dashboard.lifecycles.definitions import LifecycleError, check_lifecycle
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction


class LifecycleForm(forms.ModelForm):  # type: ignore[type-arg]
    """The same validation as ``POST /api/lifecycles``."""

    class Meta:
        model = Lifecycle
        fields = ("name", "key", "steps", "timeout_seconds", "pattern")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            checked = check_lifecycle({name: data.get(name) for name in self.Meta.fields})
            if self.instance.pk is not None:  # a change: the instance still holds the saved values here
                check_steps_change(self.instance, checked["steps"])
        except LifecycleError as err:
            raise forms.ValidationError(str(err)) from None
        data.update(checked)
        return data


@admin.register(Lifecycle)
class LifecycleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = LifecycleForm
    list_display = ("name", "key", "timeout_seconds", "created_at")
    search_fields = ("name",)

    def save_model(self, request: Any, obj: Lifecycle, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # As PATCH /api/lifecycles/<name> does: the records follow a new timeout or added steps.
        saved = Lifecycle.objects.select_for_update().get(pk=obj.pk)
        save_change(saved, {name: getattr(obj, name) for name in FIELDS})


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("lifecycle", "key", "status", "missing_count", "out_of_order", "first_seen", "deadline")
    list_filter = ("lifecycle", "status", "out_of_order")
    search_fields = ("key",)
    list_select_related = ("lifecycle",)
    readonly_fields = [field.name for field in Transaction._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False  # records come from ingested events only

    def changelist_view(self, request: Any, extra_context: dict[str, Any] | None = None) -> Any:
        fold_pending()  # the list holds every ingested event, as the report does
        return super().changelist_view(request, extra_context)


# Consumers, replays and deliveries register themselves in their own module.
