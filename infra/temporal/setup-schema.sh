#!/bin/sh
# Creates Temporal's two databases and brings their schemas to this release's version:
# what the deprecated temporalio/auto-setup image did at every start, done here once by
# a job (admin-tools image) before the server (temporalio/server image) starts. Safe to
# run again: existing databases are kept, update-schema applies only missing versions.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
schemas=/etc/temporal/schema/postgresql/v12
until nc -z "$POSTGRES_SEEDS" "$port"; do sleep 1; done
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"; }
for database in temporal:temporal temporal_visibility:visibility; do
  name="${database%%:*}"; schema="${database##*:}"
  sql --db "$name" create >/dev/null 2>&1 || echo "database $name exists"
  sql --db "$name" setup-schema -v 0.0 >/dev/null 2>&1 || echo "schema of $name is set up already"
  sql --db "$name" update-schema -d "$schemas/$schema/versioned"
done
echo "Temporal schemas are up to date"
