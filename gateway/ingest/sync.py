"""Whether the broker has sent us what it queued for our session while we were away.

After a start, a crash or a lost connection, the broker sends the messages it kept for
our session as fast as the socket takes them, and a socket read to the end in between
says nothing about what is still to come. So on each connection the ingest publishes a
marker (QoS 1, a token of that connection) to a topic of its own, subscribed to with the
rest: the broker queues it behind everything it held for us (Mosquitto keeps one ordered
queue per session), and until it comes back hold timers wait (`MqttIngest.horizon`).
Without it, a door whose close waited at the broker while the gateway was down raised a
false alarm the moment the gateway came back, before the close was read
(tests/faults/test_storm_faults.py).

A marker that never comes (an ACL that forbids the topic, where Mosquitto grants the
subscription and then delivers nothing) is waited for `SYNC_TIMEOUT_S`, then given up
with a warning. While not connected there is nothing to wait for: nothing can arrive.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SYNC_TIMEOUT_S = 10.0  # how long timers wait for the marker after a connection opens


class SyncMarker:
    """The marker of one connection at a time, and whether we still wait for it."""

    def __init__(self, topic: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self._monotonic = monotonic
        self.token = b""
        # from the start: nothing read yet (the first connection is on its way)
        self._is_waiting = True
        self._deadline = monotonic() + SYNC_TIMEOUT_S

    def opened(self) -> None:
        """A new connection: a new token to publish, and wait for it."""
        self.token = secrets.token_hex(8).encode()
        self._is_waiting = True
        self._deadline = self._monotonic() + SYNC_TIMEOUT_S

    def stop_waiting(self) -> None:
        """Nothing will come: the connection is lost or failed, or the topic refused."""
        self._is_waiting = False

    def arrived(self, payload: bytes) -> None:
        """A marker came back: this connection's ends the wait; an older connection's,
        which the broker kept for the session, says nothing."""
        if payload == self.token and self._is_waiting:
            self._is_waiting = False
            log.info("mqtt_caught_up topic=%s", self.topic)

    def is_waiting(self) -> bool:
        """Whether messages the broker queued for us may still be on their way."""
        if self._is_waiting and self._monotonic() >= self._deadline:
            self._is_waiting = False
            log.warning(
                "mqtt_sync_timeout topic=%s waited_s=%.0f (timers no longer wait for it; "
                "may the gateway publish to and read that topic?)",
                self.topic,
                SYNC_TIMEOUT_S,
            )
        return self._is_waiting
