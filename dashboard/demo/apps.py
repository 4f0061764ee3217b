from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The simulated shop and the screenshot maker: development tools, not part of the server.

    Nothing here is imported when the server runs; the commands need the development requirements
    (boto3, the CloudEvents SDK, requests, Playwright) and say so when they are missing.
    """

    name = "dashboard.demo"
    label = "demo"
    verbose_name = "Demo shop (development tool)"
