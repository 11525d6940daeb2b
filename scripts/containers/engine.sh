#!/usr/bin/env bash
# Install (if missing) and start a Docker engine (if none answers). Idempotent.
#
#   scripts/containers/engine.sh            # start, wait until `docker info` works
#   ENGINE_TIMEOUT=120 scripts/containers/engine.sh
#
# Env: BACKDROP_DOCKER_RUN_DIR (default .run/docker): dockerd.pid, dockerd.log live there.
#      ENGINE_TIMEOUT (seconds, default 60).
# Stop with scripts/containers/engine-stop.sh (only stops an engine this script started).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENGINE_TIMEOUT="${ENGINE_TIMEOUT:-60}"
PIDFILE="$BACKDROP_DOCKER_RUN_DIR/dockerd.pid"
LOGFILE="$BACKDROP_DOCKER_RUN_DIR/dockerd.log"

if engine_up; then
    log "Docker engine already answering"
    exit 0
fi

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
    # docker.io brings dockerd + containerd + runc; docker-compose is the v1 tool
    # (also validates compose files without an engine: docker-compose -f F config -q).
    apt_install docker.io docker-compose
fi
command -v dockerd >/dev/null || die "dockerd still not found after apt-get install docker.io"

mkdir -p "$BACKDROP_DOCKER_RUN_DIR"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "dockerd (pid $(cat "$PIDFILE")) is running but not answering yet; waiting"
else
    rm -f "$PIDFILE"
    log "starting dockerd (log: $LOGFILE)"
    # The ulimits are required here: this root lacks CAP_SYS_RESOURCE, and containers fail
    # to start when dockerd tries to raise nofile/nproc for them.
    # setsid: own session, so the engine outlives the calling shell/job.
    setsid dockerd \
        --pidfile "$PIDFILE" \
        --default-ulimit nofile=1024:1024 \
        --default-ulimit nproc=1024:1024 \
        >>"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$BACKDROP_DOCKER_RUN_DIR/dockerd.launcher.pid"
fi

start=$(date +%s)
until engine_up; do
    if [ $(( $(date +%s) - start )) -ge "$ENGINE_TIMEOUT" ]; then
        log "last lines of $LOGFILE:"
        tail -n 30 "$LOGFILE" >&2 || true
        die "Docker engine did not answer within ${ENGINE_TIMEOUT}s"
    fi
    if [ -f "$BACKDROP_DOCKER_RUN_DIR/dockerd.launcher.pid" ] \
        && ! kill -0 "$(cat "$BACKDROP_DOCKER_RUN_DIR/dockerd.launcher.pid")" 2>/dev/null \
        && ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
        log "last lines of $LOGFILE:"
        tail -n 30 "$LOGFILE" >&2 || true
        die "dockerd exited during start-up"
    fi
    sleep 0.5
done
rm -f "$BACKDROP_DOCKER_RUN_DIR/dockerd.launcher.pid"
log "Docker engine up after $(( $(date +%s) - start ))s (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
