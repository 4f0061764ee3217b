"""Retention: stored events, spans and log records older than their kind's age limit are purged."""
