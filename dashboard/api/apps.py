from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API (adapters over the apps' queries and actions) and its OpenAPI document."""

    name = "dashboard.api"
    label = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"
