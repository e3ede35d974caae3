"""The city (docs/city.md): what a community gateway sends up (feed.py, link.py), the wire
format (envelope.py), who owns what (ownership.py), and the city instance that reads every
gateway's events into PostgreSQL (store.py, consumer.py) and shows them (api.py)."""
