"""Messages to decisions: adapters, the registry check, device state, the rule engine,
the alert stage, one store write per step."""
