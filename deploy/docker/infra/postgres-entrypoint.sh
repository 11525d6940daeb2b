#!/bin/sh
# Entry point of the local PostgreSQL stand-in (postgres.Dockerfile): initialises PGDATA on
# first start, the way the official postgres image does for the common variables, then
# execs postgres as PID 1.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi
[ "$#" -gt 0 ] && shift

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    auth="${POSTGRES_HOST_AUTH_METHOD:-}"
    if [ -z "$auth" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ]; then
            echo "postgres-entrypoint: set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
            exit 1
        fi
        auth=scram-sha-256
    fi
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    pwarg=""
    [ -n "${POSTGRES_PASSWORD:-}" ] && pwarg="--pwfile=$pwfile"
    # shellcheck disable=SC2086
    initdb -D "$PGDATA" -U "$user" $pwarg --auth-local=trust --auth-host="$auth" \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\";" \
            | postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialised $PGDATA (user $user, database $db, host auth $auth)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c jit=off "$@"
