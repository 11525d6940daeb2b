# shellcheck shell=bash
# Shared helpers for scripts/containers/*.sh (sourced, not executed).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where the engine's pid/log live (only for an engine that engine.sh started).
BACKDROP_DOCKER_RUN_DIR="${BACKDROP_DOCKER_RUN_DIR:-$REPO_ROOT/.run/docker}"
# Local base image built by base-image.sh (no registry on this machine).
BACKDROP_BASE_IMAGE="${BACKDROP_BASE_IMAGE:-backdrop/python-base:bookworm}"
BACKDROP_IMAGE_TAG="${BACKDROP_IMAGE_TAG:-dev}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

_APT_UPDATED=0
# apt_install PKG...: installs only what is missing; runs `apt-get update` at most once.
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    if [ "$_APT_UPDATED" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        _APT_UPDATED=1
    fi
    log "apt-get install -y ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine_up() { docker info >/dev/null 2>&1; }
require_engine() {
    engine_up || die "no Docker engine answers (run scripts/containers/engine.sh first)"
}
# now_s: seconds with decimals, for timings.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }
