"""agent-audit agent."""
