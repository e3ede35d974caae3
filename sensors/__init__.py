"""Sensors: the kind vocabulary, canonical readings, and the adapters that make them.

Nothing here knows about rules, alerts, MQTT clients or storage: an adapter takes a topic,
a payload and the time it arrived, and returns a `Reading` or a `Rejection`.
"""
