"""Channel targets and the service config: round robin, retry on UNAVAILABLE only."""

from __future__ import annotations

import json

import pytest

from services.clients.channels import service_config, target_for


def test_ipv4_addresses_become_an_ipv4_list() -> None:
    assert target_for(["10.0.0.1:50051", "10.0.0.2:50052"]) == (
        "ipv4:10.0.0.1:50051,10.0.0.2:50052"
    )


def test_single_ipv4_address() -> None:
    assert target_for(["127.0.0.1:50051"]) == "ipv4:127.0.0.1:50051"


def test_ipv6_addresses_become_an_ipv6_list() -> None:
    assert target_for(["[::1]:50051", "[::1]:50052"]) == "ipv6:[::1]:50051,[::1]:50052"


def test_single_dns_name_resolves_all_replicas() -> None:
    assert target_for(["token-service:50051"]) == "dns:///token-service:50051"


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1:50051", "token-service:50051"],
        ["token-a:50051", "token-b:50051"],
        ["[::1]:50051", "10.0.0.1:50051"],
    ],
)
def test_mixed_or_several_names_are_refused(addresses: list[str]) -> None:
    with pytest.raises(ValueError, match="IP addresses or one DNS name"):
        target_for(addresses)


def test_no_address_is_refused() -> None:
    with pytest.raises(ValueError):
        target_for([])


def test_service_config_round_robin_and_retry_only_unavailable() -> None:
    config = json.loads(service_config("skyroute.token.v1.TokenService", max_attempts=4))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    [method] = config["methodConfig"]
    assert method["name"] == [{"service": "skyroute.token.v1.TokenService"}]
    retry = method["retryPolicy"]
    assert retry["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert retry["maxAttempts"] == 4
