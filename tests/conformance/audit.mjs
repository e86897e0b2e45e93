// The GraphQL-over-HTTP conformance audit of the graphql-http package, against a running API.
// Usage: node audit.mjs <url> <bearer token>; prints one JSON line per audit:
// {"id", "name", "status": "ok" | "warn" | "error", "reason"}.
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchWithToken = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn: fetchWithToken });
for (const result of results) {
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status, reason: result.reason ?? null }));
}
