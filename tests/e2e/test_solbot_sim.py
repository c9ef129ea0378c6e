"""`solbot sim`: the simnet alone, as an operator or another program uses it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_sim_serves_rpc_and_venues_prints_wallets_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """It prints its URLs, mints and demo wallets' keys file, serves, and Ctrl-C exits 0."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "solbot",
            "sim",
            "--rpc-port",
            "0",
            "--ws-port",
            "0",
            "--venues-port",
            "0",
            "--slot-ms",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SOLBOT_SIM_DATA_DIR": str(tmp_path / "sim"), "COLUMNS": "200"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "simnet running" in line:
            break
    text = "".join(lines)
    try:
        rpc = re.search(r"simnet RPC\s+(\S+)", text)
        venues = re.search(r"venues\s+(http://\S+)", text)
        assert rpc and venues, text
        assert "demo-wallets.json" in text
        assert (tmp_path / "sim" / "demo-wallets.json").exists()
        body = httpx.post(
            rpc.group(1), json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=5
        ).json()
        assert body["result"] == "ok"
        faults = httpx.get(f"{venues.group(1)}/admin/faults", timeout=5).json()
        assert faults["scenario"] == "healthy"
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
    assert process.returncode == 0, rest
    assert "simnet stopped" in rest


def test_sim_unknown_scenario_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A scenario that does not exist is refused at start with the known ones listed."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "solbot",
            "sim",
            "--rpc-port",
            "0",
            "--ws-port",
            "0",
            "--venues-port",
            "0",
            "--scenario",
            "meteor-strike",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SOLBOT_SIM_DATA_DIR": str(tmp_path / "sim")},
        check=False,
    )
    assert result.returncode == 1
    assert "meteor-strike" in result.stderr
    assert "jupiter-down" in result.stderr
    assert "Traceback" not in result.stderr
