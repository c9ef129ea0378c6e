"""Scenarios: TOML files of stages and workloads, parsed into frozen values (pure).

    name = "smoke"
    thresholds = ["p99 < 100ms", "errors < 0.1%"]

    [target]
    stream = "ws://127.0.0.1:8001/v1/stream"    # --target ws://... overrides
    api = "http://127.0.0.1:8000"               # --target http://... overrides
    metrics = ""                                # default: /metrics beside the stream

    [[workload]]
    kind = "price-streams"                      # price-streams | balances | quotes
    stages = [{duration = "10s", target = 100}, {duration = "5s", target = 0}]

Stages ramp linearly, k6-style, from the previous stage's target (0 at the start) to their
own: connections for stream workloads, requests per second for `quotes`. A stage list may also
be written `"10s:100,5s:0"`. `--set key=value` overrides any key: `engine.workers=2`,
`run.settle=3s`, `<workload name>.stages=5s:10,5s:0`, `thresholds=["p99 < 50ms"]`.
"""

from __future__ import annotations

import math
import random
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from solbot.errors import InvalidRequest

__all__ = [
    "BalancesWorkload",
    "EngineOptions",
    "PriceStreamsWorkload",
    "QuotesWorkload",
    "RunOptions",
    "Scenario",
    "ScenarioError",
    "Stage",
    "Targets",
    "Workload",
    "apply_overrides",
    "generated_mints",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "parse_stages",
    "stages_duration",
    "target_at",
    "zipf_weights",
]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ScenarioError(InvalidRequest):
    """A scenario file or an override is wrong: the message names the key."""

    code = "INVALID_SCENARIO"


def parse_duration(value: object, key: str = "duration") -> float:
    """`"1m30s"`, `"500ms"`, `"2m"`, or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ScenarioError(f"{key}: a duration like 30s, 2m or 1m30s, not {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ScenarioError(f"{key}: a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ScenarioError(f"{key}: a duration like 30s, 2m or 1m30s, not {value!r}")
    text = value.strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ScenarioError(f"{key}: {value!r} is not a duration like 30s, 2m, 1m30s or 500ms")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


@dataclass(frozen=True, slots=True)
class Stage:
    duration_s: float
    target: float


def parse_stages(value: object, key: str = "stages") -> tuple[Stage, ...]:
    """A list of `{duration, target}` tables, or the compact `"10s:100,5s:0"`."""
    raw: list[Any]
    if isinstance(value, str):
        raw = []
        for item in value.split(","):
            duration, sep, goal = item.strip().partition(":")
            if not sep:
                raise ScenarioError(f"{key}: {item!r} is not duration:target (like 10s:100)")
            raw.append({"duration": duration, "target": goal})
    elif isinstance(value, list):
        raw = value
    else:
        raise ScenarioError(f"{key}: a list of {{duration, target}} or a string like 10s:100,5s:0")
    if not raw:
        raise ScenarioError(f"{key}: at least one stage")
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {"duration", "target"}:
            raise ScenarioError(f"{key}[{i}]: a table with exactly `duration` and `target`")
        try:
            target = float(item["target"])
        except (TypeError, ValueError):
            raise ScenarioError(f"{key}[{i}].target: a number, not {item['target']!r}") from None
        if target < 0 or not math.isfinite(target):
            raise ScenarioError(f"{key}[{i}].target: a number >= 0")
        stages.append(Stage(parse_duration(item["duration"], f"{key}[{i}].duration"), target))
    return tuple(stages)


def stages_duration(stages: Sequence[Stage]) -> float:
    return sum(s.duration_s for s in stages)


def target_at(stages: Sequence[Stage], elapsed_s: float) -> float:
    """The target `elapsed_s` into the stages: linear within a stage, 0 before, last after."""
    start = 0.0
    previous = 0.0
    for stage in stages:
        end = start + stage.duration_s
        if elapsed_s < end:
            if stage.duration_s <= 0:
                return stage.target
            fraction = max(0.0, elapsed_s - start) / stage.duration_s
            return previous + (stage.target - previous) * fraction
        start = end
        previous = stage.target
    return previous


def peak_target(stages: Sequence[Stage]) -> float:
    return max((s.target for s in stages), default=0.0)


# ---- asset mix -------------------------------------------------------------------------------


def generated_mints(count: int, seed: int = 42) -> list[str]:
    """`count` deterministic base58 addresses: the assets of a synthetic price stream.

    The gateway under test must publish these same names (see `solbot.loadtest.PriceRig`)."""
    rng = random.Random(seed)  # noqa: S311 - load shape, not secrets
    return ["".join(rng.choice(_B58) for _ in range(44)) for _ in range(count)]


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Popularity of `count` assets ranked 1..count: weight 1/rank^exponent, summing to 1.

    With an exponent near 1 a few assets draw most subscribers and a long tail draws a few
    each, as on a retail app (SOL, USDC, the meme of the day, then hundreds of others)."""
    raw = [1.0 / (rank**exponent) for rank in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


# ---- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceStreamsWorkload:
    """Connections subscribed to a popularity-weighted mix of assets, for sessions with jitter."""

    name: str
    stages: tuple[Stage, ...]
    assets: tuple[str, ...]
    zipf_exponent: float = 1.1
    assets_per_connection: tuple[int, int] = (1, 5)
    session_s: tuple[float, float] = (60.0, 120.0)
    reconnect_delay_s: tuple[float, float] = (0.0, 1.0)
    kind: str = "price-streams"


@dataclass(frozen=True, slots=True)
class BalancesWorkload:
    """Authenticated connections on the private `balances` channel while trades are made.

    Trades are made through `trade_hook`: an HTTP URL the coordinator POSTs
    `{"wallet", "userIndex", "testId"}` to, `trades_per_s` times a second in total, for one of
    the connected users; whatever answers it makes that wallet's balance change (a test rig
    publishes a balance; a staging stack would place a small trade)."""

    name: str
    stages: tuple[Stage, ...]
    users: tuple[tuple[str, tuple[str, ...]], ...]  # (API token, wallets)
    trade_hook: str | None
    trades_per_s: float = 1.0
    session_s: tuple[float, float] = (60.0, 120.0)
    reconnect_delay_s: tuple[float, float] = (0.0, 1.0)
    kind: str = "balances"


@dataclass(frozen=True, slots=True)
class QuotesWorkload:
    """`GET /v1/quote` at a constant arrival rate (open model): stages are requests/second."""

    name: str
    stages: tuple[Stage, ...]
    requests: tuple[tuple[tuple[str, str], ...], ...]  # query parameters, cycled
    path: str = "/v1/quote"
    max_inflight: int = 1000
    timeout_s: float = 5.0
    kind: str = "quotes"


Workload = PriceStreamsWorkload | BalancesWorkload | QuotesWorkload


@dataclass(frozen=True, slots=True)
class Targets:
    stream: str
    api: str
    metrics: str | None
    metrics_interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class EngineOptions:
    workers: int = 0  # 0: one per core, more when connections need them
    max_connections_per_worker: int = 5000
    connect_concurrency: int = 200
    connect_timeout_s: float = 10.0
    # One source address reaches ~28,000 ephemeral ports per destination: beyond it, spread
    # connections over 127.0.0.x (loopback targets only).
    source_addresses_above: int = 28_000


@dataclass(frozen=True, slots=True)
class RunOptions:
    baseline_s: float = 2.0
    settle_s: float = 5.0
    memory_tolerance: float = 0.25  # fraction of the baseline RSS that may stay
    memory_tolerance_bytes: int = 16 * 1024 * 1024
    fd_tolerance: int = 5
    generator_cpu_warn: float = 0.85


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    targets: Targets
    workloads: tuple[Workload, ...]
    thresholds: tuple[str, ...]
    engine: EngineOptions = field(default_factory=EngineOptions)
    run: RunOptions = field(default_factory=RunOptions)
    source: str = ""

    @property
    def duration_s(self) -> float:
        return max(stages_duration(w.stages) for w in self.workloads)

    @property
    def peak_connections(self) -> int:
        return int(
            sum(
                math.ceil(peak_target(w.stages))
                for w in self.workloads
                if not isinstance(w, QuotesWorkload)
            )
        )

    def with_target(self, url: str) -> Scenario:
        """`--target`: a ws:// URL is the stream gateway, an http:// URL the bot's API."""
        scheme = urlsplit(url).scheme
        if scheme in ("ws", "wss"):
            metrics = self.targets.metrics
            if metrics is None or metrics == _metrics_beside(self.targets.stream):
                metrics = _metrics_beside(url)
            return replace(self, targets=replace(self.targets, stream=url, metrics=metrics))
        if scheme in ("http", "https"):
            api = url.rstrip("/")
            metrics = self.targets.metrics
            if metrics == f"{self.targets.api}/metrics":
                metrics = f"{api}/metrics"  # the scenario samples the API's own /metrics
            return replace(self, targets=replace(self.targets, api=api, metrics=metrics))
        raise ScenarioError(f"--target: a ws:// or http:// URL, not {url!r}")


def _metrics_beside(stream_url: str) -> str:
    parts = urlsplit(stream_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/metrics", "", ""))


# ---- parsing ---------------------------------------------------------------------------------


def _pair(value: object, key: str, parse: Any) -> tuple[Any, Any]:
    if isinstance(value, str) and ".." in value:
        low, high = value.split("..", 1)
        value = [low, high]
    if not isinstance(value, list) or len(value) != 2:
        raise ScenarioError(f"{key}: [low, high] (or low..high)")
    low, high = parse(value[0], key), parse(value[1], key)
    if high < low:
        raise ScenarioError(f"{key}: the high end is below the low end")
    return low, high


def _int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ScenarioError(f"{key}: an integer, not {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ScenarioError(f"{key}: an integer, not {value!r}") from None


def _float(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ScenarioError(f"{key}: a number, not {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ScenarioError(f"{key}: a number, not {value!r}") from None


def _fraction(value: object, key: str) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        return _float(value.strip()[:-1], key) / 100.0
    return _float(value, key)


def _take(table: dict[str, Any], key: str, default: Any) -> Any:
    return table.pop(key, default)


def _no_leftovers(table: Mapping[str, Any], where: str) -> None:
    if table:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(table))}")


def _load_users(path: Path, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    import orjson

    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ScenarioError(f"{key}: cannot read {path}: {exc.strerror}") from None
    users = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            token = record["token"]
            wallets = tuple(record.get("wallets", ()))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ScenarioError(
                f"{key}: {path}:{number} is not {{'token': ..., 'wallets': [...]}}"
            ) from None
        users.append((str(token), tuple(str(w) for w in wallets)))
    if not users:
        raise ScenarioError(f"{key}: {path} holds no user")
    return tuple(users)


def _workload(table: dict[str, Any], index: int, base_dir: Path) -> Workload:
    where = f"workload[{index}]"
    kind = _take(table, "kind", None)
    name = str(_take(table, "name", kind))
    where = f"workload {name!r}"
    stages = parse_stages(_take(table, "stages", None), f"{name}.stages")
    workload: Workload
    if kind == "price-streams":
        assets_value = _take(table, "assets", 100)
        seed = _int(_take(table, "asset_seed", 42), f"{name}.asset_seed")
        if isinstance(assets_value, list):
            assets = tuple(str(a) for a in assets_value)
        else:
            assets = tuple(generated_mints(_int(assets_value, f"{name}.assets"), seed))
        if not assets:
            raise ScenarioError(f"{name}.assets: at least one asset")
        per_conn = _pair(_take(table, "assets_per_connection", [1, 5]), f"{name}.apc", _int)
        if per_conn[0] < 1 or per_conn[1] > len(assets):
            raise ScenarioError(f"{name}.assets_per_connection: between 1 and {len(assets)}")
        workload = PriceStreamsWorkload(
            name=name,
            stages=stages,
            assets=assets,
            zipf_exponent=_float(_take(table, "zipf_exponent", 1.1), f"{name}.zipf_exponent"),
            assets_per_connection=per_conn,
            session_s=_pair(
                _take(table, "session", ["60s", "120s"]), f"{name}.session", parse_duration
            ),
            reconnect_delay_s=_pair(
                _take(table, "reconnect_delay", ["0s", "1s"]),
                f"{name}.reconnect_delay",
                parse_duration,
            ),
        )
    elif kind == "balances":
        users_file = _take(table, "users_file", None)
        if not isinstance(users_file, str):
            raise ScenarioError(f"{name}.users_file: a JSON-lines file of {{token, wallets}}")
        path = Path(users_file)
        if not path.is_absolute():
            path = base_dir / path
        hook = _take(table, "trade_hook", None)
        workload = BalancesWorkload(
            name=name,
            stages=stages,
            users=_load_users(path, f"{name}.users_file"),
            trade_hook=str(hook) if hook else None,
            trades_per_s=_float(_take(table, "trades_per_s", 1.0), f"{name}.trades_per_s"),
            session_s=_pair(
                _take(table, "session", ["60s", "120s"]), f"{name}.session", parse_duration
            ),
            reconnect_delay_s=_pair(
                _take(table, "reconnect_delay", ["0s", "1s"]),
                f"{name}.reconnect_delay",
                parse_duration,
            ),
        )
    elif kind == "quotes":
        raw_requests = _take(
            table,
            "requests",
            [{"inputMint": "SOL", "outputMint": "USDC", "amount": "100000000"}],
        )
        if not isinstance(raw_requests, list) or not raw_requests:
            raise ScenarioError(f"{name}.requests: a non-empty list of query tables")
        requests = tuple(
            tuple((str(k), str(v)) for k, v in r.items())
            for r in raw_requests
            if isinstance(r, Mapping)
        )
        if len(requests) != len(raw_requests):
            raise ScenarioError(f"{name}.requests: each request is a table of query parameters")
        max_inflight = _int(_take(table, "max_inflight", 1000), f"{name}.max_inflight")
        if max_inflight < 1:
            raise ScenarioError(f"{name}.max_inflight: at least 1")
        workload = QuotesWorkload(
            name=name,
            stages=stages,
            requests=requests,
            path=str(_take(table, "path", "/v1/quote")),
            max_inflight=max_inflight,
            timeout_s=parse_duration(_take(table, "timeout", "5s"), f"{name}.timeout"),
        )
    else:
        raise ScenarioError(f"{where}.kind: one of price-streams, balances, quotes, not {kind!r}")
    _no_leftovers(table, where)
    return workload


def parse_scenario(document: Mapping[str, Any], *, base_dir: Path, source: str = "") -> Scenario:
    """A scenario from its TOML document (already overridden)."""
    doc = _deep_copy(document)
    name = str(_take(doc, "name", "scenario"))
    description = str(_take(doc, "description", ""))
    thresholds = _take(doc, "thresholds", [])
    if isinstance(thresholds, str):
        thresholds = [t for t in thresholds.split(";") if t.strip()]
    if not isinstance(thresholds, list) or not all(isinstance(t, str) for t in thresholds):
        raise ScenarioError('thresholds: a list of strings like "p99 < 100ms"')
    from solbot.loadtest._thresholds import parse_threshold

    for text in thresholds:
        parse_threshold(text)

    target = _take(doc, "target", {})
    stream = str(_take(target, "stream", "ws://127.0.0.1:8001/v1/stream"))
    metrics = _take(target, "metrics", "") or _metrics_beside(stream)
    targets = Targets(
        stream=stream,
        api=str(_take(target, "api", "http://127.0.0.1:8000")).rstrip("/"),
        metrics=None if metrics == "none" else str(metrics),
        metrics_interval_s=parse_duration(
            _take(target, "metrics_interval", "1s"), "target.metrics_interval"
        ),
    )
    _no_leftovers(target, "[target]")

    engine_t = _take(doc, "engine", {})
    engine = EngineOptions(
        workers=_int(_take(engine_t, "workers", 0), "engine.workers"),
        max_connections_per_worker=_int(
            _take(engine_t, "max_connections_per_worker", 5000),
            "engine.max_connections_per_worker",
        ),
        connect_concurrency=_int(
            _take(engine_t, "connect_concurrency", 200), "engine.connect_concurrency"
        ),
        connect_timeout_s=parse_duration(
            _take(engine_t, "connect_timeout", "10s"), "engine.connect_timeout"
        ),
        source_addresses_above=_int(
            _take(engine_t, "source_addresses_above", 28_000), "engine.source_addresses_above"
        ),
    )
    _no_leftovers(engine_t, "[engine]")

    run_t = _take(doc, "run", {})
    run = RunOptions(
        baseline_s=parse_duration(_take(run_t, "baseline", "2s"), "run.baseline"),
        settle_s=parse_duration(_take(run_t, "settle", "5s"), "run.settle"),
        memory_tolerance=_fraction(_take(run_t, "memory_tolerance", "25%"), "run.memory_tolerance"),
        memory_tolerance_bytes=_int(
            _take(run_t, "memory_tolerance_bytes", 16 * 1024 * 1024), "run.memory_tolerance_bytes"
        ),
        fd_tolerance=_int(_take(run_t, "fd_tolerance", 5), "run.fd_tolerance"),
        generator_cpu_warn=_fraction(
            _take(run_t, "generator_cpu_warn", "85%"), "run.generator_cpu_warn"
        ),
    )
    _no_leftovers(run_t, "[run]")

    raw_workloads = _take(doc, "workload", [])
    if not isinstance(raw_workloads, list) or not raw_workloads:
        raise ScenarioError("a scenario needs at least one [[workload]]")
    workloads = tuple(_workload(dict(t), i, base_dir) for i, t in enumerate(raw_workloads))
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        raise ScenarioError(f"workload names must differ: {names}")
    _no_leftovers(doc, "scenario")
    return Scenario(
        name=name,
        description=description,
        targets=targets,
        workloads=workloads,
        thresholds=tuple(thresholds),
        engine=engine,
        run=run,
        source=source,
    )


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _override_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(document: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs into a copy of the TOML document. Values are TOML literals when they
    parse as one (`2`, `true`, `["a"]`), plain strings otherwise (`30s`, `10s:100,5s:0`); the
    first key may name a workload (`prices.session=5s..10s`)."""
    doc: dict[str, Any] = _deep_copy(document)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(f"--set {item!r}: key=value")
        path = key.split(".")
        table: dict[str, Any] = doc
        workloads = doc.get("workload", [])
        named = [
            w for w in workloads if isinstance(w, dict) and w.get("name", w.get("kind")) == path[0]
        ]
        if len(path) > 1 and named:
            table = named[0]
            path = path[1:]
        elif len(path) > 1 and path[0] == "workload" and path[1].isdigit():
            index = int(path[1])
            if index >= len(workloads):
                raise ScenarioError(f"--set {key}: there is no workload {index}")
            table = workloads[index]
            path = path[2:]
        for part in path[:-1]:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ScenarioError(f"--set {key}: {part} is not a table")
            table = child
        if not path:
            raise ScenarioError(f"--set {key}: name a key inside the workload")
        table[path[-1]] = _override_value(text.strip())
    return doc


def load_scenario(
    path_or_name: str, overrides: Sequence[str] = (), *, search: Path | None = None
) -> Scenario:
    """A scenario file, or a name looked up as `scenarios/<name>.toml` (repo root or cwd)."""
    path = Path(path_or_name)
    if not path.exists():
        candidates = [Path.cwd() / "scenarios", *([search] if search is not None else [])]
        candidates.append(Path(__file__).resolve().parents[3] / "scenarios")
        stem = path_or_name.removesuffix(".toml")
        for folder in candidates:
            if (folder / f"{stem}.toml").exists():
                path = folder / f"{stem}.toml"
                break
        else:
            raise ScenarioError(
                f"no scenario {path_or_name!r}: give a .toml path or a name from scenarios/"
            )
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse_scenario(
        apply_overrides(document, overrides), base_dir=path.parent, source=str(path)
    )
