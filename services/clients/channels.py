"""gRPC channels to a set of replicas: client-side round robin, retries on
UNAVAILABLE only, keepalive."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import grpc


def service_config(service: str, *, max_attempts: int = 3) -> str:
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": [{"service": service}],
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "0.5s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
        }
    )


def target_for(addresses: Sequence[str]) -> str:
    """``ipv4:`` list for literal addresses; a single DNS name (e.g. a Kubernetes
    headless service) resolves to all its replicas with ``dns:///``."""
    if not addresses:
        raise ValueError("at least one address is required")
    hosts = [a.rsplit(":", 1)[0] for a in addresses]
    if all(h.replace(".", "").isdigit() for h in hosts):
        return "ipv4:" + ",".join(addresses)
    if all(h.startswith("[") for h in hosts):
        return "ipv6:" + ",".join(addresses)
    if len(addresses) != 1:
        raise ValueError("give either IP addresses or one DNS name")
    return f"dns:///{addresses[0]}"


def open_channel(
    addresses: Sequence[str],
    service: str,
    *,
    tls_ca_file: str | None = None,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
    tls_server_name: str | None = None,
) -> grpc.aio.Channel:
    """``tls_server_name`` is the name checked against the servers' certificate; needed
    when dialling IP addresses of replicas whose certificate names a service."""
    options = [
        ("grpc.service_config", service_config(service)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]
    target = target_for(addresses)
    if tls_ca_file is None:
        return grpc.aio.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(tls_ca_file).read_bytes(),
        private_key=Path(tls_key_file).read_bytes() if tls_key_file else None,
        certificate_chain=Path(tls_cert_file).read_bytes() if tls_cert_file else None,
    )
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    return grpc.aio.secure_channel(target, credentials, options=options)
