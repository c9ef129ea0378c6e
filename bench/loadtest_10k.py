"""`solbot loadtest price-streams-10k` with compressed stages against the gateway in its own
process (bench/loadtest_gateway.py), the report written under bench/.

    .venv/bin/python bench/loadtest_10k.py --stages 60s:10000,60s:10000,20s:0 \
        --report bench/loadtest-10k-report

With `--rounds N` the same gateway process is loaded N times in a row (reports in
`REPORT`, `REPORT-round2`, ...) and its RSS after each round is printed: memory that a first round
takes and a second round reuses is the allocator keeping freed arenas; memory that grows round
after round is a leak.

Exit code: the load test's (0 when its thresholds held in every round).
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
    parser.add_argument("--rounds", type=int, default=1, help="load the same gateway N times")
    args = parser.parse_args()
    gateway = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "loadtest_gateway.py"), "--rate", str(args.rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert gateway.stdout is not None
        ready = json.loads(gateway.stdout.readline())
        worst = 0
        rss = [("before", _rss_mib(ready["pid"]))]
        for round_no in range(1, args.rounds + 1):
            report = args.report if round_no == 1 else Path(f"{args.report}-round{round_no}")
            command = [
                sys.executable,
                "-m",
                "solbot.loadtest",
                "price-streams-10k",
                "--target",
                ready["url"],
                "--report",
                str(report),
                "--server-pid",
                str(ready["pid"]),
                "--set",
                f"prices.stages={args.stages}",
            ]
            for override in args.overrides:
                command += ["--set", override]
            print("$", " ".join(command), flush=True)
            worst = max(worst, subprocess.call(command, cwd=ROOT))
            rss.append((f"after round {round_no}", _rss_mib(ready["pid"])))
        print("gateway RSS: " + ", ".join(f"{when} {mib:.1f} MiB" for when, mib in rss))
        return worst
    finally:
        gateway.terminate()
        gateway.wait(30)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
