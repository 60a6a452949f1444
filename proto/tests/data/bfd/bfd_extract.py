#!/usr/bin/python3
"""bfd_extract.py PCAP OUT.txt: one line per BFD Control packet (UDP port 3784 or 4784) of a tcpdump capture.

Each line: seconds since the first packet, source address, destination address, UDP destination port, IP TTL
(or IPv6 hop limit), and the UDP payload in hex. Standard library only; used by capture.sh, the tests only read
its output.
"""
import ipaddress
import struct
import sys


def frames(path):
    """(timestamp, Ethernet frame) of a classic pcap file (linktype 1)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    if struct.unpack(endian + "I", data[20:24])[0] != 1:
        sys.exit(f"{path}: not an Ethernet capture")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl]
        off += 16 + incl


def bfd(frame):
    """(src, dst, dport, ttl, payload) of a UDP datagram to port 3784 or 4784, else None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 17:
        ihl = (ip[0] & 0x0F) * 4
        src, dst, ttl = ip[12:16], ip[16:20], ip[8]
        udp = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    elif ethertype == 0x86DD and ip[6] == 17:
        src, dst, ttl = ip[8:24], ip[24:40], ip[7]
        udp = ip[40:40 + struct.unpack("!H", ip[4:6])[0]]
    else:
        return None
    dport, length = struct.unpack("!H", udp[2:4])[0], struct.unpack("!H", udp[4:6])[0]
    if dport not in (3784, 4784):
        return None
    return ipaddress.ip_address(src), ipaddress.ip_address(dst), dport, ttl, udp[8:length]


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    lines, t0 = [], None
    for t, frame in frames(pcap):
        pkt = bfd(frame)
        if pkt is None:
            continue
        t0 = t if t0 is None else t0
        src, dst, dport, ttl, payload = pkt
        lines.append(f"{t - t0:.6f} {src} {dst} {dport} {ttl} {payload.hex()}\n")
    if not lines:
        sys.exit(f"{pcap}: no BFD packet")
    with open(out, "w") as f:
        f.writelines(lines)


main()
