#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and the S3 stand-in answer on loopback, starting each only if
# it does not answer already (safe to run any number of times, also on a fresh machine).
#   scripts/infra.sh [S3_PORT]    (default 9000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
s3_port=${1:-9000}
run_dir="$root/.run/infra"
mkdir -p "$run_dir"

wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "infra: $what did not come up" >&2; return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "infra: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "infra: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/backdrop.log
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

if ! curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; then
  echo "infra: starting the S3 stand-in (moto) on port $s3_port"
  nohup "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" \
    >"$run_dir/moto-$s3_port.log" 2>&1 &
  echo $! >"$run_dir/moto-$s3_port.pid"
  wait_for "S3 stand-in" curl -s -o /dev/null "http://127.0.0.1:$s3_port/"
fi
