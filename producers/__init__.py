"""Producers: everything that turns reports and alarms from outside into events on Kafka."""
