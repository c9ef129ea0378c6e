"""`solbot loadtest SCENARIO [--target URL] [--report DIR] [--set key=value ...]`.

Exit code: 0 when every threshold holds, 1 when one fails (one line on stderr says which, the
report says why), 2 on bad usage (unknown scenario, bad --set).
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from solbot.errors import SolbotError
from solbot.loadtest._engine import run_load_test
from solbot.loadtest._progress import LiveProgress
from solbot.loadtest._report import build_report, write_report
from solbot.loadtest._scenario import Scenario, ScenarioError, load_scenario

__all__ = ["app", "loadtest"]

_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def loadtest(
    scenario: Annotated[
        str, typer.Argument(help="A scenario file, or a name from scenarios/ (smoke, quotes, ...).")
    ],
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            help="ws://host:port/v1/stream (the gateway) and/or http://host:port (the API).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Report folder (default: reports/<scenario>-<time>)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario key: key=value (repeatable)."),
    ] = None,
    server_pid: Annotated[
        int | None,
        typer.Option(
            help="A local server's pid: CPU, memory, fds from /proc when /metrics lacks them."
        ),
    ] = None,
    test_id: Annotated[
        str | None, typer.Option(help="The run's id (default: generated), sent in every URL.")
    ] = None,
) -> None:
    """Load-test the stream gateway and the API: stages, thresholds, an HTML report."""
    try:
        loaded = load_scenario(scenario, set_ or [])
        for url in target or []:
            loaded = loaded.with_target(url)
    except (ScenarioError, SolbotError) as exc:
        _err.print(f"usage error: {exc.message}", highlight=False)
        raise typer.Exit(2) from None
    folder = report or Path("reports") / f"{loaded.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    args = sys.argv[2:] if sys.argv[1:2] == ["loadtest"] else sys.argv[1:]
    command = shlex.join(["solbot", "loadtest", *args])
    code = _run(loaded, folder, server_pid, test_id, command)
    raise typer.Exit(code)


def _run(
    scenario: Scenario, folder: Path, server_pid: int | None, test_id: str | None, command: str
) -> int:
    import uvloop

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                sys.exit(130)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        _out.print(
            f"loadtest {scenario.name}: {scenario.duration_s:g} s of stages, peak "
            f"{scenario.peak_connections:,} connections, target {scenario.targets.stream} "
            f"/ {scenario.targets.api}",
            highlight=False,
        )
        with LiveProgress(_out, title=f"solbot loadtest {scenario.name}") as progress:
            result = await run_load_test(
                scenario, test_id=test_id, server_pid=server_pid, progress=progress, stop=stop
            )
        built = build_report(result, command)
        _summary, html = write_report(built, folder)
        for sentence in built.analysis:
            _out.print(f"- {sentence}", highlight=False)
        for warning in built.warnings:
            _out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        for threshold in built.thresholds:
            _out.print(threshold.sentence(), highlight=False)
        _out.print(f"report: {html}", highlight=False)
        if not built.passed:
            _err.print(
                f"thresholds failed: {built.failure_line()} (report: {html})", highlight=False
            )
            return 1
        return 0

    try:
        return uvloop.run(main())
    except (RuntimeError, OSError) as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("loadtest")(loadtest)
