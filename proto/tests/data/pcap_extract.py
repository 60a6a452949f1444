#!/usr/bin/python3
"""pcap_extract.py: pull BGP messages and ARP/NDP frames out of a tcpdump capture (stdlib only).

  pcap_extract.py bgp PCAP OUTDIR SENDER_IP [LABEL]   one file per BGP message sent by SENDER_IP, named by
                                                      kind, plus LABEL-stream.bin (the whole TCP stream)
  pcap_extract.py l2 PCAP OUTDIR                      one file per ARP / ICMPv6 NS / NA frame, named by kind

Used by capture.sh; the tests only read the files it writes.
"""
import ipaddress
import os
import struct
import sys


def frames(path):
    """Yields the Ethernet frames of a classic pcap file (linktype 1)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"{path}: linktype {linktype}, expected Ethernet (1)")
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def tcp_segments(frame):
    """(src, sport, dst, dport, seq, payload) of a TCP segment over IPv4 or IPv6, else None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6:
            return None
        src, dst = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        tcp = ip[ihl:total]
    elif ethertype == 0x86DD:
        plen = struct.unpack("!H", ip[4:6])[0]
        if ip[6] != 6:
            return None
        src, dst = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
        tcp = ip[40:40 + plen]
    else:
        return None
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    return str(src), sport, str(dst), dport, seq, tcp[doff:]


def streams(path):
    """{(src, sport, dst, dport): bytes}: each TCP direction's payload in sequence order, retransmissions dropped."""
    segs = {}
    for frame in frames(path):
        s = tcp_segments(frame)
        if s and s[5]:
            segs.setdefault(s[:4], {})[s[4]] = s[5]
    out = {}
    for key, by_seq in segs.items():
        data, expected = b"", None
        for seq in sorted(by_seq):
            payload = by_seq[seq]
            if expected is not None and seq < expected:
                payload = payload[expected - seq:]  # overlap (retransmission)
            data += payload
            expected = seq + len(by_seq[seq]) if expected is None else max(expected, seq + len(by_seq[seq]))
        out[key] = data
    return out


def bgp_messages(data):
    off = 0
    while off + 19 <= len(data):
        length = struct.unpack("!H", data[off + 16:off + 18])[0]
        yield data[off:off + length]
        off += length


def attribute_types(body):
    """Type codes of the path attributes of an UPDATE body (after the 19-byte header)."""
    wlen = struct.unpack("!H", body[0:2])[0]
    alen = struct.unpack("!H", body[2 + wlen:4 + wlen])[0]
    attrs = body[4 + wlen:4 + wlen + alen]
    types, off = {}, 0
    while off < len(attrs):
        flags, code = attrs[off], attrs[off + 1]
        if flags & 0x10:
            length, hdr = struct.unpack("!H", attrs[off + 2:off + 4])[0], 4
        else:
            length, hdr = attrs[off + 2], 3
        types[code] = attrs[off + hdr:off + hdr + length]
        off += hdr + length
    nlri = body[4 + wlen + alen:]
    return wlen, types, nlri


def update_kind(msg):
    wlen, types, nlri = attribute_types(msg[19:])
    if wlen == 0 and not types and not nlri:
        return "eor-ipv4"
    if 14 in types:
        return "announce-ipv6" if types[14][:2] == b"\x00\x02" else "announce-mp-ipv4"
    if 15 in types:
        afi = "ipv6" if types[15][:2] == b"\x00\x02" else "ipv4"
        return ("eor-" if len(types[15]) == 3 else "withdraw-") + afi
    if nlri:
        return "announce-ipv4"
    if wlen:
        return "withdraw-ipv4"
    return "update-other"


KINDS = {1: "open", 2: "update", 3: "notification", 4: "keepalive", 5: "route-refresh"}


def extract_bgp(pcap, outdir, sender, label):
    os.makedirs(outdir, exist_ok=True)
    written = []
    for (src, sport, dst, dport), data in sorted(streams(pcap).items()):
        if src != sender or 179 not in (sport, dport):
            continue
        with open(os.path.join(outdir, f"{label}-stream.bin"), "wb") as f:
            f.write(data)
        seen = {}
        for msg in bgp_messages(data):
            kind = KINDS.get(msg[18], f"type{msg[18]}")
            if kind == "update":
                kind = update_kind(msg)
            seen[kind] = seen.get(kind, 0) + 1
            if kind == "keepalive" and seen[kind] > 1:
                continue  # one is enough
            name = f"{label}-{kind}" + (f"-{seen[kind]}" if seen[kind] > 1 else "") + ".bin"
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(msg)
            written.append(name)
    if not written:
        sys.exit(f"{pcap}: no BGP message from {sender}")
    print(f"{outdir}: {' '.join(written)}")


def l2_kind(frame):
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0806:
        op = struct.unpack("!H", frame[20:22])[0]
        spa, tpa = frame[28:32], frame[38:42]
        if op == 1:
            return "arp-garp-request" if spa == tpa else "arp-probe" if spa == bytes(4) else "arp-request"
        return "arp-reply"
    if ethertype == 0x86DD and frame[20] == 58:
        icmp_type, src, dst = frame[54], frame[22:38], frame[38:54]
        opts = frame[78:]
        if icmp_type == 135:
            if src == bytes(16):
                return "ns-dad"
            sll = "sll" if opts[:1] == b"\x01" else "nosll"
            return ("ns-multicast-" if dst[0] == 0xFF else "ns-unicast-") + sll
        if icmp_type == 136:
            return "na-solicited" if frame[58] & 0x40 else "na-unsolicited"
    return None


def extract_l2(pcap, outdir):
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    for frame in frames(pcap):
        kind = l2_kind(frame)
        if kind and kind not in seen:
            seen.add(kind)
            with open(os.path.join(outdir, f"{kind}.bin"), "wb") as f:
                f.write(frame)
    print(f"{outdir}: {' '.join(sorted(seen))}")


if __name__ == "__main__":
    if sys.argv[1] == "bgp":
        extract_bgp(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else "msg")
    elif sys.argv[1] == "l2":
        extract_l2(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
