"""Rules: which readings become grid alerts, and when.

The engine is pure: `observe(reading, now)` and `tick(now)` take values and the time and
return `AlertEvent`s; it never sleeps, never does I/O, and has no idea MQTT exists.
"""
