"""deploy/k8s: rendered and validated as `make lint` does, then checked for what a
well-kept chart promises: a pinned image, an autoscaler, a disruption budget and an
identity per service, a drain on shutdown, migrations before the service starts, and
network policies that let only the right pods talk.

The NetworkPolicy checks evaluate the rendered policies with a small model of their
semantics (all pods in one namespace; policies add up; a pod selected by none for a
direction is open in that direction).
"""

from __future__ import annotations

import base64
import os
import secrets
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
SERVICES = ("token-service", "search-service", "booking-service", "account-service")
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

    # The account service: Redis and PostgreSQL; booking reads its JWKS.
    account = pod("account-service")
    assert connects(policies, account, redis, 6379)
    assert connects(policies, account, postgres, 5432)
    assert connects(policies, booking, account, 9491)
    assert not connects(policies, search, account, 9491)
    assert not connects(policies, account, token, 50051)

    # Prometheus, in its own namespace (whose egress is not ours), scrapes every service.
    prometheus = pod("prometheus")
    for service, metrics in ((token, 9461), (search, 9471), (booking, 9481), (account, 9491)):
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


def pod_env(
    docs: list[Doc], deployment: str, secrets: dict[tuple[str, str], str], files: Path
) -> dict[str, str]:
    """The environment the Deployment's service container gets, with ``secrets``
    ((Secret name, key) -> value) as the Secrets' contents: ConfigMaps, literal values
    and secretKeyRefs resolved, and each mounted secret file written under ``files``
    (its ``*_FILE`` variable pointing there)."""
    spec = of_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    configs = of_kind(docs, "ConfigMap")
    mounted: dict[str, tuple[str, str]] = {}  # file path -> (Secret, key)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        sources = [s["secret"] for s in volume.get("projected", {}).get("sources", [])]
        if "secret" in volume:
            sources.append({"name": volume["secret"]["secretName"], **volume["secret"]})
        for source in sources:
            for item in source.get("items", []):
                mounted[f"{mount['mountPath']}/{item['path']}"] = (source["name"], item["key"])
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        env.update(configs[ref["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        if "value" in var:
            value = var["value"]
            if var["name"].endswith("_FILE") and value in mounted:
                path = files / value.strip("/").replace("/", "_")
                path.write_text(secrets[mounted[value]] + "\n")
                value = str(path)
            env[var["name"]] = value
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[(ref["name"], ref["key"])]
        else:
            env[var["name"]] = "pod-0"
    return env


def example_secrets() -> dict[tuple[str, str], str]:
    """Every key of the example Secrets with a value of the right shape."""
    values: dict[tuple[str, str], str] = {}
    for path in sorted((ROOT / "deploy" / "k8s").glob("*-secret.example.yaml")):
        secret = yaml.safe_load(path.read_text())
        for key, placeholder in secret["stringData"].items():
            fresh = secrets.token_urlsafe(24)
            if key == "token-encryption-keys":
                fresh = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
            elif "CHANGE_ME" in placeholder and placeholder != "CHANGE_ME":
                fresh = placeholder.replace("CHANGE_ME", fresh)
            values[(secret["metadata"]["name"], key)] = fresh
    return values


def test_the_token_and_search_pods_load_their_settings_with_the_hotel_supplier(
    docs: list[Doc], tmp_path: Path
) -> None:
    """The services' own settings loaders on the pods' environments (ConfigMaps, the
    example Secrets' keys filled in): the token service logs in to the hotel supplier
    with the password grant from the mounted files, and search uses it for hotels."""
    from search_service.settings import SearchServiceSettings
    from token_service.settings import TokenServiceSettings

    values = example_secrets()
    token = TokenServiceSettings.from_env(pod_env(docs, "token-service", values, tmp_path))
    hotel = next(p for p in token.providers if p.name == "hotel")
    secret = "token-service-secrets"
    assert hotel.grant == "password"
    assert hotel.client_id == values[(secret, "provider-hotel-client-id")]
    assert hotel.client_secret == values[(secret, "provider-hotel-client-secret")]
    assert hotel.username == values[(secret, "provider-hotel-username")]
    assert hotel.password == values[(secret, "provider-hotel-password")]
    callers = {c.caller_id: c.providers for c in token.callers}
    assert "hotel" in callers["search"]

    search = SearchServiceSettings.from_env(pod_env(docs, "search-service", values, tmp_path))
    assert search.hotel_provider is not None
    assert search.hotel_provider.base_url.startswith("https://")
    assert search.hotel_provider.caller_key == values[(secret, "caller-search-key")]
