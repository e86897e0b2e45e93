"""The activities lifecycle workflows call: the read-model projection and effect delivery."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.channels import PermanentDeliveryError
from services.effects import EffectDispatcher
from services.metrics import WORKER_METRICS
from services.projection import Projector
from workflows.engine.types import DeliverEffectInput, ProjectionBatch
from workflows.engine.workflow import DELIVER_ACTIVITY, PROJECT_ACTIVITY


class LifecycleActivities:
    def __init__(self, projector: Projector, dispatcher: EffectDispatcher) -> None:
        self.projector = projector
        self.dispatcher = dispatcher

    @activity.defn(name=PROJECT_ACTIVITY)
    async def project_lifecycle(self, batch: ProjectionBatch) -> None:
        """Write a lifecycle's snapshot, transitions and effects; safe to repeat."""
        inline = activity.info().is_local
        try:
            fresh = await self.projector.write(batch)
        except BaseException:
            WORKER_METRICS.projection_failed(batch, inline=inline)
            raise
        WORKER_METRICS.projected(batch, fresh, inline=inline)

    @activity.defn(name=DELIVER_ACTIVITY)
    async def deliver_effect(self, input: DeliverEffectInput) -> None:
        try:
            # A heartbeat before each channel lets Temporal notice a dead worker within the
            # heartbeat timeout instead of the whole delivery's.
            await self.dispatcher.deliver(input.effect_id, activity.info().attempt, on_channel=activity.heartbeat)
        except PermanentDeliveryError as exc:
            raise ApplicationError(str(exc), type="PermanentDeliveryError", non_retryable=True) from exc
