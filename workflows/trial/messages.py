"""What a trial tells its owner, its customer and RevOps (004:9637, 004:11795-11833, 004:12855-12881).

Templates only: every field is computed by ``message_values`` in the spec from the
trial and its pinned policy, so an extension or a policy override changes the text.
"""

from __future__ import annotations

from workflows.engine.messages import Message

FEEDBACK_SESSION = Message(
    "Halfway through the trial: {organization}",
    "Schedule a feedback session to confirm the technical win and what else must happen before the trial "
    "ends on {expires_on}.",
)

WRAP_UP_CALL = Message(
    "Wrap-up call: {organization}",
    "The trial ends on {expires_on}. Check they have seen everything they need, and agree the next steps "
    "after the trial.",
)

CUSTOMER_EXPIRY_NOTICE = Message(
    "Your {target} trial ends on {expires_on}",
    "The {target} features of {organization} go back to the free plan on {expires_on} unless you subscribe "
    "before then.",
)

# What the owner may try is the handbook's (004:11799-11806).
OWNER_INACTIVITY_NUDGE = Message(
    "No activity in the trial of {organization}",
    "No customer activity recorded since {last_engaged_on}. Be proactive: dashboards tied to their KPIs, "
    'a Loom, or ask "Is this still a priority?"',
)

TEAM_LEAD_INACTIVITY_ALERT = Message(
    "Quiet trial: {organization} ({owner})",
    "No customer activity in the trial of {organization} since {last_engaged_on}; it ends on {expires_on}.",
)

REVOPS_CREATE_SUBSCRIPTION = Message(
    "Create the new subscription of {organization}",
    "The trial of {organization} ends on {expires_on}. Create their new subscription, update the billing "
    "admin, and confirm it here.",
)

REVOPS_PREPARE_BILLING = Message(
    "Trial for {organization}: existing paid subscription",
    "{organization} ({organization_id}) starts a {plan} trial until {expires_on}. Record each step when done: "
    "{provisioning_steps}.",
)

REVOPS_RESTORE_SUBSCRIPTION = Message(
    "Restore the paid subscription of {organization}",
    "The trial of {organization} is {state} and no new subscription was confirmed. Create it and update the "
    "billing admin so they are billed for their paid plan again.",
)

REVOPS_TRIAL_CONVERTED = Message(
    "Trial converted: {organization}",
    "{organization} subscribed to {plan} (subscription {subscription_id}). Remove the trial flag.",
)

TRIAL_EXPIRED = Message(
    "Trial expired: {organization}", "The {plan} trial of {organization} expired; it is back on the free plan."
)
