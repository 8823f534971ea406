#!/usr/bin/env bash
# Builds one framework's own virtualenv for tests/frameworks/test_venv_frameworks.py:
#   bash scripts/install-framework-venv.sh crewai
# into ${AGENT_AUDIT_CACHE:-$HOME/.cache/agent-audit}/venv-<framework>, from
# tests/frameworks/venv_agents/requirements-<framework>.txt (wheels cached in $cache/pip).
# These frameworks pin versions the project's environment cannot share (openai<3,
# protobuf~=5.29), so each gets a venv of its own; .ci/run builds them in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
framework=${1:?usage: install-framework-venv.sh FRAMEWORK}
requirements="tests/frameworks/venv_agents/requirements-$framework.txt"
[ -f "$requirements" ] || {
    echo "no $requirements" >&2
    exit 1
}
cache="${AGENT_AUDIT_CACHE:-$HOME/.cache/agent-audit}"
venv="$cache/venv-$framework"
start=$SECONDS
# A venv installed from these same requirements is reused as it is (pip would only check
# each of them again).
stamp=$(cat "$requirements" scripts/install-framework-venv.sh | sha256sum)
if [ -x "$venv/bin/python" ] && [ "$stamp" = "$(cat "$venv/.installed-from" 2>/dev/null)" ]; then
    echo "venv-$framework already installed from $requirements"
    exit 0
fi
rm -f "$venv/.installed-from"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --progress-bar off \
    --cache-dir "$cache/pip" -r "$requirements"
printf '%s\n' "$stamp" >"$venv/.installed-from"
echo "venv-$framework installed in $((SECONDS - start)) s"
