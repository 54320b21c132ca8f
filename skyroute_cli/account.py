"""``account`` commands: sign up, verify, sign in, list and end sessions
(AccountService).

    account register --email E            password from the terminal, or --password-stdin
    account verify --email E | --token T  (--email: the newest link in the dev outbox)
    account login --email E [--device NAME]
    account sessions
    account logout [--all]
    account reset-password --email E      (sends a link; then --token T sets a new one)

``login`` keeps the session's tokens in a file only its owner can read (mode 0600;
SKYROUTE_SESSION_FILE, default ~/.skyroute/session.json). Commands that act as the
user (``account sessions``, ``account logout``, and ``booking`` without --user/--jwt)
take the access token from it and refresh it themselves shortly before it expires,
holding a lock on the file so two commands never use one refresh token twice (which
would revoke the session). No password or token is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from services.clients.channels import open_channel
from services.context import current_request_id, new_request_id
from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from skyroute_cli.common import (
    CallOptions,
    UsageError,
    add_common_options,
    add_json_option,
    addresses_from_env,
    emit,
    timeout_of,
    timestamp_text,
)
from skyroute_cli.output import Table

SERVICE = "skyroute.account.v1.AccountService"
ENV_ADDRESSES = "ACCOUNT_SERVICE_ADDRESSES"
ENV_SESSION_FILE = "SKYROUTE_SESSION_FILE"
DEFAULT_TIMEOUT = 15.0
# Refresh this long before the access token expires.
REFRESH_MARGIN_SECONDS = 30


# ------------------------------------------------------------------------ the session file


def session_path(env: Mapping[str, str]) -> Path:
    configured = env.get(ENV_SESSION_FILE, "").strip()
    return Path(configured) if configured else Path.home() / ".skyroute" / "session.json"


def has_session(env: Mapping[str, str]) -> bool:
    return session_path(env).is_file()


def write_session(path: Path, tokens: pb.SessionTokens, email: str) -> None:
    """Replaces the file atomically, created 0600 (never readable by others, not even
    for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "email": email,
        "session_id": tokens.session_id,
        "access_token": tokens.access_token,
        "access_expires": tokens.access_expire_time.seconds,
        "refresh_token": tokens.refresh_token,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_session(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"not signed in (no {path}): run `account login` first") from None
    except (OSError, ValueError):
        raise UsageError(f"{path} is not a session file: run `account login` again") from None
    if not isinstance(data, dict) or not data.get("refresh_token"):
        raise UsageError(f"{path} is not a session file: run `account login` again")
    return data


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the session file (held while refreshing)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


async def access_token(env: Mapping[str, str], deadline: float = DEFAULT_TIMEOUT) -> str:
    """The signed-in user's access token, refreshed first if it expires soon."""
    path = session_path(env)
    with locked(path):
        data = read_session(path)
        if float(data.get("access_expires", 0)) - time.time() > REFRESH_MARGIN_SECONDS:
            return str(data["access_token"])
        channel = open_channel(addresses_from_env(env, ENV_ADDRESSES), SERVICE)
        try:
            call = CallOptions(deadline, current_request_id() or new_request_id())
            reply = await pb_grpc.AccountServiceStub(channel).Refresh(
                pb.RefreshRequest(refresh_token=data["refresh_token"]), **call.kwargs
            )
        finally:
            await channel.close()
        write_session(path, reply.tokens, str(data.get("email", "")))
        return str(reply.tokens.access_token)


# ------------------------------------------------------------------------ passwords


def read_password(args: argparse.Namespace, prompt: str = "Password: ") -> str:
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\n")
    else:
        try:
            password = getpass.getpass(prompt)
        except (EOFError, KeyboardInterrupt):
            raise UsageError("no password given") from None
    if not password:
        raise UsageError("no password given")
    return password


# ------------------------------------------------------------------------ commands


async def register(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    password = read_password(args)
    await stub.Register(pb.RegisterRequest(email=args.email, password=password), **call.kwargs)
    args.out.line(f"Registered {args.email}: open the link sent to it (`account verify --email`).")


async def verify(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    token = args.token or await outbox_link_token(stub, call, args.email, "Verify")
    await stub.VerifyEmail(pb.VerifyEmailRequest(token=token), **call.kwargs)
    args.out.line("Email address verified.")


async def outbox_link_token(
    stub: pb_grpc.AccountServiceStub, call: CallOptions, email: str | None, subject: str
) -> str:
    if not email:
        raise UsageError("give --email (the link from the dev outbox) or --token")
    reply = await stub.ListOutbox(pb.ListOutboxRequest(email=email), **call.kwargs)
    for message in reply.messages:
        if message.subject.startswith(subject) and "token=" in message.body:
            return str(message.body.split("token=", 1)[1].split()[0].split("&")[0])
    raise UsageError(f"no {subject.lower()} link in the outbox of {email}")


async def login(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    password = read_password(args)
    reply = await stub.Login(
        pb.LoginRequest(email=args.email, password=password, device_name=args.device or ""),
        **call.kwargs,
    )
    path = session_path(args.env)
    with locked(path):
        write_session(path, reply.tokens, args.email)
    args.out.line(
        f"Signed in as {args.email} (session {reply.tokens.session_id}); tokens in {path}."
    )


async def sessions(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    reply = await stub.ListSessions(pb.ListSessionsRequest(), **call.kwargs)
    if args.json:
        emit(reply)
        return
    table = Table(["", "session", "device", "address", "signed in", "last used"])
    for s in reply.sessions:
        table.add_row(
            "*" if s.current else "",
            s.session_id,
            s.device_name or "-",
            s.ip_address,
            timestamp_text(s.create_time),
            timestamp_text(s.last_used_time),
        )
    args.out.table(table)


async def logout(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    path = session_path(args.env)
    if args.all:
        reply = await stub.LogoutAllDevices(pb.LogoutAllDevicesRequest(), **call.kwargs)
        args.out.line(f"Signed out everywhere ({reply.revoked_sessions} sessions).")
    else:
        session_id = str(read_session(path).get("session_id", ""))
        await stub.RevokeSession(pb.RevokeSessionRequest(session_id=session_id), **call.kwargs)
        args.out.line("Signed out.")
    with locked(path):
        path.unlink(missing_ok=True)


async def reset_password(stub: pb_grpc.AccountServiceStub, call: CallOptions, args: Any) -> None:
    if args.token is None:
        if not args.email:
            raise UsageError("give --email to send a reset link, then --token to use it")
        await stub.RequestPasswordReset(
            pb.RequestPasswordResetRequest(email=args.email), **call.kwargs
        )
        args.out.line(f"If {args.email} has an account, a reset link was sent to it.")
        return
    token = args.token
    if token == "outbox":
        token = await outbox_link_token(stub, call, args.email, "Reset")
    password = read_password(args, "New password: ")
    await stub.ResetPassword(
        pb.ResetPasswordRequest(token=token, new_password=password), **call.kwargs
    )
    args.out.line("Password changed; every session was signed out.")


# ------------------------------------------------------------------------ running


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    args.env = env
    timeout = timeout_of(args, DEFAULT_TIMEOUT)
    metadata: tuple[tuple[str, str], ...] = ()
    if args.needs_user:
        metadata = (("authorization", f"Bearer {await access_token(env, timeout)}"),)
    call = CallOptions(timeout, current_request_id() or new_request_id(), metadata)
    channel = open_channel(addresses_from_env(env, ENV_ADDRESSES), SERVICE)
    try:
        await args.handler(pb_grpc.AccountServiceStub(channel), call, args)
    finally:
        await channel.close()


def add_parsers(groups: Any) -> None:
    account = groups.add_parser(
        "account",
        help="sign up, sign in, sessions (account service)",
        description=f"Accounts and sessions. Reads {ENV_ADDRESSES}; keeps the session's "
        f"tokens in {ENV_SESSION_FILE} (default ~/.skyroute/session.json, mode 0600).",
    )
    commands = account.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Any, needs_user: bool, help_text: str) -> Any:
        parser = commands.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(run=run, handler=handler, needs_user=needs_user)
        add_common_options(parser, DEFAULT_TIMEOUT)
        return parser

    def password_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin (else: prompt)",
        )

    p = command("register", register, False, "create an account (sends a verification link)")
    p.add_argument("--email", required=True)
    password_option(p)
    p = command("verify", verify, False, "verify the email address with its link's token")
    p.add_argument("--email", help="take the newest link from the development outbox")
    p.add_argument("--token", help="the token of the link")
    p = command("login", login, False, "sign in; keeps the tokens in the session file")
    p.add_argument("--email", required=True)
    p.add_argument("--device", help="a name for this device (shown by `account sessions`)")
    password_option(p)
    p = command("sessions", sessions, True, "the signed-in user's sessions")
    add_json_option(p)
    p = command("logout", logout, True, "sign out this session (--all: every session)")
    p.add_argument("--all", action="store_true", help="sign out on every device")
    p = command(
        "reset-password",
        reset_password,
        False,
        "send a reset link (--email), or set a new password (--token T, or --token outbox "
        "with --email in development)",
    )
    p.add_argument("--email")
    p.add_argument("--token")
    password_option(p)
