"""Broker URL passwords: shown masked, and a masked URL sent back keeps the stored password only
where the password was meant to go."""

from __future__ import annotations

import pytest

from dashboard.core.url_credentials import MaskedPasswordError, masked, unmask

STORED = "amqp://shop:hunter2@mq.internal:5672/orders"


def test_a_password_is_shown_masked_and_nothing_else_changes() -> None:
    assert masked(STORED) == "amqp://shop:***@mq.internal:5672/orders"
    assert masked("redis://:p%40ss@cache:6379/0") == "redis://:***@cache:6379/0"
    assert masked("nats://s3cretToken@127.0.0.1:4222") == "nats://***@127.0.0.1:4222"  # NATS: a token
    assert masked("amqp://guest@127.0.0.1/") == "amqp://guest@127.0.0.1/"  # elsewhere a user alone is no secret
    assert masked("http://127.0.0.1:9000/hook") == "http://127.0.0.1:9000/hook"
    assert masked("amqp://u:p@[::1:bad") == "***"  # unreadable: nothing of it shown


def test_the_masked_url_sent_back_keeps_the_stored_password() -> None:
    assert unmask(masked(STORED), STORED) == STORED
    assert unmask("amqp://shop:***@MQ.internal:5672/replays", STORED) == "amqp://shop:hunter2@MQ.internal:5672/replays"
    assert unmask("redis://:***@cache:6379/1", "redis://:p%40ss@cache:6379/0") == "redis://:p%40ss@cache:6379/1"


def test_a_url_without_the_mask_is_taken_as_it_is() -> None:
    assert unmask("amqp://shop:n3w@mq.internal:5672/orders", STORED) == "amqp://shop:n3w@mq.internal:5672/orders"
    assert unmask("amqp://mq.internal:5672/orders", STORED) == "amqp://mq.internal:5672/orders"
    assert unmask("amqp://shop:%2A%2A%2A@mq.internal/", STORED) == "amqp://shop:%2A%2A%2A@mq.internal/"


@pytest.mark.parametrize(
    "url",
    [
        "amqp://shop:***@evil.example:5672/orders",
        "amqp://shop:***@mq.internal:5673/orders",
        "amqp://shop:***@mq.internal/orders",  # the default port is another port as written
        "amqp://root:***@mq.internal:5672/orders",
        "amqps://shop:***@mq.internal:5672/orders",
    ],
)
def test_the_stored_password_never_goes_to_another_place(url: str) -> None:
    with pytest.raises(MaskedPasswordError, match="give the password again"):
        unmask(url, STORED)


def test_a_mask_with_no_stored_password_is_refused() -> None:
    with pytest.raises(MaskedPasswordError, match="none is stored"):
        unmask("nats://me:***@127.0.0.1:4222", "nats://127.0.0.1:4222")


def test_a_nats_token_sent_back_masked_is_kept_only_for_the_same_server() -> None:
    stored = "nats://s3cretToken@nats.internal:4222"
    assert unmask(masked(stored), stored) == stored
    with pytest.raises(MaskedPasswordError):
        unmask("nats://***@elsewhere:4222", stored)
    with pytest.raises(MaskedPasswordError):
        unmask("nats://***@nats.internal:4222", "nats://nats.internal:4222")


def test_every_spelling_of_a_password_or_token_is_scrubbed_from_a_message() -> None:
    from dashboard.core.url_credentials import scrubbed

    said = "login failed for shop:hunter 2 (shop:hunter%202, shop:hunter%202)"
    assert scrubbed(said, "amqp://shop:hunter%202@mq.internal/") == "login failed for shop:*** (shop:***, shop:***)"
    assert scrubbed("bad token s3cretToken", "nats://s3cretToken@nats.internal:4222") == "bad token ***"
    assert scrubbed("user guest refused", "amqp://guest@mq.internal/") == "user guest refused"  # a user is no secret
    assert "hunter" not in scrubbed("port 'hunter2x' invalid", "redis://:hunter2x@cache:notaport/0")
