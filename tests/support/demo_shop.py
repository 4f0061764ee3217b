"""The demo shop, driven from tests against the real server: real OTel SDK, real ingest clients."""

from __future__ import annotations

import random
import time

from dashboard.demo.shop import SERVICES, Shop, Trouble
from dashboard.demo.telemetry import Telemetry
from dashboard.demo.transport import Transport

CALM = Trouble(producer_retry=0, duplicate=0, out_of_order=0, consumer_failure=0, never_ship=0)


def run_shop(url: str, token: str, orders: int, trouble: Trouble = CALM, seed: int = 1) -> Shop:
    """Place ``orders`` orders and flush every span; returns the shop (its stats and transport) once
    the real clock has passed the shop's.

    The shop's clock runs ahead of the real one (each step takes simulated time, not real time), so
    its last events and spans are stamped up to a few seconds ahead: a window that ends now, as the
    pages' and the API's do by default, would leave them out until their time has come."""
    telemetry = Telemetry(url, token, SERVICES)
    shop = Shop(telemetry, Transport(url, token), random.Random(seed), trouble)
    try:
        for _ in range(orders):
            shop.place_order()
    finally:
        telemetry.flush()
        telemetry.shutdown()
    time.sleep(max(0, shop.clock.latest - time.time_ns()) / 1e9)
    return shop
