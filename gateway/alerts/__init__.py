"""Alerts: the alert record, its lifecycle, and where each alert is sent."""
