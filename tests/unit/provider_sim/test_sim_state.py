"""SimState on its own: expiry, revocation, faults and counters with a fake clock."""

from __future__ import annotations

import json

import pytest

from provider_sim.state import SimConfig, SimState, TokenStatus


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SimState:
    return SimState({"a": "secret-a", "b": "secret-b"}, SimConfig(token_ttl=2.5), clock=clock)


def test_refuses_to_start_without_clients() -> None:
    with pytest.raises(ValueError, match="client"):
        SimState({})


def test_check_client_accepts_only_matching_secret(state: SimState) -> None:
    assert state.check_client("a", "secret-a")
    assert not state.check_client("a", "secret-b")
    assert not state.check_client("nobody", "secret-a")


def test_each_issue_is_a_new_token_with_float_expiry(state: SimState, clock: FakeClock) -> None:
    first, second = state.issue_token("a"), state.issue_token("a")
    assert first.access_token != second.access_token
    assert len(first.access_token) >= 28
    assert (first.seq, second.seq) == (1, 2)
    assert first.expires_at == clock.now + 2.5


def test_token_expires_at_issue_time_plus_ttl(state: SimState, clock: FakeClock) -> None:
    token = state.issue_token("a")
    clock.now += 2.49
    assert state.lookup(token.access_token)[0] is TokenStatus.VALID
    clock.now += 0.01
    assert state.lookup(token.access_token)[0] is TokenStatus.EXPIRED


def test_unknown_token(state: SimState) -> None:
    assert state.lookup("never-issued") == (TokenStatus.UNKNOWN, None)


def test_revoke_by_client_counts_only_live_tokens(state: SimState, clock: FakeClock) -> None:
    expired = state.issue_token("a")
    clock.now += 10
    live_a, live_b = state.issue_token("a"), state.issue_token("b")
    assert state.revoke("a") == 1
    assert state.lookup(live_a.access_token)[0] is TokenStatus.REVOKED
    assert state.lookup(live_b.access_token)[0] is TokenStatus.VALID
    assert state.lookup(expired.access_token)[0] is TokenStatus.EXPIRED
    assert state.revoke() == 1


def test_revoke_on_issue_kills_only_that_clients_older_tokens(state: SimState) -> None:
    state.update_config(revoke_on_issue=True)
    old_a, old_b = state.issue_token("a"), state.issue_token("b")
    new_a = state.issue_token("a")
    assert state.lookup(old_a.access_token)[0] is TokenStatus.REVOKED
    assert state.lookup(old_b.access_token)[0] is TokenStatus.VALID
    assert state.lookup(new_a.access_token)[0] is TokenStatus.VALID


def test_token_faults_are_consumed_then_clear(state: SimState) -> None:
    state.fail_next_token_requests(2, 503)
    assert [state.take_token_fault() for _ in range(3)] == [503, 503, None]


def test_token_endpoint_down_until_brought_back(state: SimState) -> None:
    state.set_token_endpoint_down(500)
    assert [state.take_token_fault() for _ in range(3)] == [500, 500, 500]
    state.set_token_endpoint_down(None)
    assert state.take_token_fault() is None


@pytest.mark.parametrize("status", [200, 401, 404])
def test_rejects_fault_statuses_that_are_not_failures(state: SimState, status: int) -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        state.fail_next_api_requests(1, status)


def test_config_validation(state: SimState) -> None:
    with pytest.raises(ValueError, match="token_ttl"):
        state.update_config(token_ttl=0)
    with pytest.raises(ValueError, match="latencies"):
        state.update_config(api_latency_ms=-1)
    assert state.config.token_ttl == 2.5


def test_stats_count_without_token_values(state: SimState) -> None:
    token = state.issue_token("a")
    state.record_token_request(None)
    state.record_token_request(state.failure_key("who?"))
    state.record_api_request(token)
    state.record_api_request(None)
    state.record_api_401(38191)
    stats = state.stats()
    assert stats["tokens_issued"] == {"a": 1, "b": 0}
    assert stats["token_requests_failed"] == {"unknown": 1}
    assert stats["token_requests_total"] == 2
    assert stats["api_requests"] == 2
    assert stats["api_requests_per_token"] == {"1": 1}
    assert stats["api_401"] == {"38191": 1}
    dumped = json.dumps(stats)
    assert token.access_token not in dumped
    assert "secret-a" not in dumped


def test_reset_restores_start_config_and_forgets_everything(state: SimState) -> None:
    token = state.issue_token("a")
    state.update_config(token_ttl=99, revoke_on_issue=True)
    state.fail_next_api_requests(3, 429)
    state.reset()
    assert state.config == SimConfig(token_ttl=2.5)
    assert state.lookup(token.access_token)[0] is TokenStatus.UNKNOWN
    assert state.take_api_fault() is None
    assert state.stats()["issued"] == []
    assert state.issue_token("a").seq == 1
