"""Where a consumer URL may point: the guard against server-side request forgery.

A consumer URL is checked when it is saved and again before every delivery, by ``check_url``:

* ``http`` or ``https`` only, a host, no credentials in the URL.
* The host is resolved once; every address it resolves to must pass, and the delivery then connects
  to the address that was checked (the name is never looked up again between check and connect, so
  a DNS answer that changes in between — "DNS rebinding" — cannot redirect it).
* Always refused: link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata endpoints
  (AWS 169.254.169.254 and fd00:ec2::254, Alibaba 100.100.100.200, Oracle 192.0.0.192, the names
  ``metadata.google.internal`` and friends), the unspecified, broadcast and multicast addresses.
  IPv4 written in any form a resolver accepts (decimal ``2852039166``, octal ``0251.0376.0251.0376``,
  hex ``0xa9fea9fe``, short ``169.254.43518``) is read as the address it means, and an IPv4 address
  embedded in IPv6 (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``,
  6to4 ``2002::/16``, Teredo) is checked as that IPv4 address too.
* ``EVENTSCOPE_CONSUMER_DENY`` (hosts, ``.suffix`` domains and CIDRs) refuses more;
  ``EVENTSCOPE_CONSUMER_ALLOW``, when set, refuses everything it does not list.
  Loopback and private addresses are allowed unless denied: local consumers are a main use.

Redirects are never followed (``dashboard.replay.delivery`` sends with redirects off), so a checked
URL cannot bounce a delivery to the metadata service.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Looks a host name up: ``(host, port) -> addresses`` (as strings). Injected in tests.
Resolver = Callable[[str, int], list[str]]

_ALWAYS_REFUSED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "169.254.0.0/16",  # IPv4 link-local, AWS/GCP/Azure metadata at 169.254.169.254
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "0.0.0.0/8",  # "this network": connecting to it reaches the local host by surprise
        "::/128",  # unspecified
        "255.255.255.255/32",  # broadcast
        "224.0.0.0/4",  # multicast
        "ff00::/8",  # multicast
    )
)
_ALWAYS_REFUSED_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")
_MAX_URL = 2048


class TargetRefused(ValueError):
    """The URL may not be delivered to; the message says why (shown to the user as is)."""


class TargetUnresolved(TargetRefused):
    """The host does not resolve, now. Refused when a URL is saved; at a delivery, retried: a name
    that does not resolve for a while (a broker or a service being restarted, a resolver that
    answers "try again") may resolve at the next attempt."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: connect to ``address``:``port``, send ``Host: host_header`` (and SNI ``host``
    for https) and request ``path``."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:
        raise TargetUnresolved(f"the host {host!r} does not resolve ({err})") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in seen:
            seen.append(address)
    return seen


def parse_ipv4_number_form(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as the IPv4 address a classic ``inet_aton`` resolver reads it as, or None when it
    is not such a number form. One to four dot-separated parts, each decimal, ``0x`` hex or
    ``0``-prefixed octal; the last part fills the remaining bytes (``127.1`` is 127.0.0.1)."""
    if not _NUMERIC_HOST.match(text) or not any(ch.isdigit() for ch in text):
        return None
    parts = text.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:  # a trailing dot, as in a fully qualified name
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The address a literal host means (any IPv4 number form, IPv6 with or without a zone), or None
    for a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise TargetRefused(f"{host!r} is not a valid IPv6 address") from None
    return parse_ipv4_number_form(host)


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _forbidden_reason(address: IPAddress) -> str | None:
    for candidate in (address, *embedded_ipv4(address)):
        for network in _ALWAYS_REFUSED_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return f"{candidate} is in {network} (link-local, metadata or not a unicast destination)"
    return None


@dataclass(frozen=True, slots=True)
class Policy:
    """The allow and deny lists: host names (exact, or ``.example.com`` for a domain and its
    subdomains) and networks."""

    allow_hosts: frozenset[str]
    allow_networks: tuple[IPNetwork, ...]
    deny_hosts: frozenset[str]
    deny_networks: tuple[IPNetwork, ...]

    @property
    def has_allow_list(self) -> bool:
        return bool(self.allow_hosts or self.allow_networks)


def _split_entries(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.rstrip("."))
    return frozenset(hosts), tuple(networks)


def policy_from_settings() -> Policy:
    allow_hosts, allow_networks = _split_entries(getattr(settings, "EVENTSCOPE_CONSUMER_ALLOW", []))
    deny_hosts, deny_networks = _split_entries(getattr(settings, "EVENTSCOPE_CONSUMER_DENY", []))
    return Policy(allow_hosts, allow_networks, deny_hosts, deny_networks)


def _host_listed(host: str, hosts: frozenset[str]) -> bool:
    if host in hosts:
        return True
    return any(entry.startswith(".") and (host.endswith(entry) or host == entry[1:]) for entry in hosts)


def _in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    candidates = (address, *embedded_ipv4(address))
    return any(c.version == n.version and c in n for c in candidates for n in networks)


# Broker targets (``dashboard.replay.publishers``): their schemes and default ports.
BROKER_PORTS = {"amqp": 5672, "amqps": 5671, "nats": 4222, "tls": 4222, "redis": 6379, "rediss": 6379}


def _split_url(url: str, *, broker: bool = False) -> SplitResult:
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("the URL is empty")
    if len(url) > _MAX_URL:
        raise TargetRefused(f"the URL is longer than {_MAX_URL} characters")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise TargetRefused("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as err:
        raise TargetRefused(f"the URL is malformed ({err})") from None
    if broker:
        if parts.scheme not in BROKER_PORTS:
            raise TargetRefused("the URL must start with amqp://, amqps://, nats://, tls://, redis:// or rediss://")
    elif parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    elif parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not supported; give the consumer a secret instead")
    if not (parts.hostname or "").isascii():
        # Resolvers map a Unicode name to its IDNA form (and drop soft hyphens): checked as typed,
        # it could pass a deny entry it resolves to. The ASCII form is what is checked and sent.
        raise TargetRefused("the host must be written in ASCII (for an international name, its xn-- form)")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    return parts


def check_url(url: str, *, resolver: Resolver | None = None, policy: Policy | None = None) -> Target:
    """The checked target of ``url``, or :class:`TargetRefused` saying why it may not be used.

    Every address the host resolves to must pass (a name with one forbidden answer is refused
    outright); the first one is the address to connect to.
    """
    parts = _split_url(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    host, address = check_host(parts.hostname or "", port, resolver=resolver, policy=policy)
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, address=address)


def check_broker_url(url: str, *, resolver: Resolver | None = None, policy: Policy | None = None) -> Target:
    """``check_url`` for a broker target (``amqp://``, ``nats://``, ``redis://`` and their TLS forms):
    the same host policy; credentials in the URL are allowed (the broker's login). ``path`` is the
    URL's path (an AMQP vhost, a Redis database), the port the scheme's default when none is given."""
    parts = _split_url(url, broker=True)
    path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if parts.scheme in ("amqp", "amqps") and len(path.encode("utf-8", "surrogatepass")) > 255:
        raise TargetRefused("the vhost (the URL's path) is longer than 255 bytes, more than AMQP can name")
    if parts.scheme in ("redis", "rediss") and path.strip("/") and not _decimal(path.strip("/")):
        raise TargetRefused(f"the database (the URL's path) must be a number, not {path[:20]!r}")
    port = parts.port or BROKER_PORTS[parts.scheme]
    host, address = check_host(parts.hostname or "", port, resolver=resolver, policy=policy)
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=parts.path, address=address)


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def check_host(
    host: str, port: int, *, resolver: Resolver | None = None, policy: Policy | None = None
) -> tuple[str, str]:
    """``(host, address)``: the host as checked (lower case; a literal address in its normal form)
    and the address to connect to, or :class:`TargetRefused`. Every address the host resolves to
    must pass the policy."""
    policy = policy or policy_from_settings()
    host = host.lower().rstrip(".")
    if host in _ALWAYS_REFUSED_NAMES:
        raise TargetRefused(f"{host} is a cloud metadata host")
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
        host = str(literal)
    else:
        if _host_listed(host, policy.deny_hosts):
            raise TargetRefused(f"{host} is denied by EVENTSCOPE_CONSUMER_DENY")
        answers = (resolver or system_resolver)(host, port)
        if not answers:
            raise TargetUnresolved(f"the host {host!r} does not resolve")
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError:
                raise TargetRefused(f"the host {host!r} resolved to {answer!r}, not an address") from None
    for address in addresses:
        reason = _forbidden_reason(address)
        if reason:
            raise TargetRefused(f"{host} resolves to a refused address: {reason}" if literal is None else reason)
        if _in_networks(address, policy.deny_networks) or _host_listed(str(address), policy.deny_hosts):
            raise TargetRefused(f"{address} is denied by EVENTSCOPE_CONSUMER_DENY")
        if policy.has_allow_list and not (
            _host_listed(host, policy.allow_hosts) or _in_networks(address, policy.allow_networks)
        ):
            raise TargetRefused(f"{host} ({address}) is not in EVENTSCOPE_CONSUMER_ALLOW")
    return host, str(addresses[0])
