"""deploy/k8s: rendered and validated as `make lint` does, then checked for what a
well-kept chart promises: a pinned image, an autoscaler, a disruption budget and an
identity per service, a drain on shutdown, migrations before the service starts, and
network policies that let only the right pods talk.

The NetworkPolicy checks evaluate the rendered policies with a small model of their
semantics (all pods in one namespace; policies add up; a pod selected by none for a
direction is open in that direction).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "check_k8s.sh"
VENV_BIN = str(Path(sys.executable).parent)
SERVICES = ("token-service", "search-service", "booking-service", "tracking-service")
NAMESPACE = {"kubernetes.io/metadata.name": "skyroute"}

Doc = dict[str, Any]


def check(k8s_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENV_BIN": VENV_BIN, "K8S_DIR": str(k8s_dir)}
    return subprocess.run(
        ["bash", str(SCRIPT), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    out = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    result = check(ROOT / "deploy" / "k8s", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid for Kubernetes" in result.stdout
    return [d for d in yaml.safe_load_all(out.read_text()) if d]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_the_check_fails_on_an_invalid_object(tmp_path: Path) -> None:
    bad = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", bad)
    hpa = bad / "token-service-hpa.yaml"
    hpa.write_text(hpa.read_text().replace("  minReplicas:", "  minReplica:"))
    result = check(bad, tmp_path / "out.yaml")
    assert result.returncode != 0
    assert "minReplica" in result.stdout + result.stderr


def containers(deployment: Doc) -> Iterator[Doc]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def test_every_image_is_pinned_by_the_kustomization(docs: list[Doc]) -> None:
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/kustomization.yaml").read_text())
    (pin,) = kustomization["images"]
    assert pin.get("newTag", "latest") != "latest" or pin.get("digest")
    images = {c["image"] for d in of_kind(docs, "Deployment").values() for c in containers(d)}
    assert len(images) == 1
    (image,) = images
    assert "@sha256:" in image or (":" in image and not image.endswith(":latest"))


def test_each_service_has_an_autoscaler_a_budget_and_its_own_identity(docs: list[Doc]) -> None:
    deployments = of_kind(docs, "Deployment")
    hpas, pdbs = of_kind(docs, "HorizontalPodAutoscaler"), of_kind(docs, "PodDisruptionBudget")
    accounts = of_kind(docs, "ServiceAccount")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns replicas"
        hpa = hpas[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdb = pdbs[name]["spec"]
        assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
        assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
        pod = deployment["spec"]["template"]["spec"]
        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False
        assert pod["automountServiceAccountToken"] is False
    assert len(
        {d["spec"]["template"]["spec"]["serviceAccountName"] for d in deployments.values()}
    ) == len(deployments)


def test_termination_grace_covers_the_pre_stop_pause_and_the_drain(docs: list[Doc]) -> None:
    configs = of_kind(docs, "ConfigMap")
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        (source,) = container["envFrom"]
        drain = float(configs[source["configMapRef"]["name"]]["data"]["SHUTDOWN_GRACE_SECONDS"])
        assert pre_stop >= 3, name
        # Room beyond preStop + drain for closing pools and stopping background tasks.
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 5, name


def test_database_services_migrate_before_they_start(docs: list[Doc]) -> None:
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"] for e in pod["containers"][0].get("env", [])}
        init = pod.get("initContainers", [])
        if "DATABASE_URL_FILE" not in env:
            assert not init, name
            continue
        (migrate,) = init
        assert migrate["command"][:3] == ["python", "-m", "migrations"], name
        assert migrate["image"] == pod["containers"][0]["image"]
        assert "DATABASE_URL_FILE" in {e["name"] for e in migrate["env"]}
    assert not of_kind(docs, "Job"), "the migration runs in the pods, not a Job"


# --- NetworkPolicy semantics ------------------------------------------------------


def selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def peer_matches(peer: Doc, pod: dict[str, str] | None) -> bool:
    """``pod`` is a pod of the namespace, or None for an address outside the cluster."""
    if "ipBlock" in peer:
        return pod is None
    if pod is None:
        return False
    if "namespaceSelector" in peer and not selects(peer["namespaceSelector"], NAMESPACE):
        return False
    return selects(peer.get("podSelector"), pod)


def rule_allows(rule: Doc, peers_key: str, other: dict[str, str] | None, port: int) -> bool:
    ports = rule.get("ports")
    if ports is not None and not any(p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(peer_matches(p, other) for p in peers)


def allowed(
    policies: list[Doc],
    direction: str,
    pod: dict[str, str],
    other: dict[str, str] | None,
    port: int,
) -> bool:
    kind, key, peers = {"in": ("Ingress", "ingress", "from"), "out": ("Egress", "egress", "to")}[
        direction
    ]
    applying = [
        p["spec"]
        for p in policies
        if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod)
    ]
    if not applying:
        return True
    return any(rule_allows(r, peers, other, port) for s in applying for r in s.get(key, []))


def connects(
    policies: list[Doc], source: dict[str, str], target: dict[str, str], port: int
) -> bool:
    return allowed(policies, "out", source, target, port) and allowed(
        policies, "in", target, source, port
    )


def pod(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "skyroute"}


def test_network_policies_let_only_the_right_pods_talk(docs: list[Doc]) -> None:
    policies = list(of_kind(docs, "NetworkPolicy").values())
    token, search, booking = pod("token-service"), pod("search-service"), pod("booking-service")
    redis, postgres, other = pod("redis"), pod("postgresql"), {"app": "something-else"}

    assert {"token-service", "search-service", "booking-service"} <= set(
        of_kind(docs, "NetworkPolicy")
    )
    # Default deny: a pod nobody allowed reaches nothing and is reached by nothing.
    assert not connects(policies, other, pod("unlisted"), 8080)

    for caller in (search, booking):
        assert connects(policies, caller, token, 50051)
    for caller in (other, token, redis):
        assert not connects(policies, caller, token, 50051)
    assert not connects(policies, search, token, 9461)  # metrics are Prometheus's

    for service in (token, search, booking):
        assert connects(policies, service, redis, 6379)
    assert not connects(policies, other, redis, 6379)

    for service in (search, booking):
        assert connects(policies, service, postgres, 5432)
    for caller in (token, other):
        assert not connects(policies, caller, postgres, 5432)

    assert connects(policies, booking, search, 50061)
    assert not connects(policies, token, search, 50061)

    # Tracking: prices from search, alerts over Redis, trackers in PostgreSQL; it has
    # no business with the token service (it never calls the provider itself).
    tracking = pod("tracking-service")
    for target, port in ((search, 50061), (redis, 6379), (postgres, 5432)):
        assert connects(policies, tracking, target, port)
    assert not connects(policies, tracking, token, 50051)
    assert allowed(policies, "in", tracking, pod("prometheus"), 9491)

    # Prometheus, in its own namespace (whose egress is not ours), scrapes every service.
    prometheus = pod("prometheus")
    for service, metrics in ((token, 9461), (search, 9471), (booking, 9481)):
        assert allowed(policies, "in", service, prometheus, metrics)
        assert not allowed(policies, "in", service, other, metrics)

    # Every pod may ask the cluster DNS, in kube-system (outside the one-namespace
    # model, so the rule is checked as written).
    dns = of_kind(docs, "NetworkPolicy")["allow-dns-egress"]["spec"]
    assert dns["podSelector"] == {} and dns["policyTypes"] == ["Egress"]
    (rule,) = dns["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {(53, "UDP"), (53, "TCP")}

    # The provider, outside the cluster, over HTTPS; nothing else leaves.
    for service in (token, search, booking):
        assert allowed(policies, "out", service, None, 443)
        assert not allowed(policies, "out", service, None, 80)
