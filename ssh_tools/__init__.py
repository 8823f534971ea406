"""agent-audit ssh_tools."""
