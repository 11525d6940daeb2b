#!/usr/bin/env bash
# Stop the Docker engine, by pid, only if scripts/containers/engine.sh started it
# (i.e. its pid file exists under BACKDROP_DOCKER_RUN_DIR and names a live dockerd).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$BACKDROP_DOCKER_RUN_DIR/dockerd.pid"
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"

if [ ! -f "$PIDFILE" ]; then
    log "no $PIDFILE: engine not started by engine.sh, leaving it alone"
    exit 0
fi
pid="$(cat "$PIDFILE")"
if ! kill -0 "$pid" 2>/dev/null; then
    log "dockerd pid $pid not running; removing stale pid file"
    rm -f "$PIDFILE"
    exit 0
fi
if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q dockerd; then
    die "pid $pid is not dockerd; refusing to kill it (remove $PIDFILE if stale)"
fi
log "stopping dockerd pid $pid"
kill -TERM "$pid"
for _ in $(seq $(( STOP_TIMEOUT * 2 ))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; exit 0; }
    sleep 0.5
done
log "dockerd did not stop in ${STOP_TIMEOUT}s; sending KILL"
kill -KILL "$pid" 2>/dev/null || true
rm -f "$PIDFILE"
