"""The ingest fast path serves the views config.urls routes, for the views marked ingest endpoints."""

from __future__ import annotations

from django.urls import resolve

from config.fastpath import _routes


def test_the_fast_path_serves_every_ingest_endpoint_with_the_view_the_urlconf_routes_it_to():
    routes = _routes()
    assert set(routes) == {"/v1/traces", "/v1/logs", "/api/events", "/api/cloudevents", "/aws", "/aws/"}
    for path, view in routes.items():
        assert resolve(path).func is view
