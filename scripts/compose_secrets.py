"""Write random secrets for docker-compose.yml into .run/secrets/ (``make compose-secrets``).

docker-compose.yml mounts each file at /run/secrets/<name>; the services read them
through ``<NAME>_FILE`` variables. A file that exists is kept, so running this again
never changes a password PostgreSQL has already stored in its volume. The values are
never printed.

Compose mounts a file as it is (owner and mode included, without Swarm), and the
containers run as uid 10001 (PostgreSQL as 999): the files are world-readable, and
the directory, mode 0700, is what keeps other users of the host out.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".run" / "secrets"
SIM_CLIENT_ID = "skyroute-dev"  # PROVIDER_AMADEUS_CLIENT_ID in docker-compose.yml
# The hotel supplier's login: PROVIDER_HOTEL_CLIENT_ID and PROVIDER_HOTEL_USERNAME there.
HOTEL_CLIENT_ID = "skyroute-hotel-dev"
HOTEL_USER = "skyroute-ops"


def _signing_key(kid: str) -> str:
    """ACCOUNT_SIGNING_KEYS: one P-256 key, `kid:base64(PKCS#8 DER)`
    (account_service/auth/keys.py), made by openssl so this script needs only the
    standard library."""
    der = subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-outform",
            "DER",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return f"{kid}:{base64.b64encode(der).decode()}"


def _random() -> str:
    # URL-safe, so the PostgreSQL password goes into database-url unescaped.
    return secrets.token_urlsafe(32)


# name -> how to make its value from the secrets made before it (in this order).
SECRETS: dict[str, Callable[[dict[str, str]], str]] = {
    "sim-client-secret": lambda made: _random(),
    "sim-clients": lambda made: f"{SIM_CLIENT_ID}:{made['sim-client-secret']}",
    "hotel-client-secret": lambda made: _random(),
    "hotel-password": lambda made: _random(),
    "sim-hotel-clients": lambda made: f"{HOTEL_CLIENT_ID}:{made['hotel-client-secret']}",
    "sim-hotel-users": lambda made: f"{HOTEL_USER}:{made['hotel-password']}",
    "caller-search-key": lambda made: _random(),
    "caller-booking-key": lambda made: _random(),
    "caller-cli-key": lambda made: _random(),
    "postgres-password": lambda made: _random(),
    "database-url": lambda made: (
        f"postgresql://skyroute:{made['postgres-password']}@postgres:5432/skyroute"
    ),
    "page-token-secret": lambda made: _random(),
    "booking-jwt-secret": lambda made: _random(),
    # TOKEN_ENCRYPTION_KEYS: one AES-256 key, `kid:base64` (token_service/sealing.py).
    "token-encryption-keys": lambda made: (
        "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    ),
    "account-signing-keys": lambda made: _signing_key("k1"),
}


def write_secrets(directory: Path) -> list[str]:
    """Create the missing secret files in ``directory``; the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    made: dict[str, str] = {}
    written = []
    for name, make in SECRETS.items():
        path = directory / name
        if path.exists():
            made[name] = path.read_text().strip()
            continue
        made[name] = make(made)
        path.write_text(made[name] + "\n")
        path.chmod(0o644)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="where to write them (default .run/secrets)"
    )
    args = parser.parse_args(argv)
    written = write_secrets(args.dir)
    kept = len(SECRETS) - len(written)
    print(
        f"compose-secrets: {args.dir}: wrote {len(written)}, kept {kept}"
        + (f" ({', '.join(written)})" if written else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
