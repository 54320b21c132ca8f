"""``token`` and ``download`` commands: the token service, as a caller with a key.

Upstream tokens are masked unless ``--show-token`` is given, so they do not end up in
terminals, scrollback or logs by accident. Results are protobuf JSON; ``token watch``
prints one line per message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.clients.channels import open_channel
from services.clients.token_client import (
    CALLER_HEADER,
    CALLER_KEY_HEADER,
    SERVICE,
    TokenClient,
)
from services.context import REQUEST_ID_HEADER, current_request_id, new_request_id
from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from skyroute_cli.common import (
    UsageError,
    add_common_options,
    addresses_from_env,
    emit,
    non_negative_int,
    positive_float,
    timeout_of,
)

ENV_ADDRESSES = "TOKEN_SERVICE_ADDRESSES"
ENV_CALLER_ID = "TOKEN_CALLER_ID"
ENV_CALLER_KEY = "TOKEN_CALLER_KEY"
DEFAULT_TIMEOUT = 10.0


def mask(token: str) -> str:
    return f"{token[:4]}…" if token else ""


def shown(token: pb.AccessToken, show: bool) -> pb.AccessToken:
    """``token`` with its value masked unless ``show``."""
    out = pb.AccessToken()
    out.CopyFrom(token)
    if not show:
        out.access_token = mask(token.access_token)
    return out


@dataclass(frozen=True)
class Target:
    """Where and as whom to call, from the environment."""

    addresses: tuple[str, ...]
    caller_id: str
    caller_key: str = field(repr=False)
    timeout: float


class Connection:
    """What every command needs: the client, plus what a raw stream needs. Built inside
    the event loop, which its channels bind to."""

    def __init__(self, target: Target) -> None:
        self.addresses = list(target.addresses)
        self.metadata = ((CALLER_HEADER, target.caller_id), (CALLER_KEY_HEADER, target.caller_key))
        self.client = TokenClient(
            self.addresses, target.caller_id, target.caller_key, timeout=target.timeout
        )


def read_stdin_token() -> str:
    token = sys.stdin.readline().strip()
    if not token:
        raise UsageError("expected the token on stdin")
    return token


async def token_get(conn: Connection, args: argparse.Namespace) -> None:
    token = await conn.client.get_token(args.provider, args.min_validity)
    emit(shown(token, args.show_token))


async def token_status(conn: Connection, args: argparse.Namespace) -> None:
    emit(await conn.client.status(args.provider))


async def token_report(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.report_invalid(args.provider, args.token)
    out = pb.ReportInvalidTokenResponse(
        invalidated=response.invalidated, token=shown(response.token, args.show_token)
    )
    emit(out)


async def token_watch(conn: Connection, args: argparse.Namespace) -> None:
    # TokenClient.watch() keeps the token in memory and hides the stream; for debugging
    # we want every message, so this opens the stream on a channel of its own.
    channel = open_channel(conn.addresses, SERVICE)
    try:
        stub = pb_grpc.TokenServiceStub(channel)
        metadata = (*conn.metadata, (REQUEST_ID_HEADER, current_request_id() or new_request_id()))
        stream = stub.WatchToken(pb.WatchTokenRequest(provider=args.provider), metadata=metadata)
        received = 0
        async for item in stream:
            emit(
                pb.WatchTokenResponse(
                    token=shown(item.token, args.show_token),
                    heartbeat_interval=item.heartbeat_interval,
                ),
                compact=True,
            )
            received += 1
            if args.count and received >= args.count:
                stream.cancel()
                break
    finally:
        await channel.close()


async def token_authorize(conn: Connection, args: argparse.Namespace) -> None:
    emit(
        await conn.client.install_grant(
            args.provider, code=args.code, redirect_uri=args.redirect_uri
        )
    )


async def token_install_refresh_token(conn: Connection, args: argparse.Namespace) -> None:
    emit(await conn.client.install_grant(args.provider, refresh_token=args.token))


async def download_issue(conn: Connection, args: argparse.Namespace) -> None:
    emit(await conn.client.issue_download_token(args.resource, args.ttl, args.max_uses))


async def download_validate(conn: Connection, args: argparse.Namespace) -> None:
    emit(await conn.client.validate_download_token(args.token, args.resource, args.peek))


async def download_revoke(conn: Connection, args: argparse.Namespace) -> None:
    revoked = await conn.client.revoke_download_token(args.token)
    emit(pb.RevokeDownloadTokenResponse(revoked=revoked))


Command = Callable[[Connection, argparse.Namespace], Awaitable[None]]


# ------------------------------------------------------------------------ running


def target_from_env(env: Mapping[str, str], timeout: float) -> Target:
    caller_id = env.get(ENV_CALLER_ID, "").strip()
    caller_key = env.get(ENV_CALLER_KEY, "").strip()
    missing = [
        name
        for name, value in (
            (ENV_ADDRESSES, env.get(ENV_ADDRESSES, "").strip(" ,")),
            (ENV_CALLER_ID, caller_id),
            (ENV_CALLER_KEY, caller_key),
        )
        if not value
    ]
    if missing:
        raise UsageError(f"{', '.join(missing)} not set (source .run/dev.env after make run)")
    return Target(addresses_from_env(env, ENV_ADDRESSES), caller_id, caller_key, timeout)


def read_tokens(args: argparse.Namespace) -> None:
    """Reads tokens given on stdin before anything connects (keeps them out of shell
    history and process listings)."""
    if args.handler in (token_report, token_install_refresh_token):
        if not args.token_stdin:
            raise UsageError("give the token on stdin with --token-stdin")
        args.token = read_stdin_token()
    elif args.handler is token_authorize and args.code == "-":
        args.code = read_stdin_token()
    elif getattr(args, "token", None) == "-":
        args.token = read_stdin_token()


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    read_tokens(args)
    conn = Connection(target_from_env(env, timeout_of(args, DEFAULT_TIMEOUT)))
    try:
        await args.handler(conn, args)
    finally:
        await conn.client.close()


# ------------------------------------------------------------------------ arguments


def add_parsers(groups: Any) -> None:
    """The ``token`` and ``download`` groups."""
    token = groups.add_parser(
        "token",
        help="upstream provider tokens (token service)",
        description="Upstream provider tokens held by the token service. Reads "
        f"{ENV_ADDRESSES}, {ENV_CALLER_ID} and {ENV_CALLER_KEY}.",
    )
    token_cmds = token.add_subparsers(dest="command", required=True)
    made: list[argparse.ArgumentParser] = []

    def command(
        subparsers: Any, name: str, handler: Command, help_text: str
    ) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help_text, description=help_text
        )
        cmd.set_defaults(run=run, handler=handler)
        made.append(cmd)
        return cmd

    def provider_command(
        name: str, handler: Command, help_text: str, show: bool = True
    ) -> argparse.ArgumentParser:
        cmd = command(token_cmds, name, handler, help_text)
        cmd.add_argument("--provider", required=True, help="configured provider, e.g. amadeus")
        if show:
            cmd.add_argument(
                "--show-token",
                action="store_true",
                help="print the full token value (masked by default)",
            )
        return cmd

    get = provider_command("get", token_get, "get the provider's current token")
    get.add_argument(
        "--min-validity",
        type=positive_float,
        metavar="SECONDS",
        help="the token must stay valid at least this long",
    )
    provider_command(
        "status", token_status, "cache, refresh and lock state (no token value)", show=False
    )
    report = provider_command(
        "report", token_report, "report a token the provider rejected with HTTP 401"
    )
    report.add_argument(
        "--token-stdin", action="store_true", help="read the rejected token from stdin (required)"
    )
    watch = provider_command(
        "watch", token_watch, "print the token and every new generation as JSON lines"
    )
    watch.add_argument(
        "--count",
        type=non_negative_int,
        default=0,
        help="stop after this many messages (default: until Ctrl-C)",
    )
    authorize = provider_command(
        "authorize",
        token_authorize,
        "exchange an authorization code for a new "
        "refresh-token chain (admin callers only; TOKEN_ADMIN_CALLERS)",
        show=False,
    )
    authorize.add_argument(
        "--code", required=True, help="the code from the provider's redirect, or - for stdin"
    )
    authorize.add_argument(
        "--redirect-uri", default=None, help="the redirect_uri the code was issued for, if any"
    )
    install = provider_command(
        "install-refresh-token",
        token_install_refresh_token,
        "install a refresh token "
        "as the head of a new chain (admin callers only; TOKEN_ADMIN_CALLERS)",
        show=False,
    )
    install.add_argument(
        "--token-stdin", action="store_true", help="read the refresh token from stdin (required)"
    )

    download = groups.add_parser(
        "download",
        help="short-lived download tokens (token service)",
        description="Download tokens issued and checked by the token service. Reads "
        f"{ENV_ADDRESSES}, {ENV_CALLER_ID} and {ENV_CALLER_KEY}.",
    )
    download_cmds = download.add_subparsers(dest="command", required=True)
    issue = command(download_cmds, "issue", download_issue, "issue a download token")
    issue.add_argument("--resource", required=True, help='e.g. "itinerary/ABC234"')
    issue.add_argument(
        "--ttl",
        type=positive_float,
        required=True,
        metavar="SECONDS",
        help="lifetime (1 second to 7 days)",
    )
    issue.add_argument(
        "--max-uses",
        type=non_negative_int,
        default=0,
        help="0 = unlimited until expiry (default), 1 = single use",
    )
    validate = command(
        download_cmds,
        "validate",
        download_validate,
        "validate a download token (counts a use unless --peek)",
    )
    validate.add_argument("token", help="the download token, or - to read it from stdin")
    validate.add_argument("--peek", action="store_true", help="check without counting a use")
    validate.add_argument("--resource", default="", help="require this resource")
    revoke = command(download_cmds, "revoke", download_revoke, "revoke a download token")
    revoke.add_argument("token", help="the download token, or - to read it from stdin")
    for cmd in made:
        add_common_options(cmd, DEFAULT_TIMEOUT)
