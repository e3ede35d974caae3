"""A small webhook receiver: records each POST body as one JSON line, answers 200.

    {"received_at": "<aware UTC ISO>", "path": "/hook", "event": "alert.raised",
     "idempotency_key": "...", "body": {...}}

The scorer reads these files (`simulate score --webhook-log FILE`).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY_BYTES = 1024 * 1024


class Receiver:
    """Call `start()`, then `stop()`; `count` is how many bodies were recorded."""

    def __init__(self, out: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.out = out
        self.count = 0
        self._lock = threading.Lock()
        self._file = out.open("a", encoding="utf-8")
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0") or 0), MAX_BODY_BYTES)
                raw = self.rfile.read(length)
                receiver.record(self.path, dict(self.headers.items()), raw)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # one line per webhook goes to the file, not to stderr

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def record(self, path: str, headers: dict[str, str], raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        body: Any
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        lower = {k.lower(): v for k, v in headers.items()}
        line = {
            "received_at": datetime.now(UTC).isoformat(),
            "path": path,
            "event": lower.get("x-gridgate-event"),
            "idempotency_key": lower.get("idempotency-key"),
            "body": body,
        }
        with self._lock:
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._file.flush()
            self.count += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            self._file.close()
