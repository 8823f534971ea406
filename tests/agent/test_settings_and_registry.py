"""Settings from the environment, and tools registered in Python: schemas and refusals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pytest

from agent import ToolRegistrationError, ToolRegistry, default_registry, register_tool
from agent.settings import AgentSettings
from agent.tool_schema import check_arguments, schema_from_signature
from agent.toolbox import cut_for_model


def test_defaults_and_values_from_the_environment(tmp_path: Path) -> None:
    defaults = AgentSettings.from_env({})
    assert defaults.llm_base_url == "http://127.0.0.1:11434/v1"
    assert (defaults.host, defaults.port, defaults.max_concurrent) == ("127.0.0.1", 8000, 4)
    assert defaults.spool_dir == defaults.data_dir / "spool"  # on by default
    assert defaults.ssh is None
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are terse.")
    settings = AgentSettings.from_env(
        {
            "AGENT_AUDIT_LLM_BASE_URL": "http://gpu-box:8000/v1",
            "AGENT_AUDIT_LLM_API_KEY": "sk-local",
            "AGENT_AUDIT_LLM_MODEL": "Qwen/Qwen2.5-7B-Instruct",
            "AGENT_AUDIT_AGENT_MAX_CONCURRENT": "2",
            "AGENT_AUDIT_AGENT_DATA_DIR": str(tmp_path),
            "AGENT_AUDIT_AGENT_SPOOL": "false",
            "AGENT_AUDIT_AGENT_SYSTEM_PROMPT_FILE": str(prompt),
            "AGENT_AUDIT_AGENT_TOOL_MODULES": "a.tools, b.tools",
            "AGENT_AUDIT_SSH_HOST": "nas",
            "AGENT_AUDIT_SSH_USER": "agent",
            "AGENT_AUDIT_SSH_KEY": str(tmp_path / "key"),
        }
    )
    assert settings.llm_model == "Qwen/Qwen2.5-7B-Instruct"
    assert settings.max_concurrent == 2
    assert settings.spool_dir is None
    assert settings.system_prompt == "You are terse."
    assert settings.tool_modules == ("a.tools", "b.tools")
    assert settings.ssh is not None and settings.ssh.host == "nas"
    assert "sk-local" not in repr(settings)  # the key stays out of logs


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AGENT_AUDIT_LLM_BASE_URL": "localhost:11434"}, "AGENT_AUDIT_LLM_BASE_URL"),
        ({"AGENT_AUDIT_LLM_MODEL": "  "}, "AGENT_AUDIT_LLM_MODEL"),
        ({"AGENT_AUDIT_LLM_TIMEOUT_S": "-1"}, "AGENT_AUDIT_LLM_TIMEOUT_S"),
        ({"AGENT_AUDIT_LLM_MAX_RETRIES": "9"}, "AGENT_AUDIT_LLM_MAX_RETRIES"),
        ({"AGENT_AUDIT_AGENT_MAX_CONCURRENT": "0"}, "AGENT_AUDIT_AGENT_MAX_CONCURRENT"),
        ({"AGENT_AUDIT_AGENT_PORT": "http"}, "AGENT_AUDIT_AGENT_PORT"),
        ({"AGENT_AUDIT_AGENT_SPOOL": "maybe"}, "AGENT_AUDIT_AGENT_SPOOL"),
        ({"AGENT_AUDIT_AGENT_MAX_STEPS": "500"}, "AGENT_AUDIT_AGENT_MAX_STEPS"),
        ({"AGENT_AUDIT_AGENT_HOST": "0.0.0.0"}, "AGENT_AUDIT_AGENT_HOST"),
        ({"AGENT_AUDIT_AGENT_SYSTEM_PROMPT_FILE": "/nonexistent/p"}, "SYSTEM_PROMPT_FILE"),
        ({"AGENT_AUDIT_SSH_HOST": "nas", "AGENT_AUDIT_SSH_USER": "a"}, "AGENT_AUDIT_SSH_KEY"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=re.escape(variable)):
        AgentSettings.from_env(env)


def test_all_interfaces_are_allowed_with_a_token() -> None:
    settings = AgentSettings.from_env(
        {"AGENT_AUDIT_AGENT_HOST": "0.0.0.0", "AGENT_AUDIT_TOKEN": "t"}
    )
    assert settings.host == "0.0.0.0"


def test_schema_from_signature_and_docstring() -> None:
    def inspect_volume(
        name: str,
        mode: Literal["usage", "files"] = "usage",
        depth: int | None = None,
        paths: list[str] | None = None,
        labels: dict[str, str] | None = None,
        ratio: float = 0.5,
        anything: Any = None,
    ) -> str:
        """Look at a docker volume.

        Args:
            name: the volume's name
            mode: what to report
        """
        return name

    schema = schema_from_signature(inspect_volume)
    properties = schema["properties"]
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert properties["name"] == {"type": "string", "description": "the volume's name"}
    assert properties["mode"] == {
        "enum": ["usage", "files"],
        "description": "what to report",
        "default": "usage",
    }
    assert properties["depth"] == {"type": ["integer", "null"], "default": None}
    assert properties["paths"] == {
        "type": ["array", "null"],
        "items": {"type": "string"},
        "default": None,
    }
    assert properties["labels"] == {
        "type": ["object", "null"],
        "additionalProperties": {"type": "string"},
        "default": None,
    }
    assert properties["ratio"] == {"type": "number", "default": 0.5}
    assert properties["anything"] == {"default": None}

    assert check_arguments(schema, {"name": "v"}) is None
    assert check_arguments(schema, {"name": "v", "depth": None, "ratio": 1}) is None
    assert "missing required argument(s) name" in str(check_arguments(schema, {}))
    assert "must be one of" in str(check_arguments(schema, {"name": "v", "mode": "all"}))
    assert "must be integer or null" in str(check_arguments(schema, {"name": "v", "depth": True}))
    assert "unexpected argument(s) size" in str(check_arguments(schema, {"name": "v", "size": 1}))


def test_registry_refusals() -> None:
    registry = ToolRegistry()

    def documented(x: int) -> int:
        """Doubles x."""
        return 2 * x

    def undocumented(x: int) -> int:
        return x

    def variadic(*args: int) -> int:
        """Sums."""
        return sum(args)

    def odd_type(x: complex) -> str:
        """Complex."""
        return str(x)

    spec = registry.register(documented)
    assert spec.definition()["function"]["description"] == "Doubles x."
    assert spec.invoke({"x": 21}) == "42"  # non-text results are JSON-encoded
    with pytest.raises(ToolRegistrationError, match="registered already"):
        registry.register(documented)
    with pytest.raises(ToolRegistrationError, match="needs a description"):
        registry.register(undocumented)
    with pytest.raises(ToolRegistrationError, match=r"\*args"):
        registry.register(variadic)
    with pytest.raises(ToolRegistrationError, match="cannot describe"):
        registry.register(odd_type)
    with pytest.raises(ToolRegistrationError, match="tool name"):
        registry.register(documented, name="has space")
    with pytest.raises(ToolRegistrationError, match="type 'object'"):
        registry.register(documented, {"type": "string"}, name="other")
    explicit = registry.register(
        undocumented,
        {"type": "object", "properties": {"x": {"type": "integer"}}},
        description="Returns x.",
    )
    assert explicit.parameters["properties"]["x"] == {"type": "integer"}


def test_register_tool_decorator_forms_use_the_default_registry() -> None:
    @register_tool
    def plain_tool_for_test(a: str) -> str:
        """Echo."""
        return a

    @register_tool(name="renamed_tool_for_test", description="Echo again.")
    def other(a: str) -> str:
        return a

    try:
        assert default_registry.get("plain_tool_for_test") is not None
        renamed = default_registry.get("renamed_tool_for_test")
        assert renamed is not None and renamed.function is other
        assert plain_tool_for_test("x") == "x"  # the function is returned unchanged
    finally:
        default_registry.unregister("plain_tool_for_test")
        default_registry.unregister("renamed_tool_for_test")


def test_long_tool_output_is_cut_for_the_model_keeping_head_and_tail() -> None:
    text = "".join(f"line {i}\n" for i in range(5000))
    cut = cut_for_model(text, 1000)
    assert len(cut) < 1100
    assert cut.startswith("line 0\n") and cut.endswith("line 4999\n")
    assert "characters cut" in cut
    assert cut_for_model("short", 1000) == "short"
