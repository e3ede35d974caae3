"""Where accepted readings go besides the rules: telemetry to InfluxDB."""
