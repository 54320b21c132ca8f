"""``token`` and ``download`` commands: the token service, as a caller with a key.

Upstream tokens are masked unless ``--show-token`` is given, so they do not end up in
terminals, scrollback or logs by accident. Results are for people (provider,
generation, "expires in 12 m"); ``--json`` prints protobuf JSON (``token watch``: one
line per message). ``--provider`` defaults to the caller's only provider (the service
answers ListProviders); with several, the error lists them. A download token is
printed by ``download issue``: handing it out is what that command is for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from rich.text import Text

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
    add_json_option,
    addresses_from_env,
    emit,
    moment_text,
    non_negative_int,
    positive_float,
    seconds_until,
    timeout_of,
    uuid_arg,
)
from skyroute_cli.output import (
    BAD,
    GOOD,
    MUTED,
    VALUE,
    WARN,
    Endpoint,
    Output,
    fields,
    relative_text,
    span_text,
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


def token_cell(token: pb.AccessToken, show: bool) -> Text:
    if show:
        return Text(token.access_token, style=VALUE)
    return Text(mask(token.access_token)).append(" (masked; --show-token prints it)", style=MUTED)


def expiry_cell(expire_time: Any) -> Text:
    left = seconds_until(expire_time)
    style = BAD if left <= 0 else WARN if left < 60 else ""
    return Text(moment_text(expire_time), style=style)


def print_token(out: Output, token: pb.AccessToken, show: bool) -> None:
    out.table(
        fields(
            [
                ("provider", token.provider),
                ("generation", str(token.generation)),
                ("expires", expiry_cell(token.expire_time)),
                ("type", token.token_type),
                ("token", token_cell(token, show)),
            ]
        )
    )


def state_of(st: pb.GetTokenStatusResponse) -> Text:
    """Green, amber or red at a glance, with why."""
    if st.reauthorization_required:
        return Text("red: reauthorization required", style=BAD)
    if not st.has_valid_token:
        return Text("red: no valid token", style=BAD)
    why = []
    if st.degraded:
        why.append("degraded (Redis unreachable; serving this replica's token)")
    if st.HasField("backoff_until") and seconds_until(st.backoff_until) > 0:
        why.append("backing off after a failed refresh")
    if st.last_error:
        why.append("last refresh failed")
    if why:
        return Text("amber: " + "; ".join(why), style=WARN)
    return Text("green: valid token", style=GOOD)


def print_status(out: Output, st: pb.GetTokenStatusResponse) -> None:
    rows: list[tuple[str, str | Text]] = [
        ("provider", st.provider),
        ("state", state_of(st)),
    ]
    if st.generation:
        expiry = st.time_to_expiry.ToTimedelta().total_seconds()
        age = st.token_age.ToTimedelta().total_seconds()
        rows += [
            ("generation", str(st.generation)),
            ("expires", Text(relative_text(expiry), style=WARN if expiry < 60 else "")),
            ("next refresh", moment_text(st.refresh_time)),
            ("token age", span_text(age)),
        ]
    lock = "held" if st.refresh_locked else "free"
    rows += [
        ("grant", st.grant or "-"),
        ("refresh lock", lock + (", refreshing here" if st.refreshing else "")),
        ("last error", Text(st.last_error, style=BAD) if st.last_error else "-"),
        ("backoff until", moment_text(st.backoff_until)),
        (
            "this replica",
            f"cache {st.cache_hits} hits / {st.cache_misses} misses, {st.waits} waits, "
            f"upstream {st.upstream_requests_ok} ok / {st.upstream_requests_failed} failed, "
            f"lock contended {st.lock_contended}",
        ),
        (
            "cluster",
            f"upstream {st.cluster_upstream_requests_ok} ok / "
            f"{st.cluster_upstream_requests_failed} failed, fenced writes rejected "
            f"{st.fenced_writes_rejected}, chain rotations {st.cluster_chain_rotations}, "
            f"recoveries {st.cluster_chain_recoveries}",
        ),
    ]
    out.table(fields(rows))


async def token_get(conn: Connection, args: argparse.Namespace) -> None:
    token = await conn.client.get_token(args.provider, args.min_validity)
    if args.json:
        emit(shown(token, args.show_token))
    else:
        print_token(args.out, token, args.show_token)


async def token_status(conn: Connection, args: argparse.Namespace) -> None:
    status = await conn.client.status(args.provider)
    if args.json:
        emit(status)
    else:
        print_status(args.out, status)


async def token_report(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.report_invalid(args.provider, args.token)
    if args.json:
        out = pb.ReportInvalidTokenResponse(
            invalidated=response.invalidated, token=shown(response.token, args.show_token)
        )
        emit(out)
        return
    if response.invalidated:
        args.out.line("invalidated: the reported token was the current one; the new one:")
    else:
        args.out.line("not invalidated: the reported token is no longer current; the current one:")
    print_token(args.out, response.token, args.show_token)


def watch_line(out: Output, token: pb.AccessToken, show: bool) -> None:
    """``15:42:42Z  amadeus  generation 1  expires in 29 m (…)  token c8sg…``"""
    now = datetime.now(UTC).strftime("%H:%M:%SZ")
    out.line(
        Text(f"{now}  ", style=MUTED),
        f"{token.provider}  generation {token.generation}  expires ",
        expiry_cell(token.expire_time),
        "  token ",
        Text(token.access_token, style=VALUE) if show else mask(token.access_token),
    )


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
            if args.json:
                emit(
                    pb.WatchTokenResponse(
                        token=shown(item.token, args.show_token),
                        heartbeat_interval=item.heartbeat_interval,
                    ),
                    compact=True,
                )
            else:
                watch_line(args.out, item.token, args.show_token)
            received += 1
            if args.count and received >= args.count:
                stream.cancel()
                break
    finally:
        await channel.close()


def print_installed(out: Output, response: pb.InstallGrantResponse, provider: str) -> None:
    out.line(f"installed a new refresh-token chain for {provider}")
    out.table(
        fields(
            [
                ("generation", str(response.generation)),
                ("expires", moment_text(response.expire_time)),
            ]
        )
    )


async def token_authorize(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.install_grant(
        args.provider, code=args.code, redirect_uri=args.redirect_uri
    )
    if args.json:
        emit(response)
    else:
        print_installed(args.out, response, args.provider)


async def token_install_refresh_token(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.install_grant(args.provider, refresh_token=args.token)
    if args.json:
        emit(response)
    else:
        print_installed(args.out, response, args.provider)


def uses_text(uses: int) -> str:
    return {0: "unlimited until it expires", 1: "single use"}.get(uses, f"{uses} uses")


async def download_issue(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.issue_download_token(
        args.resource, args.ttl, args.max_uses, args.request_id
    )
    if args.json:
        emit(response)
        return
    args.out.table(
        fields(
            [
                ("download token", Text(response.download_token, style=VALUE)),
                ("resource", args.resource),
                ("expires", moment_text(response.expire_time)),
                ("uses", uses_text(args.max_uses)),
            ]
        )
    )


RESULTS = {
    pb.ValidateDownloadTokenResponse.RESULT_VALID: "valid",
    pb.ValidateDownloadTokenResponse.RESULT_UNKNOWN: "unknown token",
    pb.ValidateDownloadTokenResponse.RESULT_EXPIRED: "expired",
    pb.ValidateDownloadTokenResponse.RESULT_REVOKED: "revoked",
    pb.ValidateDownloadTokenResponse.RESULT_USED_UP: "used up",
    pb.ValidateDownloadTokenResponse.RESULT_WRONG_RESOURCE: "for another resource",
}


async def download_validate(conn: Connection, args: argparse.Namespace) -> None:
    response = await conn.client.validate_download_token(args.token, args.resource, args.peek)
    if args.json:
        emit(response)
        return
    result = RESULTS.get(response.result, str(response.result))
    rows: list[tuple[str, str | Text]] = [
        ("result", Text(result, style=GOOD if response.valid else BAD))
    ]
    if response.valid:
        left = response.remaining_uses
        rows += [
            ("resource", response.resource),
            ("uses left", "unlimited" if left < 0 else str(left)),
            ("expires", moment_text(response.expire_time)),
        ]
        if args.peek:
            rows.append(("counted", "no (--peek)"))
    args.out.table(fields(rows))


async def download_revoke(conn: Connection, args: argparse.Namespace) -> None:
    revoked = await conn.client.revoke_download_token(args.token, args.request_id)
    if args.json:
        emit(pb.RevokeDownloadTokenResponse(revoked=revoked))
    elif revoked:
        args.out.line("revoked")
    else:
        args.out.line("not revoked: unknown, expired or already revoked")


Command = Callable[[Connection, argparse.Namespace], Awaitable[None]]


def add_request_id_option(parser: argparse.ArgumentParser, answer: str) -> None:
    parser.add_argument(
        "--request-id",
        type=uuid_arg,
        default=None,
        metavar="UUID",
        help=f"retry a call whose answer was lost: the same UUID answers {answer} "
        "(default: a new one)",
    )


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


async def default_provider(client: TokenClient) -> str:
    """The caller's only provider; a usage error naming the choices otherwise."""
    try:
        providers = await client.list_providers()
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        raise UsageError(
            "--provider is required (this token service does not list providers)"
        ) from None
    if len(providers) == 1:
        return providers[0]
    if not providers:
        raise UsageError("--provider: this caller may use no provider (TOKEN_CALLERS)")
    raise UsageError(f"--provider: choose one of {', '.join(providers)}")


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    read_tokens(args)
    target = target_from_env(env, timeout_of(args, DEFAULT_TIMEOUT))
    args.endpoint = Endpoint("token", target.addresses, target.timeout)
    conn = Connection(target)
    try:
        if getattr(args, "provider", "") is None:
            args.provider = await default_provider(conn.client)
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
        cmd.add_argument(
            "--provider",
            default=None,
            help="configured provider, e.g. amadeus (default: the caller's only one)",
        )
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
        "watch", token_watch, "print the token and every new generation, one line each"
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
    add_request_id_option(issue, "the same token")
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
    add_request_id_option(revoke, '"revoked" again')
    for cmd in made:
        add_json_option(cmd)
        add_common_options(cmd, DEFAULT_TIMEOUT)
