from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The server-rendered pages (adapters over the apps' queries)."""

    name = "dashboard.pages"
    label = "pages"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"
