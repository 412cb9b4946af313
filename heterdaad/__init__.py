"""Heterdaad: event-driven robbery alerting for retailers, alarm centres and the police."""
