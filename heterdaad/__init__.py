"""Heterdaad's core: settings, thresholds, db, kafka, auth, audit and what every part shares."""
