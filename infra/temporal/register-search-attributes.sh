#!/bin/sh
# Registers the custom search attributes the lifecycle workflows set (see
# workflows/engine/visibility.py). Safe to run again: existing ones are skipped.
set -eu
address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do sleep 1; done
until temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
  temporal operator namespace create --address "$address" --namespace "$namespace" >/dev/null 2>&1 || sleep 1
done
for attribute in LifecycleKind:Keyword LifecycleState:Keyword LifecycleOwner:Keyword LifecycleAccount:Keyword NextDeadline:Datetime; do
  name="${attribute%%:*}"; type="${attribute##*:}"
  temporal operator search-attribute create --address "$address" --namespace "$namespace" \
    --name "$name" --type "$type" >/dev/null 2>&1 || echo "search attribute $name exists"
done
echo "search attributes registered"
