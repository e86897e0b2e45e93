"""GraphQL documents the API tests share."""

# Every mutation's result union holds its kind's ``...Changed`` member and these refusals.
REFUSALS = """
  ... on Error { message }
  ... on InvalidTransition { state allowed }
  ... on GuardFailed { unmet { guard message } }
  ... on ValidationError { fields { field message } }
  ... on Forbidden { requiredRole }
"""


def mutation(name: str, input_type: str, changed: str) -> str:
    """The mutation ``name``, selecting ``changed`` (its ``...Changed`` member) and every refusal."""
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {changed} {REFUSALS} }} }}"
