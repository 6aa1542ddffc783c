"""POSTing one webhook delivery: to a checked address, once, within one deadline.

- The URL is checked again (shared.egress) and its name resolved ONCE; every address it has
  must be public, and the socket connects to exactly the address that was checked (no second
  lookup that a DNS-rebinding name could answer differently). Host and TLS SNI/certificate
  checks still use the name.
- No redirect is followed: a 3xx is an answer like any other non-2xx, a failed attempt. A
  redirect would otherwise turn a checked URL into an unchecked one.
- ONE deadline covers the lookup, connect, TLS, sending and the answer's status line and
  headers. A receiver that trickles one byte a second cannot hold a worker thread past it: a
  watchdog shuts the socket down when the deadline passes.
- Failures reach the tenant as a coarse category (`DeliveryError.category` and its message),
  never the socket's own words: "connection refused" against "connection reset" is how a
  delivery log becomes a port scanner. The exact reason goes to the operators' log, which names
  the receiver by its origin only (a URL's path and query are often its credential).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import logging
import socket
import ssl
import threading
import time

from shared import egress

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 10.0

#: Tenant-facing words for each way a delivery can fail without an HTTP answer.
CATEGORIES = {
    "address": "the URL's host is not a public address; nothing was sent",
    "dns": "the host name did not resolve",
    "connect": "could not connect, or the connection closed without an HTTP answer",
    "tls": "the TLS handshake failed (certificate or protocol)",
    "timeout": "no complete answer within the delivery deadline",
}

#: Name lookups run here so that a slow resolver counts against the deadline too.
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class DeliveryError(Exception):
    """The receiver gave no HTTP answer. `category` is one of CATEGORIES; str() is what the
    tenant is shown."""

    def __init__(self, category: str):
        super().__init__(CATEGORIES[category])
        self.category = category


def describe_status(status: int) -> str:
    """What the delivery log says about a non-2xx answer."""
    if 300 <= status < 400:
        return f"the receiver answered HTTP {status}; redirects are not followed"
    return f"the receiver answered HTTP {status}"


def post(
    url: str, body: bytes, headers: dict, *, allow_private: bool = False, deadline_s: float = DEFAULT_DEADLINE_S
) -> int:
    """POST `body` to `url` and return the HTTP status of the answer (any status, 3xx
    included: nothing is followed). Raises DeliveryError when there is no answer."""
    deadline = time.monotonic() + deadline_s
    try:
        egress.check_url(url, allow_private=allow_private)
    except egress.InvalidUrl as refused:
        log.warning("webhook to %s refused before connecting: %s", egress.origin(url), refused)
        raise DeliveryError("address") from None
    scheme, host, port, path = egress.target(url)
    family, sockaddr = _resolve(host, port, allow_private, deadline)
    held = [socket.socket(family, socket.SOCK_STREAM)]  # the socket the watchdog cuts (TLS replaces it)
    cut = threading.Event()
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (held, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        held[0].settimeout(max(0.001, deadline - time.monotonic()))
        held[0].connect(sockaddr)
        if scheme == "https":
            held[0] = ssl.create_default_context().wrap_socket(held[0], server_hostname=host)
        connection = http.client.HTTPConnection(host, port)
        connection.sock = held[0]  # already connected, to the checked address
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        response.close()  # its body is never read: without this the socket stays open until it is collected
        connection.close()
        if cut.is_set():  # a cut socket reads as the end of the headers: not a real answer
            raise _failed(egress.origin(url), "timeout", TimeoutError("the answer was cut at the deadline"))
        return status
    except ssl.SSLError as failure:
        raise _failed(egress.origin(url), "timeout" if cut.is_set() else "tls", failure) from None
    except (OSError, http.client.HTTPException, ValueError) as failure:
        category = "timeout" if cut.is_set() or time.monotonic() >= deadline else "connect"
        raise _failed(egress.origin(url), category, failure) from None
    finally:
        watchdog.cancel()
        held[0].close()


def _resolve(host: str, port: int, allow_private: bool, deadline: float) -> tuple[int, tuple]:
    lookup = _resolver.submit(egress.resolve, host, port, allow_private=allow_private)
    try:
        return lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except egress.AddressNotAllowed as refused:
        raise _failed(host, "address", refused) from None
    except concurrent.futures.TimeoutError as failure:
        raise _failed(host, "timeout", failure) from None
    except (OSError, UnicodeError, ValueError) as failure:
        raise _failed(host, "dns", failure) from None


def _cut(held: list[socket.socket], cut: threading.Event) -> None:
    """The deadline passed: wake whatever is blocked on the socket."""
    cut.set()
    try:
        held[0].shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _failed(where: str, category: str, failure: BaseException) -> DeliveryError:
    log.info("webhook delivery to %s failed (%s): %s: %s", where, category, type(failure).__name__, failure)
    return DeliveryError(category)
