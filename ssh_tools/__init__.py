"""agent-audit ssh_tools: allowlisted docker commands on a server over SSH, each one recorded.

Modules (importing this package imports nothing else, so the gateway stays
standard-library only on a bare server):

- :mod:`ssh_tools.allowlist` / :mod:`ssh_tools.policy` — the policy and its pure checker
- :mod:`ssh_tools.gateway` — the server-side forced command (``agent-audit gateway``)
- :mod:`ssh_tools.connection` — the paramiko client connection
- :mod:`ssh_tools.tools` — ``ServerTools``, the agent's tools (OpenAI tool definitions,
  ``call_tool``)
- :mod:`ssh_tools.settings` — ``AGENT_AUDIT_SSH_*`` settings
- :mod:`ssh_tools.errors` — the exception tree
- :mod:`ssh_tools.attributes` — the ``ssh.*`` span attribute keys
"""
