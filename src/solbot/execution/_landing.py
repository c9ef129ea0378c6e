"""Getting a signed transaction included (wire-formats §9.4, §9.5).

The same signed bytes are sent with `maxRetries: 0` and re-sent every ~2 s while three watchers
race: `signatureSubscribe` (PubSub, a latency optimisation), `getSignatureStatuses` polling (the
source of truth) and the block height against the transaction's `lastValidBlockHeight`. The first
confirmation wins; a confirmed transaction's `err` decides success. Once the block height passes
`lastValidBlockHeight` the transaction can never land, and one last status check (with history)
tells a late landing from an expiry. The decisions live in `ConfirmationTracker` (pure, injected
clock); `Lander` is the I/O around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solbot.errors import UpstreamError
from solbot.ops import get_logger
from solbot.rpc import PubSubClient, RpcClient, SignatureResult, SignatureStatus

__all__ = ["ConfirmationTracker", "Expired", "Landed", "Lander", "LandingResult", "Undetermined"]

_log = get_logger("solbot.execution.landing")


@dataclass(frozen=True, slots=True)
class Landed:
    """Included and confirmed in `slot`; `err` is the TransactionError (None = success).
    `sends` counts the sendTransaction calls this landing made (0 when found already landed)."""

    slot: int
    err: Any = None
    sends: int = 0


@dataclass(frozen=True, slots=True)
class Expired:
    """The block height passed `lastValidBlockHeight` and the chain never saw the transaction."""

    block_height: int
    sends: int = 0


@dataclass(frozen=True, slots=True)
class Undetermined:
    """Neither landed nor provably expired within the lander's own time limit (e.g. the node was
    unreachable): the trade stays open and a later check decides."""

    detail: str


LandingResult = Landed | Expired | Undetermined


class ConfirmationTracker:
    """The landing decisions for one signature (pure)."""

    def __init__(
        self,
        last_valid_block_height: int,
        *,
        clock: Callable[[], float],
        rebroadcast_interval_s: float = 2.0,
    ) -> None:
        self.last_valid_block_height = last_valid_block_height
        self._clock = clock
        self._interval = rebroadcast_interval_s
        self._last_sent: float | None = None
        self.sends = 0
        self.outcome: Landed | None = None
        self.expired_at: int | None = None
        self.block_height: int | None = None

    @property
    def settled(self) -> bool:
        """Nothing more to send: it landed, or it can no longer land."""
        return self.outcome is not None or self.expired_at is not None

    def on_status(self, status: SignatureStatus | None) -> None:
        if self.outcome is None and status is not None and status.is_confirmed:
            self.outcome = Landed(status.slot, status.err)

    def on_notification(self, result: SignatureResult) -> None:
        if self.outcome is None:
            self.outcome = Landed(result.slot, result.err)

    def on_block_height(self, height: int) -> None:
        self.block_height = height
        if height > self.last_valid_block_height and self.expired_at is None:
            self.expired_at = height

    def seconds_until_rebroadcast(self) -> float:
        if self._last_sent is None:
            return 0.0
        return max(0.0, self._last_sent + self._interval - self._clock())

    def rebroadcast_due(self) -> bool:
        return not self.settled and self.seconds_until_rebroadcast() <= 0.0

    def on_sent(self) -> None:
        self._last_sent = self._clock()
        self.sends += 1

    def final(self, status: SignatureStatus | None) -> Landed | Expired | None:
        """After expiry: the verdict of one last status check (with history), or None while the
        transaction is seen but not yet confirmed (check again)."""
        if self.outcome is not None:
            return self.outcome
        if status is None:
            return Expired(self.expired_at if self.expired_at is not None else -1)
        if status.is_confirmed:
            self.outcome = Landed(status.slot, status.err)
            return self.outcome
        return None


class Lander:
    """`await lander.land(signed_bytes, signature, last_valid_block_height)`."""

    def __init__(
        self,
        rpc: RpcClient,
        pubsub: PubSubClient | None = None,
        *,
        rebroadcast_interval_s: float = 2.0,
        poll_interval_s: float = 1.0,
        rpc_timeout_s: float = 2.0,
        final_check_s: float = 5.0,
        max_landing_s: float = 150.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rpc = rpc
        self._pubsub = pubsub
        self._rebroadcast_interval_s = rebroadcast_interval_s
        self._poll_interval_s = poll_interval_s
        self._rpc_timeout_s = rpc_timeout_s
        self._final_check_s = final_check_s
        self._max_landing_s = max_landing_s
        self._clock = clock

    async def land(
        self, signed: bytes, signature: str, last_valid_block_height: int
    ) -> LandingResult:
        tracker = ConfirmationTracker(
            last_valid_block_height,
            clock=self._clock,
            rebroadcast_interval_s=self._rebroadcast_interval_s,
        )
        settled = asyncio.Event()

        def observed() -> None:
            if tracker.settled:
                settled.set()

        async def rebroadcast() -> None:
            while not tracker.settled:
                if tracker.rebroadcast_due():
                    tracker.on_sent()
                    try:
                        await self._rpc.send_transaction(
                            signed,
                            skip_preflight=True,
                            max_retries=0,
                            timeout_s=self._rpc_timeout_s,
                        )
                    except UpstreamError as exc:
                        _log.info("send_failed", signature=signature, error=exc.message)
                await asyncio.sleep(
                    max(0.01, min(tracker.seconds_until_rebroadcast(), self._poll_interval_s))
                )

        async def poll() -> None:
            while not tracker.settled:
                try:
                    statuses = await self._rpc.get_signature_statuses(
                        [signature], timeout_s=self._rpc_timeout_s
                    )
                    tracker.on_status(statuses[0] if statuses else None)
                    if tracker.outcome is None:
                        tracker.on_block_height(
                            await self._rpc.get_block_height(timeout_s=self._rpc_timeout_s)
                        )
                except UpstreamError as exc:
                    _log.info("status_poll_failed", signature=signature, error=exc.message)
                observed()
                await asyncio.sleep(self._poll_interval_s)

        async def listen() -> None:
            if self._pubsub is None:
                return
            while not tracker.settled:
                result = await self._pubsub.wait_signature(signature, timeout_s=self._max_landing_s)
                if result is not None:
                    tracker.on_notification(result)
                    observed()

        tasks = [
            asyncio.create_task(rebroadcast(), name="rebroadcast"),
            asyncio.create_task(poll(), name="status-poll"),
            asyncio.create_task(listen(), name="signature-subscribe"),
        ]
        try:
            await asyncio.wait_for(settled.wait(), self._max_landing_s)
        except TimeoutError:
            return Undetermined(
                f"no confirmation and no expiry observed within {self._max_landing_s:.0f}s"
            )
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        _log.info(
            "landing_settled",
            signature=signature,
            sends=tracker.sends,
            landed=tracker.outcome is not None,
            block_height=tracker.block_height,
        )
        result = tracker.outcome or await self.final_check(signature, tracker)
        if isinstance(result, Landed | Expired):
            result = dataclasses.replace(result, sends=tracker.sends)
        return result

    async def final_check(self, signature: str, tracker: ConfirmationTracker) -> LandingResult:
        """After expiry: does the chain know the signature after all (a late landing)?"""
        deadline = self._clock() + self._final_check_s
        while True:
            try:
                statuses = await self._rpc.get_signature_statuses(
                    [signature], search_transaction_history=True, timeout_s=self._rpc_timeout_s
                )
                verdict = tracker.final(statuses[0] if statuses else None)
                if verdict is not None:
                    return verdict
            except UpstreamError as exc:
                _log.info("final_check_failed", signature=signature, error=exc.message)
            if self._clock() >= deadline:
                return Undetermined("the final status check did not settle")
            await asyncio.sleep(self._poll_interval_s)

    async def status(self, signature: str) -> SignatureStatus | None:
        """The signature's status, searching history (restart recovery)."""
        statuses = await self._rpc.get_signature_statuses(
            [signature], search_transaction_history=True, timeout_s=self._rpc_timeout_s
        )
        return statuses[0] if statuses else None

    async def block_height(self) -> int:
        return await self._rpc.get_block_height(timeout_s=self._rpc_timeout_s)
