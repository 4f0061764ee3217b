from django.apps import AppConfig


class TracingConfig(AppConfig):
    """Spans and logs: OTLP decoding, storage, trace assembly."""

    name = "tracing"
    verbose_name = "Tracing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tracing.live import span_hooks
        from tracing.store import SPANS

        SPANS.register(span_hooks)
