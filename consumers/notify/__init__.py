"""Notification of alerts to police desks and subscribers, split the Alertmanager way."""
