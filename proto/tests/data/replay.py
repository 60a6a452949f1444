#!/usr/bin/python3
"""replay.py DIR ROUTER: send ferrolb's encoded BGP messages (DIR/*.bin) to a real router and check it took them.

Run by capture.sh inside capt-b (192.0.2.2, AS 64513) against ROUTER (gobgp, bird or frr) listening passively on
192.0.2.1 (AS 64512). The environment variable ROUTES holds a shell command that prints the router's routes.

Steps: connect, send open.bin, expect the router's OPEN, send keepalive.bin, expect a KEEPALIVE (session
established), send announce-ipv4/ipv6 and eor-ipv4/ipv6, wait until the router shows all four prefixes with our
attributes, send withdraw-ipv4/ipv6, wait until the two withdrawn prefixes are gone, send notification-cease.bin.
Any NOTIFICATION from the router fails the check. Every wait is bounded.
"""
import os
import socket
import struct
import subprocess
import sys
import time

DIR, ROUTER = sys.argv[1], sys.argv[2]
PREFIXES = {
    "gobgp": ["203.0.113.0/24", "198.51.100.128/25", "2001:db8:100::/48", "2001:db8:200::/64"],
    "bird": ["203.0.113.0/24", "198.51.100.128/25", "2001:db8:100::/48", "2001:db8:200::/64"],
    "frr": ["203.0.113.0/24", "198.51.100.128/25", "2001:db8:100::/48", "2001:db8:200::/64"],
}[ROUTER]
# How each router prints our attributes (AS_PATH 64513, communities 64513:100 + no-export, large 64513:1:2,
# MED 10, next hops 192.0.2.2 and 2001:db8::2).
ATTRS = {
    "gobgp": ["64513:100", "no-export", "64513:1:2", "{Med: 10}", "192.0.2.2", "2001:db8::2", "64513"],
    "bird": ["(64513,100)", "(65535,65281)", "(64513, 1, 2)", "BGP.med: 10", "BGP.as_path: 64513",
             "BGP.next_hop: 192.0.2.2", "BGP.next_hop: 2001:db8::2"],
    "frr": ["64513:100 no-export", "Large Community: 64513:1:2", "metric 10", "64513", "192.0.2.2",
            "2001:db8::2"],
}[ROUTER]
WITHDRAWN = ["198.51.100.128/25", "2001:db8:200::/64"]


def load(name):
    with open(os.path.join(DIR, name + ".bin"), "rb") as f:
        return f.read()


PENDING = bytearray()  # bytes read but not yet returned as a message


def recv_message(sock, deadline):
    while len(PENDING) < 19 or len(PENDING) < struct.unpack("!H", PENDING[16:18])[0]:
        sock.settimeout(max(0.1, deadline - time.time()))
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(f"{ROUTER}: connection closed by the router")
        PENDING.extend(chunk)
    length = struct.unpack("!H", PENDING[16:18])[0]
    msg = bytes(PENDING[:length])
    del PENDING[:length]
    if msg[18] == 3:
        sys.exit(f"{ROUTER}: router sent NOTIFICATION code {msg[19]} subcode {msg[20]} data {msg[21:].hex()}")
    return msg


def expect(sock, msg_type, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        msg = recv_message(sock, deadline)
        if msg[18] == msg_type:
            return msg
    sys.exit(f"{ROUTER}: no message of type {msg_type} within {seconds} s")


def routes():
    return subprocess.run(["bash", "-c", os.environ["ROUTES"]], capture_output=True, text=True).stdout


def wait_routes(check, what, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        out = routes()
        if check(out):
            return out
        time.sleep(0.2)
    sys.exit(f"{ROUTER}: {what} not seen within {seconds} s; routes:\n{routes()}")


def no_notification(sock):
    """Fails if the router sent a NOTIFICATION (or closed) since the last read."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        data = None
    sock.setblocking(True)
    if data == b"":
        sys.exit(f"{ROUTER}: connection closed by the router")
    PENDING.extend(data or b"")
    while len(PENDING) >= 19 and len(PENDING) >= struct.unpack("!H", PENDING[16:18])[0]:
        recv_message(sock, time.time() + 1)


deadline = time.time() + 15
while True:
    try:
        sock = socket.create_connection(("192.0.2.1", 179), timeout=2, source_address=("192.0.2.2", 0))
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
sock.sendall(load("open"))
expect(sock, 1, 10)
sock.sendall(load("keepalive"))
expect(sock, 4, 10)
for name in ["announce-ipv4", "announce-ipv6", "eor-ipv4", "eor-ipv6"]:
    sock.sendall(load(name))
out = wait_routes(lambda o: all(p in o for p in PREFIXES) and all(a in o for a in ATTRS), "all routes with attributes")
no_notification(sock)
print(f"{ROUTER}: accepted announcements:\n{out}")
for name in ["withdraw-ipv4", "withdraw-ipv6"]:
    sock.sendall(load(name))
out = wait_routes(lambda o: not any(p in o for p in WITHDRAWN) and PREFIXES[0] in o and PREFIXES[2] in o,
                  "withdrawals")
no_notification(sock)
sock.sendall(load("keepalive"))
sock.sendall(load("notification-cease"))
sock.close()
print(f"{ROUTER}: accepted withdrawals and NOTIFICATION; ferrolb's encoding OK")
