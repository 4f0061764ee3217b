"""Transactions (docs/transactions.md): lifecycles per business key, tracked at ingest, reported and swept."""
