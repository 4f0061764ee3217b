"""Admin pages for consumers, replays and deliveries (registered by ``dashboard.lifecycles.admin``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from dashboard.core.broker import BrokerUnavailable
from dashboard.core.url_credentials import MaskedPasswordError, masked, unmask
from dashboard.replay.actions import (
    Invalid,
    check_consumer_target,
    check_pattern,
    check_rate,
    check_url_field,
    do_redrive,
)
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay


class ConsumerForm(forms.ModelForm):  # type: ignore[type-arg]
    """The same checks as ``POST /api/consumers`` (the URL guard, the broker options in ``target``,
    the pattern, the rate)."""

    class Meta:
        model = Consumer
        fields = ("name", "url", "target", "pattern", "secret", "rate_per_second", "paused")
        widgets = {"secret": forms.PasswordInput(render_value=True)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The form shows a broker URL's password masked, like the API; sent back masked, it is kept.
        if self.instance.pk and not self.is_bound:
            self.initial["url"] = masked(self.instance.url)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            if "url" in data:
                if self.instance.pk:
                    try:
                        data["url"] = unmask(data["url"], self.instance.url)
                    except MaskedPasswordError as err:
                        raise Invalid(str(err), where="url") from None
                check_url_field(data["url"])
                target = data.get("target") or {}
                if not isinstance(target, dict):
                    raise Invalid("'target' must be a JSON object of broker options.")
                data["target"] = check_consumer_target(data["url"], target)
            check_pattern(data.get("pattern"))
            check_rate(data.get("rate_per_second"))
        except Invalid as err:
            raise forms.ValidationError(str(err)) from None
        return data


@admin.register(Consumer)
class ConsumerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ConsumerForm
    list_display = ("name", "shown_url", "rate_per_second", "paused", "created_at")
    search_fields = ("name",)  # not the URL: a search would probe a broker password letter by letter

    @admin.display(description="URL", ordering="url")
    def shown_url(self, consumer: Consumer) -> str:
        return masked(consumer.url)  # a broker URL's password is not listed


@admin.register(Replay)
class ReplayAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "state", "matched", "delivered", "failed", "skipped", "created_at", "finished_at")
    list_filter = ("state",)
    search_fields = ("name",)
    readonly_fields = [f.name for f in Replay._meta.fields]
    actions = ["redrive_dead_letters"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # replays start from the API or the /replays/ page, which plan and enqueue them

    @admin.action(description="Re-drive the dead letters of the selected replays")
    def redrive_dead_letters(self, request: HttpRequest, queryset: QuerySet[Replay]) -> None:
        count = 0
        try:
            for replay in queryset:
                count += do_redrive(replay)
        except BrokerUnavailable:  # a finished replay needs a run, which cannot be queued now
            message = f"The task queue is unavailable: {count} dead letters re-driven, the rest not; retry shortly."
            self.message_user(request, message, messages.ERROR)
            return
        self.message_user(request, f"{count} dead letters re-driven.", messages.SUCCESS)


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("number", "at", "status", "latency_ms", "error", "response", "outcome")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "replay", "consumer", "event", "state", "attempts", "last_status", "updated_at")
    list_filter = ("state", "consumer")
    list_select_related = ("replay", "consumer")
    raw_id_fields = ("replay", "event", "consumer")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
