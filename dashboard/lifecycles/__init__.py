"""Transactions (CONTRACT §7): lifecycles per business key, tracked at ingest, reported and swept."""
