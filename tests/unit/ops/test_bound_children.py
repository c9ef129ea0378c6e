"""A labelled metric's children bound once still count into the same exported series."""

from __future__ import annotations

from solbot.ops import BoundChildren, Metrics


def test_bound_children_count_into_the_labelled_series_and_are_reused() -> None:
    metrics = Metrics()
    counters = BoundChildren(metrics.upstream_requests)

    counters("jupiter", "ok").inc()
    counters("jupiter", "ok").inc()
    counters("dflow", "timeout").inc()

    assert counters("jupiter", "ok") is counters("jupiter", "ok")
    sample = metrics.registry.get_sample_value
    assert sample("solbot_upstream_requests_total", {"source": "jupiter", "outcome": "ok"}) == 2
    assert sample("solbot_upstream_requests_total", {"source": "dflow", "outcome": "timeout"}) == 1
