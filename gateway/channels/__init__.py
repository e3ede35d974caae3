"""Channels deliver one outbox row each; they answer delivered, retry later, or give up."""

from gateway.channels.base import Channel, Digesting, Outcome, Result

__all__ = ["Channel", "Digesting", "Outcome", "Result"]
