"""An exposure refuses declarations the API or the read model could not honour."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from workflows.engine.exposure import Column, Match
from workflows.opportunity import EXPOSURE, OpportunityData, OpportunityPolicy


def test_the_state_cannot_share_its_name_with_a_column():
    with pytest.raises(ValueError, match="duplicate read-model columns"):
        dataclasses.replace(EXPOSURE, state_name="pipeline")


def test_only_a_range_filter_has_an_upper_bound_to_include():
    inclusive_equals = Column[OpportunityData, OpportunityPolicy](
        name="signed_on", type=date, match=Match.EQUALS, bounds_included=(True, True)
    )
    with pytest.raises(ValueError, match="only a range filter has bounds"):
        dataclasses.replace(EXPOSURE, columns=(*EXPOSURE.columns, inclusive_equals))
