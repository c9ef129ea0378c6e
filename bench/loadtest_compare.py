"""`solbot loadtest` checked against Artillery (an independent tool), both run at the same time
against the same gateway, the same load each: connections ramped over `--ramp` seconds, held
so that each tool accumulates the same connection-seconds, every connection subscribed to the
same `--per-connection` assets. Compared: connections established and price messages received
(each tool's own count), and both against the server's own `solbot_ws_messages_sent_total`.

    bash bench/loadtest_artillery_install.sh      # npm install into bench/artillery/
    .venv/bin/python bench/loadtest_compare.py --connections 1000 --ramp 10 --hold 40

Artillery: each virtual user arrives at `connections/ramp` per second, connects, subscribes,
stays `hold` seconds, leaves. solbot loadtest: stages `ramp:N, hold-ramp:N, ramp:0`, sessions
longer than the run (no reconnect), so both hold N x hold connection-seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTILLERY = ROOT / "bench" / "artillery"


def sent_prices(metrics_url: str) -> float:
    from solbot.loadtest import parse_metrics

    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        sample = parse_metrics(response.read().decode(), 0.0)
    return sample.sent.get("prices", 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=1000, help="per tool")
    parser.add_argument("--ramp", type=int, default=10)
    parser.add_argument("--hold", type=int, default=40, help="seconds each connection lives")
    parser.add_argument("--rate", type=float, default=100.0, help="price updates/s published")
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--per-connection", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "compare")
    args = parser.parse_args()
    binary = ARTILLERY / "node_modules" / ".bin" / "artillery"
    if not binary.exists():
        print("Artillery is not installed: bash bench/loadtest_artillery_install.sh")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    from solbot.loadtest import generated_mints

    mints = generated_mints(args.assets)[: args.per_connection]
    gateway = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "loadtest_gateway.py"),
            "--rate",
            str(args.rate),
            "--assets",
            str(args.assets),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert gateway.stdout is not None
        ready = json.loads(gateway.stdout.readline())
        subscribe = json.dumps({"op": "subscribe", "channel": "prices", "assets": mints, "id": 1})
        config = {
            "config": {
                "target": ready["url"].rsplit("/v1/stream", 1)[0],
                "processor": str(ARTILLERY / "count.js"),
                "phases": [{"duration": args.ramp, "arrivalRate": args.connections // args.ramp}],
            },
            "scenarios": [
                {
                    "engine": "ws",
                    "flow": [
                        {"connect": f"{ready['url']}?test_id=artillery"},
                        {"function": "countPushed"},
                        {"send": subscribe},
                        {"think": args.hold},
                        {"function": "closeNormally"},
                    ],
                }
            ],
        }
        config_path = args.out / "artillery.json"
        config_path.write_text(json.dumps(config, indent=1))
        down = args.ramp
        stages = (
            f"{args.ramp}s:{args.connections},{args.hold - args.ramp}s:{args.connections},{down}s:0"
        )
        ours = [
            sys.executable,
            "-m",
            "solbot.loadtest",
            "smoke",
            "--target",
            ready["url"],
            "--report",
            str(args.out / "solbot-report"),
            "--server-pid",
            str(ready["pid"]),
            "--set",
            f"prices.stages={stages}",
            "--set",
            f"prices.assets={json.dumps(mints)}",
            "--set",
            f"prices.assets_per_connection=[{args.per_connection}, {args.per_connection}]",
            "--set",
            "prices.session=1h..1h",
            "--set",
            "run.baseline=1s",
            "--set",
            "run.settle=3s",
            "--set",
            'thresholds=["errors < 0.1%"]',
            "--test-id",
            "solbot-compare",
        ]
        before = sent_prices(ready["metrics"])
        started = time.time()
        artillery = subprocess.Popen(
            [
                str(binary),
                "run",
                "--output",
                str(args.out / "artillery-report.json"),
                str(config_path),
            ],
            stdout=(args.out / "artillery.log").open("w"),
            stderr=subprocess.STDOUT,
            cwd=ARTILLERY,
        )
        print("$", " ".join(ours), flush=True)
        solbot = subprocess.run(ours, cwd=ROOT, capture_output=True, text=True)
        (args.out / "solbot.log").write_text(solbot.stdout + solbot.stderr)
        artillery.wait(timeout=args.hold + args.ramp + 120)
        time.sleep(2.0)
        after = sent_prices(ready["metrics"])
        elapsed = time.time() - started
    finally:
        gateway.terminate()
        gateway.wait(30)

    report = json.loads((args.out / "artillery-report.json").read_text())
    counters = report["aggregate"]["counters"]
    summary = json.loads((args.out / "solbot-report" / "summary.json").read_text())
    ours_counters = summary["counters"]
    ours_prices = ours_counters.get("messages.prices", 0) + ours_counters.get("snapshots.prices", 0)
    theirs_prices = counters.get("lt.received.price", 0)
    result = {
        "connections_per_tool": args.connections,
        "elapsed_s": round(elapsed, 1),
        "solbot": {
            "connections_established": ours_counters.get("connected", 0),
            "connection_errors": summary["values"]["connection_errors.count"],
            "price_messages_received": ours_prices,
            "of_which_snapshots": ours_counters.get("snapshots.prices", 0),
            "p99_ms": summary["latency_ms"]["messages"]["p99"],
            "exit_code": solbot.returncode,
        },
        "artillery": {
            "connections_established": counters.get("lt.connections_established", 0),
            "vusers_failed": counters.get("vusers.failed", 0),
            "price_messages_received": theirs_prices,
            "acks_received": counters.get("lt.received.subscribed", 0),
            "counters": counters,
        },
        "server": {"price_messages_sent_during_run": after - before},
    }
    a, b = result["solbot"], result["artillery"]
    result["agreement_pct"] = {
        "connections": round(
            100 * a["connections_established"] / max(1, b["connections_established"]), 2
        ),
        "messages": round(
            100 * a["price_messages_received"] / max(1, b["price_messages_received"]), 2
        ),
        "both_vs_server": round(
            100
            * (a["price_messages_received"] + b["price_messages_received"])
            / max(1.0, result["server"]["price_messages_sent_during_run"]),
            2,
        ),
    }
    (args.out / "compare.json").write_text(json.dumps(result, indent=1))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "artillery"}
            | {"artillery": {k: v for k, v in b.items() if k != "counters"}},
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
