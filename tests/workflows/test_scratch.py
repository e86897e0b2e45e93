from datetime import timedelta

import sqlalchemy as sa

from services.models import EffectRow, TransitionRow
from tests.conftest import OPERATOR


async def test_scratch(ts_stack, time_skipping_env, entity_id):
    g = ts_stack.gateway
    res = await g.open(
        "opportunity",
        entity_id,
        {
            "name": "Deal",
            "account": {"id": "acme", "name": "ACME"},
            "owner": "alice@x.com",
            "close_date": "2026-03-01",
            "amount": "50000",
        },
        principal=OPERATOR,
    )
    print(res.transition, res.projected)
    r = await g.transition(
        "opportunity",
        entity_id,
        "record_criterion",
        {"stage": "PROBLEM_AGREEMENT", "criterion": "quantified_pain", "evidence": "x"},
        principal=OPERATOR,
        idempotency_key="k1",
    )
    print(r.transition)
    await time_skipping_env.sleep(timedelta(days=15))
    h = await g.history("opportunity", entity_id)
    for x in h:
        print(x.seq, x.trigger, x.actor, x.at)
    await time_skipping_env.sleep(timedelta(days=10))
    h = await g.history("opportunity", entity_id)
    for x in h:
        print(x.seq, x.trigger, x.actor, x.at, x.to_state)
    async with ts_stack.sessions() as s:
        rows = (await s.execute(sa.select(TransitionRow))).scalars().all()
        print(len(rows))
        effs = (await s.execute(sa.select(EffectRow))).scalars().all()
        for e in effs:
            print(e.id, e.status, e.name)
