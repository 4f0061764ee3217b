from django.apps import AppConfig


class TracingConfig(AppConfig):
    """Spans and logs: OTLP decoding, storage, trace assembly."""

    name = "tracing"
    verbose_name = "Tracing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background, metrics
        from tracing import summaries, summariser
        from tracing.live import span_hooks
        from tracing.store import SPANS

        SPANS.register(span_hooks)
        # SQLite: trace search's tables are kept after the commit, by a thread of the server's process.
        SPANS.register(summariser.summary_hooks)
        background.register("trace summariser", start=summariser.start, stop=summariser.stop)
        metrics.register_gauge(
            "eventscope_trace_summary_lag_spans",
            "Stored spans not yet added to trace search's tables (SQLite; a search adds them when it runs).",
            summaries.lag,
        )
