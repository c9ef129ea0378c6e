"""Single flight: one upstream call for many identical concurrent requests."""

from __future__ import annotations

import asyncio

import pytest

from solbot.resilience import InlineSingleFlight, SingleFlight


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = 0
        self.release = asyncio.Event()

    async def quote(self) -> int:
        self.calls += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return 42


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_identical_calls_share_one_upstream_call() -> None:
    """A hundred waiters on one key cause one call and all get its answer."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    waiters = [asyncio.create_task(flights.do("SOL/USDC/1", upstream.quote)) for _ in range(100)]
    await settle()
    assert flights.waiters("SOL/USDC/1") == 100
    upstream.release.set()
    assert await asyncio.gather(*waiters) == [42] * 100
    assert upstream.calls == 1
    assert len(flights) == 0


async def test_different_keys_do_not_share() -> None:
    """Each distinct key has its own call."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    upstream.release.set()
    assert await asyncio.gather(flights.do("a", upstream.quote), flights.do("b", upstream.quote))
    assert upstream.calls == 2


async def test_sequential_calls_are_not_cached() -> None:
    """Once a call is over, the next request makes a fresh one."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    upstream.release.set()
    await flights.do("k", upstream.quote)
    await flights.do("k", upstream.quote)
    assert upstream.calls == 2


async def test_failure_is_shared_by_all_waiters() -> None:
    """If the shared call fails, every waiter gets the error; the next call starts afresh."""
    flights: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("venue down")

    waiters = [asyncio.create_task(flights.do("k", failing)) for _ in range(3)]
    await settle()
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert len(flights) == 0


async def test_cancelled_waiter_does_not_cancel_the_shared_call() -> None:
    """One waiter giving up leaves the call running for the others."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    first = asyncio.create_task(flights.do("k", upstream.quote))
    second = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    first.cancel()
    await settle()
    assert first.cancelled()
    assert upstream.cancelled == 0
    upstream.release.set()
    assert await second == 42
    assert upstream.calls == 1


async def test_last_waiter_leaving_cancels_the_call() -> None:
    """When nobody waits any more, the upstream call is cancelled and forgotten."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    waiters = [asyncio.create_task(flights.do("k", upstream.quote)) for _ in range(3)]
    await settle()
    for waiter in waiters:
        waiter.cancel()
    await settle()
    assert upstream.cancelled == 1
    assert len(flights) == 0


async def test_caller_arriving_after_abandonment_starts_afresh() -> None:
    """A request arriving just after all waiters left gets a new call, not a cancelled one."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    waiter = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    waiter.cancel()
    await asyncio.sleep(0)
    upstream.release.set()
    assert await flights.do("k", upstream.quote) == 42
    assert upstream.calls == 2


async def test_waiter_timeout_leaves_the_call_to_others() -> None:
    """A waiter whose deadline passes (asyncio.timeout) gets TimeoutError; others still get 42."""
    flights: SingleFlight[str, int] = SingleFlight()
    upstream = Upstream()
    patient = asyncio.create_task(flights.do("k", upstream.quote))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await flights.do("k", upstream.quote)
    upstream.release.set()
    assert await patient == 42
    assert upstream.calls == 1


# ---- InlineSingleFlight: the first caller runs the call itself ---------------------------------


async def test_inline_concurrent_identical_calls_share_the_first_callers_call() -> None:
    """A hundred callers on one key cause one call, run by the first; all get its answer."""
    flights: InlineSingleFlight[str, int] = InlineSingleFlight()
    upstream = Upstream()
    callers = [asyncio.create_task(flights.do("SOL/USDC/1", upstream.quote)) for _ in range(100)]
    await settle()
    assert len(flights) == 1
    upstream.release.set()
    assert await asyncio.gather(*callers) == [42] * 100
    assert upstream.calls == 1
    assert len(flights) == 0


async def test_inline_a_failure_reaches_every_caller_and_is_never_left_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first caller's error is every waiter's; with no waiter, asyncio logs nothing."""
    flights: InlineSingleFlight[str, int] = InlineSingleFlight()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("venue broke")

    callers = [asyncio.create_task(flights.do("k", failing)) for _ in range(3)]
    await settle()
    release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["venue broke"] * 3
    with pytest.raises(RuntimeError):
        await flights.do("alone", failing)
    import gc

    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_inline_a_cancelled_first_caller_makes_a_waiter_start_over() -> None:
    """The caller running the call is cancelled: a waiter runs it anew and gets its answer."""
    flights: InlineSingleFlight[str, int] = InlineSingleFlight()
    upstream = Upstream()
    first = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    waiter = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    first.cancel()
    await settle()
    assert first.cancelled()
    assert upstream.calls == 2 and upstream.cancelled == 1  # the waiter's own call is running
    upstream.release.set()
    assert await waiter == 42
    assert len(flights) == 0


async def test_inline_a_cancelled_waiter_leaves_the_call_running_for_the_others() -> None:
    """A waiter that gives up is cancelled alone; the first caller and others are unaffected."""
    flights: InlineSingleFlight[str, int] = InlineSingleFlight()
    upstream = Upstream()
    first = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    quitter = asyncio.create_task(flights.do("k", upstream.quote))
    stayer = asyncio.create_task(flights.do("k", upstream.quote))
    await settle()
    quitter.cancel()
    await settle()
    assert quitter.cancelled()
    upstream.release.set()
    assert (await first, await stayer) == (42, 42)
    assert (upstream.calls, upstream.cancelled) == (1, 0)


async def test_inline_calls_after_the_answer_start_afresh() -> None:
    """Once a call is over, the next caller makes a fresh one (no stale answer kept)."""
    flights: InlineSingleFlight[str, int] = InlineSingleFlight()
    upstream = Upstream()
    upstream.release.set()
    assert await flights.do("k", upstream.quote) == 42
    assert await flights.do("k", upstream.quote) == 42
    assert upstream.calls == 2
