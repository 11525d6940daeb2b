#!/usr/bin/env bash
# The container test path, end to end, on a fresh machine or a warm one:
#   engine -> base image -> service image(s) -> infra stand-ins -> prove each starts and answers.
#
#   scripts/containers/smoke.sh                  # all five service images + stand-ins
#   SMOKE_SERVICES=worker SMOKE_COMPOSE=0 scripts/containers/smoke.sh
#   SMOKE_STACK=1 scripts/containers/smoke.sh    # + the whole stack via docker-compose
#                                                #   (.yml + .local.yml), every service healthy
#
# Everything it starts is named backdrop-smoke-<pid>-* and removed on exit; published
# ports are random, on 127.0.0.1 only. The engine stays up (engine-stop.sh stops it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE_SERVICES="${SMOKE_SERVICES:-auth gateway upload sweeper worker}"
SMOKE_STACK="${SMOKE_STACK:-0}"
SMOKE_COMPOSE="${SMOKE_COMPOSE:-1}"
P="backdrop-smoke-$$"
containers=(); volumes=(); compose_up=0
failures=0

cleanup() {
    set +e
    [ "${#containers[@]}" -gt 0 ] && docker rm -f "${containers[@]}" >/dev/null 2>&1
    [ "${#volumes[@]}" -gt 0 ] && docker volume rm "${volumes[@]}" >/dev/null 2>&1
    if [ "$compose_up" = 1 ]; then
        dc down -v --remove-orphans >/dev/null 2>&1
    fi
}
trap cleanup EXIT

ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; failures=$((failures + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

wait_healthy() {  # wait_healthy CONTAINER [TIMEOUT]
    local c="$1" timeout="${2:-60}" s start; start=$(date +%s)
    while :; do
        s="$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null || echo gone)"
        [ "$s" = healthy ] && return 0
        if [ "$s" = gone ] || [ "$(docker inspect -f '{{.State.Running}}' "$c")" != true ] \
            || [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
            log "$c is '$s'; last log lines:"; docker logs --tail 20 "$c" >&2 2>&1; return 1
        fi
        sleep 0.5
    done
}
host_port() { docker port "$1" "$2" | head -n1 | sed 's/.*://'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

declare -a timings
step() {  # step NAME CMD... : run and time
    local name="$1" t0; shift; t0=$(now_s)
    "$@" || die "$name failed"
    timings+=("$(printf '%-34s %6ss' "$name" "$(elapsed "$t0")")")
}

T0=$(now_s)
step "engine" "$REPO_ROOT/scripts/containers/engine.sh"
step "base image" "$REPO_ROOT/scripts/containers/base-image.sh"
# shellcheck disable=SC2086
step "service images ($SMOKE_SERVICES)" "$REPO_ROOT/scripts/containers/build-images.sh" $SMOKE_SERVICES
step "infra images" "$REPO_ROOT/scripts/containers/infra-images.sh"
t_checks=$(now_s)

echo "== service images"
for svc in $SMOKE_SERVICES; do
    img="backdrop/$svc:$BACKDROP_IMAGE_TAG"
    mod="$(case $svc in auth) echo auth_service;; upload) echo upload_service;; *) echo "$svc";; esac)"
    check "$img imports backdrop_common, $mod, psycopg2, redis, boto3 as non-root on 3.11" \
        docker run --rm "$img" python -c "
import os, sys, backdrop_common, $mod, psycopg2, redis, boto3
assert os.getuid() != 0, 'runs as root'
assert sys.version_info[:2] == (3, 11), sys.version"
done
if [[ " $SMOKE_SERVICES " == *" worker "* ]]; then
    check "backdrop/worker imports PIL (pillow)" \
        docker run --rm "backdrop/worker:$BACKDROP_IMAGE_TAG" python -c "import worker, PIL.Image"
fi
# PID 1 and signals, with a throwaway WSGI app (the services' factories may not exist yet):
# gunicorn must be PID 1, pass the image's HEALTHCHECK, and stop gracefully on SIGTERM.
first="$(echo "$SMOKE_SERVICES" | awk '{print $1}')"
c="$P-pid1"; containers+=("$c")
docker run -d --name "$c" -e BACKDROP_PORT=8080 "backdrop/$first:$BACKDROP_IMAGE_TAG" sh -c '
printf "def app(environ, start_response):\n    start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\")])\n    return [b\"ok\"]\n" >/tmp/smokeapp.py
exec gunicorn --chdir /tmp --bind 0.0.0.0:8080 --workers 2 smokeapp:app' >/dev/null
sleep 2
check "gunicorn is PID 1" sh -c "docker exec $c cat /proc/1/cmdline | tr '\0' ' ' | grep -q gunicorn"
check "entrypoint healthcheck passes on /healthz" docker exec "$c" /bin/sh /usr/local/bin/backdrop-entrypoint healthcheck
t_stop=$(now_s); docker stop -t 20 "$c" >/dev/null
stop_s="$(elapsed "$t_stop")"
check "docker stop: graceful exit 0 in ${stop_s}s (< 5s)" sh -c \
    "[ \"\$(docker inspect -f '{{.State.ExitCode}}' $c)\" = 0 ] && awk 'BEGIN{exit !($stop_s < 5)}'"

echo "== postgres stand-in"
c="$P-postgres"; containers+=("$c")
docker run -d --name "$c" -e POSTGRES_USER=backdrop -e POSTGRES_PASSWORD=smoke \
    -e POSTGRES_DB=backdrop -p 127.0.0.1::5432 backdrop/local-postgres:15 >/dev/null
check "healthy (pg_isready)" wait_healthy "$c" 60
port="$(host_port "$c" 5432)"
if command -v pg_isready >/dev/null; then
    check "pg_isready -h 127.0.0.1 -p $port" pg_isready -q -h 127.0.0.1 -p "$port"
fi
check "SQL over TCP with a password (scram)" sh -c \
    "docker exec -e PGPASSWORD=smoke $c psql -h 127.0.0.1 -U backdrop -d backdrop -tAc 'show server_version' | grep -q '^15\.'"

echo "== redis stand-in"
c="$P-redis"; v="$P-redisdata"; containers+=("$c"); volumes+=("$v")
docker run -d --name "$c" -v "$v:/data" -p 127.0.0.1::6379 backdrop/local-redis:7 >/dev/null
check "healthy (redis-cli ping)" wait_healthy "$c" 30
port="$(host_port "$c" 6379)"
check "PING over TCP from the host (:$port)" bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'PING\r\n' >&3 && read -r l <&3 && [ \"\${l%$'\r'}\" = +PONG ]"
check "appendonly is on" sh -c "docker exec $c redis-cli config get appendonly | tail -n1 | grep -qx yes"
docker exec "$c" redis-cli set backdrop:smoke persisted >/dev/null
sleep 1.2   # appendfsync everysec
docker restart -t 10 "$c" >/dev/null
wait_healthy "$c" 30 >/dev/null || true
check "a key survives a restart (AOF on the volume)" sh -c \
    "[ \"\$(docker exec $c redis-cli get backdrop:smoke)\" = persisted ]"

echo "== S3 stand-in (moto_server)"
c="$P-s3"; containers+=("$c")
docker run -d --name "$c" -p 127.0.0.1::9000 backdrop/local-s3:moto >/dev/null
check "healthy" wait_healthy "$c" 60
port="$(host_port "$c" 9000)"; s3="http://127.0.0.1:$port"
check "GET / (ListBuckets) answers 200 on :$port" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $s3/)\" = 200 ]"
# SigV4-signed by curl (objects are private: moto answers 403 to anonymous GETs).
sig="--aws-sigv4 aws:amz:us-east-1:s3 --user backdrop:backdrop-secret"
check "create bucket, PUT and GET an object (SigV4)" sh -c "
    curl -sf $sig -X PUT $s3/backdrop-smoke >/dev/null &&
    curl -sf $sig -X PUT -H 'Content-Type: application/octet-stream' --data-binary 'hello backdrop' $s3/backdrop-smoke/k.txt >/dev/null &&
    [ \"\$(curl -sf $sig $s3/backdrop-smoke/k.txt)\" = 'hello backdrop' ]"

if [ "$SMOKE_COMPOSE" = 1 ]; then
    echo "== docker-compose.yml + docker-compose.local.yml (infrastructure only)"
    # Production mode: the compose files require real secrets; throw-away ones here.
    envf="$REPO_ROOT/.run/smoke.env"
    ( umask 077; printf '%s\n' "BACKDROP_SECRET_KEY=$(openssl rand -hex 32)" \
        "POSTGRES_PASSWORD=$(openssl rand -hex 16)" "BACKDROP_S3_SECRET_KEY=$(openssl rand -hex 24)" \
        "BACKDROP_S3_ACCESS_KEY=backdrop" >"$envf" )
    dc() { (cd "$REPO_ROOT" && docker-compose -p "$P" --env-file "$envf" -f docker-compose.yml \
        -f docker-compose.local.yml "$@"); }
    check "compose files validate (base, base+local)" sh -c "cd '$REPO_ROOT' &&
        docker-compose --env-file '$envf' -f docker-compose.yml config -q &&
        docker-compose --env-file '$envf' -f docker-compose.yml -f docker-compose.local.yml config -q"
    compose_up=1
    export S3_PORT; S3_PORT="$(free_port)"
    export GATEWAY_PORT; GATEWAY_PORT="$(free_port)"
    stack=(postgres redis minio migrate); healthy=(postgres redis minio)
    if [ "$SMOKE_STACK" = 1 ]; then stack=(); healthy+=(auth upload sweeper gateway worker); fi
    if dc up -d --no-build "${stack[@]}" >"$REPO_ROOT/.run/smoke-compose.log" 2>&1; then
        ok "compose up ${stack[*]:-(everything)}"
        for svc in "${healthy[@]}"; do
            check "compose $svc healthy" wait_healthy "${P}_${svc}_1" 90
        done
        check "migrate (schemas + bucket) exited 0, bucket exists" sh -c "
            docker wait ${P}_migrate_1 | grep -qx 0 &&
            [ \"\$(curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user backdrop:\$(sed -n 's/^BACKDROP_S3_SECRET_KEY=//p' $envf) -o /dev/null -w '%{http_code}' -I http://127.0.0.1:$S3_PORT/backdrop)\" = 200 ]"
        if [ "$SMOKE_STACK" = 1 ]; then
            check "gateway answers /readyz on 127.0.0.1:$GATEWAY_PORT" \
                curl -sf -m 5 -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/readyz"
        fi
    else
        bad "compose up (see .run/smoke-compose.log)"; tail -n 20 "$REPO_ROOT/.run/smoke-compose.log" >&2
    fi
fi
timings+=("$(printf '%-34s %6ss' "checks" "$(elapsed "$t_checks")")")

echo "== timings"
printf '  %s\n' "${timings[@]}"
printf '  %-34s %6ss\n' "total" "$(elapsed "$T0")"
echo "== image sizes"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^backdrop/' | sort | sed 's/^/  /'
[ "$failures" = 0 ] || die "$failures check(s) failed"
echo "container smoke: all checks passed"
