"""``python -m provider_sim`` as a real subprocess: port file, a token, JSON logs, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from services.parent_death import dying_with_parent

REPO_ROOT = Path(__file__).resolve().parents[3]
SECRET = "cli-secret-never-logged"

pytestmark = pytest.mark.timeout(20)


def start_sim(port_file: Path, environ: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the CLI; stderr goes to a file so a chatty child can never fill a pipe."""
    with log.open("wb") as stderr:
        return subprocess.Popen(
            dying_with_parent(
                [sys.executable, "-m", "provider_sim", "--port", "0", "--port-file", str(port_file)]
            ),
            cwd=REPO_ROOT,
            env={**os.environ, **environ},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_for_port(port_file: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        assert process.poll() is None, "simulator exited before listening"
        time.sleep(0.02)
    raise AssertionError("simulator did not write its port file")


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_serves_tokens_logs_safely_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file, log = tmp_path / "sim.port", tmp_path / "sim.log"
    process = start_sim(port_file, {"SIM_CLIENTS": f"skyroute:{SECRET}"}, log)
    try:
        base = f"http://127.0.0.1:{wait_for_port(port_file, process)}"
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": "skyroute", "client_secret": SECRET}
        ).encode()
        token = http(f"{base}/v1/security/oauth2/token", data=form)["access_token"]
        airlines = http(
            f"{base}/v1/reference-data/airlines?airlineCodes=BA",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert airlines["meta"]["count"] == 1
        assert http(f"{base}/v1/security/oauth2/token/{token}")["state"] == "approved"
        with pytest.raises(urllib.error.HTTPError):
            http(f"{base}/v1/typo/{token}")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = log.read_text()

    assert token not in stderr
    assert SECRET not in stderr
    assert "Bearer" not in stderr
    records = [json.loads(line) for line in stderr.splitlines()]
    requests = [r for r in records if r["message"] == "request"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/v1/security/oauth2/token", 200),
        ("GET", "/v1/reference-data/airlines", 200),
        ("GET", "/v1/security/oauth2/token/{access_token}", 200),
        ("GET", "/v1/typo/{redacted}", 404),
    ]
    assert all(isinstance(r["latency_ms"], float) for r in requests)
    assert {"listening", "stopped"} <= {r["message"] for r in records}
    assert not port_file.exists()  # removed on clean shutdown so it never points at nothing


def test_refuses_to_start_without_clients(tmp_path: Path) -> None:
    environ = {"SIM_CLIENTS": "", "SIM_CLIENTS_FILE": ""}
    log = tmp_path / "sim.log"
    process = start_sim(tmp_path / "sim.port", environ, log)
    assert process.wait(timeout=10) == 2
    assert "no clients configured" in log.read_text()
    assert not (tmp_path / "sim.port").exists()
