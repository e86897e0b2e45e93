"""The GraphQL operations the CLI sends: the public API, nothing else."""

LIST = """
query List($kind: String, $filter: LifecycleFilter, $orderBy: LifecycleOrder!, $first: Int!, $after: String) {
  lifecycles(kind: $kind, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { kind id stateName terminal owner accountId summary version nextDeadline updatedAt }
  }
}"""

SHOW = """
query Show($kind: String!, $id: ID!) {
  lifecycle(kind: $kind, id: $id) {
    __typename
    ... on NotFound { message }
    ... on GenericLifecycle {
      kind id workflowId stateName terminal owner accountId summary version
      openedAt stateEnteredAt updatedAt closedAt data
      deadlines { timer trigger dueAt description }
      availableTransitions { trigger toState description requiredRole allowed unmet params }
      effects { name type status attempts lastError createdAt deliveredAt recipients }
    }
  }
}"""

HISTORY = """
query History($kind: String!, $id: ID!, $first: Int!, $after: String) {
  lifecycle(kind: $kind, id: $id) {
    __typename
    ... on NotFound { message }
    ... on GenericLifecycle {
      history(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { seq trigger fromState toState actor reason at params idempotencyKey }
      }
    }
  }
}"""

FIRE = """
mutation Fire($kind: String!, $id: ID!, $trigger: String!, $params: JSON, $reason: String, $key: String) {
  fireLifecycleTrigger(kind: $kind, id: $id, trigger: $trigger, params: $params, reason: $reason,
                       idempotencyKey: $key) {
    __typename
    ... on LifecycleChanged {
      lifecycle { kind id stateName version terminal nextDeadline }
      transition { seq trigger fromState toState actor reason at params idempotencyKey }
    }
    ... on Error { message }
    ... on InvalidTransition { state allowed }
    ... on GuardFailed { unmet { guard message } }
    ... on ValidationError { fields { field message } }
    ... on Forbidden { requiredRole }
  }
}"""

MACHINE = """
query Machine($kind: String!) {
  lifecycleMachine(kind: $kind) {
    __typename
    ... on NotFound { message }
    ... on LifecycleMachine {
      kind title description mermaid
      states { name terminal description }
      transitions { trigger fromStates toState requiredRole description guards { name } effects { name } }
      timers { name trigger states description }
    }
  }
}"""
