#!/usr/bin/env bash
# `make test-containers`: the container path end to end, then torn down.
#
#   1. Docker engine (installed and started if needed; stopped at the end only if started here)
#   2. static checks, no engine needed: deploy/k8s (kustomize render + schema), compose files
#   3. images: local base image, the five service images (host wheels), infra stand-ins
#   4. the stack: docker-compose.yml + docker-compose.local.yml, project backdrop-ci, gateway on
#      127.0.0.1:28080, S3 on 127.0.0.1:29000, production mode with generated secrets,
#      worker lease 6 s (a killed worker's job is taken over after ~9 s)
#   5. tests-e2e/tests against the gateway (the same black-box suite as `make test-e2e`)
#   6. tests-e2e/containers: kill a worker mid-job, restart the gateway
#   7. docker-compose down -v (also on failure or Ctrl-C), timings, image sizes
#
# Env: BACKDROP_CI_PROJECT (backdrop-ci), BACKDROP_CI_GATEWAY_PORT (28080),
#      BACKDROP_CI_S3_PORT (29000), PYTEST_ARGS (for both pytest runs),
#      KEEP_STACK=1 (leave the stack up for debugging; `docker-compose -p backdrop-ci ... down -v`).
# Logs of a failed run: .run/containers-ci/compose.log
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROJECT="${BACKDROP_CI_PROJECT:-backdrop-ci}"
GATEWAY_PORT="${BACKDROP_CI_GATEWAY_PORT:-28080}"
S3_PORT="${BACKDROP_CI_S3_PORT:-29000}"
RUN="$REPO_ROOT/.run/containers-ci"
VENV="$REPO_ROOT/.venv"
K8S_TOOLS="$REPO_ROOT/.run/tools/k8s"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
BACKDROP_URL="http://127.0.0.1:$GATEWAY_PORT"
mkdir -p "$RUN"
cd "$REPO_ROOT"

[ -x "$VENV/bin/pytest" ] || die "no .venv (run make install)"

declare -a timings
failed=()
engine_started=0
stack_up=0
T0=$(now_s)

step() {  # step NAME CMD...: run, time, remember a failure (and go on)
    local name="$1" t0 rc; shift
    printf '\n=== %s\n' "$name"
    t0=$(now_s)
    set +e; "$@"; rc=$?; set -e
    timings+=("$(printf '%-40s %7ss  %s' "$name" "$(elapsed "$t0")" "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
    [ $rc = 0 ] || failed+=("$name")
    return $rc
}

compose() {
    "${COMPOSE[@]}" -p "$PROJECT" --env-file "$RUN/ci.env" \
        -f docker-compose.yml -f docker-compose.local.yml "$@"
}

report() {
    echo
    echo "=== timings"
    printf '  %s\n' "${timings[@]}"
    printf '  %-40s %7ss\n' "total" "$(elapsed "$T0")"
    if engine_up; then
        echo "=== images"
        docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
            | grep -E '^backdrop/[a-z0-9-]+:(dev|bookworm|15|7|moto) ' | sort | sed 's/^/  /'
    fi
}

teardown() {
    local rc=$?
    set +e
    if [ "$stack_up" = 1 ]; then
        if [ "${#failed[@]}" -gt 0 ] || [ "$rc" != 0 ]; then
            compose ps >"$RUN/compose.log" 2>&1
            compose logs --no-color --tail 200 >>"$RUN/compose.log" 2>&1
            log "container logs saved in $RUN/compose.log"
            # CI keeps only what is printed: the whole run's warnings of the services that
            # serve tasks, which the last 200 lines per service may no longer hold.
            log "warnings and errors of gateway, upload and worker (last 100):"
            compose logs --no-color gateway upload worker 2>&1 \
                | grep -iE '"level": ?"(warning|error|critical)"|\[(warning|error|critical)\]|Traceback' \
                | tail -100 || true
        fi
        if [ "${KEEP_STACK:-0}" = 1 ]; then
            log "KEEP_STACK=1: the stack stays up (project $PROJECT)"
        else
            local t0; t0=$(now_s)
            compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 \
                || log "WARNING: compose down failed"
            local left
            left="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"; \
                    docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")"
            if [ -n "$left" ]; then
                log "ERROR: left behind by $PROJECT: $(echo "$left" | tr '\n' ' ')"
                failed+=("teardown")
            fi
            timings+=("$(printf '%-40s %7ss' "teardown (down -v)" "$(elapsed "$t0")")")
        fi
    fi
    report
    if [ "$engine_started" = 1 ] && [ "${KEEP_STACK:-0}" != 1 ]; then
        "$REPO_ROOT/scripts/containers/engine-stop.sh"
    fi
    if [ "${#failed[@]}" -gt 0 ]; then
        log "FAILED: ${failed[*]}"
        exit 1
    fi
    [ "$rc" = 0 ] && echo "make test-containers: all passed"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. engine and tools
start_engine() {
    if engine_up; then
        log "a Docker engine already answers: using it (it stays up afterwards)"
    else
        "$REPO_ROOT/scripts/containers/engine.sh" || return 1
        engine_started=1
    fi
    if command -v docker-compose >/dev/null; then
        COMPOSE=(docker-compose)
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    else
        apt_install docker-compose && COMPOSE=(docker-compose)
    fi
}
step "engine" start_engine || exit 1

k8s_tools() {
    [ -x "$K8S_TOOLS/bin/kubernetes-validate" ] && return 0
    local uv; uv="$(command -v uv || echo "$HOME/.local/bin/uv")"
    [ -x "$uv" ] || die "uv not found (make install installs it)"
    "$uv" venv -q "$K8S_TOOLS" && "$uv" pip install -q --python "$K8S_TOOLS/bin/python" "$KUBERNETES_VALIDATE"
}

# ---------------------------------------------------------------- 2. static checks
static_checks() {
    k8s_tools || return 1
    # shellcheck disable=SC2086
    BACKDROP_K8S_VALIDATE="$K8S_TOOLS/bin/kubernetes-validate" \
        "$VENV/bin/pytest" deploy/tests tests-e2e/containers/test_compose_config.py -q \
        -p no:cacheprovider ${PYTEST_ARGS:-}
}
step "static: k8s manifests, compose files" static_checks || true

# ---------------------------------------------------------------- 3. images
step "base image" scripts/containers/base-image.sh || exit 1
step "service images (wheels + build)" scripts/containers/build-images.sh || exit 1
step "infra images (postgres, redis, moto)" scripts/containers/infra-images.sh || exit 1

# ---------------------------------------------------------------- 4. the stack
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
METRICS_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
stack() {
    umask 077
    # Fresh secrets every run; production mode, so they must not be placeholders.
    cat >"$RUN/ci.env" <<EOF
BACKDROP_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
BACKDROP_DB_AUTH_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
BACKDROP_DB_TASKS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
BACKDROP_S3_ACCESS_KEY=backdrop-ci
BACKDROP_S3_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
BACKDROP_METRICS_TOKEN=$METRICS_TOKEN
BACKDROP_PUBLIC_URL=$BACKDROP_URL
BACKDROP_S3_PUBLIC_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
BACKDROP_PUBLISH_ADDRESS=127.0.0.1
GATEWAY_PORT=$GATEWAY_PORT
S3_PORT=$S3_PORT
BACKDROP_WORKER_LEASE_SECONDS=6
BACKDROP_HEALTH_INTERVAL=2s
BACKDROP_LOG_LEVEL=INFO
# Every test client reaches the stack through docker's port proxy: one address for the whole
# suite, so the per-address limits (sign-ups, and failed logins the fuzzer makes) are lifted.
BACKDROP_REGISTER_MAX_PER_IP=100000
BACKDROP_REGISTER_MAX_GLOBAL_PER_MINUTE=100000
BACKDROP_LOGIN_MAX_FAILURES_PER_IP=100000
BACKDROP_REFRESH_REUSE_GRACE_S=1
EOF
    # A run that was killed may have left its project behind: ours to remove.
    compose down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    for p in "$GATEWAY_PORT" "$S3_PORT"; do
        port_free "$p" || die "127.0.0.1:$p is taken by something else (BACKDROP_CI_*_PORT to move)"
    done
    stack_up=1
    compose up -d --no-build >"$RUN/up.log" 2>&1 || { cat "$RUN/up.log"; return 1; }
    local start; start=$(date +%s)
    until curl -sf -m 3 -o /dev/null "$BACKDROP_URL/readyz"; do
        if [ $(( $(date +%s) - start )) -ge 180 ]; then
            compose ps; return 1
        fi
        sleep 0.5
    done
    compose ps
}
step "stack up (until gateway /readyz)" stack || exit 1

# ---------------------------------------------------------------- 5, 6. the tests
e2e() {
    # shellcheck disable=SC2086
    (cd tests-e2e && BACKDROP_URL="$BACKDROP_URL" BACKDROP_METRICS_TOKEN="$METRICS_TOKEN" \
        ../.venv/bin/pytest tests -q \
        -p no:cacheprovider ${PYTEST_ARGS:-})
}
containers() {
    # shellcheck disable=SC2086
    BACKDROP_URL="$BACKDROP_URL" BACKDROP_COMPOSE_PROJECT="$PROJECT" "$VENV/bin/pytest" \
        tests-e2e/containers -q -rs -p no:cacheprovider \
        --ignore=tests-e2e/containers/test_compose_config.py ${PYTEST_ARGS:-}
}
step "tests-e2e/tests (black box)" e2e || true
step "tests-e2e/containers (kill, restart)" containers || true
