"""Child processes for the quote benchmarks: the simnet, the bot (`solbot serve`), a bare proxy.

Each benchmark runs three kinds of process on this machine: the simnet (chain, market, venue
simulators) in one, the server under test (the bot, or the bare proxy) in another, and the load
generator in the benchmark's own process. `start_simnet`, `start_bot` and `start_proxy` spawn a
child, wait for the line that says it listens, and return a `Child` to `stop()` (SIGTERM, then
SIGKILL after a grace period).

Run as a script this module is the child itself:

    python bench/_procs.py simnet [--trades-per-s 2] [--seed 7]
    python bench/_procs.py proxy --upstream http://127.0.0.1:PORT/jupiter/swap/v1

Each prints one line `READY {json}` when it listens. The simnet child also serves
`GET /arrivals?since=UNIX` on a port of its own: how many requests each venue received since
then, and the most within any 1 s (the simnet's own record, before any fault applies), so a
benchmark can count the load it put on Jupiter.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request, Response  # module level: FastAPI resolves annotations here

ROOT = Path(__file__).resolve().parent.parent
READY = "READY "
VENUE_TARGETS = ("jupiter", "dflow", "hashflow", "pyth")


@dataclass
class Child:
    """A started child process and what it said when it became ready."""

    name: str
    popen: subprocess.Popen[str]
    ready: dict[str, Any]
    log_path: Path | None = None
    _lines: queue.Queue[str] = field(default_factory=queue.Queue, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, wait up to `grace_s`, then SIGKILL; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=grace_s)
        return self.popen.returncode


def _spawn(
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str],
    ready: re.Pattern[str],
    log_path: Path | None,
    timeout_s: float = 60.0,
) -> Child:
    """Start `argv`; wait for a stdout line matching `ready` (group 1 is JSON or a URL)."""
    stderr = log_path.open("w") if log_path is not None else subprocess.DEVNULL
    try:
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(env),
            cwd=ROOT,
        )
    finally:
        if log_path is not None:
            stderr.close()  # type: ignore[union-attr]
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        # Keeps reading after READY so a chatty child never blocks on a full pipe.
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.put(line)

    threading.Thread(target=drain, name=f"{name}-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if popen.poll() is not None:
                break
            continue
        seen.append(line.rstrip())
        match = ready.search(line)
        if match:
            text = match.group(1)
            info = json.loads(text) if text.startswith("{") else {"url": text}
            return Child(name, popen, info, log_path, lines)
    if popen.poll() is None:
        popen.kill()
        popen.wait(timeout=10)
    tail = "\n".join(seen[-10:])
    hint = f"; its stderr is in {log_path}" if log_path is not None else ""
    raise RuntimeError(f"{name} did not start (exit {popen.returncode}){hint}\n{tail}")


def _base_env() -> dict[str, str]:
    """This environment without any SOLBOT_* variable: the run states every setting it uses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLBOT_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["COLUMNS"] = "200"  # rich wraps at 80 columns when stdout is a pipe
    return env


def start_simnet(
    workdir: Path, *, trades_per_s: float = 2.0, seed: int = 7, scenario: str = "healthy"
) -> Child:
    """The whole simnet (chain RPC + PubSub, market, venues) in a child process, ports ephemeral.

    `ready` holds `rpc_url`, `ws_url`, `venues_url`, `arrivals_url` and `settings` (the
    Settings fields that point a bot at it).
    """
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "simnet",
        "--trades-per-s",
        str(trades_per_s),
        "--seed",
        str(seed),
        "--scenario",
        scenario,
        "--data-dir",
        str(workdir / "simnet"),
    ]
    return _spawn(
        "simnet",
        argv,
        env=_base_env(),
        ready=re.compile(r"^READY (\{.*\})$"),
        log_path=workdir / "simnet.log",
    )


def bot_env(simnet: Child, workdir: Path, settings: Mapping[str, str | int]) -> dict[str, str]:
    """SOLBOT_* variables for `solbot serve` against `simnet`, plus `settings` (field: value)."""
    env = _base_env()
    fields: dict[str, str | int] = {
        **simnet.ready["settings"],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'bot.db'}",
        # the custodial keystore's key, required outside `solbot up`; a throwaway one
        "master_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        # the stream gateway on an ephemeral port too: several bots may run at once
        "stream_port": 0,
        **settings,
    }
    for key, value in fields.items():
        env[f"SOLBOT_{key.upper()}"] = str(value)
    return env


def start_bot(
    simnet: Child, workdir: Path, settings: Mapping[str, str | int], *, tag: str = "bot"
) -> Child:
    """`python -m solbot serve --port 0` with SOLBOT_* URLs pointing at `simnet`.

    `settings` are Settings fields (`jupiter_rps`, `log_level`...) passed as SOLBOT_* variables;
    the bot's JSON log lines go to `workdir/<tag>.log`.
    """
    argv = [sys.executable, "-m", "solbot", "serve", "--port", "0", "--host", "127.0.0.1"]
    return _spawn(
        tag,
        argv,
        env=bot_env(simnet, workdir, settings),
        ready=re.compile(r"serving (http://[\d.]+:\d+)"),
        log_path=workdir / f"{tag}.log",
    )


def start_proxy(upstream: str, workdir: Path) -> Child:
    """The bare pass-through proxy: GET /v1/quote forwarded to `upstream` + `/quote`."""
    argv = [sys.executable, str(Path(__file__).resolve()), "proxy", "--upstream", upstream]
    return _spawn(
        "proxy",
        argv,
        env=_base_env(),
        ready=re.compile(r"^READY (\{.*\})$"),
        log_path=workdir / "proxy.log",
    )


@contextlib.contextmanager
def workdir(prefix: str, keep: bool) -> Iterator[Path]:
    """A fresh directory for the children's logs and files; kept when `keep` (for evidence)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not keep:
            for item in sorted(path.rglob("*"), reverse=True):
                if item.is_dir():
                    item.rmdir()
                else:
                    item.unlink()
            path.rmdir()


@contextlib.contextmanager
def running(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop()


class CpuMeter:
    """CPU used during an interval: by the given processes, and by everything else on the box.

    The machine is shared; `others_cores` says how much of it something outside the benchmark
    took while a row was measured (Linux /proc only; NaN elsewhere).
    """

    def __init__(self, pids: list[int]) -> None:
        self._pids = pids
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._started = (time.monotonic(), self._busy(), self._ours())

    def _busy(self) -> float:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return float("nan")
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
        return (user + nice + system + irq + softirq + steal) / self._tick

    def _ours(self) -> float:
        total = 0.0
        for pid in self._pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime
        return total

    def read(self) -> tuple[float, float]:
        """(cores used by our processes, cores used by all others) since construction."""
        started_at, busy0, ours0 = self._started
        elapsed = max(1e-9, time.monotonic() - started_at)
        ours = self._ours() - ours0
        others = max(0.0, self._busy() - busy0 - ours)
        return ours / elapsed, others / elapsed


def machine() -> str:
    """One line describing this machine and interpreter, for the results."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}, {sys.platform}"


# ---- the children -----------------------------------------------------------------------------


def _max_in_window(times: list[float], window_s: float) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _run_simnet(args: argparse.Namespace) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from solbot.config import SimnetSettings
    from solbot.ops import AsgiServer
    from solbot.sim import Simnet

    settings = SimnetSettings(
        host="127.0.0.1",
        rpc_port=0,
        ws_port=0,
        venues_port=0,
        seed=args.seed,
        background_trades_per_s=args.trades_per_s,
        data_dir=args.data_dir,
    )
    simnet = Simnet(settings)
    simnet.faults.apply_scenario(args.scenario)

    async def arrivals(request: Request) -> JSONResponse:
        since = float(request.query_params.get("since", "0"))
        counts: dict[str, int] = {}
        for target in VENUE_TARGETS:
            times = [at for at in simnet.faults.arrivals(target) if at >= since]
            counts[target] = len(times)
            counts[f"{target}_max_in_1s"] = _max_in_window(times, 1.0)
        return JSONResponse(counts)

    side = AsgiServer(Starlette(routes=[Route("/arrivals", arrivals)]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with simnet, side:
        endpoints = simnet.endpoints
        assert endpoints is not None
        ready = {
            "rpc_url": endpoints.rpc_url,
            "ws_url": endpoints.ws_url,
            "venues_url": endpoints.venues_url,
            "arrivals_url": f"{side.url}/arrivals",
            "settings": endpoints.settings_overrides("127.0.0.1"),
        }
        print(READY + json.dumps(ready), flush=True)
        await stop.wait()


def proxy_app(session: Any, upstream_quote_url: str) -> Any:
    """The bare pass-through proxy as an ASGI app: FastAPI's `GET /v1/quote` forwarded through
    `session` (a `solbot.venues.VenueSession`) to `upstream_quote_url`, its answer returned."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/quote")
    async def quote(request: Request) -> Response:
        answer = await session.request(
            "GET",
            upstream_quote_url,
            params=list(request.query_params.multi_items()),
            content=None,
            headers={"accept": "application/json"},
            timeout_s=2.0,
        )
        return Response(
            answer.content, answer.status_code, media_type="application/json; charset=utf-8"
        )

    return app


async def _run_proxy(args: argparse.Namespace) -> None:
    # The same outbound session the bot's venue adapters use (aiohttp, same pool size), so the
    # comparison is of the aggregation, not of two HTTP client stacks.
    from solbot.config import load_settings
    from solbot.ops import AsgiServer
    from solbot.venues import build_venue_session

    client = build_venue_session(load_settings(quote_deadline_ms=2000), max_connections=400)
    app = proxy_app(client, args.upstream.rstrip("/") + "/quote")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsgiServer(app) as server:
        print(READY + json.dumps({"url": server.url}), flush=True)
        await stop.wait()
    await client.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/_procs.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    simnet = commands.add_parser("simnet", help="the whole simnet, ephemeral ports")
    simnet.add_argument("--trades-per-s", type=float, default=2.0)
    simnet.add_argument("--seed", type=int, default=7)
    simnet.add_argument("--scenario", default="healthy")
    simnet.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "bench-simnet"))
    proxy = commands.add_parser("proxy", help="bare pass-through proxy to Jupiter /quote")
    proxy.add_argument("--upstream", required=True, help="Jupiter swap API base URL")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(_run_simnet(args) if args.command == "simnet" else _run_proxy(args))


if __name__ == "__main__":
    main()
