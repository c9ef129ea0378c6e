"""Retries with exponential backoff and jitter, inside the request's deadline.

Hand-written rather than tenacity or stamina: each attempt must be *given* its timeout (the
smaller of its cap and what is left of the deadline), the wait before the next attempt depends on
the failure itself (a 429's reset time), and the loop must stop the moment a wait would cross the
deadline rather than after it. Tenacity can express each piece with custom wait/stop callables,
but the three interlock and the result is longer than this loop and harder to read.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from solbot.errors import (
    DeadlineExceeded,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from solbot.resilience._deadline import Deadline

__all__ = ["RetryPolicy", "call_with_retries", "retry_after_from_headers"]

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
RetryHook = Callable[[int, BaseException, float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry one source.

    The n-th wait (n = 1, 2, ...) is drawn uniformly from [min_backoff_s, ceiling_n] where
    ceiling_n = min(max_backoff_s, min_backoff_s * 2**(n-1)): full jitter above a 100 ms floor,
    so concurrent retriers spread out but none hammers the venue at once.
    """

    max_attempts: int = 3
    min_backoff_s: float = 0.1
    max_backoff_s: float = 1.0
    retry_on: tuple[type[BaseException], ...] = (UpstreamUnavailable,)
    #: An attempt is not worth starting with less than this left of the deadline.
    min_attempt_s: float = 0.01
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not 0 <= self.min_backoff_s <= self.max_backoff_s:
            raise ValueError("need 0 <= min_backoff_s <= max_backoff_s")

    def is_retryable(self, error: BaseException) -> bool:
        return isinstance(error, self.retry_on)

    def backoff_s(self, retry_number: int) -> float:
        """The jittered wait before retry `retry_number` (1 for the first retry)."""
        ceiling = min(self.max_backoff_s, self.min_backoff_s * 2 ** max(0, retry_number - 1))
        return self.rng.uniform(self.min_backoff_s, ceiling)

    def wait_before_retry(self, retry_number: int, error: BaseException) -> float:
        """Backoff, or the venue's own `retry_after_s` when it asks for longer."""
        wait = self.backoff_s(retry_number)
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            wait = max(wait, error.retry_after_s)
        return wait


# True while `fn` runs under an attempt's own timeout: an HTTP client below may then leave out a
# timer of its own for the same budget (aiohttp's total timeout costs ~5 us a request).
_INSIDE_ATTEMPT_TIMEOUT: ContextVar[bool] = ContextVar("solbot_in_attempt", default=False)


def inside_attempt_timeout() -> bool:
    """Whether the caller runs inside `call_with_retries`' attempt, which is aborted at the
    timeout it was given (so that timeout needs no second timer below). A task started inside
    an attempt inherits the answer: an attempt must not leave work running after it ends (the
    venue adapters start none)."""
    return _INSIDE_ATTEMPT_TIMEOUT.get()


async def call_with_retries(
    fn: Callable[[float], Awaitable[T]],
    deadline: Deadline,
    policy: RetryPolicy | None = None,
    *,
    attempt_timeout_cap_s: float | None = None,
    source: str = "upstream",
    sleep: Sleep = asyncio.sleep,
    on_retry: RetryHook | None = None,
) -> T:
    """Call `fn(timeout_s)` until it succeeds, fails for good, or the deadline leaves no room.

    Each attempt gets `timeout_s = deadline.timeout_for(attempt_timeout_cap_s)` and is aborted
    at that timeout even if `fn` ignores it (then it fails as `UpstreamTimeout`). Only errors
    the policy calls retryable are retried; a wait that would end past the deadline is not
    taken: the last error is raised at once. `DeadlineExceeded` is raised only when no attempt
    could start at all. `on_retry(retry_number, error, wait_s)` sees each retry (for metrics).
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        attempt += 1
        timeout_s = deadline.timeout_for(attempt_timeout_cap_s)
        if timeout_s < policy.min_attempt_s:
            raise DeadlineExceeded(
                f"no time left to call {source}", source=source, attempts=attempt - 1
            )
        guarded = _INSIDE_ATTEMPT_TIMEOUT.set(True)
        try:
            async with asyncio.timeout(timeout_s):
                return await fn(timeout_s)
        except TimeoutError as exc:
            error: BaseException = UpstreamTimeout(
                f"{source} did not answer within {timeout_s * 1000:.0f} ms",
                source=source,
                timeout_s=timeout_s,
            )
            error.__cause__ = exc
        except Exception as exc:
            error = exc
        finally:
            _INSIDE_ATTEMPT_TIMEOUT.reset(guarded)
        if attempt >= policy.max_attempts or not policy.is_retryable(error):
            raise error
        wait_s = policy.wait_before_retry(attempt, error)
        if wait_s + policy.min_attempt_s > deadline.remaining():
            raise error
        if on_retry is not None:
            on_retry(attempt, error, wait_s)
        await sleep(wait_s)


_UNIX_2001 = 1_000_000_000.0


def retry_after_from_headers(headers: Mapping[str, str], *, now_unix: float) -> float | None:
    """Seconds to wait, from a 429's `x-ratelimit-reset` (Unix seconds) or `retry-after` header.

    `headers` must look names up case-insensitively (httpx.Headers does). `now_unix` is the
    wall-clock time (`time.time()`), passed in so this stays pure.
    """
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            value = float(reset)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            # Unix seconds as documented; a small number is some gateway's "seconds from now".
            return max(0.0, value - now_unix if value >= _UNIX_2001 else value)
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
        try:  # the other standard form: an HTTP date
            when = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now_unix)
    return None
