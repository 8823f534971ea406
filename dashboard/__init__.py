"""agent-audit dashboard."""
