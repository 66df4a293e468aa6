"""Threads: how an event led to a decision, read from the extracts' links and the decision log."""
