"""One OpenTelemetry tracer provider per simulated service, exporting OTLP/HTTP to the dashboard."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer


class Telemetry:
    """Tracers for the shop's services; ``flush()`` pushes every finished span to the dashboard."""

    def __init__(self, url: str, token: str, services: list[str]) -> None:
        self.providers: dict[str, TracerProvider] = {}
        for service in services:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "deployment.environment": "demo"})
            )
            exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {token}"})
            provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=500, max_export_batch_size=256)
            )
            self.providers[service] = provider

    def tracer(self, service: str) -> Tracer:
        return self.providers[service].get_tracer("eventscope.demo", "1.0")

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush(timeout_millis=30_000)

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()
