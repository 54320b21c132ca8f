"""mTLS: with a client CA configured, only callers with a certificate get in."""

from __future__ import annotations

import grpc
import pytest

from services.clients.token_client import TokenClient
from tests.utils.certs import SERVER_NAME, make_pki


async def test_mutual_tls(sim, cluster_factory, workdir):
    pki = make_pki(workdir)
    cluster = cluster_factory(
        sim,
        replicas=2,
        env={
            "TLS_CERT_FILE": str(pki["server_cert"]),
            "TLS_KEY_FILE": str(pki["server_key"]),
            "TLS_CLIENT_CA_FILE": str(pki["ca"]),
        },
    )
    key = cluster.keys["search"]
    with_cert = TokenClient(
        cluster.addresses,
        "search",
        key,
        timeout=5,
        tls_ca_file=str(pki["ca"]),
        tls_cert_file=str(pki["client_cert"]),
        tls_key_file=str(pki["client_key"]),
        tls_server_name=SERVER_NAME,
    )
    without_cert = TokenClient(
        cluster.addresses,
        "search",
        key,
        timeout=2,
        tls_ca_file=str(pki["ca"]),
        tls_server_name=SERVER_NAME,
    )
    plaintext = TokenClient(cluster.addresses, "search", key, timeout=2)
    try:
        token = await with_cert.get_token("amadeus")
        assert token.access_token
        for client in (without_cert, plaintext):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.get_token("amadeus")
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        for client in (with_cert, without_cert, plaintext):
            await client.close()
