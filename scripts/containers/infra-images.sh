#!/usr/bin/env bash
# Build the local infrastructure stand-ins (for machines that cannot pull postgres/redis/minio):
#   backdrop/local-postgres:15   deploy/docker/infra/postgres.Dockerfile (Debian postgresql-15)
#   backdrop/local-redis:7       deploy/docker/infra/redis.Dockerfile    (Debian redis-server 7.0, AOF on)
#   backdrop/local-s3:moto       deploy/docker/infra/moto.Dockerfile     (moto_server on :9000)
#
#   scripts/containers/infra-images.sh [postgres] [redis] [moto]     # default: all three
# Env: BASE_IMAGE (default backdrop/python-base:bookworm), DOCKER_BUILD_ARGS, SKIP_WHEELS=1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_IMAGE="${BASE_IMAGE:-$BACKDROP_BASE_IMAGE}"
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=(postgres redis moto)

require_engine
[ "$BASE_IMAGE" = "$BACKDROP_BASE_IMAGE" ] && "$REPO_ROOT/scripts/containers/base-image.sh"
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

tag_of() {
    case "$1" in
        postgres) echo backdrop/local-postgres:15 ;;
        redis) echo backdrop/local-redis:7 ;;
        moto) echo backdrop/local-s3:moto ;;
        *) die "unknown stand-in '$1' (postgres|redis|moto)" ;;
    esac
}

declare -A took
for name in "${names[@]}"; do
    tag="$(tag_of "$name")"
    if [ "$name" = moto ] && [ "${SKIP_WHEELS:-0}" != 1 ]; then
        "$REPO_ROOT/scripts/containers/wheels.sh" moto
    fi
    t0=$(now_s)
    log "docker build $tag"
    ctx=(deploy/docker/infra); [ "$name" = moto ] && ctx+=(.run/wheels/moto)
    # shellcheck disable=SC2086
    tar -C "$REPO_ROOT" -c "${ctx[@]}" \
    | docker build -q --force-rm -f "deploy/docker/infra/$name.Dockerfile" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" ${DOCKER_BUILD_ARGS:-} -t "$tag" - >/dev/null \
        2> >(grep -v -e 'DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' \
                -e '^ *environment-variable\.$' -e 'Install the buildx component' \
                -e 'https://docs.docker.com/go/buildx' -e '^ *$' -e 'debconf: delaying package configuration' >&2) \
        || die "docker build $tag failed"
    took[$name]="$(elapsed "$t0")"
done
for name in "${names[@]}"; do
    tag="$(tag_of "$name")"
    printf '%-28s %6s MB  built in %ss\n' "$tag" \
        "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f", $1/1e6}')" "${took[$name]}"
done
