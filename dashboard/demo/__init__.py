"""``python manage.py demo`` / ``make demo``: a simulated event-driven shop that feeds a dashboard.

Four services — orders, billing, inventory, shipping — are instrumented with the real OpenTelemetry
SDK (OTLP/HTTP exporter to the dashboard) and publish their events through the real ingest
endpoints: native JSON, CloudEvents (the CloudEvents SDK's HTTP binding) and EventBridge
``PutEvents`` (boto3). See ``docs/demo.md``.
"""
