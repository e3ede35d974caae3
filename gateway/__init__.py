"""The gridgate service: ingest, alerts, outbox, channels, storage and the API."""

import sys

# httpx imports its command-line client (`httpx._main`: click, rich and pygments) when they
# are installed, as typer installs them: 3.3 MB of every gateway's RSS for a tool it never
# runs (docs/benchmarks.md, the 2026-12-07 run's section). Marked absent before anything
# imports httpx, its `httpx.main` says the client is not installed; typer still loads rich
# when it prints help.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
