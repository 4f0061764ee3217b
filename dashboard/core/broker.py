"""The task broker (Celery's: Redis with ``REDIS_URL``, an in-process queue without): is it there?

A request that saves a row and queues a task for it checks the broker first, within a second, so
that with the broker down it answers ``503`` with ``Retry-After`` and saves nothing, rather than
saving a row whose task cannot be queued (see ``dashboard.replay.actions.do_create_replay``).
"""

from __future__ import annotations

from celery import current_app

# How long a request waits for the broker to answer before it is told to come back later.
CHECK_SECONDS = 1.0
# What a 503 for an unreachable broker tells a client to wait: outages of a broker outlast a second.
RETRY_AFTER_SECONDS = 5


class BrokerUnavailable(Exception):
    """The task broker did not answer; the API answers 503 with ``Retry-After``."""


def check_broker(timeout: float = CHECK_SECONDS) -> None:
    """Return once the broker answered (a connection and, on Redis, a PING) within ``timeout``
    seconds; raise :class:`BrokerUnavailable` otherwise. Costs a round trip on Redis and nothing
    on the embedded mode's in-process queue. Call it outside a database transaction that others
    may wait for (on SQLite a write transaction holds the database's write lock)."""
    # Its own connection with socket timeouts, not the producer pool's: a broker that accepts the
    # connection but never answers must cost at most ``timeout``, not the transport's defaults.
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    try:
        with current_app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
            connection.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as err:  # whatever the transport raised, the broker is not there for us
        raise BrokerUnavailable(f"The task broker is unavailable ({type(err).__name__}).") from err
