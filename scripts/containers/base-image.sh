#!/usr/bin/env bash
# Build the local base image (default backdrop/python-base:bookworm) if it is missing.
# Needed where no image registry can be reached: Dockerfiles take it as
# `--build-arg BASE_IMAGE=backdrop/python-base:bookworm` instead of python:3.11-slim.
#
#   scripts/containers/base-image.sh            # build only if missing
#   BASE_FORCE=1 scripts/containers/base-image.sh   # rebuild
#
# Contents: Debian bookworm minbase + python3 (3.11, what the code targets), python3-venv
# (ensurepip: the build stage needs `python3 -m venv` with pip), ca-certificates, netbase.
# Docs/man pages are excluded, apt never installs recommends, apt lists are dropped (run
# `apt-get update` before `apt-get install` in Dockerfiles built FROM it).
# Env: BACKDROP_BASE_IMAGE, DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      BASE_UPGRADE=1 (default) applies bookworm-updates/-security at build time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
BASE_UPGRADE="${BASE_UPGRADE:-1}"
INCLUDE="python3,python3-venv,ca-certificates,netbase"

require_engine
if [ "${BASE_FORCE:-0}" != 1 ] && docker image inspect "$BACKDROP_BASE_IMAGE" >/dev/null 2>&1; then
    log "$BACKDROP_BASE_IMAGE exists (BASE_FORCE=1 to rebuild)"
    exit 0
fi
command -v debootstrap >/dev/null || apt_install debootstrap

ROOTFS="$REPO_ROOT/.run/base-rootfs"
cleanup() {
    # debootstrap may leave /proc or /sys mounted inside the rootfs on failure.
    for m in proc sys dev/pts dev; do
        mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m" || true
    done
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT
cleanup
mkdir -p "$ROOTFS"

t0=$(now_s)
log "debootstrap --variant=minbase --include=$INCLUDE bookworm ($DEBIAN_MIRROR)"
mkdir -p "$REPO_ROOT/.run/debootstrap-cache"
debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$REPO_ROOT/.run/debootstrap-cache" \
    bookworm "$ROOTFS" "$DEBIAN_MIRROR" \
    >"$REPO_ROOT/.run/debootstrap.log" 2>&1 \
    || { tail -n 30 "$REPO_ROOT/.run/debootstrap.log" >&2; die "debootstrap failed (log: .run/debootstrap.log)"; }
log "debootstrap took $(elapsed "$t0")s"

# Same sources as the official debian:bookworm image.
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# Keep later apt installs small (as the official slim images do).
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-backdrop-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
cat >"$ROOTFS/etc/apt/apt.conf.d/01-backdrop-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
CFG

# Package installs in image builds must not try to start daemons (postgres, redis).
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"

if [ "$BASE_UPGRADE" = 1 ]; then
    t1=$(now_s)
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get -y -qq upgrade' >>"$REPO_ROOT/.run/debootstrap.log" 2>&1 \
        || { tail -n 20 "$REPO_ROOT/.run/debootstrap.log" >&2; die "apt-get upgrade in the rootfs failed"; }
    : >"$ROOTFS/etc/resolv.conf"
    log "security/updates upgrade took $(elapsed "$t1")s"
fi

# Trim what dpkg.cfg would have excluded had it existed during debootstrap.
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
find "$ROOTFS/usr/lib/python3"* -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

py_version="$(chroot "$ROOTFS" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
t2=$(now_s)
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' \
    -c "LABEL org.opencontainers.image.title=backdrop-python-base org.opencontainers.image.base.name=debian:bookworm-minbase io.backdrop.python.version=$py_version" \
    -m "debootstrap minbase bookworm + $INCLUDE" \
    - "$BACKDROP_BASE_IMAGE" >/dev/null
log "docker import took $(elapsed "$t2")s"
log "built $BACKDROP_BASE_IMAGE (python $py_version, $(docker image inspect -f '{{.Size}}' "$BACKDROP_BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')) in $(elapsed "$t0")s"
