"""Loan: a demo device lent to a prospect, shipped, then returned or written off.

The lifecycle the walkthrough in ``docs/adding-a-lifecycle.md`` adds: this one file,
beside the built-in ones, is the whole of it.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workflows.engine.exposure import Column, Exposure, Match, Opening, account_id_column
from workflows.engine.spec import (
    Context,
    LifecycleSpec,
    Params,
    StateSpec,
    TimerSpec,
    TransitionSpec,
    notify,
    owner,
    reason_required,
)
from workflows.engine.values import Account, ShortText
from workflows.engine.workflow import lifecycle_workflow


class LoanState(enum.StrEnum):
    """Where a loaned device is."""

    REQUESTED = "REQUESTED"
    SHIPPED = "SHIPPED"
    RETURNED = "RETURNED"
    LOST = "LOST"


class LoanData(BaseModel):
    account: Account
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    previous_owners: list[str] = Field(default_factory=list)
    device: ShortText = Field(description="What is lent, as the prospect will see it.")
    return_by: AwareDatetime = Field(description="When the device is due back.")
    tracking_number: str | None = None


class LoanPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminder_before_return: timedelta = Field(timedelta(days=2), gt=timedelta(0))


class ShipParams(Params):
    tracking_number: ShortText


Ctx = Context[LoanData, LoanPolicy]


def _ship(ctx: Context[LoanData, LoanPolicy, ShipParams]) -> None:
    ctx.data.tracking_number = ctx.params.tracking_number


def _reminder_due(ctx: Ctx) -> datetime:
    return ctx.data.return_by - ctx.policy.reminder_before_return


LOAN = LifecycleSpec(
    kind="loan",
    title="Loan",
    description="A demo device lent to a prospect: shipped, then returned or written off.",
    states=(
        StateSpec(LoanState.REQUESTED, "The prospect asked for a device."),
        StateSpec(LoanState.SHIPPED, "The device is with the prospect."),
        StateSpec(LoanState.RETURNED, "The device is back.", terminal=True),
        StateSpec(LoanState.LOST, "The device is written off.", terminal=True),
    ),
    transitions=(
        TransitionSpec(
            trigger="ship",
            sources=(LoanState.REQUESTED,),
            dest=LoanState.SHIPPED,
            description="Ship the device, with its tracking number.",
            params=ShipParams,
            apply=_ship,
        ),
        TransitionSpec(
            trigger="record_return",
            sources=(LoanState.SHIPPED,),
            dest=LoanState.RETURNED,
            description="The device came back.",
        ),
        TransitionSpec(
            trigger="write_off",
            sources=(LoanState.SHIPPED,),
            dest=LoanState.LOST,
            description="The device will not come back; say why.",
            guards=(reason_required("Say why the device is written off."),),
        ),
    ),
    timers=(
        TimerSpec(
            name="return_reminder",
            states=(LoanState.SHIPPED,),
            due=_reminder_due,
            description="Before the return date, by the policy's lead time: remind the owner",
            effects=(
                notify(
                    "return_reminder",
                    "Remind the owner to collect the device.",
                    to=owner,
                    subject=lambda ctx: f"{ctx.data.device} is due back from {ctx.data.account.name}",
                    body=lambda ctx: f"It is due back on {ctx.data.return_by.date().isoformat()}.",
                ),
            ),
        ),
    ),
    data_model=LoanData,
    policy_model=LoanPolicy,
    summary_of=lambda data: f"{data.device} for {data.account.name}",
    exposure=Exposure[LoanData, LoanPolicy](
        description="A demo device lent to a prospect.",
        states=LoanState,
        columns=(
            account_id_column(),
            Column(
                name="return_by",
                match=Match.RANGE,
                filter_names=("dueAfter", "dueBefore"),
                orderable=True,
            ),
        ),
        default_order="RETURN_BY_ASC",
        opening=Opening(
            name="openLoan",
            fields=("account", "owner", "device", "return_by"),
            description="Lend a device to a prospect.",
            id_prefix="loan",
        ),
    ),
)


LoanWorkflow = lifecycle_workflow(LOAN)
