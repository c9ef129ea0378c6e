"""Retries: only retryable failures, backoff with jitter, venue's reset honoured, deadline kept."""

from __future__ import annotations

import asyncio
import random

import pytest

from solbot.errors import (
    DeadlineExceeded,
    NoRoute,
    RateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from solbot.resilience import (
    Deadline,
    ManualClock,
    RetryPolicy,
    call_with_retries,
    inside_attempt_timeout,
    retry_after_from_headers,
)


class Upstream:
    """A scripted upstream: raises the given errors in turn, then answers."""

    def __init__(self, clock: ManualClock, *errors: Exception, answer: str = "quote") -> None:
        self.clock = clock
        self.errors = list(errors)
        self.answer = answer
        self.timeouts: list[float] = []
        self.called_at: list[float] = []

    async def __call__(self, timeout_s: float) -> str:
        self.timeouts.append(timeout_s)
        self.called_at.append(self.clock())
        if self.errors:
            raise self.errors.pop(0)
        return self.answer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def policy(**kwargs: object) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable("503", source="jupiter")


def test_backoff_grows_from_100ms_to_1s_with_jitter() -> None:
    """The n-th wait lies in [0.1, min(1.0, 0.1 * 2**(n-1))] and is not constant."""
    retry = policy()
    for n in range(1, 10):
        ceiling = min(1.0, 0.1 * 2 ** (n - 1))
        waits = [retry.backoff_s(n) for _ in range(200)]
        assert all(0.1 <= w <= ceiling for w in waits)
        if n > 1:
            assert len(set(waits)) > 100
    assert max(retry.backoff_s(10) for _ in range(500)) > 0.9


def test_only_unavailable_errors_are_retryable() -> None:
    """Timeouts, 5xx and 429 are retried; rejections and bugs are not."""
    retry = RetryPolicy()
    assert retry.is_retryable(UpstreamTimeout("t", source="x"))
    assert retry.is_retryable(RateLimited("429", source="x"))
    assert retry.is_retryable(UpstreamUnavailable("503", source="x"))
    assert not retry.is_retryable(UpstreamRejected("400", source="x"))
    assert not retry.is_retryable(NoRoute("none", source="x"))
    assert not retry.is_retryable(ValueError("bug"))


async def test_retries_retryable_failures_until_success(clock: ManualClock) -> None:
    """Two 503s then an answer: three attempts, the answer returned."""
    upstream = Upstream(clock, unavailable(), unavailable())
    result = await call_with_retries(
        upstream, Deadline.after(2.0, clock=clock), policy(), sleep=clock.sleep
    )
    assert result == "quote"
    assert len(upstream.called_at) == 3


@pytest.mark.parametrize(
    "error", [UpstreamRejected("400", source="jupiter"), NoRoute("none", source="jupiter")]
)
async def test_non_retryable_failure_is_raised_at_once(
    clock: ManualClock, error: Exception
) -> None:
    """A rejection is not retried: one attempt, the same error raised."""
    upstream = Upstream(clock, error)
    with pytest.raises(type(error)) as info:
        await call_with_retries(
            upstream, Deadline.after(2.0, clock=clock), policy(), sleep=clock.sleep
        )
    assert info.value is error
    assert len(upstream.called_at) == 1


async def test_gives_up_after_max_attempts_with_the_last_error(clock: ManualClock) -> None:
    """max_attempts bounds the calls; the last failure is what the caller sees."""
    errors = [UpstreamUnavailable(f"503 #{i}", source="jupiter") for i in range(5)]
    upstream = Upstream(clock, *errors)
    with pytest.raises(UpstreamUnavailable) as info:
        await call_with_retries(
            upstream, Deadline.after(10.0, clock=clock), policy(max_attempts=3), sleep=clock.sleep
        )
    assert info.value is errors[2]
    assert len(upstream.called_at) == 3


async def test_honours_rate_limit_reset(clock: ManualClock) -> None:
    """A 429 saying "come back in 0.7 s" delays the retry by at least that."""
    upstream = Upstream(clock, RateLimited("429", source="jupiter", retry_after_s=0.7))
    await call_with_retries(upstream, Deadline.after(2.0, clock=clock), policy(), sleep=clock.sleep)
    assert upstream.called_at[1] - upstream.called_at[0] >= 0.7


async def test_never_sleeps_past_the_deadline(clock: ManualClock) -> None:
    """A reset later than the deadline is not waited for: the 429 is raised at once."""
    error = RateLimited("429", source="jupiter", retry_after_s=5.0)
    upstream = Upstream(clock, error)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await clock.sleep(seconds)

    with pytest.raises(RateLimited) as info:
        await call_with_retries(upstream, Deadline.after(2.0, clock=clock), policy(), sleep=sleep)
    assert info.value is error
    assert slept == []
    assert clock() == 1000.0


async def test_retry_loop_always_ends_within_the_deadline(clock: ManualClock) -> None:
    """With attempts that each take time, the last one ends by the deadline, never after."""

    class SlowFailing:
        def __init__(self) -> None:
            self.timeouts: list[float] = []

        async def __call__(self, timeout_s: float) -> str:
            self.timeouts.append(timeout_s)
            clock.advance(timeout_s)  # the attempt times out, taking all it was given
            raise UpstreamTimeout("slow", source="jupiter")

    upstream = SlowFailing()
    deadline = Deadline.after(2.0, clock=clock)
    with pytest.raises((UpstreamTimeout, DeadlineExceeded)):
        await call_with_retries(
            upstream,
            deadline,
            policy(max_attempts=10),
            attempt_timeout_cap_s=0.8,
            sleep=clock.sleep,
        )
    assert clock() <= deadline.at
    # Attempt timeouts are the cap until the budget is smaller, then shrink with it.
    assert upstream.timeouts[0] == 0.8
    assert upstream.timeouts[1] == 0.8
    assert all(b <= a for a, b in zip(upstream.timeouts[1:], upstream.timeouts[2:], strict=False))
    assert upstream.timeouts[-1] < 0.8


async def test_attempt_timeout_shrinks_with_the_budget(clock: ManualClock) -> None:
    """Each attempt is given min(cap, remaining): later attempts get less."""
    upstream = Upstream(clock, unavailable(), unavailable())
    deadline = Deadline.after(1.0, clock=clock)

    async def sleep(seconds: float) -> None:
        clock.advance(0.35)  # a long wait, to eat into the budget

    await call_with_retries(upstream, deadline, policy(), attempt_timeout_cap_s=0.5, sleep=sleep)
    assert upstream.timeouts == [0.5, 0.5, pytest.approx(0.3)]


async def test_no_attempt_once_the_deadline_has_passed(clock: ManualClock) -> None:
    """An expired deadline raises DeadlineExceeded without calling upstream."""
    upstream = Upstream(clock)
    deadline = Deadline.after(1.0, clock=clock)
    clock.advance(1.0)
    with pytest.raises(DeadlineExceeded):
        await call_with_retries(upstream, deadline, policy(), sleep=clock.sleep)
    assert upstream.called_at == []


async def test_attempt_is_aborted_at_its_timeout_even_if_fn_ignores_it() -> None:
    """An attempt that hangs is cut at its timeout and counts as UpstreamTimeout."""
    calls = 0

    async def hangs(timeout_s: float) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(10)
        return "never"

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(UpstreamTimeout) as info:
        await call_with_retries(
            hangs,
            Deadline.after(0.25),
            RetryPolicy(max_attempts=1),
            attempt_timeout_cap_s=0.05,
            source="jupiter",
        )
    assert loop.time() - started < 0.2
    assert info.value.source == "jupiter"
    assert calls == 1


async def test_hanging_upstream_never_outlives_the_deadline() -> None:
    """Retries of a hanging upstream stop by the deadline (real clock, real sleeps)."""

    async def hangs(timeout_s: float) -> str:
        await asyncio.sleep(10)
        return "never"

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises((UpstreamTimeout, DeadlineExceeded)):
        await call_with_retries(
            hangs,
            Deadline.after(0.3),
            RetryPolicy(max_attempts=10, min_backoff_s=0.01, max_backoff_s=0.02),
            attempt_timeout_cap_s=0.1,
        )
    assert loop.time() - started < 0.35


async def test_on_retry_sees_each_retry(clock: ManualClock) -> None:
    """The hook is told the retry number, the error and the wait."""
    seen: list[tuple[int, str, float]] = []
    upstream = Upstream(clock, unavailable(), unavailable())
    await call_with_retries(
        upstream,
        Deadline.after(2.0, clock=clock),
        policy(),
        sleep=clock.sleep,
        on_retry=lambda n, error, wait: seen.append((n, str(error), wait)),
    )
    assert [n for n, _, _ in seen] == [1, 2]
    assert all(0.1 <= wait <= 0.2 for _, _, wait in seen)


def test_reset_header_is_unix_seconds() -> None:
    """x-ratelimit-reset is a Unix timestamp: the wait is reset minus now."""
    headers = {"x-ratelimit-reset": "1700000003"}
    assert retry_after_from_headers(headers, now_unix=1_700_000_001.5) == pytest.approx(1.5)
    assert retry_after_from_headers(headers, now_unix=1_700_000_010.0) == 0.0


def test_small_reset_value_is_read_as_seconds_from_now() -> None:
    """A gateway that sends "seconds left" instead of a timestamp is understood too."""
    assert retry_after_from_headers({"x-ratelimit-reset": "2"}, now_unix=1.7e9) == 2.0


def test_retry_after_header_is_the_fallback() -> None:
    """Without x-ratelimit-reset, Retry-After in seconds is used; garbage gives None."""
    assert retry_after_from_headers({"retry-after": "3"}, now_unix=0.0) == 3.0
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015"}, now_unix=0.0) is None
    assert retry_after_from_headers({"x-ratelimit-reset": "soon"}, now_unix=0.0) is None
    assert retry_after_from_headers({}, now_unix=0.0) is None


async def test_an_attempt_knows_it_runs_under_its_own_timeout_and_nothing_else_does(
    clock: ManualClock,
) -> None:
    """What lets the HTTP client below leave out a second timer: True inside each attempt,
    False before, between (the backoff) and after."""
    seen: list[bool] = []

    async def attempt(_timeout_s: float) -> str:
        seen.append(inside_attempt_timeout())
        if len(seen) == 1:
            raise unavailable()
        return "quote"

    async def sleep(_s: float) -> None:
        seen.append(inside_attempt_timeout())

    assert not inside_attempt_timeout()
    assert await call_with_retries(attempt, Deadline.after(2.0, clock=clock), sleep=sleep)
    assert seen == [True, False, True]
    assert not inside_attempt_timeout()
