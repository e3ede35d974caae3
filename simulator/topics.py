"""gridgate's native topic names, written here again on purpose (no import of the adapter).

{root}/v1/{device_id}/reading        JSON reading, QoS 1, not retained
{root}/v1/{device_id}/availability   `online` / `offline`, QoS 1, retained
{root}/v1/simulator/status           the simulator's own `online` / `offline` (last will)
"""

from __future__ import annotations

VERSION = "v1"
ONLINE = "online"
OFFLINE = "offline"


def reading_topic(root: str, device_id: str) -> str:
    return f"{root}/{VERSION}/{device_id}/reading"


def availability_topic(root: str, device_id: str) -> str:
    return f"{root}/{VERSION}/{device_id}/availability"


def status_topic(root: str) -> str:
    return f"{root}/{VERSION}/simulator/status"


def clock_topic(root: str) -> str:
    """The simulated now, `{"now": ISO, "speed": x}`, QoS 0, for event-time gateways."""
    return f"{root}/{VERSION}/simulator/clock"
