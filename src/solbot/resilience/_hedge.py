"""Hedged calls: ask the primary source; bring in the fallbacks only when it disappoints.

    primary ----[hedge delay]----> answered, good enough?  yes -> done, fallbacks never called
                                   no (failed / weak / silent) -> start every fallback too
    then wait for all started calls, until the deadline (or `settle_s` after the first good
    answer); whatever is still running then is cancelled and reported as such.

Generic on purpose: it knows nothing of quotes. "Good enough" is the caller's predicate (for
quotes: executable, confident, not through illiquid pools), and choosing among the outcomes is
the caller's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from solbot.resilience._deadline import Deadline

__all__ = ["HedgeOutcome", "hedged"]

T = TypeVar("T")

HedgeStatus = Literal["ok", "error", "cancelled", "not_started"]
NamedCall = tuple[str, Callable[[], Awaitable[T]]]

#: How long cancelled losers get to unwind before we stop waiting for them.
_CANCEL_GRACE_S = 0.05


@dataclass(frozen=True, slots=True)
class HedgeOutcome(Generic[T]):
    """What became of one call. `latency_s` is from its own start to its end (or cancellation)."""

    name: str
    status: HedgeStatus
    result: T | None = None
    error: BaseException | None = None
    latency_s: float | None = None


def _always(_: object) -> bool:
    return True


async def hedged(
    primary: NamedCall[T],
    fallbacks: Sequence[NamedCall[T]],
    *,
    hedge_delay_s: float,
    deadline: Deadline,
    good_enough: Callable[[T], bool] = _always,
    settle_s: float | None = None,
) -> dict[str, HedgeOutcome[T]]:
    """Run the hedge; return one outcome per name, in the order given (primary first).

    Never outlives `deadline` by more than a short grace (50 ms) for cancelled calls to unwind,
    and cancels every call it started, even when the caller itself is cancelled. Without
    `settle_s`, once hedging has begun it waits for every started call (or the deadline).
    """
    clock = deadline.clock
    calls: dict[str, Callable[[], Awaitable[T]]] = dict([primary, *fallbacks])
    if len(calls) != 1 + len(fallbacks):
        raise ValueError("hedged calls need distinct names")
    tasks: dict[asyncio.Task[T], str] = {}
    started_at: dict[str, float] = {}
    ended: dict[str, HedgeOutcome[T]] = {}

    def start(name: str) -> None:
        started_at[name] = clock()
        tasks[asyncio.ensure_future(calls[name]())] = name

    def settle(task: asyncio.Task[T]) -> HedgeOutcome[T]:
        name = tasks[task]
        latency = clock() - started_at[name]
        if task.cancelled():
            outcome: HedgeOutcome[T] = HedgeOutcome(name, "cancelled", latency_s=latency)
        elif (error := task.exception()) is not None:
            outcome = HedgeOutcome(name, "error", error=error, latency_s=latency)
        else:
            outcome = HedgeOutcome(name, "ok", result=task.result(), latency_s=latency)
        ended[name] = outcome
        return outcome

    def is_good(outcome: HedgeOutcome[T]) -> bool:
        return outcome.status == "ok" and good_enough(outcome.result)  # type: ignore[arg-type]

    async def run() -> None:
        start(primary[0])
        done, _ = await asyncio.wait(tasks, timeout=deadline.timeout_for(hedge_delay_s))
        if (done and is_good(settle(done.pop()))) or deadline.expired:
            return
        for name, _ in fallbacks:
            start(name)
        pending = {task for task, name in tasks.items() if name not in ended}
        settle_by: float | None = None
        while pending:
            wait_s = deadline.remaining()
            if settle_by is not None:
                wait_s = min(wait_s, settle_by - clock())
            if wait_s <= 0:
                return
            done, pending = await asyncio.wait(
                pending, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                return
            for task in done:
                if is_good(settle(task)) and settle_s is not None and settle_by is None:
                    settle_by = clock() + settle_s

    try:
        await run()
    finally:
        stragglers = [task for task in tasks if not task.done()]
        for task in stragglers:
            task.add_done_callback(_consume_outcome)
            task.cancel()
        if stragglers:
            await asyncio.wait(stragglers, timeout=_CANCEL_GRACE_S)
    for task, name in tasks.items():
        if name not in ended:
            if task.done():
                settle(task)
            else:  # ignored its cancellation: report it as cancelled all the same
                ended[name] = HedgeOutcome(name, "cancelled", latency_s=clock() - started_at[name])
    return {name: ended.get(name, HedgeOutcome(name, "not_started")) for name in calls}


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
