"""Every lifecycle the service runs, found rather than listed.

A lifecycle is a module or package under ``workflows/`` that declares a
``LifecycleWorkflow`` subclass; adding one edits no registry. Its companions in
``services/`` and ``schema/`` (read model, GraphQL) carry the same module name and
are found the same way (``services/kinds.py``).
"""

from __future__ import annotations

import importlib
import pkgutil

import workflows
from workflows.engine.spec import LifecycleSpec
from workflows.engine.workflow import LifecycleWorkflow

# Packages under workflows/ that hold shared code, not a lifecycle.
NOT_LIFECYCLES = frozenset({"engine", "registry"})


def _discover() -> dict[str, type[LifecycleWorkflow]]:
    found: dict[str, type[LifecycleWorkflow]] = {}
    for module_info in sorted(pkgutil.iter_modules(workflows.__path__), key=lambda m: m.name):
        if module_info.name in NOT_LIFECYCLES:
            continue
        module = importlib.import_module(f"{workflows.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, LifecycleWorkflow)
                and value.__module__ == module.__name__
                and "spec" in vars(value)
            ):
                kind = value.spec.kind
                if kind in found:
                    raise ValueError(f"lifecycle kind {kind!r} is declared twice ({found[kind].__module__})")
                found[kind] = value
    return found


WORKFLOWS: dict[str, type[LifecycleWorkflow]] = _discover()

SPECS: dict[str, LifecycleSpec] = {kind: wf.spec for kind, wf in WORKFLOWS.items()}


def module_name(kind: str) -> str:
    """The lifecycle's module name under ``workflows/``, shared by its companions elsewhere."""
    return WORKFLOWS[kind].__module__.split(".")[1]
