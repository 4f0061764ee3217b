"""Replaying archived events to chosen consumers (docs/replay.md).

``targets`` guards consumer URLs (SSRF), ``delivery`` sends one delivery over HTTP, ``plan`` walks
the archive, ``engine`` runs a replay (lanes per consumer, rate limits, retries, crash recovery),
``actions`` holds the operations the API, the admin and the tasks share.
"""
