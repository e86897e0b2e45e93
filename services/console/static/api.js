// The console's only way to the service: the public GraphQL API with the caller's bearer token.
// The token lives in sessionStorage (this tab, this session), never in a URL.

const TOKEN_KEY = "lifecycles.console.token";
const NOTICE_KEY = "lifecycles.console.notice";

export class SignedOut extends Error {}

export class ApiError extends Error {
  constructor(message, code = null) {
    super(message);
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function signOut(notice = null) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (notice) sessionStorage.setItem(NOTICE_KEY, notice);
}

export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  return notice;
}

const REJECTED_TOKEN = "Your token was not accepted: it is invalid or has expired. Sign in again.";

// Top-level GraphQL errors in words: the API gives each a code and a sentence.
function errorWords(errors) {
  const first = errors[0] || {};
  const code = first.extensions?.code;
  if (code === "UNAUTHENTICATED") return [REJECTED_TOKEN, code];
  if (code === "FORBIDDEN") return [`Forbidden: ${first.message}`, code];
  if (code === "GRAPHQL_VALIDATION_FAILED") {
    return ["The service does not understand this page's request (is the console older than the API?).", code];
  }
  if (code === "INTERNAL_SERVER_ERROR") return ["The service failed unexpectedly; try again in a moment.", code];
  return [first.message || "The request was refused.", code];
}

export async function gql(query, variables = {}) {
  const bearer = token();
  if (!bearer) throw new SignedOut("Sign in to continue.");
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The service did not answer; check the connection and try again.", "UNREACHABLE");
  }
  if (response.status === 401) {
    signOut(REJECTED_TOKEN);
    throw new SignedOut(REJECTED_TOKEN);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The service answered with HTTP ${response.status} and no readable body.`, "HTTP");
  }
  if (body.errors?.length) {
    const [message, code] = errorWords(body.errors);
    if (code === "UNAUTHENTICATED") {
      signOut(message);
      throw new SignedOut(message);
    }
    throw new ApiError(message, code);
  }
  return body.data;
}

// What every mutation answer may be, as the generic LifecycleResult union has it.
export const OUTCOME = `
  __typename
  ... on LifecycleChanged { lifecycle { id kind stateName version } transition { seq trigger toState } }
  ... on Error { message }
  ... on GuardFailed { unmet { guard message } }
  ... on ValidationError { fields { field message } }
  ... on InvalidTransition { state allowed }
  ... on Forbidden { requiredRole }
  ... on IdempotencyKeyReused { originalTrigger }
`;

const FIRE = `mutation Fire($kind: String!, $id: ID!, $trigger: String!, $params: JSON, $reason: String,
  $idempotencyKey: String) {
  fireLifecycleTrigger(kind: $kind, id: $id, trigger: $trigger, params: $params, reason: $reason,
    idempotencyKey: $idempotencyKey) { ${OUTCOME} }
}`;

// Fire any trigger; the answer is LifecycleChanged or a typed refusal (never thrown).
export async function fire(kind, id, trigger, params, reason, idempotencyKey) {
  const data = await gql(FIRE, {
    kind,
    id,
    trigger,
    params: params ?? null,
    reason: reason || null,
    idempotencyKey: idempotencyKey || null,
  });
  return data.fireLifecycleTrigger;
}

// A typed refusal in words, for a person.
export function refusalWords(result) {
  switch (result.__typename) {
    case "LifecycleChanged":
      return "";
    case "Forbidden":
      return `Forbidden: ${result.message}`;
    case "GuardFailed":
      return result.unmet.length
        ? `Not yet: ${result.unmet.map((u) => u.message.replace(/\.?$/, ".")).join(" ")}`
        : result.message;
    case "InvalidTransition":
      return result.allowed.length
        ? `${result.message} From here: ${result.allowed.map(humanize).join(", ")}.`
        : result.message;
    case "ValidationError":
      return result.fields.length
        ? `${result.message} ${result.fields.map((f) => `${fieldLabel(f.field)}: ${f.message}`).join("; ")}.`
        : result.message;
    case "IdempotencyKeyReused":
      return `${result.message} (it was used for ${humanize(result.originalTrigger)}).`;
    default:
      return result.message || "The request was refused.";
  }
}

export function fieldLabel(path) {
  const last = path.split(".").pop();
  return humanize(last);
}

export function humanize(name) {
  if (!name) return "";
  const words = String(name)
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export const ROLE_RANK = { VIEWER: 0, OPERATOR: 1, ADMIN: 2, SYSTEM: 3 };

export function may(role, required) {
  return ROLE_RANK[role] >= ROLE_RANK[required] && required !== "SYSTEM";
}
