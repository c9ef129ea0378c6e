"""Writes bench/RESULTS.md from the per-topic fragments bench/RESULTS-*.md.

Each fragment is written by the benchmark's author with the exact command and its figures;
this keeps one file to read. Run: .venv/bin/python bench/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "simnet-chain",
    "simnet-venues",
    "quotes",
    "trades",
    "cache",
    "streams",
    "loadtest",
]
HEADER = """# Benchmark results

Every figure below was measured on this project's 2-core, 24 GiB machine, with the load
generator sharing those cores with the server (so absolute numbers are a floor, and the machine
is shared and noisy: compare ratios measured in the same run, not absolute times across runs).
Each section names the command that reproduces it. The sections live in `bench/RESULTS-*.md`;
this file is assembled from them by `.venv/bin/python bench/collect_results.py`.

"""


def main() -> None:
    fragments = {p.stem.removeprefix("RESULTS-"): p for p in HERE.glob("RESULTS-*.md")}
    names = [n for n in ORDER if n in fragments] + sorted(set(fragments) - set(ORDER))
    parts = [HEADER, "## Contents\n", *(f"- {name}\n" for name in names), "\n"]
    for name in names:
        parts.append(fragments[name].read_text().rstrip() + "\n\n")
    (HERE / "RESULTS.md").write_text("".join(parts))


if __name__ == "__main__":
    main()
