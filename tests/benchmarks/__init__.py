"""Tests of the benchmark helpers (their data conversions, not the benchmark runs)."""
