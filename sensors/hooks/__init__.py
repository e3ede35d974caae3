"""Hooks: short decoders an adapter file may name for what a declaration cannot say.

One module per vendor (`sensors/hooks/<vendor>.py`); a hook takes the payload object and
returns plain canonical fields (`{"tamper": True}`), which the adapter checks against the
kind like any mapped field. A hook raises ValueError (or TypeError, KeyError) for a payload
it cannot read; the adapter turns that into a rejection. Keep each hook pure and short,
with its own unit test.
"""
