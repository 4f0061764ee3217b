"""Placeholder: the redis broker target (replaced by its implementation)."""

from __future__ import annotations

from dashboard.replay.outcome import RETRY, Outcome
from dashboard.replay.publishers import Message
from dashboard.replay.targets import Resolver


class RedisPublisher:
    def __init__(self, url: str, options: dict[str, str], resolver: Resolver | None = None) -> None:
        self.url = url

    def publish(self, messages: list[Message]) -> list[Outcome]:
        return [Outcome(RETRY, None, 0.0, "not implemented") for _ in messages]

    def close(self) -> None:
        pass
