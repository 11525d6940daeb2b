#!/usr/bin/env bash
# Build the wheel sets that image builds install from: the images cannot reach PyPI (its
# TLS is not trusted inside containers here), and wheels derived from uv.lock make builds
# repeatable anywhere.
#
#   scripts/containers/wheels.sh worker [auth gateway upload ...]   # workspace services
#   scripts/containers/wheels.sh moto                                # S3 stand-in (infra)
#
# Layout under .run/wheels/ (the Docker build context lets only this in):
#   common/deps/            libs/common's third-party closure: one layer shared by all services
#   common/tools/pip.whl    pip, run from the wheel at build time (never installed in images)
#   <svc>/deps/             what <svc> needs beyond common (may be empty)
#   <svc>/local/            wheels of the workspace members libs/contract, libs/common and
#                           services/<svc>
#   moto/deps/, moto/tools/ the S3 stand-in
#   */deps/requirements.txt pinned lines from uv.lock, markers kept (pip evaluates them in the
#                           image); deps/TARGET e.g. "cp311 x86_64" (checked by the Dockerfiles)
#   _pool/<cpXY>-<arch>/    every downloaded wheel; the sets are hard links into it
# Wheels are fetched for the TARGET interpreter (--python-version/--platform), not the host's,
# once each (pool); a set is relinked only when its requirements change. Local wheels are
# rebuilt every time (hatchling wheels are reproducible, so Docker's cache still hits).
#
# Env: BACKDROP_PYTHON_VERSION (default 3.11: Debian bookworm's python3, python:3.11-slim),
#      UV_EXPORT_LOCK_FLAG (default --locked: fail on a stale uv.lock, never rewrite it).
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
POOL="$WHEELS_ROOT/_pool/$PYTAG-$ARCH"
HELPER="$REPO_ROOT/scripts/containers/wheelset.py"

[ "$#" -gt 0 ] || die "usage: $0 auth|gateway|upload|sweeper|worker|moto ..."
command -v uv >/dev/null || die "uv not found (pip install uv)"

# pip for `pip download`/`pip wheel`: the host's, else a small venv seeded by uv.
if python3 -m pip --version >/dev/null 2>&1; then
    PY=python3
else
    [ -x "$REPO_ROOT/.run/pip-venv/bin/python" ] || uv venv -q --seed "$REPO_ROOT/.run/pip-venv"
    PY="$REPO_ROOT/.run/pip-venv/bin/python"
fi
# This machine's pip config adds file:// indexes that do not exist: drop that noise only.
pip_() { "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

# manylinux up to glibc 2.36 (bookworm); abi3 for cryptography & co.
PLATFORM_ARGS=(--platform "manylinux2014_$ARCH")
for minor in $(seq 17 36); do PLATFORM_ARGS+=(--platform "manylinux_2_${minor}_$ARCH"); done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export_pkg() {  # export_pkg PACKAGE OUT
    (cd "$REPO_ROOT" && uv export -q --package "$1" "$LOCK_FLAG" --no-dev --no-hashes \
        --no-emit-workspace --no-header --no-annotate --format requirements-txt) >"$2" \
        || die "uv export --package $1 failed (stale uv.lock? run 'uv lock')"
}

# 1. Pinned requirements per set.
sets=(); services=()
for name in "$@"; do
    case "$name" in
        auth|gateway|upload|sweeper|worker) services+=("$name") ;;
        moto) ;;
        *) die "unknown wheel set '$name' (auth|gateway|upload|sweeper|worker|moto)" ;;
    esac
done
if [ "${#services[@]}" -gt 0 ]; then
    export_pkg backdrop-common "$TMP/common.txt"; sets+=(common)
    for svc in "${services[@]}"; do
        export_pkg "backdrop-$svc" "$TMP/$svc.full.txt"
        "$PY" "$HELPER" subtract "$TMP/$svc.full.txt" "$TMP/common.txt" >"$TMP/$svc.txt"
        sets+=("$svc")
    done
fi
if [[ " $* " == *" moto "* ]]; then
    # moto at uv.lock's version (dev group), every dependency constrained to uv.lock too.
    # Not the whole `server` extra (the deps of ~150 AWS services: sympy, cfn-lint,
    # networkx..., a 264 MB venv): moto_server needs flask + flask-cors, and S3, SQS and SNS
    # (bucket notifications) need only moto[s3]. 82 MB.
    (cd "$REPO_ROOT" && uv export -q "$LOCK_FLAG" --all-packages --all-groups --no-hashes \
        --no-emit-workspace --no-header --no-annotate --format requirements-txt) >"$TMP/lock.txt"
    moto_pin="$(sed -nE 's/^moto(\[[^]]*\])?==([^ ;]+).*/\2/p' "$TMP/lock.txt" | head -n1)"
    [ -n "$moto_pin" ] || die "moto is not in uv.lock"
    printf '%s\n' "moto[s3]==$moto_pin" flask flask-cors >"$TMP/moto.in"
    uv pip compile -q --no-header --no-annotate --python-version "$PYV" \
        --python-platform "$ARCH-manylinux_2_36" -c "$TMP/lock.txt" "$TMP/moto.in" -o "$TMP/moto.txt" \
        || die "moto: uv pip compile failed"
    sets+=(moto)
fi

# 2. Download what the pool lacks, for the target interpreter, in one pip call.
mkdir -p "$POOL/tools"
files=(); for s in "${sets[@]}"; do files+=("$TMP/$s.txt"); done
"$PY" "$HELPER" missing "$POOL" "$PYV" "$ARCH" "${files[@]}" >"$TMP/missing.txt"
if [ -s "$TMP/missing.txt" ]; then
    t0=$(now_s)
    # --no-deps: each list is already the full pinned closure; it also lets pip fetch the
    # few sdist-only projects (psycogreen) despite --platform.
    pip_ download -q --no-deps --prefer-binary -d "$POOL" \
        --python-version "$PYV" --implementation cp --abi "$PYTAG" --abi abi3 --abi none \
        "${PLATFORM_ARGS[@]}" -r "$TMP/missing.txt" || die "pip download failed"
    # sdists -> wheels, on the host: pure-Python ones become py3-none-any (any 3.x). One with
    # C code would get the host's tag, and the image install would then refuse it loudly.
    for sd in "$POOL"/*.tar.gz "$POOL"/*.zip; do
        [ -e "$sd" ] || continue
        pip_ wheel -q --no-deps -w "$POOL" "$sd" || die "cannot build a wheel from $sd"
        rm -f "$sd"
    done
    log "downloaded $(wc -l <"$TMP/missing.txt") wheels for $PYTAG/$ARCH in $(elapsed "$t0")s: $(tr "\n" " " <"$TMP/missing.txt")"
fi
if ! ls "$POOL"/tools/pip-*.whl >/dev/null 2>&1; then
    pip_ download -q --no-deps --only-binary=:all: -d "$POOL/tools" pip || die "pip download pip failed"
fi
pip_whl="$(ls "$POOL"/tools/pip-*.whl | sort -V | tail -n1)"

# 3. Link each set whose requirements changed.
for s in "${sets[@]}"; do
    deps="$WHEELS_ROOT/$s/deps"
    if [ -f "$deps/.complete" ] && cmp -s "$TMP/$s.txt" "$deps/requirements.txt" \
        && [ "$(cat "$deps/TARGET" 2>/dev/null)" = "$PYTAG $ARCH" ]; then
        continue
    fi
    rm -rf "$deps"; mkdir -p "$deps"
    "$PY" "$HELPER" link "$POOL" "$deps" "$PYV" "$ARCH" "$TMP/$s.txt" || die "$s: linking wheels failed"
    install -m 0644 "$TMP/$s.txt" "$deps/requirements.txt"
    echo "$PYTAG $ARCH" >"$deps/TARGET"
    touch "$deps/.complete"
    log "$s: $(find "$deps" -name '*.whl' | wc -l) third-party wheels"
done
for s in common moto; do
    if [[ " ${sets[*]} " == *" $s "* ]]; then
        mkdir -p "$WHEELS_ROOT/$s/tools"
        cmp -s "$pip_whl" "$WHEELS_ROOT/$s/tools/pip.whl" || cp "$pip_whl" "$WHEELS_ROOT/$s/tools/pip.whl"
    fi
done

# 4. The workspace members, every time (libs/common once).
if [ "${#services[@]}" -gt 0 ]; then
    t0=$(now_s)
    for lib in backdrop-contract backdrop-common; do
        (cd "$REPO_ROOT" && uv build -q --wheel --package "$lib" -o "$TMP/common-wheel") \
            || die "uv build --package $lib failed"
    done
    for svc in "${services[@]}"; do
        local_dir="$WHEELS_ROOT/$svc/local"
        rm -rf "$local_dir"; mkdir -p "$local_dir"
        cp "$TMP"/common-wheel/*.whl "$local_dir/"
        (cd "$REPO_ROOT" && uv build -q --wheel --package "backdrop-$svc" -o "$local_dir") \
            || die "$svc: uv build --package backdrop-$svc failed"
        rm -f "$local_dir/.gitignore"
    done
    log "built the wheels of backdrop-contract, backdrop-common + ${services[*]} in $(elapsed "$t0")s"
fi
