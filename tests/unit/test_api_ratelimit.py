"""Rate limits: the sliding windows, and how the API shows and enforces them."""

from __future__ import annotations

import time

import pytest

from shoal.control import tokens
from shoal.control.ratelimit import RateLimiter
from tests.unit.test_api_droplets import assert_error


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_minute_window_refuses_then_forgives():
    clock = Clock()
    limiter = RateLimiter(per_minute=2, per_hour=100, clock=clock)

    first, second, third = (limiter.charge("a") for _ in range(3))
    clock.now += 60
    fourth = limiter.charge("a")

    assert first.allowed and second.allowed
    assert not third.allowed
    assert third.retry_after == 60
    assert fourth.allowed


def test_hour_window_counts_remaining_and_resets_at_oldest_expiry():
    clock = Clock()
    limiter = RateLimiter(per_minute=100, per_hour=3, clock=clock)

    start = clock.now
    verdicts = []
    for _ in range(4):
        verdicts.append(limiter.charge("a"))
        clock.now += 61

    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert not verdicts[3].allowed
    assert verdicts[3].reset == int(start + 3600)
    assert verdicts[3].retry_after == int(start + 3600 - (start + 3 * 61))


def test_callers_have_separate_budgets():
    limiter = RateLimiter(per_minute=1, per_hour=10, clock=Clock())

    assert limiter.charge("a").allowed
    assert limiter.charge("b").allowed
    assert not limiter.charge("a").allowed


def test_reset_is_never_in_the_past():
    clock = Clock()
    limiter = RateLimiter(per_minute=5, per_hour=5, clock=clock)
    limiter.charge("a")
    clock.now += 3599.5

    verdict = limiter.charge("a")

    assert verdict.reset >= clock.now


def test_quiet_callers_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(per_minute=5, per_hour=5, clock=clock)
    limiter.charge("quiet")
    clock.now += 3601

    for index in range(1000):
        limiter.charge(f"busy-{index % 3}")

    assert "quiet" not in limiter._logs


@pytest.fixture
def settings(settings):
    settings.rate_limit_per_minute = 3
    settings.rate_limit_per_hour = 5000
    return settings


def assert_rate_headers(response, remaining: int | None = None):
    headers = response.headers
    assert headers["ratelimit-limit"] == "5000", headers
    assert int(headers["ratelimit-reset"]) >= int(time.time()), headers
    if remaining is not None:
        assert headers["ratelimit-remaining"] == str(remaining), headers


def test_every_response_carries_rate_headers(client):
    ok = client.get("/v2/account")
    missing = client.get("/v2/no-such-thing")
    client.headers["Authorization"] = "Bearer dop_v1_wrong"
    refused = client.get("/v2/account")

    assert_rate_headers(ok)
    assert_rate_headers(missing)
    assert_rate_headers(refused)


def test_B01_past_the_limit_is_429_with_retry_after(client):
    for _ in range(4):
        client.get("/v2/account")

    response = client.get("/v2/account")

    assert_error(response, 429, "too_many_requests")
    assert_rate_headers(response)
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_token_budget_counts_down(client):
    # The first request spends the address's budget and teaches the token.
    client.get("/v2/account")

    second = client.get("/v2/account")
    third = client.get("/v2/account")

    assert_rate_headers(second, remaining=4999)
    assert_rate_headers(third, remaining=4998)


def test_each_token_has_its_own_budget(client, db):
    with db.transaction() as session:
        other = tokens.create_token(session, "other")
    for _ in range(4):
        client.get("/v2/account")
    assert client.get("/v2/account").status_code == 429

    client.headers["Authorization"] = f"Bearer {other}"

    assert client.get("/v2/account").status_code == 200


def test_unauthenticated_callers_share_their_address_budget(client):
    del client.headers["Authorization"]
    for index in range(3):
        # A fresh made-up token each time buys no fresh budget.
        client.headers["Authorization"] = f"Bearer dop_v1_made_up_{index}"
        assert client.get("/v2/account").status_code == 401

    response = client.get("/v2/account")

    assert_error(response, 429, "too_many_requests")
