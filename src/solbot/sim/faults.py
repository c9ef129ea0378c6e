"""Runtime faults of the simnet: what each venue and the chain's RPC/PubSub are told to do wrong.

`FaultBook` holds the current profile (one `TargetFault` per target), switches it by named
scenario or per-target update (`PUT /admin/faults`), and decides, request by request, whether a
target answers normally, late, with an error, rate-limited, or never. Each server turns a
decision into its own wire format (Jupiter's, DFlow's, Hermes's, JSON-RPC's bodies).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

__all__ = [
    "SCENARIOS",
    "TARGETS",
    "FaultBook",
    "FaultDecision",
    "FaultProfileError",
    "TargetFault",
]

TARGETS = ("jupiter", "dflow", "hashflow", "pyth", "rpc", "pubsub", "market")


@dataclass(frozen=True, slots=True)
class TargetFault:
    """How one target misbehaves. Fields that do not apply to a target are ignored by it."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rps: float | None = None
    hang: bool = False
    # venues
    illiquid_routes: bool = False
    malicious_tx: bool = False
    # rpc
    lag_slots: int = 0
    drop_rate: float = 0.0  # sendTransaction answers with the signature but the tx never lands
    stop_including: bool = False  # every sendTransaction is dropped
    # pubsub
    stall: bool = False  # subscriptions stay open and silently stop notifying
    # market
    volatility: float = 1.0  # multiplier of the random walk's volatility and jump rate

    def validate(self) -> None:
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise FaultProfileError("latency_ms and latency_jitter_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0 or not 0.0 <= self.drop_rate <= 1.0:
            raise FaultProfileError("error_rate and drop_rate must be between 0 and 1")
        if not 400 <= self.error_status <= 599:
            raise FaultProfileError("error_status must be an HTTP error status (400..599)")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise FaultProfileError("rate_limit_rps must be > 0 or null")
        if self.lag_slots < 0:
            raise FaultProfileError("lag_slots must be >= 0")
        if not 0.0 < self.volatility <= 100.0:
            raise FaultProfileError("volatility must be in (0, 100]")


class FaultProfileError(ValueError):
    """A fault profile or scenario that cannot be applied; the message says why."""


_HEALTHY = TargetFault()


def _scenario(**targets: TargetFault) -> dict[str, TargetFault]:
    return {name: targets.get(name, _HEALTHY) for name in TARGETS}


SCENARIOS: dict[str, dict[str, TargetFault]] = {
    "healthy": _scenario(),
    "jupiter-down": _scenario(jupiter=TargetFault(error_rate=1.0, error_status=503)),
    "jupiter-slow": _scenario(jupiter=TargetFault(latency_ms=1500, latency_jitter_ms=500)),
    "jupiter-rate-limited": _scenario(jupiter=TargetFault(rate_limit_rps=5)),
    "jupiter-illiquid": _scenario(jupiter=TargetFault(illiquid_routes=True)),
    "jupiter-hang": _scenario(jupiter=TargetFault(hang=True)),
    "volatile": _scenario(
        market=TargetFault(volatility=8.0),
        jupiter=TargetFault(latency_ms=80, latency_jitter_ms=120, error_rate=0.05),
        dflow=TargetFault(latency_ms=60, latency_jitter_ms=80, error_rate=0.05),
        hashflow=TargetFault(latency_ms=60, latency_jitter_ms=80, error_rate=0.05),
    ),
    "all-down": _scenario(
        jupiter=TargetFault(error_rate=1.0),
        dflow=TargetFault(error_rate=1.0),
        hashflow=TargetFault(error_rate=1.0),
        pyth=TargetFault(error_rate=1.0),
    ),
    "pubsub-stall": _scenario(pubsub=TargetFault(stall=True)),
    "rpc-lagging": _scenario(rpc=TargetFault(lag_slots=50)),
    "rpc-dropping": _scenario(rpc=TargetFault(drop_rate=0.3)),
    "chain-halted-inclusion": _scenario(
        rpc=TargetFault(stop_including=True), pubsub=TargetFault(stall=True)
    ),
    "malicious_tx": _scenario(
        jupiter=TargetFault(malicious_tx=True),
        dflow=TargetFault(malicious_tx=True),
        hashflow=TargetFault(malicious_tx=True),
    ),
}


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What a target does with one request."""

    action: Literal["ok", "error", "rate_limited", "hang"]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Window:
    second: int = 0
    count: int = 0


class FaultBook:
    """The simnet's current fault profile and the per-request decisions it implies."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - simulation noise, not cryptography
        self._clock = clock
        self._profile: dict[str, TargetFault] = dict(SCENARIOS["healthy"])
        self._scenario: str | None = "healthy"
        self._windows: dict[str, _Window] = {}
        # When each target was asked (before any fault applies): what a test or an operator reads
        # to check that a client stays under a venue's plan.
        self._arrivals: dict[str, deque[float]] = {}

    # ---- profile ---------------------------------------------------------------------------

    def get(self, target: str) -> TargetFault:
        return self._profile[target]

    @property
    def scenario(self) -> str | None:
        return self._scenario

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self._scenario,
            "scenarios": sorted(SCENARIOS),
            **{name: asdict(fault) for name, fault in self._profile.items()},
        }

    def apply_scenario(self, name: str) -> None:
        if name not in SCENARIOS:
            raise FaultProfileError(
                f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}"
            )
        self._profile = dict(SCENARIOS[name])
        self._scenario = name
        self._windows.clear()

    def update(self, body: dict[str, Any]) -> None:
        """Apply a PUT body: `{"scenario": name}` and/or per-target field updates.

        A target named in the body is reset to healthy, then given the listed fields; targets
        not named keep their profile. Invalid input changes nothing.
        """
        if not isinstance(body, dict):
            raise FaultProfileError("body must be a JSON object")
        unknown = set(body) - set(TARGETS) - {"scenario"}
        if unknown:
            raise FaultProfileError(
                f"unknown target(s) {', '.join(sorted(unknown))}; known: {', '.join(TARGETS)}"
            )
        allowed = {f.name for f in fields(TargetFault)}
        if "scenario" in body and body["scenario"] not in SCENARIOS:
            raise FaultProfileError(
                f"unknown scenario {body['scenario']!r}; known: {', '.join(sorted(SCENARIOS))}"
            )
        profile = dict(SCENARIOS[body["scenario"]] if "scenario" in body else self._profile)
        for target in TARGETS:
            if target not in body:
                continue
            spec = body[target]
            if not isinstance(spec, dict):
                raise FaultProfileError(f"{target}: must be an object of fault fields")
            bad = set(spec) - allowed
            if bad:
                raise FaultProfileError(f"{target}: unknown field(s) {', '.join(sorted(bad))}")
            try:
                fault = replace(_HEALTHY, **spec)
            except TypeError as exc:  # pragma: no cover - guarded by the field check
                raise FaultProfileError(f"{target}: {exc}") from None
            _check_types(target, fault)
            fault.validate()
            profile[target] = fault
        self._profile = profile
        self._scenario = body["scenario"] if set(body) == {"scenario"} else "custom"
        self._windows.clear()

    # ---- decisions -------------------------------------------------------------------------

    def delay_s(self, target: str) -> float:
        fault = self._profile[target]
        if fault.latency_ms <= 0 and fault.latency_jitter_ms <= 0:
            return 0.0
        jitter = self._rng.uniform(-fault.latency_jitter_ms, fault.latency_jitter_ms)
        return max(0.0, fault.latency_ms + jitter) / 1000.0

    def decide(self, target: str) -> FaultDecision:
        """Whether this request is served, errs, is rate-limited, or hangs (no sleeping here)."""
        fault = self._profile[target]
        if fault.hang:
            return FaultDecision("hang")
        if fault.rate_limit_rps is not None:
            now = self._clock()
            second = math.floor(now)
            window = self._windows.setdefault(target, _Window(second))
            if window.second != second:
                window.second, window.count = second, 0
            limit = max(1, math.floor(fault.rate_limit_rps))
            window.count += 1
            remaining = limit - window.count
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-current": str(window.count),
                "x-ratelimit-reset": str(second + 1),
            }
            if remaining < 0:
                return FaultDecision("rate_limited", 429, headers)
            if fault.error_rate > 0 and self._rng.random() < fault.error_rate:
                return FaultDecision("error", fault.error_status)
            return FaultDecision("ok", 200, headers)
        if fault.error_rate > 0 and self._rng.random() < fault.error_rate:
            return FaultDecision("error", fault.error_status)
        return FaultDecision("ok")

    def record_arrival(self, target: str) -> None:
        arrivals = self._arrivals.get(target)
        if arrivals is None:
            arrivals = self._arrivals[target] = deque(maxlen=100_000)
        arrivals.append(self._clock())

    def arrivals(self, target: str) -> list[float]:
        """Wall-clock times of the target's recent requests, oldest first."""
        return list(self._arrivals.get(target, ()))

    def max_requests_in_window(self, target: str, window_s: float = 1.0) -> int:
        """The most requests the target received within any `window_s` (a sliding window)."""
        times = self.arrivals(target)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window_s:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def before_request(self, target: str, endpoint: str | None = None) -> FaultDecision:
        """Sleep the target's latency, then decide; a hang sleeps until the client gives up.

        Arrivals are counted per target and, when `endpoint` is named, per `target:endpoint`."""
        self.record_arrival(target)
        if endpoint is not None:
            self.record_arrival(f"{target}:{endpoint}")
        delay = self.delay_s(target)
        if delay > 0:
            await asyncio.sleep(delay)
        decision = self.decide(target)
        if decision.action == "hang":
            await asyncio.sleep(3600)
        return decision

    def chance(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability


def _check_types(target: str, fault: TargetFault) -> None:
    for f in fields(TargetFault):
        value = getattr(fault, f.name)
        if f.name == "rate_limit_rps":
            ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        elif f.type in ("bool",):
            ok = isinstance(value, bool)
        elif f.type in ("int",):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise FaultProfileError(f"{target}.{f.name}: wrong type {type(value).__name__}")
