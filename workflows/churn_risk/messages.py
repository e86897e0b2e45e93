"""What the churn-risk lifecycle tells people (004:11485-11505, 004:11588).

Templates only: every field is computed by ``message_values`` in the spec from the
instance and its pinned policy, so an overridden deadline changes what people read.
"""

from __future__ import annotations

from workflows.engine.messages import Message

FLAGGED_OWNER = Message(
    "Churn risk: {account}",
    "{account} is at risk of churning ({reasons}). Hold a recovery call {recovery_call_within} "
    "(by {recovery_call_due}).",
)

FLAGGED_CHANNEL = Message("{account} flagged at risk", "Flagged for: {reasons}. Owner: {owner}.")

REASON_ADDED = Message("Another churn-risk reason for {account}", "{account} is now at risk for: {reasons}.")

RECOVERY_CALL_OVERDUE = Message(
    "No recovery call with {account} yet",
    "{account} was flagged at risk on {flagged_on} and no recovery call is recorded within "
    "{recovery_call_window}. Owner: {owner}.",
)

STATUS_NOTE_REQUESTED = Message(
    "At-risk review: a status note for {account}",
    "The at-risk review meets every {review_every}: record where the recovery of {account} stands "
    "(plan: {scenario}; {strategy}).",
)

CHURNED = Message(
    "{account} churned",
    "{account} churned ({reasons}). The churn retro is due {retro_within} (by {retro_due}); post it here.",
)
