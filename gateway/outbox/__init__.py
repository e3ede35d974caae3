"""Durable delivery: pending rows to their channels, retries with backoff, dead letters."""
