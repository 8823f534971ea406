"""The vendors' APIs the scripted LLM serves beside OpenAI's chat completions
(tests/scripted_llm.py): for each, which paths are its own (and the model a path names),
how its request reads as a chat-completions request the scripts match, and how a scripted
completion or error is written back in its shape; the Responses API also streamed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests import scripted_llm_bedrock as bedrock
from tests import scripted_llm_cohere as cohere
from tests import scripted_llm_responses as responses
from tests import scripted_llm_vendors as vendors

__all__ = ["VendorApi", "vendor_api"]

Body = dict[str, Any] | str


@dataclass(frozen=True)
class VendorApi:
    """One vendor's API: ``model_of(path)`` is the model the path names (``""`` when the
    body names it) or None for another API's path; ``as_chat(path_model, request)``;
    ``answer(completion, request)``; ``error(status, chat_error_body)``; ``events(answer)``:
    the answer as the server-sent events of a streamed reply (None: never streamed)."""

    name: str
    model_of: Callable[[str], str | None]
    as_chat: Callable[[str, Mapping[str, Any]], dict[str, Any]]
    answer: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    error: Callable[[int, Body], Body]
    events: Callable[[Mapping[str, Any]], list[dict[str, Any]]] | None = None


def _path_is(wanted: str) -> Callable[[str], str | None]:
    return lambda path: "" if path == wanted else None


APIS = (
    VendorApi(
        "anthropic messages",
        _path_is("/v1/messages"),
        lambda _model, request: vendors.anthropic_request_as_chat(request),
        lambda completion, _request: vendors.anthropic_message(completion),
        vendors.anthropic_error,
    ),
    VendorApi(
        "gemini generateContent",
        vendors.gemini_model,
        vendors.gemini_request_as_chat,
        lambda completion, _request: vendors.gemini_response(completion),
        vendors.gemini_error,
    ),
    VendorApi(
        "openai responses",
        lambda path: "" if responses.is_responses_path(path) else None,
        lambda _model, request: responses.responses_request_as_chat(request),
        responses.response_object,
        lambda _status, body: body,  # OpenAI's error body, as for chat completions
        responses.response_events,
    ),
    VendorApi(
        "cohere v2 chat",
        cohere.cohere_model,
        cohere.cohere_request_as_chat,
        cohere.cohere_response,
        cohere.cohere_error,
    ),
    VendorApi(
        "bedrock converse",
        bedrock.converse_model,
        bedrock.converse_request_as_chat,
        bedrock.converse_response,
        bedrock.converse_error,
    ),
)


def vendor_api(path: str) -> tuple[VendorApi, str] | None:
    """The API serving ``path`` (no query, no trailing slash) and the model it names."""
    for api in APIS:
        model = api.model_of(path)
        if model is not None:
            return api, model
    return None
