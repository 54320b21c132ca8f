"""JWT verification units: key selection, JWKS from a URL with rotation, settings,
and the dev-token CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from booking_service.api.auth import JwtAuthenticator, KeySet, build_auth
from booking_service.dev_token import mint
from booking_service.settings import BookingServiceSettings, JwtSettings
from services.config import ConfigError
from services.errors import UnauthenticatedError, UnavailableError

ROOT = Path(__file__).resolve().parents[3]
ISSUER = "https://id.example.test"
AUDIENCE = "booking"
SECRET = "unit-test-secret-" + "x" * 32
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        return {**data, "kid": kid, "alg": "RS256"}
    data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": "ES256"}


def settings(**changes: Any) -> JwtSettings:
    fields: dict[str, Any] = dict(issuer=ISSUER, audience=AUDIENCE, secret=SECRET, leeway_seconds=0)
    fields.update(changes)
    return JwtSettings(**fields)


def md(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_hs256_dev_token_round_trip() -> None:
    auth, _ = build_auth(settings())
    assert auth("/m", md(mint(settings(), "alice", 60))) == "alice"
    # Scheme is case-insensitive; extra spaces are fine.
    assert auth("/m", {"authorization": "bearer  " + mint(settings(), "bob", 60)}) == "bob"


def test_expiry_uses_the_leeway() -> None:
    token = mint(settings(), "alice", 10, now=1_000.0)
    with pytest.raises(UnauthenticatedError) as err:
        JwtAuthenticator(settings(), KeySet(SECRET))("/m", md(token))
    assert err.value.reason == "TOKEN_EXPIRED"


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch) -> None:
    decodes = 0
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    auth = JwtAuthenticator(settings(), KeySet(SECRET))
    token = mint(settings(), "alice", 1)
    assert [auth("/m", md(token)) for _ in range(5)] == ["alice"] * 5
    assert decodes == 1
    # Another token (even of the same user) is checked on its own.
    assert auth("/m", md(mint(settings(), "alice", 60))) == "alice"
    assert decodes == 2
    # Once the remembered token expires it is checked again, and refused.
    time.sleep(1.1)
    with pytest.raises(UnauthenticatedError) as err:
        auth("/m", md(token))
    assert err.value.reason == "TOKEN_EXPIRED"
    assert decodes == 3


def test_a_key_rotated_out_takes_its_remembered_tokens_with_it() -> None:
    keys = KeySet(None)
    keys.load_jwks({"keys": [jwk(RSA_KEY, "old")]})
    auth = JwtAuthenticator(settings(secret=None, jwks_file="x"), keys)
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": 4_000_000_000},
        RSA_KEY,
        algorithm="RS256",
        headers={"kid": "old"},
    )
    assert auth("/m", md(token)) == "alice"
    keys.load_jwks({"keys": [jwk(EC_KEY, "new")]})
    with pytest.raises(UnauthenticatedError) as err:
        auth("/m", md(token))
    assert err.value.reason == "TOKEN_KEY_UNKNOWN"


@pytest.mark.parametrize("subject", ["al\x00ice", "alice\n", "\x1b[31malice", "al\x85ice"])
def test_a_subject_with_a_control_character_is_unauthenticated(subject: str) -> None:
    auth, _ = build_auth(settings())
    with pytest.raises(UnauthenticatedError) as err:
        auth("/m", md(mint(settings(), subject, 60)))
    assert err.value.reason == "TOKEN_INVALID"
    assert subject not in err.value.message


def test_a_subject_is_kept_exactly_as_issued() -> None:
    """Not NFC-normalised: two subjects the issuer tells apart stay two users."""
    auth, _ = build_auth(settings())
    assert auth("/m", md(mint(settings(), "Rene\u0301", 60))) == "Rene\u0301"
    assert auth("/m", md(mint(settings(), "Ren\u00e9", 60))) == "Ren\u00e9"


def test_the_remembered_tokens_are_bounded() -> None:
    auth = JwtAuthenticator(settings(), KeySet(SECRET), cache_size=3)
    for user in ("a", "b", "c", "d", "e"):
        assert auth("/m", md(mint(settings(), user, 60))) == user
    assert len(auth._verified) == 3


def test_without_a_secret_hs256_is_not_trusted() -> None:
    keys = KeySet(None)
    keys.load_jwks({"keys": [jwk(RSA_KEY, "k1")]})
    auth = JwtAuthenticator(settings(secret=None, jwks_file="x"), keys)
    with pytest.raises(UnauthenticatedError) as err:
        auth("/m", md(mint(settings(), "alice", 60)))
    assert err.value.reason == "TOKEN_KEY_UNKNOWN"
    rs = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": 4_000_000_000},
        RSA_KEY,
        algorithm="RS256",
    )  # no kid: the only RS256 key is used
    assert auth("/m", md(rs)) == "alice"


def test_key_set_needs_a_kid_when_several_keys_fit() -> None:
    keys = KeySet(None)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (
        keys.load_jwks(
            {
                "keys": [
                    jwk(RSA_KEY, "a"),
                    jwk(other, "b"),
                    jwk(EC_KEY, "c"),
                    {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                ]
            }
        )
        == 3
    )
    assert keys.key_for("RS256", None) is None
    assert keys.key_for("RS256", "a") is not None
    assert keys.key_for("ES256", None) is not None
    assert keys.key_for("HS256", "hmac") is None  # symmetric JWKs are never trusted
    assert keys.key_for("none", None) is None


async def test_jwks_url_loads_and_rotates() -> None:
    served = {"keys": [jwk(RSA_KEY, "old")]}
    requests = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        return web.json_response(served)

    app = web.Application()
    app.router.add_get("/jwks", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = settings(secret=None, jwks_url=f"http://127.0.0.1:{port}/jwks")
    auth, source = build_auth(config)
    new_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "exp": 4_000_000_000},
        new_key,
        algorithm="ES256",
        headers={"kid": "new"},
    )
    try:
        with pytest.raises(UnavailableError):  # nothing loaded yet
            auth("/m", md(token))
        await source.refresh()
        with pytest.raises(UnauthenticatedError) as err:
            auth("/m", md(token))
        assert err.value.reason == "TOKEN_KEY_UNKNOWN"
        # The issuer rotates; an unknown kid wakes the refresher (rate-limited).
        served = {"keys": [jwk(RSA_KEY, "old"), jwk(new_key, "new")]}
        source._last_refresh = 0.0
        task = asyncio.create_task(source.run())
        with pytest.raises(UnauthenticatedError):
            auth("/m", md(token))
        for _ in range(100):
            await asyncio.sleep(0.02)
            try:
                assert auth("/m", md(token)) == "carol"
                break
            except UnauthenticatedError:
                continue
        else:
            pytest.fail("rotated key not picked up")
        task.cancel()
        assert requests == 2
    finally:
        await runner.cleanup()


def env(**extra: str) -> dict[str, str]:
    return {
        "BOOKING_JWT_ISSUER": ISSUER,
        "BOOKING_JWT_AUDIENCE": AUDIENCE,
        "BOOKING_JWT_SECRET": SECRET,
        **extra,
    }


def test_settings() -> None:
    loaded = BookingServiceSettings.from_env(env())
    assert loaded.price_source == "database"
    assert loaded.policy.hold_seconds == 900
    assert SECRET not in repr(loaded)
    # Clock skew, not extra token life: 10 s by default, settable up to 300 s.
    assert loaded.jwt.leeway_seconds == 10
    assert (
        BookingServiceSettings.from_env(env(BOOKING_JWT_LEEWAY_SECONDS="300")).jwt.leeway_seconds
        == 300
    )
    searched = BookingServiceSettings.from_env(env(SEARCH_SERVICE_ADDRESSES="10.0.0.1:1,"))
    assert (searched.price_source, searched.search_addresses) == ("search", ("10.0.0.1:1",))


@pytest.mark.parametrize(
    "bad",
    [
        {"BOOKING_JWT_SECRET": ""},
        {"BOOKING_JWT_SECRET": "short"},
        {"BOOKING_JWT_SECRET": "changeme-changeme-changeme-changeme"},
        {"BOOKING_JWT_ISSUER": ""},
        {"BOOKING_JWKS_FILE": "/nonexistent/jwks.json"},
        {"BOOKING_JWKS_URL": "ftp://x"},
        {"BOOKING_PRICE_SOURCE": "search"},
        {"BOOKING_PRICE_SOURCE": "cache"},
        {"BOOKING_HOLD_SECONDS": "0"},
        {"BOOKING_DEFAULT_PAGE_SIZE": "500"},
        {"BOOKING_TICKET_PREFIX": "12a"},
        {"BOOKING_JWT_LEEWAY_SECONDS": "-1"},
        {"BOOKING_JWT_LEEWAY_SECONDS": "301"},
    ],
)
def test_settings_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        BookingServiceSettings.from_env(env(**bad))


def make(*args: str, user_env: str = "loginname") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), *args],
        env={"PATH": "/usr/bin:/bin", "USER": user_env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "args", [(), ("USER=",), ("USER= ",)], ids=["login-name", "empty", "blank"]
)
def test_make_dev_token_requires_the_user_on_the_command_line(args: tuple[str, ...]) -> None:
    """USER from the environment (the login name) is never used as the JWT's user."""
    run = make("dev-token", *args)
    assert run.returncode == 2
    assert run.stdout == ""  # TOKEN=$(make -s dev-token) captures no usage text
    assert "usage: make dev-token USER=<name>" in run.stderr
    assert "loginname" not in run.stderr


def test_make_dev_token_mints_for_the_named_user() -> None:
    # -n: what it would run (the real run needs the stack's .run/dev.env).
    run = make("-n", "dev-token", "USER=alice")
    assert run.returncode == 0, run.stderr
    assert '-m booking_service.dev_token --user "alice"' in run.stdout
    assert "loginname" not in run.stdout
    # Other targets do not need USER.
    assert make("-n", "help").returncode == 0


def test_dev_token_cli(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "booking_service.dev_token", "--user", "alice", "--ttl", "120"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    # Just the token, one line, nothing on stderr: `TOKEN=$(make dev-token USER=alice)`.
    assert run.stdout.count("\n") == 1 and run.stdout.endswith("\n") and not run.stderr
    claims = jwt.decode(
        run.stdout.strip(), SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )
    # The service's own settings accept it.
    auth, _ = build_auth(
        BookingServiceSettings.from_env(
            {**env(), "DATABASE_URL": "postgresql://u:p@127.0.0.1/db"}
        ).jwt
    )
    assert auth("/m", md(run.stdout.strip())) == "alice"
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 120

    pem = tmp_path / "key.pem"
    pem.write_bytes(
        RSA_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    no_secret = {k: v for k, v in env().items() if k != "BOOKING_JWT_SECRET"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk(RSA_KEY, "k1")]}))
    no_secret["BOOKING_JWKS_FILE"] = str(jwks)
    signed = subprocess.run(
        [
            sys.executable,
            "-m",
            "booking_service.dev_token",
            "--user",
            "bob",
            "--private-key",
            str(pem),
            "--kid",
            "k1",
        ],
        cwd=ROOT,
        env=no_secret,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert signed.returncode == 0, signed.stderr
    auth, _ = build_auth(JwtSettings.from_env(no_secret))
    assert auth("/m", md(signed.stdout.strip())) == "bob"
    refused = subprocess.run(
        [sys.executable, "-m", "booking_service.dev_token", "--user", "bob"],
        cwd=ROOT,
        env=no_secret,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "HS256" in refused.stderr
