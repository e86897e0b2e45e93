"""Benchmarks: what a transition, a list, a timer and a start cost, against the bare limits.

``python -m benchmarks.run [--quick]`` (``./dev bench``) starts its own stack and writes
``benchmarks/results/latest.json`` and ``docs/performance.md``.
"""
