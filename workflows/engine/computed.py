"""Derived fields of a lifecycle's data model that are typed and serialised.

Pydantic serialises ``@computed_field`` over ``@property``, but mypy types no decorator
stacked on ``@property``. ``@computed_property`` is that pair at run time and a plain
``property`` to the type checker, so reads of a derived field are checked like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import computed_field

if TYPE_CHECKING:
    computed_property = property
else:

    def computed_property(fget: Callable[[Any], Any]) -> Any:
        return computed_field(property(fget))
