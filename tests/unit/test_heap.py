"""Freezing the start-up heap: the survivors leave the collector's reach, garbage does not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a process of its own: a freeze lasts for the rest of the process, which in the test
# process would hide its objects from later tests (and from gc.get_referrers, which some
# libraries consult).
SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from services.heap import freeze_startup_objects

    class Node:
        other = None

    kept = Node()
    cycle_a, cycle_b = Node(), Node()
    cycle_a.other, cycle_b.other = cycle_b, cycle_a  # collectable only by the cycle collector
    garbage = weakref.ref(cycle_a)
    del cycle_a, cycle_b

    freeze_startup_objects()

    assert garbage() is None, "a garbage cycle made before the freeze was kept"
    assert gc.get_freeze_count() > 0
    # Out of reach of every later collection, the full ones included.
    assert not any(obj is kept for obj in gc.get_objects())
    print("ok")
    """
)


def test_start_up_objects_are_frozen_and_garbage_made_before_is_collected_first():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
