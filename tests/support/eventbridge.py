"""boto3's EventBridge client, unchanged, pointed at a real server's ``/aws`` with a token's key pair."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def events_client(url: str, key_id: str, secret: str) -> Any:
    """An ``events`` client for the server at ``url``; it sends each call once (no retries), so a
    test sees the server's first answer."""
    return boto3.client(
        "events",
        endpoint_url=f"{url}/aws",
        region_name="eu-west-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
