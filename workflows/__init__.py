"""Deterministic code only: lifecycle specs and the Temporal workflows that run them.

Nothing in this package performs I/O, reads the clock or the environment: it is
imported inside Temporal's workflow sandbox and replayed from history.
"""

from pkgutil import extend_path

# A lifecycle may live in its own distribution: any ``workflows/`` directory on the
# Python path adds its modules here, and the registry finds them like the built-in ones.
__path__ = extend_path(__path__, __name__)
