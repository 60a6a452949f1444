#!/usr/bin/env bash
# capture.sh - capture real BFD Control packets between two BIRD 2.0.12 instances for ferrolb-proto's tests.
# See README.md in this directory.
#
#   sudo proto/tests/data/bfd/capture.sh       # about 20 s; rewrites bird-*.txt
#   CAPT_KEEP=1 ...                            # keep the work directory (configs, logs, pcaps)
#
# Needs root and Debian 12's bird2, tcpdump, iproute2 and /usr/bin/python3. Everything runs in two network
# namespaces, bfdc-a (192.0.2.1, 2001:db8::1) and bfdc-b (192.0.2.2, 2001:db8::2), joined by one veth pair;
# only documentation prefixes are used. On exit (also on error) the processes started here are stopped by
# PID, the namespaces deleted and the work directory removed.
set -euo pipefail
cd "$(dirname "$0")"
DATA=$PWD
P=bfdc-
W=$(mktemp -d /tmp/bfdc.XXXXXX)
PIDS=()

x()  { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
bg() { local ns=$1 log=$2; shift 2; ip netns exec "$P$ns" "$@" >"$W/$log" 2>&1 & PIDS+=($!); }
waitfor() {   # waitfor SECONDS CMD...: poll CMD every 0.1 s until it succeeds, fail after SECONDS
  local t=$1; shift; local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { echo "timeout after $t s: $*" >&2; return 1; }
    sleep 0.1
  done
}
stop_all() {  # SIGTERM each process we started, give it 5 s, then SIGKILL; reap it
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    waitfor 5 sh -c "! ps -o stat= -p $p | grep -qv Z" || kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
down() {
  stop_all
  local ns p
  for ns in a b; do   # anything still inside our namespaces was started by this script
    for p in $(ip netns pids "$P$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$P$ns" 2>/dev/null || true
  done
  if [ -n "${CAPT_KEEP:-}" ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap down EXIT

ip netns add ${P}a
ip netns add ${P}b
ip link add eth0 netns ${P}a type veth peer name eth0 netns ${P}b
for ns in a b; do
  id=$([ $ns = a ] && echo 1 || echo 2)
  ip -n $P$ns link set lo up
  ip -n $P$ns addr add 192.0.2.$id/24 dev eth0
  ip -n $P$ns addr add 2001:db8::$id/64 dev eth0 nodad
  ip -n $P$ns link set eth0 up
done
for ns in a b; do waitfor 5 sh -c "! ip -n $P$ns -6 addr show dev eth0 | grep -q tentative"; done

# bird_conf ID PEER AUTH NEIGHBOR-OPTIONS: a BIRD with one BFD session to PEER, 100 ms x 3 once up (1 s before)
bird_conf() {
  local id=$1 peer=$2 auth=$3 opts=$4
  cat <<CONF
router id 192.0.2.$id;
protocol device { }
protocol bfd bfd1 {
  interface "eth0" { interval 100 ms; multiplier 3; $auth };
  multihop { interval 100 ms; multiplier 3; $auth };
  neighbor $peer $opts;
}
CONF
}
session_up() { x "$1" birdc -s "$W/$1.ctl" show bfd sessions | grep -q ' Up '; }

# capture NAME PEER-A PEER-B AUTH OPTS-A OPTS-B: BIRD a and b up, 2 s of Up, then b is disabled (AdminDown)
capture() {
  local name=$1
  bird_conf 1 "$2" "$4" "$5" >"$W/a.conf"
  bird_conf 2 "$3" "$4" "$6" >"$W/b.conf"
  bg b "tcpdump-$name.log" tcpdump --immediate-mode -U -n -i eth0 -w "$W/$name.pcap" udp port 3784 or udp port 4784
  waitfor 5 grep -q 'listening on' "$W/tcpdump-$name.log"
  bg a "a-$name.log" bird -f -c "$W/a.conf" -s "$W/a.ctl"
  bg b "b-$name.log" bird -f -c "$W/b.conf" -s "$W/b.ctl"
  waitfor 10 session_up a
  waitfor 10 session_up b
  sleep 2
  x b birdc -s "$W/b.ctl" disable bfd1
  sleep 1.5
  stop_all
  /usr/bin/python3 bfd_extract.py "$W/$name.pcap" "$DATA/$name.txt"
  echo "### $name: $(wc -l <"$DATA/$name.txt") packets"
}

capture bird-v4-noauth 192.0.2.2 192.0.2.1 "" "" ""
capture bird-v6-meticulous-sha1 2001:db8::2 2001:db8::1 \
  'authentication meticulous keyed sha1; password "ferrolb-bfd-key" { id 7; };' "" ""
capture bird-v4-multihop-sha1 192.0.2.2 192.0.2.1 \
  'authentication keyed sha1; password "ferrolb-bfd-key" { id 3; };' "local 192.0.2.1 multihop on" "local 192.0.2.2 multihop on"
