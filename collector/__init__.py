"""agent-audit collector."""
