"""Deterministic code only: lifecycle specs and the Temporal workflows that run them.

Nothing in this package performs I/O, reads the clock or the environment: it is
imported inside Temporal's workflow sandbox and replayed from history.
"""
