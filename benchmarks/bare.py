"""The bare limits: minimal workflows on the same server, run by a minimal worker.

They are not part of the service's registry; ``python -m benchmarks.bare`` runs them on
their own task queue in a process of their own (as the service's worker is), with the
SDK's defaults (sandboxed runner, default data converter and cache).

- ``BenchBare``: waits until finished; its update ``ping`` only returns. Used for the
  bare update (latency, throughput) and the bare start. Its update ``ping_local`` runs
  one local activity that does nothing before returning: the floor of any design that
  writes inside the update through a local activity, as the engine's projection does.
- ``BenchSleeper``: sleeps until a given moment and returns the time it woke up, as
  the workflow clock saw it (the same clock a lifecycle's timer transition records).
- ``BenchFiringFloor``: the same, then runs one activity that does nothing: the least a
  timer firing that changes state and delivers a notification needs (the timer's task,
  one delivery activity, the task that records its result). It returns the time it woke
  up, the moment a lifecycle records its timer transition as applied.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TASK_QUEUE = "bench-bare"


@activity.defn(name="BenchNothing")
async def nothing() -> None:
    return None


@workflow.defn(name="BenchBare")
class BareWorkflow:
    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    def ping(self) -> None:
        return None

    @workflow.update
    async def ping_local(self) -> None:
        await workflow.execute_local_activity(nothing, start_to_close_timeout=timedelta(seconds=5))

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@workflow.defn(name="BenchSleeper")
class SleeperWorkflow:
    @workflow.run
    async def run(self, due: str) -> str:
        delay = (datetime.fromisoformat(due) - workflow.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        return workflow.now().isoformat()


@workflow.defn(name="BenchFiringFloor")
class FiringFloorWorkflow:
    @workflow.run
    async def run(self, due: str) -> str:
        delay = (datetime.fromisoformat(due) - workflow.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        woke = workflow.now()
        await workflow.execute_activity(nothing, start_to_close_timeout=timedelta(seconds=30))
        return woke.isoformat()


async def serve(address: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[BareWorkflow, SleeperWorkflow, FiringFloorWorkflow],
        activities=[nothing],
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(os.environ["LIFECYCLES_TEMPORAL_ADDRESS"]))
