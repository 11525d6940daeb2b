#!/bin/sh
# Entry point of every Backdrop service image (deploy/docker/Dockerfile, Dockerfile.source).
#
#   (no arguments)   run the service named by BACKDROP_SERVICE (set at build time)
#   healthcheck [P]  GET http://127.0.0.1:$BACKDROP_PORT$P (default /healthz), exit 0 on 2xx
#   migrate          one-shot: every schema migration + the bucket (backdrop-migrate.py);
#                    run it from the auth image, which also carries the auth schema
#   port             print the service's port
#   CMD ARGS...      run something else in the image (backdrop-auth create-admin, python ...)
#
# Ports: BACKDROP_PORT (default from the table; gateway 8080, auth 8081, upload 8082,
# sweeper 8083, worker 9100). HTTP services listen on GUNICORN_BIND (default
# 0.0.0.0:$BACKDROP_PORT); the worker and the sweeper serve /healthz, /readyz, /metrics on
# BACKDROP_WORKER_HEALTH_PORT / BACKDROP_SWEEPER_HEALTH_PORT (default $BACKDROP_PORT).
# Set BACKDROP_PORT rather than those, so the healthcheck follows.
#
# Always `exec`s, never forks: the service is PID 1 and receives SIGTERM from `docker stop` /
# Kubernetes directly (gunicorn: graceful shutdown; it also reaps its own workers).
set -eu

service="${BACKDROP_SERVICE:?BACKDROP_SERVICE is not set}"

# The one per-service table: app factory (HTTP services) and default port.
case "$service" in
    gateway) app="gateway.app:create_app()";        default_port=8080 ;;
    auth)    app="auth_service.app:create_app()";   default_port=8081 ;;
    upload)  app="upload_service.app:create_app()"; default_port=8082 ;;
    sweeper) app="";                                default_port=8083 ;;  # health endpoint only
    worker)  app="";                                default_port=9100 ;;  # health endpoint only
    *) echo "backdrop-entrypoint: unknown BACKDROP_SERVICE '$service'" >&2; exit 64 ;;
esac
case "$service" in
    worker)
        # worker.settings reads BACKDROP_WORKER_HEALTH_PORT (/healthz, /readyz, /metrics);
        # its health server binds 127.0.0.1 by default, unreachable by outside probes.
        BACKDROP_PORT="${BACKDROP_WORKER_HEALTH_PORT:-${BACKDROP_PORT:-$default_port}}"
        BACKDROP_WORKER_HEALTH_PORT="$BACKDROP_PORT"
        BACKDROP_WORKER_HEALTH_HOST="${BACKDROP_WORKER_HEALTH_HOST:-0.0.0.0}"
        export BACKDROP_WORKER_HEALTH_PORT BACKDROP_WORKER_HEALTH_HOST
        ;;
    sweeper)
        # sweeper.settings: the sweeper's health server binds 127.0.0.1 by default,
        # which probes from outside the container (Kubernetes) cannot reach.
        BACKDROP_PORT="${BACKDROP_SWEEPER_HEALTH_PORT:-${BACKDROP_PORT:-$default_port}}"
        BACKDROP_SWEEPER_HEALTH_PORT="$BACKDROP_PORT"
        BACKDROP_SWEEPER_HEALTH_HOST="${BACKDROP_SWEEPER_HEALTH_HOST:-0.0.0.0}"
        export BACKDROP_SWEEPER_HEALTH_PORT BACKDROP_SWEEPER_HEALTH_HOST
        ;;
    *)
        BACKDROP_PORT="${BACKDROP_PORT:-$default_port}"
        # backdrop_common.gunicorn_conf reads GUNICORN_BIND (its default, 127.0.0.1:8000, is
        # unreachable from outside a container): all interfaces of the container's namespace.
        GUNICORN_BIND="${GUNICORN_BIND:-0.0.0.0:$BACKDROP_PORT}"
        export GUNICORN_BIND
        ;;
esac
export BACKDROP_PORT

case "${1:-}" in
    healthcheck)
        exec python -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=4)' \
            "$BACKDROP_PORT" "${2:-/healthz}"
        ;;
    migrate)
        shift
        exec python /usr/local/lib/backdrop/backdrop-migrate.py "$@"
        ;;
    port)
        echo "$BACKDROP_PORT"; exit 0
        ;;
    "")
        ;;
    *)
        exec "$@"
        ;;
esac

if [ -n "$app" ]; then
    exec gunicorn -c python:backdrop_common.gunicorn_conf "$app"
fi
if [ "$service" = sweeper ]; then
    exec backdrop-sweeper
fi
# Handles SIGTERM/SIGINT itself: finishes running jobs (BACKDROP_WORKER_SHUTDOWN_GRACE_SECONDS).
exec backdrop-worker
