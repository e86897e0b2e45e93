"""Custom search attributes: how engineers find lifecycles in the Temporal Web UI.

They are registered on the server by the dev launcher (``infra/dev.py``) and by the
test fixtures; production registers them once with ``temporal operator
search-attribute create`` (see ``docs/operations.md``).
"""

from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

LIFECYCLE_KIND = SearchAttributeKey.for_keyword("LifecycleKind")
LIFECYCLE_STATE = SearchAttributeKey.for_keyword("LifecycleState")
LIFECYCLE_OWNER = SearchAttributeKey.for_keyword("LifecycleOwner")
LIFECYCLE_ACCOUNT = SearchAttributeKey.for_keyword("LifecycleAccount")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")

ALL_KEYS = (LIFECYCLE_KIND, LIFECYCLE_STATE, LIFECYCLE_OWNER, LIFECYCLE_ACCOUNT, NEXT_DEADLINE)


def search_attributes(
    kind: str, state: str, owner: str | None, account: str | None, next_deadline: datetime | None
) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[str] | SearchAttributePair[datetime]] = [
        SearchAttributePair(LIFECYCLE_KIND, kind),
        SearchAttributePair(LIFECYCLE_STATE, state),
    ]
    if owner:
        pairs.append(SearchAttributePair(LIFECYCLE_OWNER, owner))
    if account:
        pairs.append(SearchAttributePair(LIFECYCLE_ACCOUNT, account))
    if next_deadline:
        pairs.append(SearchAttributePair(NEXT_DEADLINE, next_deadline))
    return TypedSearchAttributes(pairs)
