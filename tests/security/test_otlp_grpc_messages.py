"""``TraceService/Export`` takes exactly one request message per call.

The receiver reads the call as a client stream (to take room before the message
is gathered), and a call carrying two messages was acknowledged after the first
with the second dropped unseen. Now more than one message is INVALID_ARGUMENT
and nothing of the call is stored; none at all is INVALID_ARGUMENT too.
"""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.conftest import CollectorHandle
from tests.security.test_otlp_salvage import EXPORT, fresh_request, stored, trace_of


def _stream_export(handle: CollectorHandle, messages: list[bytes]) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
        export = channel.stream_unary(
            EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
        )
        answer: ExportTraceServiceResponse = export(iter(messages), timeout=20)
        return answer


@pytest.mark.parametrize("count", [2, 5])
def test_a_call_of_several_request_messages_is_refused_whole(
    module_collector: CollectorHandle, count: int
) -> None:
    requests = [fresh_request() for _ in range(count)]
    with pytest.raises(grpc.RpcError) as refused:
        _stream_export(module_collector, [r.SerializeToString() for r in requests])
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "more than one request message" in (refused.value.details() or "")
    for request in requests:
        assert stored(module_collector, trace_of(request), "name") == []


def test_a_call_of_no_request_message_is_refused(module_collector: CollectorHandle) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        _stream_export(module_collector, [])
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_one_message_sent_as_a_stream_is_stored(module_collector: CollectorHandle) -> None:
    # The wire of a unary call: one message, then the half-close.
    request = fresh_request()
    answer = _stream_export(module_collector, [request.SerializeToString()])
    assert answer.partial_success.rejected_spans == 0
    assert len(stored(module_collector, trace_of(request), "name")) == 100
