"""`solbot loadtest price-streams-10k` with compressed stages against the gateway in its own
process (bench/loadtest_gateway.py), the report written under bench/.

    .venv/bin/python bench/loadtest_10k.py --stages 60s:10000,60s:10000,20s:0 \
        --report bench/loadtest-10k-report

Exit code: the load test's (0 when its thresholds held).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", default="60s:10000,60s:10000,20s:0")
    parser.add_argument("--rate", type=float, default=100.0, help="price updates/s published")
    parser.add_argument("--report", type=Path, default=ROOT / "bench" / "loadtest-10k-report")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    gateway = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "loadtest_gateway.py"), "--rate", str(args.rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert gateway.stdout is not None
        ready = json.loads(gateway.stdout.readline())
        command = [
            sys.executable,
            "-m",
            "solbot.loadtest",
            "price-streams-10k",
            "--target",
            ready["url"],
            "--report",
            str(args.report),
            "--server-pid",
            str(ready["pid"]),
            "--set",
            f"prices.stages={args.stages}",
        ]
        for override in args.overrides:
            command += ["--set", override]
        print("$", " ".join(command), flush=True)
        return subprocess.call(command, cwd=ROOT)
    finally:
        gateway.terminate()
        gateway.wait(30)


if __name__ == "__main__":
    sys.exit(main())
