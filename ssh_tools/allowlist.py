"""Which commands may run on the server: a declarative policy and a pure checker.

Shared by the client (which refuses before sending) and the gateway (which refuses
before running). Standard library only. Whatever the policy does not name is
refused; the checker returns either the argv to run or a :class:`Refusal`.

A policy is a JSON object::

    {
      "version": 1,
      "program": "docker",                 # the only first word allowed
      "max_command_length": 512,           # characters, whole command
      "max_arguments": 24,                 # words, program included
      "allowed_punctuation": " _.:=+-",    # besides ASCII letters and digits
      "shapes": {                          # named value shapes
        "container": {"pattern": "[a-zA-Z0-9][a-zA-Z0-9_.-]*", "max_length": 128},
        "tail": {"min": 0, "max": 5000}    # an integer range
      },
      "subcommands": {
        "logs": {
          "flags": {"--tail": {"aliases": ["-n"], "value": "tail"},
                    "--timestamps": {"aliases": ["-t"]}},
          "required": ["--tail"],           # flags that must be present
          "arguments": {"min": 1, "max": 1, "shape": "container"}
        }
      }
    }

Long flags take values as ``--tail 50`` or ``--tail=50``; short aliases only as
``-n 50``. Combined short flags (``-aq``), ``--`` and repeated flags are refused.
Every character outside ASCII letters, digits and ``allowed_punctuation`` is
refused, which rules out shell metacharacters, quotes, templates (``{{ }}``),
paths (``/``), control characters and Unicode look-alikes before parsing.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ssh_tools.policy import DEFAULT_POLICY, DEFAULT_POLICY_DATA, Policy, load_policy
from ssh_tools.policy import Subcommand as _Subcommand

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_POLICY_DATA",
    "Policy",
    "Refusal",
    "check_argv",
    "evaluate",
    "load_policy",
    "positional_arguments",
]


@dataclass(frozen=True)
class Refusal:
    """A command the policy does not admit, and why (one line, safe to show)."""

    reason: str


def evaluate(command: str, policy: Policy | None = None) -> tuple[str, ...] | Refusal:
    """The argv ``command`` stands for if ``policy`` admits it, else a :class:`Refusal`."""
    policy = policy or DEFAULT_POLICY
    if not isinstance(command, str):
        return Refusal("the command must be text")
    if len(command) > policy.max_command_length:
        return Refusal(f"command is longer than {policy.max_command_length} characters")
    problem = _character_problem(command, policy)
    if problem:
        return Refusal(problem)
    try:
        argv = tuple(shlex.split(command, comments=False, posix=True))
    except ValueError as exc:  # unreachable with quotes refused above; kept as a guard
        return Refusal(f"cannot parse the command: {exc}")
    return _check_words(argv, policy)


def check_argv(argv: Sequence[str], policy: Policy | None = None) -> tuple[str, ...] | Refusal:
    """Like :func:`evaluate` for an argv built by code, word by word.

    Admitted only if ``shlex.join(argv)`` evaluates back to the same argv, so what is
    sent over SSH is exactly what the gateway will see.
    """
    policy = policy or DEFAULT_POLICY
    words = tuple(argv)
    for word in words:
        if not isinstance(word, str):
            return Refusal("every argument must be text")
        if word == "":
            return Refusal("empty argument")
        problem = _character_problem(word, policy, in_word=True)
        if problem:
            return Refusal(f"argument {_shorten(word)!r}: {problem}")
    decision = evaluate(shlex.join(words), policy)
    if isinstance(decision, Refusal) or decision == words:
        return decision
    return Refusal("the arguments do not survive quoting unchanged")


def positional_arguments(argv: Sequence[str], policy: Policy | None = None) -> tuple[str, ...]:
    """The non-option words after the subcommand of an argv the policy admits.

    For ``docker restart --time 5 web`` that is ``("web",)``. Raises ``ValueError`` if
    the policy does not admit ``argv``.
    """
    policy = policy or DEFAULT_POLICY
    decision = check_argv(argv, policy)
    if isinstance(decision, Refusal):
        raise ValueError(decision.reason)
    found: list[str] = []
    _check_subcommand(decision[2:], policy.subcommands[decision[1]], policy.program, found)
    return tuple(found)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _character_problem(text: str, policy: Policy, *, in_word: bool = False) -> str | None:
    for position, char in enumerate(text):
        if char in policy.allowed_characters and not (in_word and char == " "):
            continue
        if not char.isascii():
            return f"non-ASCII character U+{ord(char):04X} at position {position} is not allowed"
        if not char.isprintable() or char == " ":
            return f"control or space character 0x{ord(char):02x} is not allowed"
        return f"character {char!r} is not allowed"
    return None


def _check_words(argv: tuple[str, ...], policy: Policy) -> tuple[str, ...] | Refusal:
    if not argv:
        return Refusal("empty command")
    if len(argv) > policy.max_arguments:
        return Refusal(f"more than {policy.max_arguments} words")
    if argv[0] != policy.program:
        return Refusal(f"only {policy.program!r} commands are allowed, not {_shorten(argv[0])!r}")
    if len(argv) < 2:
        return Refusal(f"{policy.program} needs a subcommand")
    name = argv[1]
    if name.startswith("-"):
        return Refusal(f"global {policy.program} options are not allowed ({_shorten(name)!r})")
    spec = policy.subcommands.get(name)
    if spec is None:
        return Refusal(f"{policy.program} subcommand {_shorten(name)!r} is not allowed")
    refusal = _check_subcommand(argv[2:], spec, policy.program, [])
    return refusal or argv


def _check_subcommand(
    words: Sequence[str], spec: _Subcommand, program: str, arguments: list[str]
) -> Refusal | None:
    """None if ``words`` fit ``spec``; the positional words are appended to ``arguments``."""
    seen: set[str] = set()
    index = 0
    where = f"{program} {spec.name}"
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("-") or word == "-":
            arguments.append(word)
            continue
        spelling, has_inline, inline_value = word.partition("=")
        flag = spec.flags.get(spelling)
        if flag is None:
            return Refusal(f"option {_shorten(spelling)!r} is not allowed for {where}")
        if flag.name in seen:
            return Refusal(f"option {flag.name!r} given twice")
        seen.add(flag.name)
        if flag.value_shape is None:
            if has_inline:
                return Refusal(f"option {spelling!r} takes no value")
            continue
        if has_inline:
            if not spelling.startswith("--"):
                return Refusal(f"write {spelling} VALUE, not {spelling}=VALUE")
            value = inline_value
        elif index < len(words):
            value = words[index]
            index += 1
        else:
            return Refusal(f"option {spelling!r} needs a value")
        problem = flag.value_shape.check(value)
        if problem:
            return Refusal(f"{spelling}: {problem}")
    missing = [name for name in spec.required if name not in seen]
    if missing:
        return Refusal(f"{where} requires {', '.join(missing)}")
    if not spec.min_arguments <= len(arguments) <= spec.max_arguments:
        wanted = (
            f"exactly {spec.min_arguments}"
            if spec.min_arguments == spec.max_arguments
            else f"{spec.min_arguments} to {spec.max_arguments}"
        )
        return Refusal(f"{where} takes {wanted} argument(s), got {len(arguments)}")
    if spec.argument_shape is not None:
        for argument in arguments:
            problem = spec.argument_shape.check(argument)
            if problem:
                return Refusal(problem)
    return None
