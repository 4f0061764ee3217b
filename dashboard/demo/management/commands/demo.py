"""``python manage.py demo``: run the simulated shop against a running dashboard (``make demo``)."""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.demo.requirements import require

if TYPE_CHECKING:
    from dashboard.demo.shop import Shop

# What the shop sends through: the real OpenTelemetry exporter, boto3, the CloudEvents SDK.
NEEDS = ("requests", "boto3", "botocore", "cloudevents", "opentelemetry.exporter.otlp.proto.http")
# The token the demo makes for itself once (the lifecycle it defines needs operate).
DEMO_NAME = "demo"
DEMO_SCOPES = ("ingest", "read", "operate")


class Command(BaseCommand):
    help = (
        "Run a simulated shop (orders, billing, inventory, shipping) that sends spans over OTLP and events "
        "through the ingest endpoints of a running dashboard, with retries, duplicates, out-of-order and "
        "failing steps. Runs until stopped (Ctrl-C), or for --orders N."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default=os.environ.get("EVENTSCOPE_URL", "http://127.0.0.1:8000"),
            help="the dashboard (default http://127.0.0.1:8000, or EVENTSCOPE_URL)",
        )
        parser.add_argument("--orders", type=int, default=0, help="place this many orders, then stop (default: run on)")
        parser.add_argument("--rate", type=float, default=2.0, help="orders per second; 0 = as fast as possible")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
        parser.add_argument(
            "--token",
            default=os.environ.get("EVENTSCOPE_DEMO_NAME", ""),
            help="a token with the ingest scope (default: EVENTSCOPE_DEMO_NAME, else the 'demo' token of "
            "this checkout's database, made by the first run)",
        )

    def _token(self, given: str) -> str:
        if given:
            return given
        from dashboard.core.tokens import create_token, find_live, reissue

        # The demo runs beside the dashboard it feeds, on the same database: it uses its own token,
        # made by its first run and derived again by the later ones (the secret is never stored).
        for existing in find_live(DEMO_NAME):
            if set(existing.scopes) >= set(DEMO_SCOPES):
                token = reissue(existing.key_id)
                if token:
                    return token
        return create_token(DEMO_NAME, list(DEMO_SCOPES)).token

    def handle(self, *args: Any, **options: Any) -> None:
        require(*NEEDS)
        import requests

        from dashboard.demo.shop import LIFECYCLE, SERVICES, Shop, Trouble
        from dashboard.demo.telemetry import Telemetry
        from dashboard.demo.transport import PublishError, Transport

        url = options["url"].rstrip("/")
        try:
            requests.get(f"{url}/healthz", timeout=5)
        except requests.RequestException as err:
            raise CommandError(f"No dashboard answers at {url} ({err}). Start one with `make run`.") from None
        token = self._token(options["token"])
        telemetry = Telemetry(url, token, SERVICES)
        transport = Transport(url, token)
        lifecycle = transport.create_lifecycle(LIFECYCLE)
        shop = Shop(telemetry, transport, random.Random(options["seed"]), Trouble())
        limit, rate = options["orders"], options["rate"]
        self.stdout.write(
            f"Demo shop → {url} ({f'{limit} orders' if limit else 'until Ctrl-C'}; lifecycle: {lifecycle})"
        )
        started = time.monotonic()
        try:
            while not limit or shop.stats.orders < limit:
                order_id = shop.place_order()
                if options["verbosity"] > 1:
                    self.stdout.write(f"  {order_id}")
                if shop.stats.orders % 50 == 0:
                    self._report(shop)
                if rate > 0:
                    time.sleep(max(0.0, started + shop.stats.orders / rate - time.monotonic()))
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        except PublishError as err:
            raise CommandError(str(err)) from None
        finally:
            telemetry.flush()
            telemetry.shutdown()
        self._report(shop)

    def _report(self, shop: Shop) -> None:
        s = shop.stats
        self.stdout.write(
            f"orders={s.orders} events={s.events} traces={len(s.traces)} producer_retries={s.producer_retries} "
            f"duplicates_sent={s.duplicates_sent} out_of_order={s.out_of_order} "
            f"consumer_failures={s.consumer_failures} unshipped={s.unshipped} "
            f"answered_duplicate={shop.transport.counts['duplicate']}"
        )
