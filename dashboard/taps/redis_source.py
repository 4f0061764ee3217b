"""Redis Streams through redis-py: the consumer group ``eventscope`` (created at the stream's end when
missing, the stream with it), read as the consumer named after the tap. An entry's ``body`` field is
the message body, its other fields are headers.

What the tap read and did not acknowledge before it stopped (a killed process) stays pending under
its consumer name; on every connect the tap reads its pending entries first, then new ones."""

from __future__ import annotations

from typing import Any

import redis
from redis.retry import Retry

from dashboard.taps.messages import TappedMessage
from dashboard.taps.source import CONNECT_TIMEOUT, BrokerError

GROUP = "eventscope"


class RedisSource:
    def __init__(self, name: str, url: str, options: dict[str, str]) -> None:
        self.name = name
        self.url = url
        self.stream = options["stream"]
        self.client: Any = None
        self._pending_first = True
        self._after = "0"  # while reading what is pending: the last entry read

    def _call(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return work(*args, **kwargs)
        except redis.ConnectionError as err:
            raise BrokerError(f"the Redis connection was lost: {err}") from None
        except redis.TimeoutError:
            raise BrokerError("Redis did not answer in time") from None
        except redis.ResponseError as err:
            raise BrokerError(f"Redis refused: {err}") from None

    def connect(self) -> None:
        # No retries inside the client: a broken connection is the tap's to see (state failing) and
        # to recover from (it reconnects with backoff).
        self.client = redis.Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT + 5,
            retry=Retry(backoff=redis.backoff.NoBackoff(), retries=0),
            client_name=f"eventscope-tap-{self.name}",
        )
        try:
            self.client.xgroup_create(self.stream, GROUP, id="$", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):  # the group exists already: fine
                raise BrokerError(f"Redis refused the consumer group on {self.stream!r}: {err}") from None
        except (redis.ConnectionError, redis.TimeoutError) as err:
            raise BrokerError(f"cannot connect to Redis: {err}") from None
        self._pending_first, self._after = True, "0"

    def fetch(self, limit: int, wait: float) -> tuple[list[TappedMessage], list[bytes]]:
        entries: list[tuple[bytes, dict[bytes, bytes] | None]] = []
        if self._pending_first:
            # What this consumer read before and did not acknowledge (a process killed mid-batch),
            # after the last of it read since connecting (the batch before may not be acked yet).
            entries = self._read(self._after, limit, None)
            if entries:
                self._after = entries[-1][0].decode()
            else:
                self._pending_first = False
        if not self._pending_first:
            entries = self._read(">", limit, max(1, int(wait * 1000)))
        ids = [entry_id for entry_id, _ in entries]
        return [self._message(entry_id, fields) for entry_id, fields in entries if fields], ids

    def _read(self, start: str, limit: int, block: int | None) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        answer = self._call(self.client.xreadgroup, GROUP, self.name, {self.stream: start}, count=limit, block=block)
        if not answer:
            return []
        _, entries = answer[0]
        return list(entries)

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> TappedMessage:
        headers = {
            name.decode("utf-8", "replace"): value.decode("utf-8", "replace")
            for name, value in fields.items()
            if name != b"body"
        }
        return TappedMessage(
            body=fields.get(b"body", b""),
            subject=self.stream,
            message_id=entry_id.decode(),
            headers=headers,
            content_type=headers.get("content-type", headers.get("Content-Type", "")),
        )

    def ack(self, receipt: list[bytes]) -> None:
        if receipt:
            self._call(self.client.xack, self.stream, GROUP, *receipt)

    def backlog(self) -> int | None:
        for group in self._call(self.client.xinfo_groups, self.stream):
            name = group.get("name")
            if name in (GROUP, GROUP.encode()):
                lag = group.get("lag")
                return None if lag is None else int(lag) + int(group.get("pending") or 0)
        return None

    def remove(self) -> None:
        self._call(self.client.xgroup_delconsumer, self.stream, GROUP, self.name)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # already broken: nothing to close
                return
