"""Quote aggregation: confidence, scoring, selection across venues."""
