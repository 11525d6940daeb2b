#!/usr/bin/env bash
# Debian packages that some targets need beyond Python: chromium (the dashboard's browser
# test) and prometheus (its promtool checks the alert rules). Usage:
#   scripts/system-packages.sh chromium prometheus
# Installs whichever is missing when run as root with apt (CI runs as root); otherwise says
# how to install it. Safe to run again: present packages are left alone.
set -euo pipefail
declare -A BINARY=([chromium]=/usr/bin/chromium [prometheus]=/usr/bin/promtool)
missing=()
for pkg in "$@"; do
    [ -x "${BINARY[$pkg]:?unknown package $pkg}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages)"
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
else
    echo "missing ${missing[*]}: install with 'sudo apt-get install ${missing[*]}'" >&2
fi
