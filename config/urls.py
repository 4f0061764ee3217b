from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import path, re_path

from dashboard import health, views
from dashboard.api import events, keys, patterns
from dashboard.ingest import cloudevents, eventbridge
from tracing import api as trace_api
from tracing import views as otlp

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Ingest
    path("v1/traces", otlp.export_traces, name="otlp-traces"),
    path("v1/logs", otlp.export_logs, name="otlp-logs"),
    path("api/cloudevents", cloudevents.ingest_cloudevents, name="ingest-cloudevents"),
    # boto3 posts to the endpoint URL's path exactly; both spellings are routed so nothing redirects.
    path("aws", eventbridge.aws_endpoint, name="aws"),
    path("aws/", eventbridge.aws_endpoint),
    # Query API
    path("api/events", events.list_events_or_ingest, name="api-events"),
    path("api/events/<str:event_id>", events.get_event, name="api-event"),
    path("api/traces/<str:trace_id>", trace_api.get_trace, name="api-trace"),
    path("api/keys/<path:key>", keys.get_key, name="api-key"),
    path("api/patterns/test", patterns.test_pattern, name="api-patterns-test"),
    # Pages
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", views.overview, name="overview"),
    # The few stylesheets and scripts of the pages are served by the app itself, so `make run` needs
    # nothing in front of it; a deployment may still put a CDN or proxy before /static/.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]
