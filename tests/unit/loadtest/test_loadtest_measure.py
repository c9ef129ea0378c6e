"""Thresholds, error classes, planning, histograms and the report's charts."""

from __future__ import annotations

import errno

import pytest
from picows import WSHandshakeError

from solbot.errors import InvalidRequest
from solbot.loadtest import (
    classify_connect_error,
    evaluate_thresholds,
    parse_metrics,
    parse_threshold,
    source_address,
    split_share,
)
from solbot.loadtest._measure import LatencyCounts, decode_histogram, histogram_stats
from solbot.loadtest._svg import line_chart


def test_a_bare_percentile_means_message_latency_in_ms() -> None:
    """`p99 < 100ms` is the message latency's p99; `1s` is 1000 ms."""
    threshold = parse_threshold("p99 < 100ms")
    assert (threshold.key, threshold.op, threshold.limit) == ("message_latency.p99", "<", 100.0)
    assert parse_threshold("http_latency.p95 <= 1s").limit == 1000.0


def test_rates_are_fractions_written_in_percent() -> None:
    """`errors < 0.1%` compares the error rate with 0.001."""
    threshold = parse_threshold("errors < 0.1%")
    assert (threshold.key, threshold.limit) == ("errors.rate", 0.001)


@pytest.mark.parametrize("text", ["p99 100ms", "latency.p42 < 1ms", "errors < 5ms", "nope < 1"])
def test_a_malformed_threshold_is_refused(text: str) -> None:
    """A threshold that cannot be read is an error at load time, not a silent pass."""
    with pytest.raises(InvalidRequest):
        parse_threshold(text)


def test_thresholds_pass_fail_and_fail_without_data() -> None:
    """Each threshold is checked; one with no measured value fails (nothing was proven)."""
    results = evaluate_thresholds(
        ["p99 < 100ms", "errors < 0.1%", "http_latency.p99 < 1s"],
        {"message_latency.p99": 140.0, "errors.rate": 0.0, "http_latency.p99": None},
    )
    assert [r.passed for r in results] == [False, True, False]
    assert "140.0 ms" in results[0].sentence()
    assert "no data" in results[2].sentence()


class _Response:
    status = 503


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(), "refused"),
        (TimeoutError(), "timeout"),
        (ConnectionResetError(), "reset"),
        (OSError(errno.EADDRNOTAVAIL, "x"), "address_unavailable"),
        (OSError(errno.EMFILE, "x"), "client_fd_limit"),
        (WSHandshakeError("bad", response=_Response()), "handshake_503"),  # type: ignore[arg-type]
        (ValueError("x"), "valueerror"),
    ],
)
def test_connection_errors_are_classified(exc: BaseException, kind: str) -> None:
    """Refused, timeout, handshake status, reset, out of ports or fds: each its own kind."""
    assert classify_connect_error(exc) == kind


def test_shares_add_up_and_differ_by_at_most_one() -> None:
    """Connections split over workers add up to the target exactly."""
    shares = [split_share(10_001, 3, i) for i in range(3)]
    assert sum(shares) == 10_001
    assert max(shares) - min(shares) <= 1


def test_source_addresses_spread_beyond_one_address_worth_of_ports() -> None:
    """Up to 28,000 connections use the kernel's address; beyond, 127.0.0.x round-robin."""
    assert source_address(5, 10_000, 28_000, "127.0.0.1") is None
    spread = {source_address(vu, 60_000, 28_000, "127.0.0.1") for vu in range(100)}
    assert len(spread) == 4
    assert all(a is not None and a.startswith("127.0.0.") for a in spread)
    assert source_address(5, 60_000, 28_000, "10.0.0.5") is None


def test_latency_counts_become_an_hdr_histogram_in_microseconds() -> None:
    """Counted at 100 µs resolution, shipped encoded, decoded with the same percentiles."""
    counts = LatencyCounts()
    for ms in [1.0] * 98 + [50.0, 250.0]:
        counts.record_ms(ms)
    stats = histogram_stats(decode_histogram(counts.encode()))
    assert stats["p50"] == pytest.approx(1.0, rel=0.01)
    assert stats["p99"] == pytest.approx(50.0, rel=0.01)
    assert stats["max"] == pytest.approx(250.0, rel=0.01)
    assert len(counts) == 0, "encoding starts the next interval"


def test_server_metrics_are_read_from_prometheus_text() -> None:
    """Connections, loop lag, process CPU/RSS/fds and labelled counters come out of /metrics."""
    text = (
        "solbot_ws_connections 42.0\n"
        "solbot_event_loop_lag_seconds 0.25\n"
        "process_cpu_seconds_total 3.5\n"
        "process_resident_memory_bytes 1048576.0\n"
        "process_open_fds 50.0\n"
        'solbot_ws_messages_sent_total{channel="prices"} 1000.0\n'
        'solbot_ws_dropped_total{reason="coalesced"} 7.0\n'
    )
    sample = parse_metrics(text, 3.0)
    assert (sample.connections, sample.loop_lag_s, sample.cpu_s) == (42.0, 0.25, 3.5)
    assert (sample.rss_bytes, sample.open_fds) == (1048576.0, 50.0)
    assert sample.sent == {"prices": 1000.0}
    assert sample.dropped == {"coalesced": 7.0}


def test_a_chart_is_an_svg_with_one_line_per_series_and_gaps_for_missing_points() -> None:
    """Series become polylines; a None splits a line instead of drawing through zero."""
    svg = line_chart("t", [0, 1, 2, 3], [("a", [1, 2, None, 4]), ("b", [0, 0, 0, 0])])
    assert svg.startswith('<svg class="chart"')
    assert svg.count("<polyline") == 2
    assert svg.count("<circle") == 1
