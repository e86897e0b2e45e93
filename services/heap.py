"""The process's heap, as the garbage collector sees it."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Put what start-up made (modules, the schema, the specs, the SDK) out of the collector's reach.

    A full collection traverses every tracked object, and the start-up heap (~190,000 objects
    in the worker) never becomes garbage: traversing it made each full collection a ~55 ms
    pause, which every request and activation in flight waited out (measured in the worker
    under load). Called once, when the process is about to serve; garbage made before is
    collected first, so nothing collectable is kept.
    """
    gc.collect()
    gc.freeze()
