#!/usr/bin/env bash
# Build the wheel sets that the image builds install from (the images cannot reach PyPI).
#
#   scripts/containers/wheels.sh worker [auth gateway upload ...]   # workspace services
#   scripts/containers/wheels.sh moto                                # S3 stand-in (infra)
#
# Output, per NAME, under .run/wheels/NAME/ (the Docker build context allows only this):
#   deps/requirements.txt   pinned third-party requirements, from uv.lock (markers kept)
#   deps/*.whl              exactly those, for the TARGET interpreter, not the host's
#   deps/TARGET             e.g. "cp311 x86_64"; the Dockerfile checks its Python against it
#   local/*.whl             the workspace members (backdrop-common + backdrop-NAME)
# Third-party wheels are re-downloaded only when requirements.txt changes; local wheels are
# rebuilt every time (hatchling wheels are reproducible, so Docker's layer cache still hits).
#
# Env: BACKDROP_PYTHON_VERSION (default 3.11: Debian bookworm's python3 and python:3.11-slim),
#      UV_EXPORT_LOCK_FLAG (default --locked: fail on a stale uv.lock; never rewrites it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYV="${BACKDROP_PYTHON_VERSION:-3.11}"
PYTAG="cp${PYV/./}"
case "$(uname -m)" in
    x86_64|amd64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
esac
LOCK_FLAG="${UV_EXPORT_LOCK_FLAG:---locked}"
WHEELS_ROOT="$REPO_ROOT/.run/wheels"

[ "$#" -gt 0 ] || die "usage: $0 SERVICE|moto ..."
command -v uv >/dev/null || die "uv not found (pip install uv)"

# pip for `pip download`: the host's, else a small venv seeded by uv.
if python3 -m pip --version >/dev/null 2>&1; then
    PIP=(python3 -m pip)
else
    [ -x "$REPO_ROOT/.run/pip-venv/bin/pip" ] || uv venv -q --seed "$REPO_ROOT/.run/pip-venv"
    PIP=("$REPO_ROOT/.run/pip-venv/bin/python" -m pip)
fi
PY_FOR_TOOLS=("${PIP[0]}")
[ "${PIP[0]}" = python3 ] || PY_FOR_TOOLS=("$REPO_ROOT/.run/pip-venv/bin/python")

# Platforms the target image accepts: manylinux up to glibc 2.36 (bookworm).
PLATFORM_ARGS=(--platform "manylinux2014_$ARCH")
for minor in $(seq 17 36); do PLATFORM_ARGS+=(--platform "manylinux_2_${minor}_$ARCH"); done

# Requirements for the download: markers evaluated for the TARGET interpreter (any 3.11.z,
# so e.g. `async-timeout; python_full_version < '3.11.3'` is fetched for Debian's 3.11.2
# even on a 3.11.7 host), then dropped. The image's requirements.txt keeps the markers.
target_requirements() {
    "${PY_FOR_TOOLS[@]}" - "$PYV" "$ARCH" "$1" <<'PY'
import sys
try:
    from packaging.markers import Marker
except ImportError:
    from pip._vendor.packaging.markers import Marker
pyv, arch, path = sys.argv[1:]
envs = [dict(python_version=pyv, python_full_version=f"{pyv}.{z}", sys_platform="linux",
             platform_system="Linux", platform_machine=arch, os_name="posix",
             implementation_name="cpython", platform_python_implementation="CPython",
             implementation_version=f"{pyv}.{z}", extra="") for z in (0, 2, 99)]
for line in open(path):
    line = line.strip()
    if not line or line.startswith(("#", "-")):
        continue
    req, _, marker = line.partition(";")
    if not marker.strip() or any(Marker(marker.strip()).evaluate(e) for e in envs):
        print(req.strip())
PY
}

# download_deps NAME REQUIREMENTS_FILE
download_deps() {
    local name="$1" reqs="$2" deps="$WHEELS_ROOT/$1/deps"
    if [ -f "$deps/.complete" ] && cmp -s "$reqs" "$deps/requirements.txt" \
        && [ "$(cat "$deps/TARGET" 2>/dev/null)" = "$PYTAG $ARCH" ]; then
        log "$name: third-party wheels up to date ($(ls "$deps"/*.whl | wc -l) wheels)"
        return 0
    fi
    rm -rf "$deps"; mkdir -p "$deps"
    local t0; t0=$(now_s)
    target_requirements "$reqs" >"$deps/.download.txt"
    # --no-deps: the list is already the full pinned closure from uv.lock, and it lets pip
    # fetch the few sdist-only packages (e.g. psycogreen) despite the --platform flags.
    "${PIP[@]}" download -q --no-deps --prefer-binary -d "$deps" \
        --python-version "$PYV" --implementation cp --abi "$PYTAG" --abi abi3 --abi none \
        "${PLATFORM_ARGS[@]}" -r "$deps/.download.txt" \
        || die "$name: pip download failed"
    # sdists -> wheels on the host. Pure-Python ones become py3-none-any (fine for any
    # 3.x); one with C code would be tagged for the host's Python, which the image's
    # install then rejects loudly if it differs.
    local sd
    for sd in "$deps"/*.tar.gz "$deps"/*.zip; do
        [ -e "$sd" ] || continue
        "${PIP[@]}" wheel -q --no-deps -w "$deps" "$sd" || die "$name: cannot build a wheel from $sd"
        rm -f "$sd"
    done
    for sd in "$deps"/*.whl; do
        case "$sd" in
            *-py3-none-any.whl|*-py2.py3-none-any.whl|*-"$PYTAG"-*|*-abi3-*|*-none-any.whl) ;;
            *) log "WARNING: $name: $(basename "$sd") may not install on $PYTAG" ;;
        esac
    done
    cp "$reqs" "$deps/requirements.txt"
    echo "$PYTAG $ARCH" >"$deps/TARGET"
    rm -f "$deps/.download.txt"; touch "$deps/.complete"
    log "$name: downloaded $(ls "$deps"/*.whl | wc -l) wheels for $PYTAG/$ARCH in $(elapsed "$t0")s"
}

for name in "$@"; do
    mkdir -p "$WHEELS_ROOT/$name"
    tmpreq="$(mktemp)"
    case "$name" in
        auth|gateway|upload|worker)
            pkg="backdrop-$name"
            (cd "$REPO_ROOT" && uv export -q --package "$pkg" "$LOCK_FLAG" --no-dev --no-hashes \
                --no-emit-workspace --no-header --no-annotate --format requirements-txt) >"$tmpreq" \
                || die "$name: uv export failed (stale uv.lock? run 'uv lock')"
            download_deps "$name" "$tmpreq"
            t0=$(now_s)
            local_dir="$WHEELS_ROOT/$name/local"
            rm -rf "$local_dir"; mkdir -p "$local_dir"
            for member in backdrop-common "$pkg"; do
                (cd "$REPO_ROOT" && uv build -q --wheel --package "$member" -o "$local_dir") \
                    || die "$name: uv build --package $member failed"
            done
            rm -f "$local_dir/.gitignore"
            log "$name: built $(cd "$local_dir" && echo *.whl) in $(elapsed "$t0")s"
            ;;
        moto)
            # The S3 stand-in: moto[server] at the version uv.lock pins for the dev group,
            # with its dependencies constrained to uv.lock's versions too.
            cons="$(mktemp)"
            (cd "$REPO_ROOT" && uv export -q "$LOCK_FLAG" --all-packages --all-groups --no-hashes \
                --no-emit-workspace --no-header --no-annotate --format requirements-txt) >"$cons"
            moto_pin="$(grep -E '^moto(\[[^]]*\])?==' "$cons" | head -n1 | sed -E 's/^moto(\[[^]]*\])?==([^ ;]+).*/\2/')"
            [ -n "$moto_pin" ] || die "moto is not in uv.lock"
            echo "moto[server]==$moto_pin" >"$tmpreq.in"
            uv pip compile -q --no-header --no-annotate --python-version "$PYV" \
                --python-platform "$ARCH-manylinux_2_36" -c "$cons" "$tmpreq.in" -o "$tmpreq" \
                || die "moto: uv pip compile failed"
            rm -f "$cons" "$tmpreq.in"
            download_deps moto "$tmpreq"
            ;;
        *) die "unknown wheel set '$name' (auth|gateway|upload|worker|moto)" ;;
    esac
    rm -f "$tmpreq"
done
