"""Thresholds: `p99 < 100ms`, `errors < 0.1%`, `http_latency.p95 <= 1s` (pure).

    [metric.]stat OP value[unit]

metrics and their stats (a bare latency stat means `message_latency`):
    message_latency (latency), prices_latency, balances_latency (one channel), http_latency
    (from the intended send time), http_service_time: p50 p90 p95 p99 p999 max mean (ms)
    errors, connection_errors, http_errors, drops: rate (the default; 0.1% or 0.001), count
    connections: peak, established;  messages: count, rate (per second);  http_requests: count
A threshold whose value is missing (no message was received at all) fails: a run that measured
nothing has proven nothing.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from solbot.errors import InvalidRequest

__all__ = ["Threshold", "ThresholdResult", "evaluate_thresholds", "parse_threshold"]

_LATENCY_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
_LATENCY_METRICS = (
    "message_latency",
    "prices_latency",
    "balances_latency",
    "http_latency",
    "http_service_time",
)
_RATE_METRICS = ("errors", "connection_errors", "http_errors", "drops")
_STATS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_LATENCY_METRICS, _LATENCY_STATS),
    **dict.fromkeys(_RATE_METRICS, ("rate", "count")),
    "connections": ("peak", "established"),
    "messages": ("count", "rate"),
    "http_requests": ("count",),
}
_DEFAULT_STAT = dict.fromkeys(_RATE_METRICS, "rate") | {
    "connections": "peak",
    "messages": "count",
    "http_requests": "count",
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_SYNTAX = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*(<=|>=|==|<|>)\s*([0-9.]+)\s*(ms|us|s|%)?\s*$")
_TIME_TO_MS = {"ms": 1.0, "us": 0.001, "s": 1000.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class Threshold:
    text: str
    metric: str
    stat: str
    op: str
    limit: float  # ms for latencies, a fraction for rates, a count otherwise

    @property
    def key(self) -> str:
        return f"{self.metric}.{self.stat}"

    def unit(self) -> str:
        if self.metric in _LATENCY_METRICS:
            return "ms"
        if self.stat == "rate" and self.metric in _RATE_METRICS:
            return "%"
        return ""

    def show(self, value: float) -> str:
        if self.unit() == "%":
            return f"{value * 100:.3g}%"
        if self.unit() == "ms":
            return f"{value:.1f} ms"
        return f"{value:g}"


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    threshold: Threshold
    value: float | None
    passed: bool

    def sentence(self) -> str:
        t = self.threshold
        if self.value is None:
            return f"{t.key}: no data (want {t.op} {t.show(t.limit)})"
        verdict = "ok" if self.passed else "FAILED"
        return f"{t.key} = {t.show(self.value)} (want {t.op} {t.show(t.limit)}): {verdict}"


def parse_threshold(text: str) -> Threshold:
    match = _SYNTAX.match(text)
    if match is None:
        raise InvalidRequest(
            f"threshold {text!r}: write it like `p99 < 100ms` or `errors < 0.1%`",
            code="INVALID_SCENARIO",
        )
    name, op, number, unit = match.groups()
    metric, _, stat = name.partition(".")
    if not stat:
        if metric in _LATENCY_STATS:
            metric, stat = "message_latency", metric
        elif metric in _DEFAULT_STAT:
            stat = _DEFAULT_STAT[metric]
    if metric == "latency":
        metric = "message_latency"
    if metric not in _STATS or stat not in _STATS[metric]:
        known = ", ".join(f"{m}.{{{'|'.join(s)}}}" for m, s in _STATS.items())
        raise InvalidRequest(f"threshold {text!r}: unknown metric; known: {known}")
    value = float(number)
    if metric in _LATENCY_METRICS:
        if unit == "%":
            raise InvalidRequest(f"threshold {text!r}: a latency is in ms, s or us")
        value *= _TIME_TO_MS[unit]
    elif unit == "%":
        value /= 100.0
    elif unit is not None:
        raise InvalidRequest(f"threshold {text!r}: {metric} has no time unit")
    return Threshold(text=text.strip(), metric=metric, stat=stat, op=op, limit=value)


def evaluate_thresholds(
    texts: tuple[str, ...] | list[str], values: Mapping[str, float | None]
) -> list[ThresholdResult]:
    """Each threshold against `values` (`"message_latency.p99" -> 41.0`, ...)."""
    results = []
    for text in texts:
        threshold = parse_threshold(text)
        value = values.get(threshold.key)
        if value is None or math.isnan(value):
            results.append(ThresholdResult(threshold, None, False))
            continue
        results.append(
            ThresholdResult(threshold, value, _OPS[threshold.op](value, threshold.limit))
        )
    return results
