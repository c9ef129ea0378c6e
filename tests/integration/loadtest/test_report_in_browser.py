"""The HTML report opened in headless Chromium: its plots are laid out and drawn."""

from __future__ import annotations

import asyncio
import shutil
import struct
from pathlib import Path

import pytest

from solbot.loadtest import PriceRig, build_report, load_scenario, run_load_test, write_report

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not at /usr/bin/chromium: run scripts/ensure-chromium.sh",
)


async def _chromium(*args: str, timeout_s: float = 60.0) -> str:
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(timeout_s):
        out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_report_plots_render_in_headless_chromium(rig: PriceRig, tmp_path: Path) -> None:
    """Every plot of a real run's report is laid out with drawn lines in a real browser, and a
    screenshot of the page is taken (no network: everything is inline)."""
    scenario = load_scenario(
        "smoke", ["prices.stages=1s:40,1s:40,0s:0", "run.baseline=1s", "run.settle=1s"]
    ).with_target(rig.stream_url)
    result = await run_load_test(scenario)
    _summary, html = write_report(build_report(result), tmp_path / "report")
    charts = html.read_text().count('<svg class="chart"')
    assert charts >= 6
    profile = tmp_path / "profile"

    dom = await _chromium(
        f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", html.as_uri()
    )
    shot = tmp_path / "report.png"
    await _chromium(
        f"--user-data-dir={profile}",
        "--window-size=1600,2600",
        f"--screenshot={shot}",
        html.as_uri(),
    )

    assert f'data-charts-drawn="{charts}"' in dom, "every chart has a box and drawn lines"
    assert _png_size(shot) == (1600, 2600)
    assert shot.stat().st_size > 50_000, "a page of plots, not a blank screenshot"
    shutil.rmtree(profile, ignore_errors=True)
