"""What every capture script does around its framework: trace into memory, note what the
caller saw, and write the spans (OTLP protobuf) and the expectations (JSON) to ``out``.
Imports the OpenTelemetry SDK only, so every framework's virtualenv can use it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Capture", "failure_seen"]


class Capture:
    """A tracer provider exporting into memory, and the files of one capture under ``out``.

    ``expected`` starts with the versions of ``packages``; the script adds what the
    framework returned. ``span_limits``: the provider's (the SDK's defaults unless given)."""

    def __init__(
        self, out: Path, packages: Iterable[str], span_limits: SpanLimits | None = None
    ) -> None:
        self.out = out
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(span_limits=span_limits)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.expected: dict[str, Any] = {"versions": {p: version(p) for p in packages}}

    def write_spans(self, file_name: str) -> None:
        """The spans finished so far, as one OTLP request, in ``file_name`` (gzipped when it
        ends in ``.gz``); then forget them (a script writing several files starts the next
        one empty)."""
        self.provider.force_flush()
        body = encode_spans(self.exporter.get_finished_spans()).SerializeToString()
        if file_name.endswith(".gz"):
            body = gzip.compress(body, mtime=0)
        (self.out / file_name).write_bytes(body)
        self.exporter.clear()

    def write_expected(self, file_name: str) -> None:
        text = json.dumps(self.expected, indent=2, default=str) + "\n"
        (self.out / file_name).write_text(text)


def failure_seen(task: str, run: Callable[[], object]) -> dict[str, Any]:
    """Run a request meant to fail: its task and what the caller saw raised (None if not)."""
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}"}
    return {"task": task, "raised": None}
