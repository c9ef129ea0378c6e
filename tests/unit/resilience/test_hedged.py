"""Hedged calls: fallbacks only when the primary fails, disappoints or is slow; no strays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from solbot.resilience import Deadline, hedged


class Source:
    """A fake source: answers `value` after `delay_s`, or raises `error`."""

    def __init__(self, value: int = 0, delay_s: float = 0.0, error: Exception | None = None):
        self.value = value
        self.delay_s = delay_s
        self.error = error
        self.started = 0
        self.cancelled = 0

    def __call__(self) -> Awaitable[int]:
        return self.run()

    async def run(self) -> int:
        self.started += 1
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.value


def named(
    name: str, source: Callable[[], Awaitable[int]]
) -> tuple[str, Callable[[], Awaitable[int]]]:
    return name, source


async def test_fast_good_primary_never_calls_fallbacks() -> None:
    """A good primary answer within the hedge delay ends it: fallbacks are not started."""
    jupiter, dflow = Source(100), Source(99)
    outcomes = await hedged(
        ("jupiter", jupiter), [("dflow", dflow)], hedge_delay_s=0.2, deadline=Deadline.after(2.0)
    )
    assert outcomes["jupiter"].status == "ok"
    assert outcomes["jupiter"].result == 100
    assert outcomes["dflow"].status == "not_started"
    assert dflow.started == 0
    assert list(outcomes) == ["jupiter", "dflow"]


async def test_failed_primary_starts_fallbacks_at_once() -> None:
    """A primary error brings in the fallbacks without waiting out the hedge delay."""
    jupiter = Source(error=RuntimeError("503"))
    dflow, hashflow = Source(99, delay_s=0.01), Source(98, delay_s=0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await hedged(
        ("jupiter", jupiter),
        [("dflow", dflow), ("hashflow", hashflow)],
        hedge_delay_s=1.0,
        deadline=Deadline.after(2.0),
    )
    assert loop.time() - started < 0.5
    assert outcomes["jupiter"].status == "error"
    assert isinstance(outcomes["jupiter"].error, RuntimeError)
    assert [outcomes[n].result for n in ("dflow", "hashflow")] == [99, 98]


async def test_weak_primary_answer_starts_fallbacks() -> None:
    """An answer the predicate calls not good enough (illiquid, low confidence) hedges too."""
    jupiter, dflow = Source(1), Source(99)
    outcomes = await hedged(
        ("jupiter", jupiter),
        [("dflow", dflow)],
        hedge_delay_s=0.2,
        deadline=Deadline.after(2.0),
        good_enough=lambda value: value > 10,
    )
    assert outcomes["jupiter"].result == 1
    assert outcomes["dflow"].result == 99


async def test_slow_primary_is_hedged_and_kept_running() -> None:
    """Past the hedge delay, fallbacks start alongside the primary, which may still win."""
    jupiter, dflow = Source(100, delay_s=0.1), Source(99, delay_s=0.01)
    outcomes = await hedged(
        ("jupiter", jupiter), [("dflow", dflow)], hedge_delay_s=0.02, deadline=Deadline.after(2.0)
    )
    assert outcomes["jupiter"].status == "ok"
    assert outcomes["dflow"].status == "ok"
    assert jupiter.cancelled == 0
    latency = outcomes["dflow"].latency_s
    assert latency is not None
    assert latency < 0.09


async def test_losers_are_cancelled_at_the_deadline() -> None:
    """Calls still running at the deadline are cancelled and reported as cancelled, in time."""
    jupiter, dflow, hashflow = Source(delay_s=10), Source(99, delay_s=0.01), Source(delay_s=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await hedged(
        ("jupiter", jupiter),
        [("dflow", dflow), ("hashflow", hashflow)],
        hedge_delay_s=0.02,
        deadline=Deadline.after(0.15),
    )
    assert loop.time() - started < 0.3
    assert [outcomes[n].status for n in outcomes] == ["cancelled", "ok", "cancelled"]
    assert (jupiter.cancelled, hashflow.cancelled) == (1, 1)


async def test_settle_stops_waiting_soon_after_a_good_answer() -> None:
    """With settle_s, the hedge ends that long after the first good answer."""
    jupiter, dflow = Source(delay_s=10), Source(99, delay_s=0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await hedged(
        ("jupiter", jupiter),
        [("dflow", dflow)],
        hedge_delay_s=0.01,
        deadline=Deadline.after(2.0),
        settle_s=0.03,
    )
    assert loop.time() - started < 0.5
    assert outcomes["jupiter"].status == "cancelled"
    assert outcomes["dflow"].result == 99


async def test_cancelling_the_caller_cancels_every_call() -> None:
    """If the request itself is cancelled, no call is left running."""
    jupiter, dflow = Source(delay_s=10), Source(delay_s=10)
    task = asyncio.create_task(
        hedged(
            ("jupiter", jupiter),
            [("dflow", dflow)],
            hedge_delay_s=0.01,
            deadline=Deadline.after(5.0),
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (jupiter.cancelled, dflow.cancelled) == (1, 1)


async def test_all_failing_sources_are_all_reported() -> None:
    """When everything fails, every source's error comes back for the 503 details."""
    outcomes = await hedged(
        ("jupiter", Source(error=RuntimeError("a"))),
        [("dflow", Source(error=RuntimeError("b")))],
        hedge_delay_s=0.1,
        deadline=Deadline.after(1.0),
    )
    assert [o.status for o in outcomes.values()] == ["error", "error"]


async def test_duplicate_names_are_refused() -> None:
    """Outcomes are keyed by name, so names must be distinct."""
    source = Source()
    try:
        await hedged(
            named("jupiter", source),
            [named("jupiter", source)],
            hedge_delay_s=0.1,
            deadline=Deadline.after(1.0),
        )
    except ValueError:
        return
    raise AssertionError("duplicate names accepted")
