"""`solbot loadtest`: thousands of virtual users against the stream gateway and the API,
ramped in k6-style stages, measured honestly, with a report that says where it broke.

    scenario = load_scenario("smoke", ["engine.workers=2"]).with_target(rig.stream_url)
    result = await run_load_test(scenario)             # workers in their own processes
    report = build_report(result, command)             # thresholds, analysis, leak check
    write_report(report, Path("reports/smoke"))        # summary.json + report.html

Scenarios (TOML, `scenarios/`): `_scenario.py`. Workers (picows clients, open-model HTTP):
`_worker.py`. Coordinator (stages, merging HdrHistograms, server sampling): `_engine.py`.
Bottleneck analysis and leak check: `_analysis.py`. A gateway to aim at: `PriceRig`.
"""

from solbot.loadtest._analysis import LeakCheck, analyse, generator_warnings, leak_check
from solbot.loadtest._engine import LoadTestResult, ProgressSink, SecondRow, run_load_test
from solbot.loadtest._measure import classify_connect_error, source_address, split_share
from solbot.loadtest._report import Report, build_report, write_report
from solbot.loadtest._rig import PriceRig
from solbot.loadtest._scenario import (
    BalancesWorkload,
    PriceStreamsWorkload,
    QuotesWorkload,
    Scenario,
    ScenarioError,
    Stage,
    apply_overrides,
    generated_mints,
    load_scenario,
    parse_duration,
    parse_scenario,
    parse_stages,
    target_at,
    zipf_weights,
)
from solbot.loadtest._server_metrics import ServerSample, parse_metrics
from solbot.loadtest._thresholds import (
    Threshold,
    ThresholdResult,
    evaluate_thresholds,
    parse_threshold,
)

__all__ = [
    "BalancesWorkload",
    "LeakCheck",
    "LoadTestResult",
    "PriceRig",
    "PriceStreamsWorkload",
    "ProgressSink",
    "QuotesWorkload",
    "Report",
    "Scenario",
    "ScenarioError",
    "SecondRow",
    "ServerSample",
    "Stage",
    "Threshold",
    "ThresholdResult",
    "analyse",
    "apply_overrides",
    "build_report",
    "classify_connect_error",
    "evaluate_thresholds",
    "generated_mints",
    "generator_warnings",
    "leak_check",
    "load_scenario",
    "parse_duration",
    "parse_metrics",
    "parse_scenario",
    "parse_stages",
    "parse_threshold",
    "run_load_test",
    "source_address",
    "split_share",
    "target_at",
    "write_report",
    "zipf_weights",
]
