"""The gridgate service: ingest, alerts, outbox, channels, storage and the API."""
