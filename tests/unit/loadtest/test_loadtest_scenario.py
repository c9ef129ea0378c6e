"""Scenarios: stages, durations, overrides, the asset mix, the shipped scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

from solbot.loadtest import (
    PriceStreamsWorkload,
    QuotesWorkload,
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

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0), ("500ms", 0.5), (12, 12.0), ("1h", 3600.0)],
)
def test_durations_read_like_k6(text: object, seconds: float) -> None:
    """Durations are written 30s, 2m, 1m30s, 500ms, or a number of seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "3x", "", "-1s", True, "1m 3q"])
def test_a_malformed_duration_names_its_key(text: object) -> None:
    """A duration that is not one is refused with the key that holds it."""
    with pytest.raises(ScenarioError, match="session"):
        parse_duration(text, "session")


def test_stages_ramp_linearly_from_the_previous_target() -> None:
    """Each stage ramps from the previous stage's target (0 at first) to its own, k6-style."""
    stages = (Stage(10, 100), Stage(10, 100), Stage(5, 0))
    assert target_at(stages, 0) == 0
    assert target_at(stages, 5) == 50
    assert target_at(stages, 15) == 100
    assert target_at(stages, 22.5) == 50
    assert target_at(stages, 99) == 0


def test_a_zero_length_stage_jumps_to_its_target() -> None:
    """`0s:40` starts a constant rate at once instead of ramping to it."""
    stages = parse_stages("0s:40,4s:40")
    assert target_at(stages, 0.0) == 40
    assert target_at(stages, 2.0) == 40


def test_compact_stages_equal_the_table_form() -> None:
    """`"10s:100,5s:0"` is the same as the list of tables."""
    assert parse_stages("10s:100,5s:0") == parse_stages(
        [{"duration": "10s", "target": 100}, {"duration": "5s", "target": 0}]
    )


def test_popularity_is_a_few_popular_assets_and_a_long_tail() -> None:
    """With Zipf weights the top 5 of 100 assets draw over a third of the subscriptions."""
    weights = zipf_weights(100, 1.1)
    assert abs(sum(weights) - 1.0) < 1e-9
    assert sum(weights[:5]) > 0.35
    assert weights[-1] > 0


def test_generated_mints_are_stable_base58_addresses() -> None:
    """The same count and seed give the same names (the rig publishes what the test reads)."""
    mints = generated_mints(3)
    assert mints == generated_mints(3)
    assert all(len(m) == 44 and "0" not in m and "l" not in m for m in mints)


def test_overrides_reach_workloads_by_name_and_parse_toml_literals() -> None:
    """`--set prices.session=5s..10s`, `engine.workers=3` and a TOML list all apply."""
    document = {"workload": [{"kind": "price-streams", "name": "prices", "stages": "1s:1"}]}
    overridden = apply_overrides(
        document,
        ["prices.session=5s..10s", "engine.workers=3", 'thresholds=["p99 < 5ms"]'],
    )
    scenario = parse_scenario(overridden, base_dir=Path())
    workload = scenario.workloads[0]
    assert isinstance(workload, PriceStreamsWorkload)
    assert workload.session_s == (5.0, 10.0)
    assert scenario.engine.workers == 3
    assert scenario.thresholds == ("p99 < 5ms",)
    assert document["workload"][0].get("session") is None, "the document itself is untouched"


def test_unknown_keys_are_refused() -> None:
    """A misspelt key is an error, not silently ignored."""
    document = {"workload": [{"kind": "quotes", "stages": "1s:1", "max_inflite": 3}]}
    with pytest.raises(ScenarioError, match="max_inflite"):
        parse_scenario(document, base_dir=Path())


def test_target_urls_go_where_their_scheme_says() -> None:
    """`--target ws://...` is the gateway (its /metrics beside it), `http://...` the API."""
    scenario = load_scenario(str(SCENARIOS / "smoke.toml"))
    moved = scenario.with_target("ws://127.0.0.1:9999/v1/stream").with_target(
        "http://127.0.0.1:7777/"
    )
    assert moved.targets.stream == "ws://127.0.0.1:9999/v1/stream"
    assert moved.targets.metrics == "http://127.0.0.1:9999/metrics"
    assert moved.targets.api == "http://127.0.0.1:7777"


@pytest.mark.parametrize("name", ["smoke", "price-streams-10k", "quotes"])
def test_shipped_scenarios_load(name: str) -> None:
    """The scenario files in scenarios/ parse, with their thresholds."""
    scenario = load_scenario(name)
    assert scenario.thresholds
    assert scenario.duration_s > 0


@pytest.mark.parametrize("name", ["balances", "mixed"])
def test_scenarios_with_users_load_with_a_users_file(name: str, tmp_path: Path) -> None:
    """Balances scenarios read their users from the file `users_file` names."""
    users = tmp_path / "users.jsonl"
    users.write_text('{"token": "t1", "wallets": ["w1"]}\n')
    scenario = load_scenario(name, [f"balances.users_file={users}"])
    assert any(w.kind == "balances" for w in scenario.workloads)
    if name == "mixed":
        assert any(isinstance(w, QuotesWorkload) for w in scenario.workloads)


def test_the_10k_scenario_is_the_reference_shape() -> None:
    """Ramp to 10,000 over 5 minutes, hold 10, ramp down over 1; sessions 1-2 minutes."""
    scenario = load_scenario("price-streams-10k")
    workload = scenario.workloads[0]
    assert isinstance(workload, PriceStreamsWorkload)
    assert workload.stages == (Stage(300, 10_000), Stage(600, 10_000), Stage(60, 0))
    assert workload.session_s == (60.0, 120.0)
    assert scenario.peak_connections == 10_000
