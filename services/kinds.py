"""A lifecycle's companions outside ``workflows/``, found by its module name.

``services/<name>.py`` may declare ``READ_MODEL`` (its typed table and projection) and
``FACTS`` (providers of facts for its triggers' guards); ``schema/<name>.py`` may
declare ``PART`` (its GraphQL queries, mutations and types). A new lifecycle adds its
files; nothing here or anywhere else lists it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from workflows.registry import SPECS, module_name


def companions(package: str) -> dict[str, ModuleType]:
    """kind -> ``<package>.<module name>`` for every kind that has one."""
    found = {}
    for kind in SPECS:
        name = f"{package}.{module_name(kind)}"
        if importlib.util.find_spec(name) is not None:
            found[kind] = importlib.import_module(name)
    return found
