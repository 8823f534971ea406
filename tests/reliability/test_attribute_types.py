"""Any OTLP value type on any key the mapping reads: stored whole, never refused.

A convention says what type a key holds (a string for
``gen_ai.operation.name``, an int for token counts), but OTLP lets a sender put
any ``AnyValue`` there: a kvlist, an array, bytes, a huge int. Each generated
request puts such values on the keys the collector's conventions declare (every
module-level key constant of ``collector.conventions`` and
``instrumentation.attributes``) and must be acknowledged with every span in
``spans``. A value the mapping cannot read costs at most that span's derived
row (``collector/guarded_mapping.py``), never the request.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from types import ModuleType

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

import collector.conventions
from collector.guarded_mapping import mapped_or_none
from instrumentation import attributes
from tests.conftest import CollectorHandle
from tests.records import span_record


def _declared_keys() -> list[str]:
    modules: list[ModuleType] = [attributes]
    modules += [
        importlib.import_module(f"collector.conventions.{info.name}")
        for info in pkgutil.iter_modules(collector.conventions.__path__)
    ]
    keys = {
        value
        for module in modules
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and "." in value and " " not in value
    }
    return sorted(keys)


KEYS = _declared_keys()
TEXTS = ["", "invoke_agent", "chat", "execute_tool", "AGENT", "LLM", "TOOL", "failed", "{}", "["]

scalar = st.one_of(
    st.sampled_from(TEXTS).map(lambda t: AnyValue(string_value=t)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
)


def _array(values: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(values)
    return value


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in pairs)
    return value


any_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(_array),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=3).map(_kvlist),
    ),
    max_leaves=6,
)
span_attributes = st.lists(st.tuples(st.sampled_from(KEYS), any_value), max_size=6)


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis directory in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    names=st.lists(
        st.sampled_from(["invoke_agent a", "chat m", "execute_tool t", "x"]), min_size=4, max_size=4
    ),
    attribute_sets=st.lists(span_attributes, min_size=4, max_size=4),
    parents=st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=4),
)
def test_any_value_type_on_any_declared_key_is_stored(
    handle: CollectorHandle,
    names: list[str],
    attribute_sets: list[list[tuple[str, AnyValue]]],
    parents: list[int],
) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    trace_id, span_ids = os.urandom(16), [os.urandom(8) for _ in names]
    now = time.time_ns()
    for index, (name, pairs) in enumerate(zip(names, attribute_sets, strict=True)):
        span = spans.add(
            trace_id=trace_id,
            span_id=span_ids[index],
            name=name,
            start_time_unix_nano=now + index,
            end_time_unix_nano=now + 1_000_000,
        )
        if index:
            span.parent_span_id = span_ids[parents[index] % index]
        span.attributes.extend(KeyValue(key=k, value=v) for k, v in pairs)
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=30,
    )
    # Values that are not storable at all (NaN, times past 2262) are rejected per span
    # elsewhere; these are all storable, so every span must be kept.
    assert response.status_code == 200, response.text
    stored = handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace_id.hex()])
    assert stored == [(len(names),)]


def test_a_span_whose_row_cannot_be_built_costs_only_that_row() -> None:
    span = span_record(name="chat m")

    def unreadable() -> str:
        raise TypeError("unhashable type: 'dict'")

    assert mapped_or_none(span, unreadable) is None
    assert mapped_or_none(span, lambda: "row") == "row"
