"""Thresholds of the stream stages, nested in Settings (HETERDAAD_<STAGE>__<FIELD> variables)."""
