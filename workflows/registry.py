"""Every lifecycle the service runs: its spec and its workflow class, by kind."""

from __future__ import annotations

from workflows.engine.spec import LifecycleSpec
from workflows.engine.workflow import LifecycleWorkflow
from workflows.handover import HANDOVER, HandoverWorkflow
from workflows.late_payment import LATE_PAYMENT, LatePaymentWorkflow
from workflows.opportunity import OPPORTUNITY, OpportunityWorkflow
from workflows.renewal import RENEWAL, RenewalWorkflow
from workflows.trial import TRIAL, TrialWorkflow

WORKFLOWS: dict[str, type[LifecycleWorkflow]] = {
    OPPORTUNITY.kind: OpportunityWorkflow,
    TRIAL.kind: TrialWorkflow,
    LATE_PAYMENT.kind: LatePaymentWorkflow,
    HANDOVER.kind: HandoverWorkflow,
    RENEWAL.kind: RenewalWorkflow,
}

SPECS: dict[str, LifecycleSpec] = {kind: wf.spec for kind, wf in WORKFLOWS.items()}
