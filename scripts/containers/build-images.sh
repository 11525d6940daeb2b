#!/usr/bin/env bash
# Build the service images backdrop/<service>:<tag> from deploy/docker/Dockerfile.
#
#   scripts/containers/build-images.sh                 # auth gateway upload sweeper worker
#   scripts/containers/build-images.sh worker          # just one
#
# Steps: engine check -> base image (base-image.sh, only if missing) -> host wheels
# (wheels.sh) -> docker build --build-arg SERVICE=... --build-arg BASE_IMAGE=...
# Env: BASE_IMAGE (default backdrop/python-base:bookworm; with a registry, python:3.11-slim),
#      BACKDROP_IMAGE_TAG (default dev), SKIP_WHEELS=1, DOCKER_BUILD_ARGS (extra, e.g. --no-cache).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_IMAGE="${BASE_IMAGE:-$BACKDROP_BASE_IMAGE}"
services=("$@")
[ "${#services[@]}" -gt 0 ] || services=(auth gateway upload sweeper worker)

require_engine
if [ "$BASE_IMAGE" = "$BACKDROP_BASE_IMAGE" ]; then
    "$REPO_ROOT/scripts/containers/base-image.sh"
fi
# The engine here (Debian docker.io 20.10) comes without buildx: use the classic builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

if [ "${SKIP_WHEELS:-0}" != 1 ]; then
    "$REPO_ROOT/scripts/containers/wheels.sh" "${services[@]}"
fi

quiet_build() {
    # Context on stdin: only what this service's build COPYs (not every wheel set).
    # shellcheck disable=SC2086
    tar -C "$REPO_ROOT" -c deploy/docker .run/wheels/common ".run/wheels/$svc" \
    | docker build -q --force-rm -f deploy/docker/Dockerfile \
        --build-arg SERVICE="$svc" --build-arg BASE_IMAGE="$BASE_IMAGE" \
        ${DOCKER_BUILD_ARGS:-} "$@" - >/dev/null \
        2> >(grep -v -e 'DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' \
                -e 'Install the buildx component' -e '^ *environment-variable\.$' \
                -e 'https://docs.docker.com/go/buildx' -e '^ *$' >&2)
}

declare -A took
for svc in "${services[@]}"; do
    tag="backdrop/$svc:$BACKDROP_IMAGE_TAG"
    t0=$(now_s)
    log "docker build $tag (BASE_IMAGE=$BASE_IMAGE)"
    if [ "${DOCKER_BUILDKIT:-1}" = 0 ]; then
        # Classic builder: tag the last build stage too, so its chain (the cache of the
        # dependency layers) survives the pruning of superseded images below.
        quiet_build --target app -t "$tag-build" || die "docker build --target app $tag failed"
    fi
    quiet_build -t "$tag" \
        || die "docker build $tag failed (rerun: docker build -f deploy/docker/Dockerfile --build-arg SERVICE=$svc --build-arg BASE_IMAGE=$BASE_IMAGE .)"
    took[$svc]="$(elapsed "$t0")"
done
# Superseded builds of ours only (untagged + our labels); never anyone else's images.
docker image prune -f --filter label=io.backdrop.service >/dev/null 2>&1 || true
for svc in "${services[@]}"; do
    tag="backdrop/$svc:$BACKDROP_IMAGE_TAG"
    printf '%-28s %6s MB  built in %ss\n' "$tag" \
        "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f", $1/1e6}')" "${took[$svc]}"
done
