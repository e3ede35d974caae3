"""Does QoS 1 keep its order across a restart of the broker? (docs/city.md, section 6)

A publisher sends numbered QoS 1 messages at ~400/s to a Mosquitto (`--via direct`) or to
an edge Mosquitto bridged to it with the shipped city-bridge.conf (`--via bridge`); a
subscriber with a persistent session (MQTT v5, clean_start false) reads them; the broker
is stopped and started `--restarts` times. Prints how many arrived after a later number,
twice, or never. 127.0.0.1 only; stops what it started.

    .venv/bin/python -m bench.mqtt_order --via bridge
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.runtime.broker import LocalBroker
from tests.cityrig import bridge_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--via", choices=["direct", "bridge"], default="bridge")
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument(
        "--edge-inflight", type=int, default=20, help="the edge broker's max_inflight_messages"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gg-mqtt-order-"))
    city = LocalBroker(folder / "city")
    city.write_config()
    city.start()
    edge = LocalBroker(folder / "edge")
    extra = f"max_inflight_messages {args.edge_inflight}\n"
    edge.write_config(bridge_config("order", [city.port]) + extra)
    edge.start()
    got: list[int] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="order-sub", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.append(int(m.payload))
    sub.on_connect = lambda c, u, f, r, p: c.subscribe("gridgate/city/#", qos=1)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's
    props.SessionExpiryInterval = 3600
    sub.reconnect_delay_set(1, 2)
    sub.connect("127.0.0.1", city.port, clean_start=False, properties=props)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="order-pub")
    pub.reconnect_delay_set(1, 2)
    pub.connect("127.0.0.1", edge.port if args.via == "bridge" else city.port)
    pub.loop_start()
    time.sleep(1)
    sent = 0
    stopping = threading.Event()

    def publish() -> None:
        nonlocal sent
        while not stopping.is_set():
            sent += 1
            pub.publish("gridgate/city/order", str(sent), qos=1)
            time.sleep(0.002)

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        for _ in range(args.restarts):
            time.sleep(2)
            city.stop()
            time.sleep(2)
            city.start()
        time.sleep(2)
    finally:
        stopping.set()
        thread.join()
        time.sleep(6)
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()
        edge.stop()
        city.stop()
    late = sum(1 for a, b in itertools.pairwise(got) if b < a)
    twice = len(got) - len(set(got))
    never = len(set(range(1, sent + 1)) - set(got))
    sys.stdout.write(
        f"via {args.via}, edge max_inflight {args.edge_inflight}: sent {sent}, "
        f"arrived after a later one {late}, twice {twice}, never {never}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
