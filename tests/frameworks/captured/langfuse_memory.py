"""A Langfuse client for the capture scripts: its observations go to a capture's in-memory
exporter, never to a Langfuse server; at the end they are written as the capture's files."""

from __future__ import annotations

from langfuse import Langfuse

from tests.frameworks.captured.capture_files import Capture

__all__ = ["langfuse_into", "write_langfuse_capture"]


def langfuse_into(capture: Capture) -> Langfuse:
    """The Langfuse client, exporting into ``capture``'s exporter (the address is unused)."""
    return Langfuse(
        public_key="pk-lf-local",
        secret_key="sk-lf-local",
        base_url="http://127.0.0.1:9",
        span_exporter=capture.exporter,
    )


def write_langfuse_capture(langfuse: Langfuse, capture: Capture, name: str) -> None:
    """Flush Langfuse, write ``<name>.otlp`` and ``<name>.expected.json``, shut it down."""
    langfuse.flush()
    capture.write_spans(f"{name}.otlp")
    capture.write_expected(f"{name}.expected.json")
    langfuse.shutdown()
