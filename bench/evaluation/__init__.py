"""Evaluation of every stage over the simulator's dials: `python -m bench.evaluation`."""
