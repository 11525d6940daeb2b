#!/usr/bin/env bash
# A real S3 for tests: Ceph's RADOS Gateway on a throw-away one-node cluster (one monitor,
# one in-memory OSD, no manager), the way Ceph's own vstart.sh dev clusters run. Unlike moto
# it checks signatures, expiry, key scope and POST policies.
#
#   scripts/rgw.sh install                 Debian packages, only when missing (as root)
#   scripts/rgw.sh start DIR [PORT]        cluster in DIR (must be new or absent), S3 on
#                                          127.0.0.1:PORT (default: a free port); prints the URL
#   scripts/rgw.sh stop DIR                stop the daemons started in DIR and remove DIR
#
# S3 credentials: RGW_ACCESS_KEY / RGW_SECRET_KEY (default backdrop / backdrop-secret).
# Cluster auth is off (loopback only, data in RAM) but S3 signatures are still checked.
set -euo pipefail

die() { echo "rgw: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install() {
  if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then  # the real-S3 tests then skip (and fail in CI)
    echo "rgw: radosgw is not installed and this is not root; run 'sudo $0 install'" >&2
    return 0
  fi
  echo "rgw: installing radosgw, ceph-mon, ceph-osd (Debian packages, about 300 MB)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    radosgw ceph-mon ceph-osd >/dev/null
}

# A daemon counts as running while its process exists and is not a zombie: PID 1 here reaps
# slowly, so `kill -0` would still succeed for a daemon that has exited.
alive() { local stat; stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $stat != Z* ]]; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up (logs in $dir/log)"
    sleep 0.1
  done
}

write_conf() {
  local fsid=$1 mon_port=$2 port=$3
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
ms bind ipv4 = true
ms bind ipv6 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# Cold start: without this the monitor batches proposals for a second each (~3.4 s vs ~13 s).
paxos propose interval = 0.1

[mon]
mon data = $dir/mon/\$name

[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
# Objects live in RAM and die with the cluster (stop removes DIR): nothing to flush.
memstore device bytes = ${RGW_MEMSTORE_BYTES:-4294967296}

[client]
# With cluster auth off, clients must still offer these modes to the monitor.
ms mon client mode = crc secure

[client.rgw]
# Without tcp_nodelay every small response waits ~40 ms for Nagle's algorithm.
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
EOF
}

start() {
  local port=${1:-} mon_port fsid osd_uuid
  command -v radosgw >/dev/null || die "radosgw is not installed ($0 install)"
  port=${port:-$(free_port)}
  mon_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir"/{run,log,mon/mon.a,osd/0,rgw}
  write_conf "$fsid" "$mon_port" "$port"
  local conf=(-c "$dir/ceph.conf")

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon "${conf[@]}" -i a --mkfs --monmap "$dir/monmap"
  ceph-mon "${conf[@]}" -i a 2>>"$dir/log/daemons.err"
  wait_for 30 "the monitor" ceph "${conf[@]}" -n client.admin --connect-timeout 2 mon stat

  ceph "${conf[@]}" -n client.admin osd new "$osd_uuid" >/dev/null
  ceph-osd "${conf[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/osd-mkfs.log"
  ceph-osd "${conf[@]}" -i 0 2>>"$dir/log/daemons.err"
  wait_for 30 "the OSD" osd_up

  radosgw "${conf[@]}" -n client.rgw 2>>"$dir/log/daemons.err"
  wait_for 60 "radosgw" curl -sf -o /dev/null "http://127.0.0.1:$port/"
  radosgw-admin "${conf[@]}" -n client.admin user create --uid=backdrop --display-name=backdrop \
    --access-key="${RGW_ACCESS_KEY:-backdrop}" --secret="${RGW_SECRET_KEY:-backdrop-secret}" \
    >/dev/null 2>>"$dir/log/radosgw-admin.log"
  echo "http://127.0.0.1:$port"
}

osd_up() { ceph -c "$dir/ceph.conf" -n client.admin osd stat 2>/dev/null | grep -q '1 up'; }

stop() {
  [ -e "$dir/ceph.conf" ] || return 0
  local name pid
  for name in client.rgw osd.0 mon.a; do
    [ -f "$dir/run/$name.pid" ] || continue
    pid=$(cat "$dir/run/$name.pid")
    alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

case ${1:-} in
  install) install ;;
  start)
    [ $# -ge 2 ] || die "usage: $0 start DIR [PORT]"
    dir=$(realpath -m "$2")
    [ -e "$dir/ceph.conf" ] && die "$dir already holds a cluster; stop it first"
    # A failed start shows the daemons' last words and leaves no half-started daemons behind.
    trap 'rc=$?; [ $rc = 0 ] || { tail -n 5 "$dir"/log/* >&2 || true; stop; }; exit $rc' EXIT
    start "${3:-}" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; dir=$(realpath -m "$2"); stop ;;
  *) die "usage: $0 install | start DIR [PORT] | stop DIR" ;;
esac
