#!/usr/bin/env bash
# capture.sh - capture real BGP messages (GoBGP 3.10, BIRD 2.0.12, FRR 8.4) and ARP/NDP frames (Linux kernel,
# arping, ndisc6) for ferrolb-proto's tests, and check that ferrolb's own encoded messages (bgp/ferrolb/*.bin)
# are accepted by the same three routers. See README.md in this directory.
#
#   sudo proto/tests/data/capture.sh           # everything: bgp captures, l2 captures, replay check
#   sudo proto/tests/data/capture.sh bgp gobgp  # one step: bgp <gobgp|bird|frr>, l2, replay <gobgp|bird|frr>
#   CAPT_KEEP=1 ...                            # keep the work directory (configs, logs, pcaps) for debugging
#
# Needs root and Debian 12's gobgpd, bird2, frr, tcpdump, arping (Habets), ndisc6, iproute2 and /usr/bin/python3.
# Everything runs in two network namespaces, capt-a (192.0.2.1, 2001:db8::1) and capt-b (192.0.2.2,
# 2001:db8::2), joined by one veth pair; only documentation prefixes are used. On exit (also on error) the
# processes started here are stopped by PID, the namespaces deleted and the work directories removed.
set -euo pipefail
cd "$(dirname "$0")"
DATA=$PWD
P=capt-
W=$(mktemp -d /tmp/capt.XXXXXX)
chmod 755 "$W"
R=/run/${P}frr          # FRR drops to user frr: its files cannot live under a 0700 directory
PIDS=()

x()  { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
# start a command in a namespace, in the background, as our child; remember its PID
bg() { local ns=$1 log=$2; shift 2; ip netns exec "$P$ns" "$@" >"$W/$log" 2>&1 & PIDS+=($!); }
waitfor() {   # waitfor SECONDS CMD...: poll CMD every 0.1 s until it succeeds, fail after SECONDS
  local t=$1; shift; local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { echo "timeout after $t s: $*" >&2; return 1; }
    sleep 0.1
  done
}
alive() { [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
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
  rm -rf "$R"
  if [ -n "${CAPT_KEEP:-}" ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap down EXIT

up() {
  ip netns add ${P}a
  ip netns add ${P}b
  ip link add eth0 netns ${P}a type veth peer name eth0 netns ${P}b
  for ns in a b; do
    local id=$([ $ns = a ] && echo 1 || echo 2)
    ip -n $P$ns link set lo up
    ip -n $P$ns addr add 192.0.2.$id/24 dev eth0
    ip -n $P$ns addr add 2001:db8::$id/64 dev eth0 nodad
    ip -n $P$ns link set eth0 up
  done
  # link-local addresses go through DAD (~1 s); BGP over IPv6 wants them usable
  for ns in a b; do waitfor 5 sh -c "! ip -n $P$ns -6 addr show dev eth0 | grep -q tentative"; done
  install -d -o frr -g frr -m 755 "$R"
}

# ---------- the collector: BIRD in capt-b, receiving from whatever runs in capt-a ----------
collector() {
  cat >"$W/collector.conf" <<'EOF'
router id 192.0.2.2;
protocol device { }
protocol direct { ipv4; ipv6; }
template bgp peer {
  hold time 9; keepalive time 3;
  connect delay time 1; connect retry time 1; error wait time 1, 5;
  graceful restart on;
}
protocol bgp ibgp4 from peer {
  local 192.0.2.2 as 64512; neighbor 192.0.2.1 as 64512;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
protocol bgp ebgp6 from peer {
  local 2001:db8::2 as 64513; neighbor 2001:db8::1 as 64512;
  ipv6 { import all; export none; };
}
EOF
  bg b collector.log bird -f -c "$W/collector.conf" -s "$W/collector.ctl"
  waitfor 5 x b birdc -s "$W/collector.ctl" show status
}
coll() { x b birdc -s "$W/collector.ctl" "$@"; }
coll_routes() { coll show route protocol "$1" count | awk '/^[0-9]+ of/ { n += $1 } END { print n + 0 }'; }
established() { [ "$(coll show protocols | grep -c Established)" -ge 2 ]; }
routes_are() { [ "$(coll_routes ibgp4)" = "$1" ] && [ "$(coll_routes ebgp6)" = "$2" ]; }
ibgp_down() { ! coll show protocols ibgp4 | grep -q Established; }

tcpdump_start() {   # tcpdump_start NAME FILTER: capture on capt-b's eth0 until stop_all
  bg b "tcpdump-$1.log" tcpdump --immediate-mode -U -n -i eth0 -w "$W/$1.pcap" "$2"
  waitfor 5 grep -q 'listening on' "$W/tcpdump-$1.log"
}

# ---------- the three senders, in capt-a (AS 64512): two IPv4 and two IPv6 prefixes each ----------
# iBGP over IPv4 to 192.0.2.2 (both families: LOCAL_PREF, NEXT_HOP, MP_REACH with 2001:db8::1),
# eBGP over IPv6 to 2001:db8::2 (AS 64513, IPv6 only: AS_PATH 64512, next hop self).
# Attributes: COMMUNITIES 64512:100 + no-export (FRR: + 64512:200, as it honours no-export towards its eBGP peer),
# LARGE_COMMUNITY 64512:1:2, MED 10, LOCAL_PREF 200 (iBGP).
start_gobgp() {
  cat >"$W/gobgp.toml" <<'EOF'
[global.config]
  as = 64512
  router-id = "192.0.2.1"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::2"
    peer-as = 64513
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
  bg a gobgpd.log gobgpd -f "$W/gobgp.toml" -p --pprof-disable
  waitfor 5 x a gobgp global
  local attrs="origin igp community 64512:100,no-export large-community 64512:1:2 med 10 local-pref 200"
  x a gobgp global rib add -a ipv4 203.0.113.0/24 nexthop 192.0.2.1 $attrs
  x a gobgp global rib add -a ipv4 198.51.100.128/25 nexthop 192.0.2.1 $attrs
  x a gobgp global rib add -a ipv6 2001:db8:100::/48 nexthop 2001:db8::1 $attrs
  x a gobgp global rib add -a ipv6 2001:db8:200::/64 nexthop 2001:db8::1 $attrs
}
withdraw_gobgp() {
  x a gobgp global rib del -a ipv4 198.51.100.128/25
  x a gobgp global rib del -a ipv6 2001:db8:200::/64
}
shutdown_gobgp() { x a gobgp neighbor 192.0.2.2 disable --reason "ferrolb capture done"; }

start_bird() {
  cat >"$W/sender.conf" <<'EOF'
router id 192.0.2.1;
protocol device { }
protocol static s4a { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s4b { ipv4; route 198.51.100.128/25 blackhole; }
protocol static s6a { ipv6; route 2001:db8:100::/48 blackhole; }
protocol static s6b { ipv6; route 2001:db8:200::/64 blackhole; }
filter attrs {
  bgp_origin = ORIGIN_IGP;
  bgp_community.add((64512, 100));
  bgp_community.add((65535, 65281));
  bgp_large_community.add((64512, 1, 2));
  bgp_med = 10;
  bgp_local_pref = 200;
  accept;
}
template bgp peer {
  hold time 9; keepalive time 3;
  connect delay time 1; connect retry time 1; error wait time 1, 5;
  graceful restart on;
}
protocol bgp ibgp4 from peer {
  local 192.0.2.1 as 64512; neighbor 192.0.2.2 as 64512;
  ipv4 { import none; export filter attrs; next hop self; };
  ipv6 { import none; export filter attrs; next hop address 2001:db8::1; };
}
protocol bgp ebgp6 from peer {
  local 2001:db8::1 as 64512; neighbor 2001:db8::2 as 64513;
  ipv6 { import none; export filter attrs; };
}
EOF
  bg a sender-bird.log bird -f -c "$W/sender.conf" -s "$W/sender.ctl"
  waitfor 5 x a birdc -s "$W/sender.ctl" show status
}
withdraw_bird() { x a birdc -s "$W/sender.ctl" disable s4b; x a birdc -s "$W/sender.ctl" disable s6b; }
shutdown_bird() { x a birdc -s "$W/sender.ctl" disable ibgp4 '"ferrolb capture done"'; }

start_frr() {
  cat >"$R/bgpd.conf" <<'EOF'
hostname capt-a
route-map ATTRS permit 10
 set origin igp
 set community 64512:100 64512:200
 set large-community 64512:1:2
 set metric 10
 set local-preference 200
route-map ATTRS6 permit 10
 set origin igp
 set community 64512:100 64512:200
 set large-community 64512:1:2
 set metric 10
 set local-preference 200
 set ipv6 next-hop global 2001:db8::1
router bgp 64512
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 timers bgp 3 9
 neighbor 192.0.2.2 remote-as 64512
 neighbor 192.0.2.2 timers connect 1
 neighbor 2001:db8::2 remote-as 64513
 neighbor 2001:db8::2 timers connect 1
 address-family ipv4 unicast
  network 203.0.113.0/24 route-map ATTRS
  network 198.51.100.128/25 route-map ATTRS
  no neighbor 2001:db8::2 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:100::/48 route-map ATTRS6
  network 2001:db8:200::/64 route-map ATTRS6
  neighbor 192.0.2.2 activate
  neighbor 2001:db8::2 activate
 exit-address-family
EOF
  frr_daemons
}
frr_daemons() {   # zebra + bgpd in capt-a, foreground (our children), -P 0: no TCP vty, files under $R
  echo "hostname capt-a" >"$R/zebra.conf"
  chmod 644 "$R"/*.conf
  bg a frr-zebra.log /usr/lib/frr/zebra -P 0 -f "$R/zebra.conf" -i "$R/zebra.pid" -z "$R/zserv.api" \
    --vty_socket "$R" --log "file:$R/zebra.log"
  waitfor 5 test -S "$R/zserv.api"
  bg a frr-bgpd.log /usr/lib/frr/bgpd -P 0 -f "$R/bgpd.conf" -i "$R/bgpd.pid" -z "$R/zserv.api" \
    --vty_socket "$R" --log "file:$R/bgpd.log"
  waitfor 5 vtysh --vty_socket "$R" -c 'show bgp summary'
  # bgpd learns the interface addresses from zebra; an IPv6 peer that connects before that gets no routes
  waitfor 5 sh -c "vtysh --vty_socket $R -c 'show interface eth0' | grep -q 'inet6 fe80'"
}
frr() { vtysh --vty_socket "$R" -c 'configure terminal' -c 'router bgp 64512' "$@"; }
withdraw_frr() {
  frr -c 'address-family ipv4 unicast' -c 'no network 198.51.100.128/25'
  frr -c 'address-family ipv6 unicast' -c 'no network 2001:db8:200::/64'
}
shutdown_frr() { frr -c 'neighbor 192.0.2.2 shutdown message ferrolb capture done'; }

capture_bgp() {   # capture_bgp gobgp|bird|frr
  local name=$1 t0=$SECONDS
  tcpdump_start "$name" 'tcp port 179'
  "start_$name"
  collector
  waitfor 30 established
  waitfor 10 routes_are 4 2
  "withdraw_$name"
  waitfor 10 routes_are 2 1
  "shutdown_$name"
  waitfor 10 ibgp_down
  stop_all
  rm -rf "$DATA/bgp/$name"
  /usr/bin/python3 pcap_extract.py bgp "$W/$name.pcap" "$DATA/bgp/$name" 192.0.2.1 ibgp
  /usr/bin/python3 pcap_extract.py bgp "$W/$name.pcap" "$DATA/bgp/$name" 2001:db8::1 ebgp6
  echo "### bgp $name: $((SECONDS - t0)) s"
}

# ---------- layer 2: ARP and NDP frames, captured on capt-b's eth0 ----------
capture_l2() {
  local mac_a SEND6="$W/send6.py"
  printf '%s\n' '#!/usr/bin/python3' 'import socket' \
    'socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("2001:db8::1", 9))' >"$SEND6"
  chmod +x "$SEND6"
  mac_a=$(x a cat /sys/class/net/eth0/address)
  x b sysctl -qw net.ipv6.conf.eth0.ndisc_notify=1 net.ipv6.neigh.eth0.delay_first_probe_time=1
  tcpdump_start l2 'arp or icmp6'
  x b arping -q -c 1 -C 1 -i eth0 192.0.2.1                      # request + kernel reply
  x b arping -q -0 -c 1 -C 1 -i eth0 192.0.2.1 || true           # RFC 5227 probe (sender 0.0.0.0)
  x a arping -q -U -S 192.0.2.1 -i eth0 -c 1 -w 0 192.0.2.1 || true   # gratuitous, request form
  x b ndisc6 -q -1 2001:db8::1 eth0                              # multicast NS with SLLA + solicited NA
  x b ip addr add 2001:db8::3/64 dev eth0                        # DAD probe from ::, then unsolicited NA
  waitfor 5 sh -c "! ip -n ${P}b -6 addr show dev eth0 | grep -q tentative"
  x b "$SEND6"                                                   # unicast NUD probe: resolve,
  waitfor 5 sh -c "ip -n ${P}b -6 neigh show 2001:db8::1 | grep -q REACHABLE"
  x b ip -6 neigh change 2001:db8::1 dev eth0 lladdr "$mac_a" nud stale   # STALE, then traffic -> DELAY
  x b "$SEND6"                                                   # -> PROBE 1 s later (unicast NS)
  waitfor 5 sh -c "ip -n ${P}b -6 neigh show 2001:db8::1 | grep -q REACHABLE"
  stop_all
  rm -rf "$DATA/l2"
  /usr/bin/python3 pcap_extract.py l2 "$W/l2.pcap" "$DATA/l2"
}

# ---------- replay: ferrolb's encoded messages (bgp/ferrolb/) against each router in capt-a ----------
replay() {   # replay gobgp|bird|frr
  local name=$1
  case $name in
    gobgp)
      cat >"$W/gobgp-router.toml" <<'EOF'
[global.config]
  as = 64512
  router-id = "192.0.2.1"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 64513
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
      bg a gobgpd-router.log gobgpd -f "$W/gobgp-router.toml" -p --pprof-disable
      waitfor 5 x a gobgp global
      ROUTES="x a gobgp global rib -a ipv4; x a gobgp global rib -a ipv6" ;;
    bird)
      cat >"$W/router.conf" <<'EOF'
router id 192.0.2.1;
protocol device { }
protocol bgp ferrolb {
  local 192.0.2.1 as 64512; neighbor 192.0.2.2 as 64513; passive on;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
EOF
      bg a router-bird.log bird -f -c "$W/router.conf" -s "$W/router.ctl"
      waitfor 5 x a birdc -s "$W/router.ctl" show status
      ROUTES="x a birdc -s $W/router.ctl show route all" ;;
    frr)
      cat >"$R/bgpd.conf" <<'EOF'
hostname capt-a
router bgp 64512
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 neighbor 192.0.2.2 remote-as 64513
 neighbor 192.0.2.2 passive
 address-family ipv6 unicast
  neighbor 192.0.2.2 activate
 exit-address-family
EOF
      frr_daemons
      ROUTES="vtysh --vty_socket $R -c 'show bgp ipv4 unicast 203.0.113.0/24' -c 'show bgp ipv4 unicast 198.51.100.128/25' -c 'show bgp ipv6 unicast 2001:db8:100::/48' -c 'show bgp ipv6 unicast 2001:db8:200::/64'" ;;
  esac
  export ROUTES
  export -f x
  export P W R
  x b /usr/bin/python3 "$DATA/replay.py" "$DATA/bgp/ferrolb" "$name"
  stop_all
}

all() {
  up
  for r in gobgp bird frr; do capture_bgp $r; done
  capture_l2
  for r in gobgp bird frr; do replay $r; done
}

case ${1:-all} in
  all) all ;;
  bgp) up; capture_bgp "$2" ;;
  l2) up; capture_l2 ;;
  replay) up; replay "$2" ;;
  *) echo "usage: $0 [all | bgp <gobgp|bird|frr> | l2 | replay <gobgp|bird|frr>]" >&2; exit 2 ;;
esac
