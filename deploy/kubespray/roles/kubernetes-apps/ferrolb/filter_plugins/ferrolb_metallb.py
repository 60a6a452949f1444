"""kubespray's MetalLB variables, read as kubespray reads them, checked, and written as ferrolb's configuration.

Runs on the Ansible controller when the role templates its files, with the Python standard library only (no
package on the target, none beyond ansible-core on the controller).

Two inventory forms are read unchanged:

- kubespray <= v2.21: ``metallb_ip_range``, ``metallb_pool_name``, ``metallb_protocol``, ``metallb_auto_assign``,
  ``metallb_avoid_buggy_ips``, ``metallb_additional_address_pools``, ``metallb_peers`` (the legacy ConfigMap that
  ``metallb-config.yml.j2`` rendered);
- kubespray >= v2.22: the ``metallb_config`` dict (``address_pools``, ``layer2``, ``layer3.defaults``,
  ``layer3.communities``, ``layer3.metallb_peers``: the metallb.io resources of ``pools.yaml.j2``,
  ``layer2.yaml.j2`` and ``layer3.yaml.j2``).

Two outputs (``ferrolb_config_format``): ``configmap`` (ferrolb's ConfigMap ``config``, MetalLB's legacy schema)
for either form, and ``resources`` (the objects kubespray >= v2.22 writes, with the names it gives them) for the
v2.22 form; ``auto`` picks the one kubespray wrote for the inventory's form. Every error names the inventory variable that holds it, all errors are reported at once, and
nothing is written while there is one.
"""

import ipaddress
import json
import re

WELL_KNOWN = {
    "no-export": "65535:65281",
    "no-advertise": "65535:65282",
    "local-as": "65535:65283",
    "nopeer": "65535:65284",
}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
COMMUNITY = re.compile(r"^([0-9]+):([0-9]+)$")
LARGE_COMMUNITY = re.compile(r"^large:([0-9]+):([0-9]+):([0-9]+)$")
API = "metallb.io/v1beta1"


class Problems:
    """Errors (nothing is written) and notes (written, but worth reading), each naming a variable."""

    def __init__(self):
        self.errors = []
        self.notes = []

    def error(self, var, message):
        self.errors.append("%s: %s" % (var, message))

    def note(self, var, message):
        self.notes.append("%s: %s" % (var, message))


def _defined(value):
    # Ansible hands undefined variables to the filter as None (the role passes `| default(none)`).
    return value is not None


def _bool(value, var, p, default):
    """A kubespray boolean: Jinja printed Python's True/False and nothing for an unset value."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "off"):
        return False
    p.error(var, "%r is not a boolean" % (value,))
    return default


def _int(value, var, p, low, high, what="an integer"):
    if isinstance(value, bool):
        p.error(var, "%r is not %s" % (value, what))
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        p.error(var, "%r is not %s" % (value, what))
        return None
    if not low <= value <= high:
        p.error(var, "%d is out of range (%d-%d)" % (value, low, high))
        return None
    return value


def _asn(peer, key, var, p):
    if not _defined(peer.get(key)):
        p.error(var, "%s is missing (a BGP peer needs peer_asn and my_asn)" % key)
        return None
    return _int(peer.get(key), "%s.%s" % (var, key), p, 1, 4294967295, "an AS number")


def _ip(value, var, p):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        p.error(var, "%r is not an IP address" % (value,))
        return None


def _range(text, var, p):
    """(version, first, last) of a CIDR or an inclusive range `start-end`, as MetalLB reads them."""
    if not isinstance(text, str):
        p.error(var, "%r is not a CIDR or a range start-end" % (text,))
        return None
    text = text.strip()
    if "-" in text:
        start, _, end = text.partition("-")
        try:
            a, b = ipaddress.ip_address(start.strip()), ipaddress.ip_address(end.strip())
        except ValueError:
            p.error(var, "%r is not a range start-end of two IP addresses" % text)
            return None
        if a.version != b.version:
            p.error(var, "%r mixes IPv4 and IPv6" % text)
            return None
        if int(a) > int(b):
            p.error(var, "%r ends before it starts" % text)
            return None
        return (a.version, int(a), int(b))
    if "/" not in text:
        p.error(var, "%r is not a CIDR or a range start-end (one address is %s/%d)"
                % (text, text, 128 if ":" in text else 32))
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        p.error(var, "%r is not a CIDR or a range start-end" % text)
        return None
    return (net.version, int(net.network_address), int(net.broadcast_address))


def _ranges(value, var, p):
    """The addresses of one pool: a non-empty list of CIDRs and ranges."""
    if not isinstance(value, list) or not value:
        p.error(var, "must be a non-empty list of CIDRs or ranges start-end (kubespray iterates it), got %r"
                % (value,))
        return []
    out = []
    for i, entry in enumerate(value):
        r = _range(entry, "%s[%d]" % (var, i), p)
        if r:
            out.append((r, "%s[%d]" % (var, i), str(entry).strip()))
    return out


def _check_overlaps(pools, p):
    """No address in two pools (nor twice in one), naming both variables."""
    seen = []
    for name, ranges in pools:
        for (version, first, last), var, text in ranges:
            for other_name, (v2, f2, l2), var2, text2 in seen:
                if version == v2 and first <= l2 and f2 <= last:
                    where = "pool %r" % other_name if other_name != name else "the same pool"
                    p.error(var, "%s overlaps %s (%s = %s)" % (text, where, var2, text2))
            seen.append((name, (version, first, last), var, text))


def _community_value(value, var, p):
    text = str(value).strip()
    m = COMMUNITY.match(text)
    if m and all(int(x) <= 65535 for x in m.groups()):
        return text
    m = LARGE_COMMUNITY.match(text)
    if m and all(int(x) <= 4294967295 for x in m.groups()):
        return text
    p.error(var, "%r is not a community (a:b with 16-bit numbers, or large:a:b:c)" % (value,))
    return None


def _duration(value, var, p):
    """A hold time as MetalLB's resources want it: a Go duration (kubespray passed a bare number through)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "%ds" % value
    text = str(value).strip()
    if text.isdigit():
        return text + "s"
    if DURATION.match(text):
        return text
    p.error(var, "%r is not a duration (90s, 1m30s)" % (value,))
    return None


def _object_name(name, var, p):
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        p.error(var, "%r is not a Kubernetes object name (lower-case letters, digits, '-' and '.'), which "
                "the metallb.io resources need; rename it or use ferrolb_config_format: configmap" % name)
        return False
    return True


# ---------------------------------------------------------------- kubespray <= v2.21

def _legacy(v, p):
    """The ConfigMap kubespray v2.21's metallb-config.yml.j2 rendered, as a config dict."""
    pools = []
    overlap_input = []
    name = str(v.get("metallb_pool_name") or "loadbalanced")
    protocol = v.get("metallb_protocol") or "layer2"
    if protocol not in ("layer2", "bgp"):
        p.error("metallb_protocol", "%r is neither layer2 nor bgp" % (protocol,))
    ranges = _ranges(v.get("metallb_ip_range"), "metallb_ip_range", p)
    overlap_input.append((name, ranges))
    first = {"name": name, "protocol": protocol, "addresses": [t for _, _, t in ranges]}
    if not _bool(v.get("metallb_auto_assign"), "metallb_auto_assign", p, True):
        first["auto-assign"] = False
    if _bool(v.get("metallb_avoid_buggy_ips"), "metallb_avoid_buggy_ips", p, False):
        first["avoid-buggy-ips"] = True
    pools.append(first)
    protocols = [protocol]

    extra = v.get("metallb_additional_address_pools")
    if _defined(extra) and not isinstance(extra, dict):
        p.error("metallb_additional_address_pools", "must be a dict of pool name to pool, got %r" % (extra,))
        extra = {}
    for pool_name, pool in (extra or {}).items():
        var = "metallb_additional_address_pools.%s" % pool_name
        if str(pool_name) == name:
            p.error(var, "pool %r is named twice (metallb_pool_name is %r too)" % (pool_name, name))
            continue
        if not isinstance(pool, dict):
            p.error(var, "must be a dict with ip_range and protocol, got %r" % (pool,))
            continue
        proto = pool.get("protocol")
        if not _defined(proto):
            p.error(var + ".protocol", "is missing (kubespray's template needs it): layer2 or bgp")
        elif proto not in ("layer2", "bgp"):
            p.error(var + ".protocol", "%r is neither layer2 nor bgp" % (proto,))
        protocols.append(proto)
        rs = _ranges(pool.get("ip_range"), var + ".ip_range", p)
        overlap_input.append((str(pool_name), rs))
        entry = {"name": str(pool_name), "protocol": proto, "addresses": [t for _, _, t in rs]}
        if not _bool(pool.get("auto_assign"), var + ".auto_assign", p, True):
            entry["auto-assign"] = False
        if _bool(pool.get("avoid_buggy_ips"), var + ".avoid_buggy_ips", p, False):
            entry["avoid-buggy-ips"] = True
        pools.append(entry)
    _check_overlaps(overlap_input, p)

    peers = []
    raw_peers = v.get("metallb_peers")
    if _defined(raw_peers) and not isinstance(raw_peers, list):
        p.error("metallb_peers", "must be a list of peers, got %r" % (raw_peers,))
        raw_peers = []
    seen = {}
    for i, peer in enumerate(raw_peers or []):
        var = "metallb_peers[%d]" % i
        if not isinstance(peer, dict):
            p.error(var, "must be a dict with peer_address, peer_asn and my_asn, got %r" % (peer,))
            continue
        out = {}
        if not _defined(peer.get("peer_address")):
            p.error(var, "peer_address is missing")
        else:
            ip = _ip(peer["peer_address"], var + ".peer_address", p)
            if ip is not None:
                out["peer-address"] = str(ip)
                if str(ip) in seen:
                    p.error(var, "peer %s is given twice (%s)" % (ip, seen[str(ip)]))
                seen[str(ip)] = var
        out["peer-asn"] = _asn(peer, "peer_asn", var, p)
        out["my-asn"] = _asn(peer, "my_asn", var, p)
        if _defined(peer.get("password")):
            out["password"] = str(peer["password"])
        if _defined(peer.get("source_address")):
            ip = _ip(peer["source_address"], var + ".source_address", p)
            if ip is not None:
                out["source-address"] = str(ip)
        if _defined(peer.get("node_selectors")):
            if not isinstance(peer["node_selectors"], list):
                p.error(var + ".node_selectors", "must be a list of selectors (match-labels, match-expressions)")
            else:
                out["node-selectors"] = peer["node_selectors"]
        ignored = sorted(set(peer) - {"peer_address", "peer_asn", "my_asn", "password", "source_address",
                                      "node_selectors"})
        if ignored:
            p.note(var, "%s: not read (kubespray <= v2.21 did not render them either)" % ", ".join(ignored))
        peers.append(out)
    if "bgp" in protocols and not peers:
        p.error("metallb_peers", "is empty, but a pool has protocol bgp (kubespray requires peers for bgp)")
    config = {}
    if peers:
        config["peers"] = peers
    config["address-pools"] = pools
    return config


# ---------------------------------------------------------------- kubespray >= v2.22

def _modern(mc, p):
    """metallb_config read into pools, layer2 pools, communities and peers (kubespray's template semantics)."""
    pools = {}
    overlap_input = []
    raw_pools = mc.get("address_pools")
    if not isinstance(raw_pools, dict) or not raw_pools:
        p.error("metallb_config.address_pools", "must be a non-empty dict of pool name to pool, got %r"
                % (raw_pools,))
        raw_pools = {}
    for name, pool in raw_pools.items():
        var = "metallb_config.address_pools.%s" % name
        if not isinstance(pool, dict):
            p.error(var, "must be a dict with ip_range, got %r" % (pool,))
            continue
        rs = _ranges(pool.get("ip_range"), var + ".ip_range", p)
        overlap_input.append((str(name), rs))
        pools[str(name)] = {
            "var": var,
            "addresses": [t for _, _, t in rs],
            "auto_assign": _bool(pool.get("auto_assign"), var + ".auto_assign", p, True),
            # pools.yaml.j2 writes avoidBuggyIPs: true whatever the inventory says; an explicit false is honoured.
            "avoid_buggy_ips": _bool(pool.get("avoid_buggy_ips"), var + ".avoid_buggy_ips", p, True),
        }
    _check_overlaps(overlap_input, p)

    layer2 = []
    raw_l2 = mc.get("layer2")
    if _defined(raw_l2) and not isinstance(raw_l2, list):
        p.error("metallb_config.layer2", "must be a list of pool names, got %r" % (raw_l2,))
        raw_l2 = []
    for i, name in enumerate(raw_l2 or []):
        var = "metallb_config.layer2[%d]" % i
        if str(name) not in raw_pools:
            p.error(var, "%r is not a pool of metallb_config.address_pools" % (name,))
        elif str(name) in layer2:
            p.error(var, "pool %r is named twice in metallb_config.layer2" % (name,))
        else:
            layer2.append(str(name))

    communities = {}
    peers = {}
    l3 = mc.get("layer3")
    if _defined(l3):
        if not isinstance(l3, dict):
            p.error("metallb_config.layer3", "must be a dict, got %r" % (l3,))
            l3 = {}
        defaults = l3.get("defaults") or {}
        if not isinstance(defaults, dict):
            p.error("metallb_config.layer3.defaults", "must be a dict, got %r" % (defaults,))
            defaults = {}
        raw_comms = l3.get("communities") or {}
        if not isinstance(raw_comms, dict):
            p.error("metallb_config.layer3.communities", "must be a dict of alias to value")
            raw_comms = {}
        for alias, value in raw_comms.items():
            var = "metallb_config.layer3.communities.%s" % alias
            if str(alias) in WELL_KNOWN:
                p.error(var, "kubespray's Community well-known already defines %r" % alias)
                continue
            value = _community_value(value, var, p)
            if value:
                communities[str(alias)] = value
        raw_peers = l3.get("metallb_peers")
        if not isinstance(raw_peers, dict) or not raw_peers:
            p.error("metallb_config.layer3.metallb_peers", "must be a non-empty dict of peer name to peer "
                    "when metallb_config.layer3 is given (kubespray requires it)")
            raw_peers = {}
        seen = {}
        for name, peer in raw_peers.items():
            var = "metallb_config.layer3.metallb_peers.%s" % name
            if not isinstance(peer, dict):
                p.error(var, "must be a dict with peer_address, peer_asn, my_asn and address_pool")
                continue
            out = {"var": var}
            if not _defined(peer.get("peer_address")):
                p.error(var, "peer_address is missing")
            else:
                ip = _ip(peer["peer_address"], var + ".peer_address", p)
                if ip is not None:
                    out["address"] = str(ip)
                    if str(ip) in seen:
                        p.error(var, "peer %s is given twice (%s)" % (ip, seen[str(ip)]))
                    seen[str(ip)] = var
            out["peer_asn"] = _asn(peer, "peer_asn", var, p)
            out["my_asn"] = _asn(peer, "my_asn", var, p)
            port = peer.get("peer_port", defaults.get("peer_port"))
            if _defined(port):
                out["port"] = _int(port, var + ".peer_port", p, 1, 65535)
            hold = peer.get("hold_time", defaults.get("hold_time"))
            if _defined(hold):
                out["hold_time"] = _duration(hold, var + ".hold_time", p)
            if _defined(peer.get("password")):
                out["password"] = str(peer["password"])
            if _defined(peer.get("router_id")):
                ip = _ip(peer["router_id"], var + ".router_id", p)
                if ip is not None and ip.version != 4:
                    p.error(var + ".router_id", "%s is not an IPv4 address" % ip)
                out["router_id"] = str(peer["router_id"]).strip()
            if _defined(peer.get("multihop")):
                out["multihop"] = _bool(peer.get("multihop"), var + ".multihop", p, False)
            if _defined(peer.get("source_address")):
                p.note(var + ".source_address", "not written: kubespray's layer3.yaml.j2 never rendered it "
                       "(its documentation says CURRENTLY NOT SUPPORTED)")
            pools_of_peer = peer.get("address_pool")
            if not isinstance(pools_of_peer, list) or not pools_of_peer:
                p.error(var + ".address_pool", "must be a non-empty list of pool names (kubespray iterates it), "
                        "got %r" % (pools_of_peer,))
                pools_of_peer = []
            out["pools"] = []
            for i, pool in enumerate(pools_of_peer):
                if str(pool) not in raw_pools:
                    p.error("%s.address_pool[%d]" % (var, i), "%r is not a pool of metallb_config.address_pools"
                            % (pool,))
                elif str(pool) in out["pools"]:
                    p.error("%s.address_pool[%d]" % (var, i), "pool %r is named twice" % (pool,))
                else:
                    out["pools"].append(str(pool))
            agg = peer.get("aggregation_length")
            out["aggregation"] = None
            if _defined(agg):
                agg = _int(agg, var + ".aggregation_length", p, 0, 32)
                # layer3.yaml.j2 uses it, and adds the -local advertisement, only when it is at most 30.
                if agg is not None and agg <= 30:
                    out["aggregation"] = agg
                elif agg is not None:
                    p.note(var + ".aggregation_length", "%d is above 30: not used, as kubespray's template "
                           "does (the routes are /32)" % agg)
            out["localpref"] = _int(peer.get("localpref", 100), var + ".localpref", p, 0, 4294967295)
            out["communities"] = []
            raw_pc = peer.get("communities") or []
            if not isinstance(raw_pc, list):
                p.error(var + ".communities", "must be a list of community names, got %r" % (raw_pc,))
                raw_pc = []
            for i, c in enumerate(raw_pc):
                cvar = "%s.communities[%d]" % (var, i)
                c = str(c).strip()
                if c in communities or c in WELL_KNOWN or COMMUNITY.match(c) or LARGE_COMMUNITY.match(c):
                    if c in out["communities"]:
                        p.error(cvar, "%r is named twice" % c)
                    else:
                        out["communities"].append(c)
                elif str(c) not in raw_comms:
                    p.error(cvar, "%r is neither an alias of metallb_config.layer3.communities nor a "
                            "well-known community (%s)" % (c, ", ".join(WELL_KNOWN)))
            peers[str(name)] = out
    return {"pools": pools, "layer2": layer2, "communities": communities, "peers": peers}


def _modern_configmap(m, p):
    """The v2.22 form as the ConfigMap: the same pools, advertisements, communities and peers."""
    bgp_pools = {}
    for name, peer in m["peers"].items():
        for pool in peer["pools"]:
            bgp_pools.setdefault(pool, []).append(name)
    pools = []
    for name, pool in m["pools"].items():
        entry = {"name": name}
        if name in bgp_pools and name in m["layer2"]:
            p.error(pool["var"], "is announced both by layer2 and by BGP (peers %s): the ConfigMap cannot say so; "
                    "use ferrolb_config_format: resources" % ", ".join(bgp_pools[name]))
        elif name not in bgp_pools and name not in m["layer2"]:
            p.error(pool["var"], "is in neither metallb_config.layer2 nor a peer's address_pool: MetalLB assigns "
                    "its addresses and announces none, which the ConfigMap cannot say; use "
                    "ferrolb_config_format: resources")
        entry["protocol"] = "bgp" if name in bgp_pools else "layer2"
        entry["addresses"] = pool["addresses"]
        if not pool["auto_assign"]:
            entry["auto-assign"] = False
        if pool["avoid_buggy_ips"]:
            entry["avoid-buggy-ips"] = True
        if name in bgp_pools:
            advs = []
            for peer_name in bgp_pools[name]:
                for adv in _advertisements(m["peers"][peer_name]):
                    spec = {}
                    if "aggregationLength" in adv:
                        spec["aggregation-length"] = adv["aggregationLength"]
                    if "aggregationLengthV6" in adv:
                        spec["aggregation-length-v6"] = adv["aggregationLengthV6"]
                    if "localPref" in adv:
                        spec["localpref"] = adv["localPref"]
                    if adv.get("communities"):
                        spec["communities"] = adv["communities"]
                    if spec not in advs:
                        advs.append(spec)
            entry["bgp-advertisements"] = advs
        pools.append(entry)
    config = {}
    peers = []
    for peer in m["peers"].values():
        out = {"peer-address": peer.get("address"), "peer-asn": peer["peer_asn"], "my-asn": peer["my_asn"]}
        for key, ckey in (("port", "peer-port"), ("hold_time", "hold-time"), ("password", "password"),
                          ("router_id", "router-id"), ("multihop", "ebgp-multihop")):
            if key in peer and peer[key] is not None:
                out[ckey] = peer[key]
        peers.append(out)
    if peers:
        config["peers"] = peers
    if m["communities"]:
        config["bgp-communities"] = dict(m["communities"])
    config["address-pools"] = pools
    return config


def _advertisements(peer):
    """The BGPAdvertisement specs layer3.yaml.j2 writes for one peer, without ipAddressPools: (-local,) -external."""
    out = []
    if peer["aggregation"] is not None:
        local = {"aggregationLength": 32, "aggregationLengthV6": 128, "communities": ["no-advertise"]}
        if peer["localpref"]:
            local["localPref"] = peer["localpref"]
        out.append(local)
    external = {}
    if peer["aggregation"] is not None:
        external["aggregationLength"] = peer["aggregation"]
    if peer["communities"]:
        external["communities"] = list(peer["communities"])
    out.append(external)
    return out


def _modern_resources(m, namespace, labels, p):
    """The v2.22 form as kubespray writes it: its kinds and names, its quirks fixed (see the role's README)."""

    def obj(kind, name, spec, api=API):
        return {"apiVersion": api, "kind": kind,
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}, "spec": spec}

    out = []
    for name, pool in m["pools"].items():
        _object_name(name, pool["var"], p)
        out.append(obj("IPAddressPool", name, {"addresses": pool["addresses"], "autoAssign": pool["auto_assign"],
                                               "avoidBuggyIPs": pool["avoid_buggy_ips"]}))
    for name in m["layer2"]:
        out.append(obj("L2Advertisement", name, {"ipAddressPools": [name]}))
    if m["peers"]:
        names = {}
        for alias, value in m["communities"].items():
            # The object's name is not the alias (an alias such as NO_ADVERTISE is no object name).
            object_name = re.sub(r"[^a-z0-9.-]+", "-", alias.lower()).strip("-.") or "community"
            var = "metallb_config.layer3.communities.%s" % alias
            if object_name in names or object_name == "well-known":
                p.error(var, "its object name %r is taken by %s" % (object_name, names.get(object_name, "well-known")))
            names[object_name] = var
            out.append(obj("Community", object_name, {"communities": [{"name": alias, "value": value}]}))
        out.append(obj("Community", "well-known",
                       {"communities": [{"name": k, "value": v} for k, v in WELL_KNOWN.items()]}))
    for name, peer in m["peers"].items():
        _object_name(name + "-external", peer["var"], p)
        advs = _advertisements(peer)
        suffixes = ["-local", "-external"] if len(advs) == 2 else ["-external"]
        for suffix, spec in zip(suffixes, advs):
            spec = dict(spec)
            spec["ipAddressPools"] = list(peer["pools"])
            out.append(obj("BGPAdvertisement", name + suffix, spec))
        spec = {"myASN": peer["my_asn"], "peerASN": peer["peer_asn"], "peerAddress": peer.get("address")}
        for key, rkey in (("port", "peerPort"), ("password", "password"), ("router_id", "routerID"),
                          ("hold_time", "holdTime"), ("multihop", "ebgpMultiHop")):
            if key in peer and peer[key] is not None:
                spec[rkey] = peer[key]
        out.append(obj("BGPPeer", name, spec, "metallb.io/v1beta2"))
    return out


# ---------------------------------------------------------------- output

def _scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def to_yaml(value, indent=0):
    """Block YAML with JSON-quoted strings (what any YAML reader reads the same way), multi-line strings as
    literal blocks. Deterministic, so the rendered files change only when the configuration does."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = _scalar(k) if not re.match(r"^[A-Za-z0-9_./-]+$", str(k)) else str(k)
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, key))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, str) and "\n" in v:
                lines.append("%s%s: |" % (pad, key))
                lines.extend((pad + "  " + line) if line else "" for line in v.rstrip("\n").split("\n"))
            else:
                lines.append("%s%s: %s" % (pad, key, _scalar(v) if not isinstance(v, (dict, list)) else
                                            ("{}" if isinstance(v, dict) else "[]")))
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict) and v:
                inner = to_yaml(v, indent + 2).split("\n")
                lines.append("%s- %s" % (pad, inner[0].lstrip()))
                lines.extend(inner[1:])
            elif isinstance(v, list) and v:
                lines.append("%s-" % pad)
                lines.append(to_yaml(v, indent + 2))
            else:
                lines.append("%s- %s" % (pad, _scalar(v) if not isinstance(v, (dict, list)) else
                                         ("{}" if isinstance(v, dict) else "[]")))
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines)


def _kubectl_name(obj):
    group = obj["apiVersion"].rpartition("/")[0]
    kind = obj["kind"].lower()
    return "%s%s/%s" % (kind, "." + group if group else "", obj["metadata"]["name"])


def ferrolb_config(variables, config_format="auto", namespace="ferrolb-system", labels=None):
    """Reads kubespray's MetalLB variables (a dict, undefined ones as None) and returns
    ``{form, format, errors, notes, objects, manifest, names}``: the configuration objects as data, as one
    multi-document YAML text, and as ``kubectl get -o name`` names."""
    p = Problems()
    labels = labels or {}
    mc = variables.get("metallb_config")
    modern = isinstance(mc, dict) and _defined(mc.get("address_pools"))
    legacy = _defined(variables.get("metallb_ip_range"))
    objects = []
    form = "v2.22" if modern else "v2.21" if legacy else None
    if _defined(mc) and not isinstance(mc, dict):
        p.error("metallb_config", "must be a dict, got %r" % (mc,))
    if modern and legacy:
        p.error("metallb_ip_range", "is given with metallb_config.address_pools: kubespray <= v2.21 and >= v2.22 "
                "variables at once; keep one form")
    elif form is None:
        p.error("metallb_config.address_pools", "no pools: set metallb_config.address_pools (kubespray >= v2.22) "
                "or metallb_ip_range (kubespray <= v2.21)")
    elif config_format not in ("auto", "configmap", "resources"):
        p.error("ferrolb_config_format", "%r is not auto, configmap or resources" % (config_format,))
    elif form == "v2.21" and config_format == "resources":
        p.error("ferrolb_config_format", "resources is written for metallb_config (kubespray >= v2.22) only; "
                "`ferrolb import-metallb` turns the ConfigMap into resources")
    else:
        if config_format == "auto":
            # what kubespray wrote for this form
            config_format = "configmap" if form == "v2.21" else "resources"
        if form == "v2.21":
            config = _legacy(variables, p)
        else:
            model = _modern(mc, p)
            config = _modern_configmap(model, p) if config_format == "configmap" else None
            if config is None:
                objects = _modern_resources(model, namespace, labels, p)
        if config is not None:
            objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "config", "namespace": namespace, "labels": dict(labels)},
                        "data": {"config": to_yaml(config) + "\n"}}]
    if p.errors:
        objects = []
    manifest = "".join("---\n%s\n" % to_yaml(o) for o in objects)
    return {"form": form, "format": config_format, "errors": p.errors, "notes": p.notes, "objects": objects,
            "manifest": manifest, "names": [_kubectl_name(o) for o in objects]}


class FilterModule(object):
    """ferrolb_config: kubespray's MetalLB variables -> ferrolb's configuration objects."""

    def filters(self):
        return {"ferrolb_config": ferrolb_config}
