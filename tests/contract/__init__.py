"""Behaviours written once and run on two backends: the pure step with the in-memory
producer (tests/unit), and a worker on the embedded broker (tests/integration)."""
