"""The token commands' output for people: the state at a glance, human times, and the
token value only when asked for."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable

import pytest
from google.protobuf import timestamp_pb2

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from skyroute_cli.output import Output
from skyroute_cli.tokens import print_status, print_token, state_of


def at(seconds_from_now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(int((time.time() + seconds_from_now) * 1000))
    return ts


def healthy(**fields: object) -> pb.GetTokenStatusResponse:
    st = pb.GetTokenStatusResponse(provider="amadeus", has_valid_token=True, generation=7)
    st.time_to_expiry.FromSeconds(12 * 60 + 30)
    st.token_age.FromSeconds(95)
    st.refresh_time.CopyFrom(at(6 * 60 + 30))
    for name, value in fields.items():
        if isinstance(value, timestamp_pb2.Timestamp):
            getattr(st, name).CopyFrom(value)
        elif isinstance(value, float):  # a time, in seconds from now
            getattr(st, name).CopyFrom(at(value))
        else:
            setattr(st, name, value)
    return st


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, "green: valid token"),
        (
            {"degraded": True},
            "amber: degraded (Redis unreachable; serving this replica's token)",
        ),
        # Seconds from when the test runs (not from collection, which may be long before).
        ({"backoff_until": 30.0, "last_error": "HTTP 503"}, "amber: backing off after a "),
        ({"backoff_until": -30.0}, "green: valid token"),  # a backoff that is over
        ({"has_valid_token": False}, "red: no valid token"),
        ({"reauthorization_required": True}, "red: reauthorization required"),
    ],
)
def test_state_at_a_glance(fields: dict[str, object], state: str) -> None:
    assert state_of(healthy(**fields)).plain.startswith(state)


def render(write: Callable[[Output], None]) -> str:
    stream = io.StringIO()
    write(Output(stdout=stream, env={}))
    return stream.getvalue()


def kv(text: str) -> dict[str, str]:
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines())


def test_status_in_human_units() -> None:
    text = render(lambda out: print_status(out, healthy(last_error="HTTP 503")))
    lines = kv(text)
    assert lines["provider"] == "amadeus" and lines["generation"] == "7"
    assert lines["expires"] == "in 12 m"
    assert lines["next refresh"].startswith("in 6 m (")
    assert lines["token age"] == "1 m" and lines["last error"] == "HTTP 503"
    assert lines["state"].startswith("amber: last refresh failed")


def test_token_masked_unless_asked() -> None:
    token = pb.AccessToken(
        access_token="secret-token-value", token_type="Bearer", generation=3, provider="amadeus"
    )
    token.expire_time.CopyFrom(at(29 * 60 + 30))
    masked = render(lambda out: print_token(out, token, show=False))
    assert "secret-token-value" not in masked and "secr…" in masked
    assert "expires     in 29 m (" in masked and "generation  3" in masked
    shown = render(lambda out: print_token(out, token, show=True))
    assert "token       secret-token-value\n" in shown
