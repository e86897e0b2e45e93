"""What the churn-risk lifecycle tells people (004:11485-11505, 004:11588).

Templates only: every field is computed by ``message_values`` in the spec from the
instance and its pinned policy, so an overridden deadline changes what people read.
"""

from __future__ import annotations

from workflows.engine.messages import Message

FLAGGED_OWNER = Message(
    subject="Churn risk: {account}",
    body="{account} is at risk of churning ({reasons}). Hold a recovery call {recovery_call_within} "
    "(by {recovery_call_due}).",
)

FLAGGED_CHANNEL = Message(
    subject="{account} flagged at risk",
    body="Flagged for: {reasons}. Owner: {owner}.",
)

REASON_ADDED = Message(
    subject="Another churn-risk reason for {account}",
    body="{account} is now at risk for: {reasons}.",
)

RECOVERY_CALL_OVERDUE = Message(
    subject="No recovery call with {account} yet",
    body="{account} was flagged at risk on {flagged_on} and no recovery call is recorded within "
    "{recovery_call_window}. Owner: {owner}.",
)

STATUS_NOTE_REQUESTED = Message(
    subject="At-risk review: a status note for {account}",
    body="The at-risk review meets every {review_every}: record where the recovery of {account} stands "
    "(plan: {scenario}; {strategy}).",
)

CHURNED = Message(
    subject="{account} churned",
    body="{account} churned ({reasons}). The churn retro is due {retro_within} (by {retro_due}); post it here.",
)
