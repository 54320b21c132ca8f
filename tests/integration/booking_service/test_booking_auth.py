"""End-user JWTs on a real server: what is refused (UNAUTHENTICATED, with a reason) and
what is accepted (HS256 secret, RS256 / ES256 from a JWKS file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.booking_cluster import AUDIENCE, ISSUER, bearer, new_secret, token_for

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    data: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)  # type: ignore[attr-defined]
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


def reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def call_list(stub: Any, metadata: Any) -> Any:
    return await stub.ListBookings(pb.ListBookingsRequest(), metadata=metadata)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("none", "TOKEN_MISSING"),
        ("basic", "TOKEN_MALFORMED"),
        ("garbage", "TOKEN_MALFORMED"),
        ("expired", "TOKEN_EXPIRED"),
        ("wrong_issuer", "TOKEN_ISSUER_OR_AUDIENCE_INVALID"),
        ("wrong_audience", "TOKEN_ISSUER_OR_AUDIENCE_INVALID"),
        ("forged", "TOKEN_SIGNATURE_INVALID"),
        ("alg_none", "TOKEN_KEY_UNKNOWN"),
        ("no_sub", "TOKEN_INVALID"),
        ("no_exp", "TOKEN_INVALID"),
        ("rs256_without_jwks", "TOKEN_KEY_UNKNOWN"),
    ],
)
async def test_refused_tokens(booking, case: str, expected: str) -> None:
    secret = booking.secret
    metadata: tuple[tuple[str, str], ...] = {
        "none": (),
        "basic": (("authorization", "Basic dXNlcjpwYXNz"),),
        "garbage": bearer("not.a.jwt"),
        "expired": bearer(token_for("alice", secret, ttl=-120)),
        "wrong_issuer": bearer(token_for("alice", secret, issuer="https://evil.test")),
        "wrong_audience": bearer(token_for("alice", secret, audience="someone-else")),
        "forged": bearer(token_for("alice", new_secret())),
        "alg_none": bearer(
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": 4_000_000_000},
                None,
                algorithm="none",
            )
        ),
        "no_sub": bearer(
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "exp": 4_000_000_000}, secret, algorithm="HS256"
            )
        ),
        "no_exp": bearer(
            jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice"}, secret, algorithm="HS256")
        ),
        "rs256_without_jwks": bearer(token_for("alice", secret, key=RSA_KEY, algorithm="RS256")),
    }[case]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call_list(booking.stub, metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(err.value) == expected
    # Nothing of the token comes back in the error.
    for _, value in metadata:
        assert value.split(" ")[-1] not in (err.value.details() or "")


async def test_every_rpc_requires_a_token(booking) -> None:
    calls = [
        booking.stub.CreateBooking(pb.CreateBookingRequest()),
        booking.stub.ConfirmBooking(pb.ConfirmBookingRequest()),
        booking.stub.GetBooking(pb.GetBookingRequest()),
        booking.stub.ListBookings(pb.ListBookingsRequest()),
        booking.stub.CancelBooking(pb.CancelBookingRequest()),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Health probes need none.
    health = health_pb2_grpc.HealthStub(booking.channel)
    answer = await health.Check(
        health_pb2.HealthCheckRequest(service="skyroute.booking.v1.BookingService")
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_jwks_keys_rs256_and_es256(server_factory, tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(
        json.dumps({"keys": [jwk(RSA_KEY, "rsa-1", "RS256"), jwk(EC_KEY, "ec-1", "ES256")]})
    )
    server = await server_factory(BOOKING_JWKS_FILE=str(jwks_file))
    rs = token_for("alice", "", key=RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    es = token_for("alice", "", key=EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    for token in (rs, es):
        assert (await call_list(server.stub, bearer(token))).bookings == []
    # The dev secret still works alongside (both configured).
    assert (await call_list(server.stub, server.auth("alice"))).bookings == []

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "unknown kid": token_for(
            "alice", "", key=RSA_KEY, algorithm="RS256", headers={"kid": "rsa-2"}
        ),
        "kid of another key type": token_for(
            "alice", "", key=RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"}
        ),
        "right kid, wrong key": token_for(
            "alice", "", key=other, algorithm="RS256", headers={"kid": "rsa-1"}
        ),
        # Algorithm confusion: HS256 "signed" with the public key as the secret.
        "public key as HMAC secret": _hs256_with_public_key(),
    }
    for name, token in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call_list(server.stub, bearer(token))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, name


def _hs256_with_public_key() -> str:
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(
        json.dumps(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": 4_000_000_000}
        ).encode()
    )
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"
