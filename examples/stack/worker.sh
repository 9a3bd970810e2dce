#!/bin/sh
# The stack's worker: a job loop. Each job takes a number from redis (INCR)
# and writes it as a row in PostgreSQL. When either is gone it exits 1, and
# its supervisor starts it again after a delay: the worker knows nothing of
# retries. PGHOST, PGUSER and PGDATABASE come from the supervisor's config.
echo "worker: up"
psql=${PG_BIN:-/usr/lib/postgresql/15/bin}/psql
while :; do
    n=$(redis-cli -h 127.0.0.1 -p 6379 INCR stack:jobs) || exit 1
    case $n in ''|*[!0-9]*) echo "worker: redis answered: $n"; exit 1;; esac
    "$psql" -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO jobs (n) VALUES ($n)" || exit 1
    sleep 0.2
done
