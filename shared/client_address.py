"""Who a client address stands for when requests are counted per address (the login throttle,
the API's limit for callers without a valid token).

An IPv4 address is one client. An IPv6 address is not: a single home line or server is given a
whole /64 (2^64 addresses) and picks a new address in it at will (privacy extensions), so counting
per IPv6 address let one machine make every guess from a fresh address and never be locked. An
IPv6 client is therefore counted by its /64 network, and an IPv4 client reached over a dual-stack
socket (::ffff:203.0.113.9) as that IPv4 address.
"""

from __future__ import annotations

import ipaddress

#: The prefix an IPv6 client is counted by: the smallest block a site is normally given.
IPV6_CLIENT_PREFIX = 64


def counted_as(address: str | None) -> str:
    """The key `address` is counted under: an IPv4 address as it is, an IPv6 one as its /64
    network ("2001:db8:1:2::/64"); anything that is not an address (a Unix socket's empty
    address) as it is, or "unknown"."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return text or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)
