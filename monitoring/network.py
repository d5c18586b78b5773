"""Posting to a webhook endpoint safely: https only (unless allowed), public addresses only
(unless the operator allows a network), checked on the connected socket itself.

Plain Python (http.client). Checking a name when an endpoint is saved is not enough: the name
may resolve elsewhere when crossline connects (DNS rebinding), so the peer address of every
connected socket is checked before a byte of TLS or HTTP is sent (MLflow's
`webhooks/ssrf.py`). Redirects are never followed (http.client follows none) and no proxy
from the environment is used.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

# The receiver's answer kept in the delivery log.
ANSWER_BYTES = 1024


class Refused(Exception):
    """A URL or an address crossline will not send to; a delivery to it is never retried."""


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: status, headers (lower-case names) and the start of its body."""

    status: int
    headers: dict[str, str]
    body: bytes


def address_allowed(address: str, allowed_networks: Sequence[str] = ()) -> bool:
    """Whether crossline may connect to `address`: a public address, or one in the networks
    the operator allows (settings, never the UI)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in ipaddress.ip_network(network) for network in allowed_networks):
        return True
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_http: bool = False) -> SplitResult:
    """The URL split, if it is one crossline may post to; else Refused with the reason."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise Refused(f"not a valid URL: {error}") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise Refused(
            "only https URLs are allowed"
            if not allow_http
            else "only http and https URLs are allowed"
        )
    if not parts.hostname:
        raise Refused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and admin pages: the signature authenticates.
        raise Refused("the URL must not carry a user name or password")
    if port == 0:
        raise Refused("the URL's port must not be 0")
    return parts


def resolve_allowed(
    url: str,
    *,
    allowed_networks: Sequence[str] = (),
    allow_http: bool = False,
    resolve: Callable[..., Any] | None = None,
) -> list[str]:
    """The URL's addresses, when every one of them is allowed (an endpoint being saved);
    else Refused naming the first address that is not."""
    parts = check_url(url, allow_http=allow_http)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = (resolve or socket.getaddrinfo)(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise Refused(f"{parts.hostname} does not resolve: {error}") from None
    addresses = sorted({str(info[4][0]) for info in found})
    for address in addresses:
        if not address_allowed(address, allowed_networks):
            raise Refused(
                f"{parts.hostname} resolves to {address}, which is not a public address and "
                "not in CROSSLINE_WEBHOOK_ALLOWED_NETWORKS"
            )
    return addresses


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allowed_networks: Sequence[str] = (),
    allow_http: bool = False,
) -> Answer:
    """POST `body` to `url` and return the answer. Refused when the URL or the connected
    address is not allowed; OSError (timeouts included) or http.client.HTTPException when the
    connection fails."""
    parts = check_url(url, allow_http=allow_http)
    connection_class = _checked_connection(
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection,
        tuple(allowed_networks),
    )
    kwargs: dict[str, Any] = {"timeout": timeout}
    if parts.scheme == "https":
        kwargs["context"] = ssl.create_default_context()
    # The port given explicitly: http.client would read the end of an IPv6 address as one.
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection = connection_class(parts.hostname, port, **kwargs)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        return Answer(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(ANSWER_BYTES),
        )
    finally:
        connection.close()


def _checked_connection(base: type, allowed_networks: tuple[str, ...]) -> type:
    """`base` whose sockets are refused, before any data, unless their peer is allowed."""

    def connect_checked(address: Any, timeout: Any = None, source_address: Any = None, **kw: Any):
        sock = socket.create_connection(address, timeout, source_address, **kw)
        peer = str(sock.getpeername()[0])
        if not address_allowed(peer, allowed_networks):
            sock.close()
            raise Refused(
                f"connected to {peer}, which is not a public address and not in "
                "CROSSLINE_WEBHOOK_ALLOWED_NETWORKS (the name may have been rebound)"
            )
        return sock

    class Checked(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # http.client opens every socket through this attribute (HTTPS before its TLS
            # handshake), so no connection escapes the check.
            self._create_connection = connect_checked

    return Checked
