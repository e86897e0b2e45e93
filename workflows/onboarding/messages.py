"""What an onboarding tells its owner, the team lead and the churn channel (004:9700-9734,
004:12700, 004:12753, 004:11588).

Templates only: every field is computed by ``message_values`` in the spec from the
onboarding and its pinned policy, so a policy override changes the text.
"""

from __future__ import annotations

from workflows.engine.messages import Message

ONBOARDING_OPENED = Message(
    "Onboarding {account}: plan due by {plan_due_on}",
    "{account} ({track}, ARR {arr}) is yours to onboard. Send the onboarding plan within {plan_within}, by "
    "{plan_due_on}: how to manage billing and credits, the check-in cadence ({cadence}) and training for the "
    "champion and others.",
)

PLAN_REMINDER = Message(
    "Onboarding plan due: {account}",
    "The onboarding plan for {account} is due by {plan_due_on}: billing and credits, the check-in cadence "
    "({cadence}) and training.",
)

PLAN_OVERDUE = Message(
    "Onboarding plan overdue: {account} ({owner})",
    "{owner} has not sent the onboarding plan for {account}; it was due by {plan_due_on}.",
)

CHECK_IN_MISSED = Message(
    "Check-in missed: {account}",
    "No check-in with {account} recorded since {last_check_in_on}; the cadence is {cadence}. Hold one and record it.",
)

ONBOARDING_STALLED = Message(
    "Onboarding stalled: {account} ({owner})",
    "{owner} missed {missed} check-ins in a row with {account} (cadence {cadence}, last on {last_check_in_on}). "
    "Help re-engage the customer.",
)

CHURN_RETRO_DUE = Message(
    "Churned during onboarding: {account}",
    "{account} churned ({churn_reason}). Hold the churn retro within {retro_within}, by {retro_due_on}.",
)

HANDOVER_DUE = Message(
    "Onboarding complete: {account}",
    "{account} is onboarded to {onboarded}. Post-onboarding: retention, expansion and cross-sell.",
)
