"""A lifecycle's companions outside ``workflows/``, found by its module name.

Everything else about a kind is derived from its spec (``schema/derived.py``,
``services/derived.py``); what is truly special lives beside it: ``services/<name>.py``
may declare ``FACTS`` (providers of facts for its triggers' guards) and ``FILTERS``
(list filters no column answers); ``schema/<name>.py`` may declare ``FIELDS`` and
``CONNECTION_FIELDS`` (fields added to the derived type and to its list) and ``PART``
(extra queries or mutations). Nothing here or anywhere else lists the kinds.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

from workflows.registry import SPECS, module_name


@cache
def companions(package: str) -> dict[str, ModuleType]:
    """kind -> ``<package>.<module name>`` for every kind that has one (looked up once per
    process: the kinds are fixed at import, and the gateway asks before every update)."""
    found = {}
    for kind in SPECS:
        name = f"{package}.{module_name(kind)}"
        if importlib.util.find_spec(name) is not None:
            found[kind] = importlib.import_module(name)
    return found
