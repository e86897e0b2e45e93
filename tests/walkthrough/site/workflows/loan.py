"""Loan: a demo device lent to a prospect, shipped, then returned or written off.

The lifecycle the walkthrough in ``docs/adding-a-lifecycle.md`` adds: this one file,
beside the built-in ones, is the whole of it.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workflows.engine import vocabulary as lc


class LoanState(enum.StrEnum):
    """Where a loaned device is."""

    REQUESTED = "REQUESTED"
    SHIPPED = "SHIPPED"
    RETURNED = "RETURNED"
    LOST = "LOST"


class LoanData(BaseModel):
    account: lc.Account
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    previous_owners: list[str] = Field(default_factory=list)
    device: lc.ShortText = Field(description="What is lent, as the prospect will see it.")
    return_by: AwareDatetime = Field(description="When the device is due back.")
    tracking_number: str | None = None


class LoanPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminder_before_return: timedelta = Field(timedelta(days=2), gt=timedelta(0))


class ShipParams(lc.Params):
    tracking_number: lc.ShortText


Ctx = lc.Context[LoanData, LoanPolicy]


def _ship(ctx: lc.Context[LoanData, LoanPolicy, ShipParams]) -> None:
    ctx.data.tracking_number = ctx.params.tracking_number


def _reminder_due(ctx: Ctx) -> datetime:
    return ctx.data.return_by - ctx.policy.reminder_before_return


LOAN = lc.LifecycleSpec(
    "loan",
    "Loan",
    "A demo device lent to a prospect: shipped, then returned or written off.",
    states=(
        lc.StateSpec(LoanState.REQUESTED, "The prospect asked for a device."),
        lc.StateSpec(LoanState.SHIPPED, "The device is with the prospect."),
        lc.StateSpec(LoanState.RETURNED, "The device is back.", terminal=True),
        lc.StateSpec(LoanState.LOST, "The device is written off.", terminal=True),
    ),
    transitions=(
        lc.TransitionSpec(
            "ship",
            (LoanState.REQUESTED,),
            LoanState.SHIPPED,
            "Ship the device, with its tracking number.",
            params=ShipParams,
            apply=_ship,
        ),
        lc.TransitionSpec("record_return", (LoanState.SHIPPED,), LoanState.RETURNED, "The device came back."),
        lc.TransitionSpec(
            "write_off",
            (LoanState.SHIPPED,),
            LoanState.LOST,
            "The device will not come back; say why.",
            guards=(lc.reason_required("Say why the device is written off."),),
        ),
    ),
    timers=(
        lc.TimerSpec(
            "return_reminder",
            (LoanState.SHIPPED,),
            _reminder_due,
            "Before the return date, by the policy's lead time: remind the owner",
            effects=(
                lc.notify(
                    "return_reminder",
                    "Remind the owner to collect the device.",
                    to=lc.owner,
                    subject=lambda ctx: f"{ctx.data.device} is due back from {ctx.data.account.name}",
                    body=lambda ctx: f"It is due back on {ctx.data.return_by.date().isoformat()}.",
                ),
            ),
        ),
    ),
    data_model=LoanData,
    policy_model=LoanPolicy,
    summary_of=lambda data: f"{data.device} for {data.account.name}",
    exposure=lc.Exposure[LoanData, LoanPolicy](
        description="A demo device lent to a prospect.",
        states=LoanState,
        columns=(
            lc.account_id_column(),
            lc.Column("return_by", match=lc.Match.RANGE, filter_names=("dueAfter", "dueBefore"), orderable=True),
        ),
        default_order="RETURN_BY_ASC",
        opening=lc.Opening(
            name="openLoan",
            fields=("account", "owner", "device", "return_by"),
            description="Lend a device to a prospect.",
            id_prefix="loan",
        ),
    ),
)


LoanWorkflow = lc.lifecycle_workflow(LOAN)
