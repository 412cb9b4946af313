"""Consumers: delivery of alerts, persistence in PostgreSQL, the monthly digest."""
