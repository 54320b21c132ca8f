"""The debugging CLI against a real token-service cluster (replicas as processes), as
a script uses it (``--json``); tests/system/test_cli_demo.py reads what people see."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from skyroute_cli.__main__ import main
from tests.utils.processes import ROOT


def test_cli_against_a_cluster(sim, cluster_factory, capsys, monkeypatch) -> None:
    cluster = cluster_factory(sim, replicas=2)
    env = {
        "TOKEN_SERVICE_ADDRESSES": ",".join(cluster.addresses),
        "TOKEN_CALLER_ID": "search",
        "TOKEN_CALLER_KEY": cluster.keys["search"],
    }

    def cli(*argv: str, stdin: str = "", expect: int = 0, caller_env: dict | None = None) -> Any:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["--json", *argv], caller_env or env)
        out, err = capsys.readouterr()
        assert code == expect, err
        if expect:
            return json.loads(err)["error"]
        lines = out.splitlines()
        return (
            [json.loads(line) for line in lines]
            if argv[:2] == ("token", "watch")
            else json.loads(out)
        )

    # The entry point itself, as a user runs it: the token is masked by default.
    proc = subprocess.run(
        [sys.executable, "-m", "skyroute_cli", "token", "get", "--provider", "amadeus", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    masked = json.loads(proc.stdout)
    amadeus_client = cluster.client_ids["amadeus"]
    [issued] = [t for t in sim.tokens() if t["client_id"] == amadeus_client]
    real = issued["access_token"]
    assert masked["access_token"] == real[:4] + "…"
    assert real not in proc.stdout
    assert masked["generation"] == "1" and masked["provider"] == "amadeus"
    assert masked["expire_time"].endswith("Z")

    assert cli("token", "get", "--provider", "amadeus", "--show-token")["access_token"] == real

    status = cli("token", "status", "--provider", "amadeus")
    # Without --json: for people, and still without the token.
    assert main(["token", "get", "--provider", "amadeus"], env) == 0
    human = capsys.readouterr().out
    assert "generation  1\n" in human and real[:4] + "…" in human and real not in human
    # --timeout goes before the group or after the command.
    for argv in (("--timeout", "5", "token", "status"), ("token", "status", "--timeout", "5")):
        assert cli(*argv, "--provider", "amadeus")["generation"] == "1"
    assert status["has_valid_token"] is True and status["generation"] == "1"
    assert real not in json.dumps(status)

    [first] = cli("token", "watch", "--provider", "amadeus", "--count", "1")
    assert first["token"]["access_token"] == real[:4] + "…"
    assert first["heartbeat_interval"].endswith("s")

    reported = cli("token", "report", "--provider", "amadeus", "--token-stdin", stdin=real + "\n")
    assert reported["invalidated"] is True
    assert reported["token"]["generation"] == "2"
    assert sim.issued(amadeus_client) == 2
    new = [t["access_token"] for t in sim.tokens() if t["client_id"] == amadeus_client][-1]
    assert reported["token"]["access_token"] == new[:4] + "…"
    assert new not in json.dumps(reported)

    issued_dl = cli(
        "download", "issue", "--resource", "itinerary/ABC234", "--ttl", "60", "--max-uses", "1"
    )
    download = issued_dl["download_token"]
    peek = cli("download", "validate", download, "--peek")
    assert (peek["result"], peek["valid"], peek["remaining_uses"]) == ("RESULT_VALID", True, 1)
    used = cli("download", "validate", "-", stdin=download)
    assert (used["result"], used["remaining_uses"]) == ("RESULT_VALID", 0)
    assert cli("download", "validate", download)["result"] == "RESULT_USED_UP"
    rid = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    assert cli("download", "revoke", download, "--request-id", rid) == {"revoked": True}
    # Its answer lost: the same request id answers it again; another revocation not.
    assert cli("download", "revoke", download, "--request-id", rid) == {"revoked": True}
    assert cli("download", "revoke", download) == {"revoked": False}
    assert cli("download", "revoke", "no-such-token") == {"revoked": False}
    again = ["download", "issue", "--resource", "itinerary/X", "--ttl", "60", "--request-id", rid]
    assert cli(*again)["download_token"] == cli(*again)["download_token"]

    # Errors: code, message and the rich details, on stderr, exit 1.
    bad = cli("download", "issue", "--resource", "r", "--ttl", "0.5", expect=1)
    assert bad["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in bad["field_violations"]] == ["ttl"]
    assert bad["reason"] == "INVALID_ARGUMENT" and bad["domain"] == "skyroute.dev"
    assert bad["request_id"]  # the id the services logged the call under

    limited = {**env, "TOKEN_CALLER_ID": "limited", "TOKEN_CALLER_KEY": cluster.keys["limited"]}
    denied = cli("token", "get", "--provider", "amadeus", expect=1, caller_env=limited)
    assert (denied["code"], denied["reason"]) == ("PERMISSION_DENIED", "PROVIDER_NOT_ALLOWED")
    assert denied["metadata"] == {"provider": "amadeus"}

    wrong_key = {**env, "TOKEN_CALLER_KEY": "not-the-key"}
    unauth = cli("token", "status", "--provider", "amadeus", expect=1, caller_env=wrong_key)
    assert (unauth["code"], unauth["reason"]) == ("UNAUTHENTICATED", "CALLER_CREDENTIALS_INVALID")
    assert cluster.keys["search"] not in json.dumps(unauth)


def test_cli_usage_errors(capsys, monkeypatch) -> None:
    assert main(["token", "status", "--provider", "amadeus"], {}) == 2
    assert "TOKEN_SERVICE_ADDRESSES" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    env = {
        "TOKEN_SERVICE_ADDRESSES": "127.0.0.1:1",
        "TOKEN_CALLER_ID": "cli",
        "TOKEN_CALLER_KEY": "key-for-tests-1234",
    }
    assert main(["token", "report", "--provider", "amadeus"], env) == 2
    assert "--token-stdin" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "token" in capsys.readouterr().out
