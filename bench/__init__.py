"""Benchmarks: speed and memory targets, run by hand (not part of the test suite)."""
