"""Run the Vercel AI SDK agent streamed (ai_sdk/agent_streamed.mjs: ``streamText``) against the
scripted model and write the spans it exported, as one OTLP protobuf request, plus what
``streamText`` returned. Installed and run as capture_ai_sdk.py:

    python -m tests.frameworks.captured.capture_ai_sdk_streamed DIR/node_modules
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.frameworks.captured.capture_ai_sdk import capture

if __name__ == "__main__":
    capture(Path(sys.argv[1]), script="agent_streamed.mjs", name="ai_sdk_streamed")
