#!/usr/bin/env bash
# run.sh bird|frr - one ferrolb BFD session (main.rs, in bfdi-b, 192.0.2.2) against BIRD 2.0.12 or FRR 8.4 bfdd
# (in bfdi-a, 192.0.2.1) for 14 s, captured into ../ferrolb-vs-<router>.txt. See ../README.md.
#
# Needs root, cargo, and Debian 12's bird2 or frr, tcpdump, iproute2 and /usr/bin/python3. Only documentation
# prefixes; on exit the processes started here are stopped by PID and the namespaces deleted.
set -euo pipefail
cd "$(dirname "$0")"
ROUTER=$1
P=bfdi-
W=$(mktemp -d /tmp/bfdi.XXXXXX)
chmod 755 "$W"
R=/run/${P}frr
PIDS=()
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bfd-interop-target} cargo build -q
BIN=${CARGO_TARGET_DIR:-/tmp/bfd-interop-target}/debug/bfd-interop

x()  { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
bg() { local ns=$1 log=$2; shift 2; ip netns exec "$P$ns" "$@" >"$W/$log" 2>&1 & PIDS+=($!); }
down() {
  local p ns
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for ns in a b; do   # anything still inside our namespaces was started by this script
    for p in $(ip netns pids "$P$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$P$ns" 2>/dev/null || true
  done
  rm -rf "$R"
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
  ip -n $P$ns link set eth0 up
done
bg b tcpdump.log tcpdump --immediate-mode -U -n -i eth0 -w "$W/cap.pcap" udp port 3784
sleep 1
case $ROUTER in
bird)
  cat >"$W/bird.conf" <<CONF
router id 192.0.2.1;
protocol device { }
protocol bfd bfd1 {
  interface "eth0" { interval 100 ms; multiplier 3; };
  neighbor 192.0.2.2;
}
CONF
  bg a bird.log bird -f -c "$W/bird.conf" -s "$W/bird.ctl"
  show() { x a birdc -s "$W/bird.ctl" show bfd sessions | tail -n +3; }
  ;;
frr)
  install -d -o frr -g frr -m 755 "$R"
  # no zebra: bfdd alone, so the peer is given without an interface
  cat >"$W/frr.conf" <<CONF
bfd
 peer 192.0.2.2 local-address 192.0.2.1
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 !
!
CONF
  chown frr "$W/frr.conf"
  bg a bfdd.log /usr/lib/frr/bfdd -f "$W/frr.conf" -i "$R/bfdd.pid" --vty_socket "$R" -u frr -g frr -A 127.0.0.1
  show() { x a vtysh --vty_socket "$R" -c 'show bfd peers brief' 2>&1 | tail -n +4; }
  ;;
*) echo "usage: $0 bird|frr" >&2; exit 2 ;;
esac
sleep 1
bg b ferrolb.log "$BIN" 192.0.2.2 192.0.2.1 4660 14
last=0
for t in 3 6 8 10 13 16; do
  sleep $((t - last)); last=$t
  echo "--- $ROUTER at $t s:"; show || true
done
echo "--- ferrolb:"; cat "$W/ferrolb.log"
kill "${PIDS[0]}"; sleep 0.5   # tcpdump
/usr/bin/python3 ../bfd_extract.py "$W/cap.pcap" "../ferrolb-vs-$ROUTER.txt"
echo "### ferrolb-vs-$ROUTER: $(wc -l <"../ferrolb-vs-$ROUTER.txt") packets"
