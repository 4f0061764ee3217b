from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import path, re_path

from dashboard.api import events, find, keys, lifecycle_detail, openapi, patterns, trace_search
from dashboard.api import lifecycles as lifecycle_api
from dashboard.api import replays as replay_api
from dashboard.api import schemas as schema_api
from dashboard.api import servicemap as servicemap_api
from dashboard.api import taps as tap_api
from dashboard.api import traces as trace_api
from dashboard.api import transactions as transaction_api
from dashboard.core import health, metrics_endpoint
from dashboard.ingest import cloudevents, eventbridge
from dashboard.pages import events as event_pages
from dashboard.pages import find as find_page
from dashboard.pages import keys as key_pages
from dashboard.pages import live as live_pages
from dashboard.pages import overview as overview_page
from dashboard.pages import patterns as pattern_pages
from dashboard.pages import replays as replay_pages
from dashboard.pages import schemas as schema_pages
from dashboard.pages import servicemap as servicemap_page
from dashboard.pages import site, traces_search
from dashboard.pages import taps as tap_pages
from dashboard.pages import tokens as token_pages
from dashboard.pages import traces as trace_pages
from dashboard.pages import transactions as transaction_pages
from tracing import views as otlp

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_endpoint.metrics_view, name="metrics"),
    # Ingest. The route table for ingest too: when daphne serves, the POSTs of every view marked
    # an ingest endpoint (these, and api/events below) reach it through config.fastpath, which
    # finds them here.
    path("v1/traces", otlp.export_traces, name="otlp-traces"),
    path("v1/logs", otlp.export_logs, name="otlp-logs"),
    path("api/cloudevents", cloudevents.ingest_cloudevents, name="ingest-cloudevents"),
    # boto3 posts to the endpoint URL's path exactly; both spellings are routed so nothing redirects.
    path("aws", eventbridge.aws_endpoint, name="aws"),
    path("aws/", eventbridge.aws_endpoint),
    # Query API
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    path("api/events", events.list_events_or_ingest, name="api-events"),
    path("api/events/<str:event_id>", events.get_event, name="api-event"),
    path("api/find", find.find_anything, name="api-find"),
    path("api/services", trace_search.list_services, name="api-services"),
    path("api/traces", trace_search.find_traces, name="api-traces"),
    path("api/traces/<str:trace_id>", trace_api.get_trace, name="api-trace"),
    path("api/servicemap", servicemap_api.get_service_map, name="api-servicemap"),
    # Keys and lifecycle names are any text, newlines included ("." in <path:…> stops at a newline).
    re_path(r"^api/keys/(?P<key>[\s\S]+)\Z", keys.get_key, name="api-key"),
    path("api/patterns/test", patterns.test_pattern, name="api-patterns-test"),
    path("api/lifecycles", lifecycle_api.lifecycles, name="api-lifecycles"),
    re_path(r"^api/lifecycles/(?P<name>[\s\S]+)/timings\Z", lifecycle_detail.timings, name="api-lifecycle-timings"),
    re_path(r"^api/lifecycles/(?P<name>[\s\S]+)\Z", lifecycle_api.lifecycle, name="api-lifecycle"),
    path("api/transactions", transaction_api.list_transactions, name="api-transactions"),
    path("api/transactions.csv", transaction_api.export_csv, name="api-transactions-csv"),
    path("api/transactions/funnel", transaction_api.get_funnel, name="api-transactions-funnel"),
    re_path(
        r"^api/transactions/(?P<lifecycle>[\s\S]+?)/(?P<key>[\s\S]+)\Z",
        lifecycle_detail.get_transaction,
        name="api-transaction",
    ),
    path("api/consumers", replay_api.consumers, name="api-consumers"),
    path("api/consumers/<str:name>", replay_api.consumer_detail, name="api-consumer"),
    path("api/consumers/<str:name>/test", replay_api.consumer_test, name="api-consumer-test"),
    path("api/consumers/<str:name>/attempts", replay_api.consumer_attempts, name="api-consumer-attempts"),
    path("api/replays", replay_api.replays, name="api-replays"),
    path("api/replays/<str:replay_id>", replay_api.replay_detail, name="api-replay"),
    path("api/replays/<str:replay_id>/cancel", replay_api.cancel_replay, name="api-replay-cancel"),
    path("api/replays/<str:replay_id>/deliveries", replay_api.deliveries, name="api-replay-deliveries"),
    path("api/replays/<str:replay_id>/redrive", replay_api.redrive, name="api-replay-redrive"),
    path("api/replays/<str:replay_id>/attempts", replay_api.replay_attempts, name="api-replay-attempts"),
    path("api/schemas", schema_api.list_all, name="api-schemas"),
    path("api/schemas/<str:schema_id>", schema_api.read_one, name="api-schema"),
    path("api/schemas/<str:schema_id>/pin", schema_api.pin, name="api-schema-pin"),
    path("api/taps", tap_api.taps, name="api-taps"),
    path("api/taps/<str:name>", tap_api.tap, name="api-tap"),
    path("api/taps/<str:name>/stop", tap_api.stop, name="api-tap-stop"),
    path("api/taps/<str:name>/start", tap_api.start, name="api-tap-start"),
    # Pages
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", overview_page.overview, name="overview"),
    path("events/", event_pages.event_list, name="events"),
    path("events/<str:event_id>/", event_pages.event_detail, name="event"),
    path("traces/", traces_search.traces_search_page, name="traces"),
    path("find/", find_page.find_page, name="find"),
    path("traces/<str:trace_id>/", trace_pages.trace_page, name="trace"),
    path("traces/<str:trace_id>/data", trace_pages.trace_page_data, name="trace-data"),
    path("transactions/", transaction_pages.transactions_page, name="transactions"),
    path("transactions/funnel", transaction_pages.transactions_funnel, name="transactions-funnel"),
    # <lifecycle>/<key>, both any text: the page resolves the split as the API does.
    re_path(r"^transactions/(?P<path>[\s\S]+)/\Z", transaction_pages.transaction_page, name="transaction"),
    path("live/", live_pages.live_page, name="live"),
    path("replays/", replay_pages.replays_page, name="replays"),
    path("patterns/", pattern_pages.patterns_page, name="patterns"),
    path("schemas/", schema_pages.schemas_page, name="schemas"),
    path("schemas/<str:schema_id>/", schema_pages.schema_page, name="schema"),
    path("map/", servicemap_page.map_page, name="map"),
    path("settings/tokens/", token_pages.tokens_page, name="settings-tokens"),
    path("settings/tokens/<str:key_id>/revoke/", token_pages.revoke_token_page, name="settings-token-revoke"),
    path("taps/", tap_pages.taps_page, name="taps"),
    # Browsers ask for /favicon.ico on a first visit whatever the page links: answered, not a 404.
    path("favicon.ico", site.favicon, name="favicon"),
    # Keys are producers' text: any character, "/" and newlines included (links percent-encode them).
    re_path(r"^keys/(?P<key>[\s\S]+)/\Z", key_pages.key_page, name="key"),
    # The few stylesheets and scripts of the pages are served by the app itself, so `make run` needs
    # nothing in front of it; a deployment may still put a CDN or proxy before /static/.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]

# Unknown paths: the layout's not-found page, or JSON on API paths (DEBUG off; views of unknown ids
# answer their own not-found state).
handler404 = site.handler404
