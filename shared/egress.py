"""Where kamflow may send a request on a tenant's behalf: public unicast addresses only.

A webhook URL is chosen by a tenant, so without this check kamflow would POST into its own
network for them (Redis on loopback, a cloud metadata service, the office LAN) and its delivery
log would read like a port scanner. The rule is about the *address*, however it is written:
`127.0.0.1`, `2130706433`, `0177.1`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`, `[::127.0.0.1]`,
`[64:ff9b::a9fe:a9fe]`, a name that resolves to a private address, `localhost.`, a metadata
name. It is applied twice: to the URL when it is registered, and to the address the transport
actually connects to (resolved once, then connected to as checked, so a name cannot resolve
to a public address for the check and a private one for the connection).

`allow_private` (the WEBHOOK_ALLOW_PRIVATE_NETWORKS setting) lifts only the public-address
rule, for tests and local development delivering to a receiver on loopback; the URL's shape is
checked either way.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2000
#: The shape `check_url` holds a URL to, as the OpenAPI document says it: http:// or https://
#: (any case), then an authority without a user name or password (no @ before the path).
URL_PATTERN = "^[hH][tT][tT][pP][sS]?://[^/?#@]+([/?#]|$)"

#: Special-use and provider names that are never a public host (RFC 6761, RFC 8375, mDNS,
#: cloud metadata services). A name under one of these is refused before any lookup.
INTERNAL_NAME_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "localdomain",
    "home.arpa",
    "lan",
    "intranet",
    "corp",
    "metadata.goog",
)
METADATA_NAMES = (
    "metadata",
    "instance-data",
    "metadata.google.internal",
    "metadata.azure.com",
    "metadata.tencentyun.com",
    "metadata.packet.net",
)

#: Blocks that `ipaddress` counts as global but that no tenant's receiver lives in.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",  # IETF protocol assignments (Oracle Cloud metadata is 192.0.0.192)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "100.64.0.0/10",  # carrier-grade NAT (Alibaba Cloud metadata is 100.100.100.200)
    )
)

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class InvalidUrl(ValueError):
    """The URL is malformed or names a host kamflow will not send to; the message says which."""


class AddressNotAllowed(InvalidUrl):
    """The host is, or resolves to, an address that is not public unicast."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    packed = ip.packed
    if (
        packed[:12] == bytes(12)
        or ip in ipaddress.ip_network("64:ff9b::/96")
        or ip in ipaddress.ip_network("64:ff9b:1::/48")
    ):
        return ipaddress.IPv4Address(packed[12:])
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a public unicast address: not loopback, private, link-local, CGNAT, unique-local,
    site-local, multicast, reserved, unspecified, nor one of those wrapped inside an IPv6 address."""
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # fec0::/10, deprecated site-local, is still routed inside some networks; Python counts it global.
        if ip.scope_id or ip.is_site_local:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public(embedded)
    return not any(ip.version == net.version and ip in net for net in NOT_PUBLIC)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host written as numbers means, in any notation a resolver or a
    browser accepts (WHATWG URL "IPv4 parser": 1 to 4 parts, decimal, 0-octal or 0x-hex, the
    last part filling the remaining bytes). None when the host is a name. Raises InvalidUrl
    for numbers that are no address (`256.1.1.1`, `1.2.3.4.5`), which resolvers disagree on."""
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMERIC_LABEL.match(label) for label in labels):
        raise InvalidUrl("The host is not a valid IP address.")
    numbers = []
    for label in labels:
        if label.startswith("0x"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise InvalidUrl("The host is not a valid IP address.")
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise InvalidUrl("The host is not a valid IP address.")
    value = last
    for position, n in enumerate(head):
        value += n << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _refuse_unsafe_characters(url: str) -> None:
    for char in url:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn") or char == "\\":
            raise InvalidUrl(f"Must not contain spaces, control or invisible characters (found U+{ord(char):04X}).")


def _ascii_host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise InvalidUrl("The host name is not a valid domain name.") from None
    return host


def check_url(url: str, *, allow_private: bool = False) -> str:
    """`url` if kamflow may POST to it, else InvalidUrl saying why (AddressNotAllowed, one of
    them, for a loopback, private or internal host unless `allow_private`). Names are not looked
    up here (see `check_resolved`): the shape, literal addresses and internal names are."""
    if not isinstance(url, str) or not url:
        raise InvalidUrl("Must be an absolute http:// or https:// URL.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"Must be at most {MAX_URL_LENGTH} characters.")
    _refuse_unsafe_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidUrl("Must be an absolute http:// or https:// URL with a valid host and port.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidUrl("Must be an absolute http:// or https:// URL.")
    if "@" in parts.netloc:
        raise InvalidUrl("Must not contain a user name or password.")
    if port == 0:
        raise InvalidUrl("The port must be between 1 and 65535.")
    host = _ascii_host(parts)
    if ":" in host:  # an IPv6 literal, brackets removed by urlsplit
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidUrl("The host is not a valid IPv6 address.") from None
        _check_address(ip, allow_private)
        return url
    ipv4 = parse_ipv4(host)
    if ipv4 is not None:
        _check_address(ipv4, allow_private)
        return url
    name = host.removesuffix(".")  # one trailing dot (the root) is allowed; "a.b.." has an empty label
    labels = name.split(".")
    if not name or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidUrl("The host name is not a valid domain name.")
    if not allow_private and (
        len(labels) < 2
        or name in METADATA_NAMES
        or any(name == s or name.endswith("." + s) for s in INTERNAL_NAME_SUFFIXES)
    ):
        raise AddressNotAllowed("The host must be a public name or address, not an internal one.")
    return url


def _check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> None:
    if not allow_private and not is_public(ip):
        raise AddressNotAllowed(
            "The host must be a public address: loopback, private, link-local, "
            "shared, multicast and reserved addresses are refused."
        )


def target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host as sent in Host and TLS SNI, port, path and query) of a checked URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, _ascii_host(parts).rstrip("."), parts.port or (443 if scheme == "https" else 80), path


def origin(url: str) -> str:
    """Where `url` goes, for a log line: its scheme, host and port only. A receiver's path and
    query often are its credential (a chat service's incoming-webhook URL, `?key=...` of an
    automation tool), and the tenant's secret has no place in kamflow's logs."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a malformed URL)"
    host = parts.hostname or ""
    return f"{parts.scheme.lower()}://{f'[{host}]' if ':' in host else host}{port}"


def resolve(host: str, port: int, *, allow_private: bool = False) -> tuple[int, tuple]:
    """Look the host up once and return (address family, socket address) of the first address,
    after checking that EVERY address the name has is allowed — a name with one public and one
    private address is refused, so which one a resolver prefers does not matter. The caller
    connects to exactly this address. Raises socket.gaierror when the name does not resolve,
    AddressNotAllowed when an address is not public."""
    literal = host[1:-1] if host.startswith("[") else host
    infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    if not infos:
        raise socket.gaierror("no address")
    for _family, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if len(sockaddr) == 4 and sockaddr[3]:
            address = ipaddress.IPv6Address(f"{address}%{sockaddr[3]}")
        _check_address(address, allow_private)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr
