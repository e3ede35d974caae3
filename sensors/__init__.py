"""Sensors: the kind vocabulary, canonical readings, and the adapters that make them.

Nothing here knows about rules, alerts, MQTT clients or storage: an adapter takes a topic,
a payload and the time it arrived, and returns a `Reading` or a `Rejection`.

    kinds.py          each kind's fields, units, ranges, meaning, offline time
    reading.py        Reading, Rejection, RejectReason
    native.py         gridgate's own topics and payloads (adapter "native")
    adapters/*.yaml   vendor formats, one file each; adapters/samples/<name>.jsonl
    adapterfile.py    what an adapter file may say (pydantic models)
    extends.py        `extends:`: a file merged with the adapter it starts from
    load.py           check an adapter file against the kinds, build a DeclaredAdapter
    selectors.py      a device id from the payload (`device_id:`), `only_when`
    declared.py       a declared adapter applied to one message
    payload.py        a message's bytes as JSON, strictly
    fieldmap.py       the shared transforms and range checks, per value
    topics.py         topic patterns with {placeholders}, filters, overlap
    hooks/            short vendor decoders an adapter file may name
    adapt.py          AdapterSet: every adapter behind one adapt() call (the gateway's API)
    check.py          `gridgate sensors check`: samples through an adapter
"""
