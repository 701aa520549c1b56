"""Replying from the tool: the reply desk (worker/replies/desk.py) and its part of the
worker (worker/replies/part.py). Sending is ``triage connect actions`` (connectors/replies.py)."""
