import httpx
from services.api import create_app

async def test_api(local_stack, entity_id):
    app = create_app(local_stack.settings, client=local_stack.client)
    async with app.router.lifespan_context(app) as state:
        async def asgi(scope, receive, send):
            scope["state"] = dict(state)
            await app(scope, receive, send)
        transport = httpx.ASGITransport(app=asgi)
        # starlette passes state via scope; ASGITransport + lifespan state requires manual
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/graphql", json={"query": "{ lifecycleMachines { kind } }"})
            print(r.status_code, r.text)
            r = await c.get("/graphql", headers={"accept": "text/html"})
            print(r.status_code, r.text[:100])
            H={"authorization": "Bearer operator-token-0123456789"}
            q='''mutation($i: OpenOpportunityInput!){ openOpportunity(input:$i){ __typename ... on OpportunityChanged { opportunity { id stage arrDiscounted deadlines { timer dueAt } availableTransitions { trigger toState allowed unmet } } transition { seq trigger actor } } ... on ValidationError { fields { field message } } } }'''
            r = await c.post("/graphql", json={"query": q, "variables": {"i": {"id": entity_id, "name":"Deal","account":{"id":"acme","name":"ACME"},"closeDate":"2026-03-01","amount":"50000"}}}, headers=H)
            print(r.status_code, r.text[:3000])
            r = await c.post("/graphql", json={"query": q, "variables": {"i": {"id": entity_id+"x", "name":"Deal","account":{"id":"acme","name":"ACME"},"closeDate":"2026-13-01","amount":"-5", "recordType": "FOO"}}}, headers=H)
            print(r.status_code, r.text[:3000])
