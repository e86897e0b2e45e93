"""Percentiles and summaries of latency samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linearly interpolated between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles_ms(ms: Sequence[float], digits: int) -> dict[str, Any]:
    """The count and the p50/p95/p99 of samples in milliseconds, rounded to ``digits``."""
    return {"n": len(ms), **{f"p{p}_ms": round(percentile(ms, p), digits) for p in (50, 95, 99)}}


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max/mean in milliseconds of samples given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        **percentiles_ms(ms, 2),
        "max_ms": round(max(ms), 2) if ms else math.nan,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else math.nan,
    }


def ratio(subject: float, bare: float) -> float:
    return round(subject / bare, 3) if bare else math.nan
