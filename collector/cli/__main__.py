"""``python -m collector.cli``: the same as the ``agent-audit`` console script."""

from __future__ import annotations

import sys

from collector.cli import main

sys.exit(main())
