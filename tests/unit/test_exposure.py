"""An exposure refuses declarations the API or the read model could not honour."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

import schema
from workflows.engine.exposure import Column, Match
from workflows.engine.values import Money
from workflows.late_payment import LATE_PAYMENT
from workflows.opportunity import EXPOSURE, OPPORTUNITY, OpportunityData, OpportunityPolicy
from workflows.trial import TRIAL, TrialTarget


def test_the_state_cannot_share_its_name_with_a_column():
    with pytest.raises(ValueError, match="duplicate read-model columns"):
        dataclasses.replace(EXPOSURE, state_name="pipeline")


def test_only_a_range_filter_has_an_upper_bound_to_include():
    inclusive_equals = Column[OpportunityData, OpportunityPolicy](
        name="signed_on", type=date, match=Match.EQUALS, bounds_included=(True, True)
    )
    with pytest.raises(ValueError, match="only a range filter has bounds"):
        dataclasses.replace(EXPOSURE, columns=(*EXPOSURE.columns, inclusive_equals))


def test_names_left_out_follow_the_title():
    named = LATE_PAYMENT.exposure
    assert named is not None and named.opening is not None
    assert (named.type_name, named.one, named.many, named.table) == (
        "LatePayment",
        "latePayment",
        "latePayments",
        "late_payments",
    )
    assert named.opening.input == "OpenLatePaymentInput"


def test_names_given_stand():
    left_out = dataclasses.replace(EXPOSURE, many="deals", table="", opening=None)
    named = left_out.completed("Opportunity", OpportunityData)
    assert (named.type_name, named.one, named.many, named.table) == ("Opportunity", "opportunity", "deals", "deals")
    assert OPPORTUNITY.exposure is not None and OPPORTUNITY.exposure.table == "opportunities"


def test_mutations_left_unnamed_follow_the_trigger():
    sdl = schema.sdl()
    assert "extendTrial(input: ExtendTrialInput!): TrialResult!" in sdl
    assert "pauseTrial(input: TrialChangeInput!): TrialResult!" in sdl
    assert "startTrial(input: StartTrialInput!): TrialResult!" in sdl


def test_a_column_left_untyped_takes_its_data_field_type():
    assert TRIAL.exposure is not None
    columns = {c.name: c.type for c in TRIAL.exposure.columns}
    assert (columns["target"], columns["expires_at"], columns["expected_arr"]) == (TrialTarget, datetime, Money)


def test_a_column_not_read_from_its_data_field_declares_its_type():
    computed = Column[OpportunityData, OpportunityPolicy](name="stage_count", value=lambda p: 1)
    with pytest.raises(ValueError, match="column stage_count: not the data field of its name"):
        dataclasses.replace(EXPOSURE, columns=(*EXPOSURE.columns, computed)).completed("Opportunity", OpportunityData)
