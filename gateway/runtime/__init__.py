"""What every stage runs on: the clock, task loops, counters, logs, metrics, backup,
a private Mosquitto for the demo and the tests."""
