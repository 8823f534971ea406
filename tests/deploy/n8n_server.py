"""A real n8n for tests: the install of scripts/install-n8n.sh, its own user folder, loopback.

``N8nServer`` imports credentials and workflows with n8n's own CLI, publishes
(activates) them, starts ``n8n start`` on a free 127.0.0.1 port and reads
executions back through n8n's REST API as the owner it sets up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-n8n.sh"
N8N_VERSION = "2.39.10"  # the version scripts/install-n8n.sh installs and the workflow targets
OWNER = {
    "email": "owner@example.com",
    "firstName": "Test",
    "lastName": "Owner",
    "password": "Owner-password-1",
}


def n8n_launcher() -> Path | None:
    """The launcher scripts/install-n8n.sh writes, if the install is there."""
    cache = Path(os.environ.get("AGENT_AUDIT_CACHE") or Path.home() / ".cache" / "agent-audit")
    launcher = cache / f"n8n-{N8N_VERSION}.sh"
    return launcher if launcher.exists() else None


class N8nServer:
    """One n8n with its own user folder (database, settings, encryption key) under ``home``."""

    def __init__(self, launcher: Path, home: Path) -> None:
        self.launcher = launcher
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "n8n.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("N8N_")},
            "N8N_USER_FOLDER": str(home),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "N8N_ENCRYPTION_KEY": "agent-audit-test-key",
            "N8N_SECURE_COOKIE": "false",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            # The task runner broker has a fixed default port: tests run side by side.
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": "127.0.0.1",
            "DB_SQLITE_POOL_SIZE": "1",
        }

    def cli(self, *args: str, timeout_s: float = 180) -> str:
        """Run ``n8n ARGS`` on this user folder; fail with its output when it fails."""
        result = subprocess.run(
            [str(self.launcher), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert result.returncode == 0, f"n8n {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def import_json(self, kind: str, document: Any) -> None:
        """``n8n import:<kind>`` of ``document`` (a workflow or a list of credentials)."""
        path = self.home / f"import-{kind}.json"
        path.write_text(json.dumps(document))
        self.cli(f"import:{kind}", f"--input={path}")

    def start(self) -> None:
        """``n8n start``; returns once it serves requests."""
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(self.launcher), "start"],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # n8n starts task runners: stop the whole group
        )
        log.close()

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"n8n exited:\n{self.log()}")
            try:
                return self.http.get("/healthz/readiness").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=240, interval_s=0.5, what=f"n8n serving on {self.url}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sign_in(self) -> None:
        """Set up the owner account (a fresh n8n has none) and keep its session cookie."""
        response = self.http.post("/rest/owner/setup", json=OWNER)
        assert response.status_code == 200, response.text

    def add_workflow(self, workflow: dict[str, Any]) -> None:
        """Save and publish ``workflow`` as the editor does (Import from File, Publish):
        through the REST API of the running n8n, which registers its webhook at once."""
        response = self.http.post("/rest/workflows", json=workflow)
        assert response.status_code == 200, response.text
        version = response.json()["data"]["versionId"]
        response = self.http.post(
            f"/rest/workflows/{workflow['id']}/activate", json={"versionId": version}
        )
        assert response.status_code == 200, response.text

    def crash(self) -> None:
        """Kill n8n and its task runners at once, as a power cut or an OOM kill would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def executions(self, workflow_id: str) -> list[dict[str, Any]]:
        """This workflow's executions, newest first, from n8n's REST API."""
        response = self.http.get(
            "/rest/executions", params={"filter": json.dumps({"workflowId": workflow_id})}
        )
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["data"]["results"]
        return results

    def execution(self, execution_id: str) -> dict[str, Any]:
        """One execution with its data (n8n returns the run data as a flattened string)."""
        response = self.http.get(f"/rest/executions/{execution_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["data"]
        return body

    def execution_data(self, execution_id: str) -> dict[str, Any]:
        """The run data of one execution, decoded (n8n sends it "flatted": every object,
        array and string is an entry of one list, referred to by its index as text)."""
        return unflatten(self.execution(execution_id)["data"])

    def stop(self) -> None:
        self.http.close()
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def unflatten(text: str) -> Any:
    """The value a "flatted" JSON text stands for (the format of n8n's execution data)."""
    table = json.loads(text)
    revived: dict[int, Any] = {}

    def revive(index: int) -> Any:
        if index in revived:
            return revived[index]
        value = table[index]
        if isinstance(value, list):
            items: list[Any] = []
            revived[index] = items
            items.extend(revive(int(v)) if isinstance(v, str) else v for v in value)
            return items
        if isinstance(value, dict):
            fields: dict[str, Any] = {}
            revived[index] = fields
            for key, v in value.items():
                fields[key] = revive(int(v)) if isinstance(v, str) else v
            return fields
        return value

    return revive(0)
