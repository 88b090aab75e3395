"""HTTP(S) fetching that a hostile feed cannot turn against the machine newsbot runs on.

Feeds and redirects are written by strangers, so only http(s) is fetched, every redirect hop is
checked again, and a host's addresses are checked after DNS. The connection goes to the checked
address itself, so a DNS answer that changes in between (rebinding) cannot switch it, while TLS
still verifies the host name. Bodies are capped after decompression; one deadline covers it all.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import certifi
import urllib3

from retrieval.errors import ConfigError, LoadError
from retrieval.settings import env_float, env_int

USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 10 * 2**20
CHUNK = 64 * 1024
# Cloud metadata services hand out credentials: only NEWSBOT_ALLOW_PRIVATE_URLS=1 reaches them,
# not an allow-list network that contains one. AWS/GCP/Azure, AWS IPv6, Azure wireserver, Alibaba.
_METADATA = "169.254.169.254 fd00:ec2::254 168.63.129.16 100.100.100.200"
METADATA = frozenset(map(ipaddress.ip_address, _METADATA.split()))
KINDS = ("loopback", "link_local", "multicast", "unspecified")  # else "private" (reserved too)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Response = urllib3.BaseHTTPResponse


class FetchRefused(LoadError):
    """The URL, or every address it resolves to, is outside the policy; retrying will not help."""


class HTTPStatusError(LoadError):
    """The server answered with an error status; `.status` lets a caller retry a 5xx later."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    """What one fetch may reach and consume. `allow=True` reaches every address; a tuple of
    networks is reachable in addition to the public internet."""

    allow: bool | tuple[Network, ...] = ()
    timeout: float = DEFAULT_TIMEOUT  # seconds for the whole fetch, redirects included
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 5

    @classmethod
    def from_env(cls) -> FetchPolicy:
        policy = cls(
            allow=_parse_allow(os.environ.get("NEWSBOT_ALLOW_PRIVATE_URLS", "")),
            timeout=env_float("NEWSBOT_FETCH_TIMEOUT", DEFAULT_TIMEOUT),
            max_bytes=env_int("NEWSBOT_FETCH_MAX_BYTES", DEFAULT_MAX_BYTES),
        )
        if policy.timeout <= 0 or policy.max_bytes <= 0:
            raise ConfigError("NEWSBOT_FETCH_TIMEOUT and NEWSBOT_FETCH_MAX_BYTES must be above 0")
        return policy


def _parse_allow(raw: str) -> bool | tuple[Network, ...]:
    raw = raw.strip()
    if raw in ("", "0", "1"):
        return True if raw == "1" else ()
    try:
        parts = [p.strip() for p in raw.split(",")]
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts if p)
    except ValueError:
        msg = f"NEWSBOT_ALLOW_PRIVATE_URLS={raw!r} is not 0, 1 or a list of IPs/CIDRs (10.0.0.0/8)"
        raise ConfigError(msg) from None


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    status: int  # 2xx, or 304
    body: bytes  # b"" when not modified
    etag: str | None
    last_modified: str | None
    max_age: int | None  # seconds from Cache-Control max-age; None if absent, no-cache or no-store

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch_bytes(url: str, policy: FetchPolicy | None = None) -> bytes:
    """The body of `url`: what the loaders need."""
    return fetch(url, policy=policy).body


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    policy: FetchPolicy | None = None,
) -> Fetched:
    """GET `url` under `policy` (default: from the environment), following redirects by hand so
    that each hop is checked. `etag` / `last_modified` make it a conditional GET: a 304 comes back
    as `not_modified`, not as an error. Every failure is a one-line LoadError naming the URL."""
    policy = policy or FetchPolicy.from_env()
    deadline = time.monotonic() + policy.timeout
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    conditions = (("If-None-Match", etag), ("If-Modified-Since", last_modified))
    headers.update((name, value) for name, value in conditions if value)
    current = url
    for hop in range(policy.max_redirects + 1):
        where = current if hop == 0 else f"{current} (redirected from {url})"
        try:
            response = _open(current, where, headers, policy, deadline)
            try:
                location = response.headers.get("Location", "").strip()
                if response.status in (301, 302, 303, 307, 308) and location:
                    current = urljoin(current, location).partition("#")[0]
                    continue
                body = b"" if response.status == 304 else _read(response, where, policy, deadline)
            finally:
                response.close()
        except urllib3.exceptions.NewConnectionError as e:  # before TimeoutError: it subclasses it
            reason = getattr(e.__cause__, "strerror", None) or str(e).partition(": ")[2]
            raise LoadError(f"cannot fetch {where}: {reason}") from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise LoadError(f"timed out after {policy.timeout:g} s fetching {where}") from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:  # ValueError: port, IDNA
            raise LoadError(f"cannot fetch {where}: {e}") from None
        h, not_modified = response.headers, response.status == 304
        return Fetched(
            url=current,
            status=response.status,
            body=body,
            etag=h.get("ETag") or (etag if not_modified else None),
            last_modified=h.get("Last-Modified") or (last_modified if not_modified else None),
            max_age=_max_age(h.get("Cache-Control", "")),
        )
    raise LoadError(f"too many redirects (more than {policy.max_redirects}) fetching {url}")


def _open(
    url: str, where: str, headers: dict[str, str], policy: FetchPolicy, deadline: float
) -> Response:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"refused: {where}: only http(s) URLs with a host are fetched")
    host = parts.hostname if parts.hostname.isascii() else parts.hostname.encode("idna").decode()
    port = parts.port or (443 if scheme == "https" else 80)
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    headers = {**headers, "Host": netloc}
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    path = quote(target, safe="!$%&'()*+,/:;=?@[]~")  # spaces and non-ASCII percent-encoded
    tls: dict[str, Any] = {}
    if scheme == "https":  # the pool connects to the checked IP; SNI and certificate use the name
        tls = dict(server_hostname=host, assert_hostname=host, ca_certs=certifi.where())
        tls["cert_reqs"] = "CERT_REQUIRED"
    pool_class = urllib3.HTTPSConnectionPool if tls else urllib3.HTTPConnectionPool
    failure: Exception = LoadError(f"cannot fetch {where}: no address")
    for ip in _resolve(host, port, where, policy):
        left = _remaining(deadline, where, policy)
        timeout = urllib3.Timeout(connect=left, read=left)
        pool = pool_class(str(ip), port, timeout=timeout, retries=False, **tls)
        try:
            return pool.urlopen("GET", path, headers=headers, retries=False, redirect=False,
                                assert_same_host=False, preload_content=False)  # fmt: skip
        except urllib3.exceptions.NewConnectionError as e:
            failure = e  # unreachable (say, IPv6 without a route): try the host's next address
    raise failure


def _resolve(host: str, port: int, where: str, policy: FetchPolicy) -> list[Address]:
    """The host's addresses that the policy allows, refused when there is none. The others are
    dropped, so only a checked address is ever connected to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise LoadError(f"cannot fetch {where}: cannot resolve {host} ({e.strerror})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    allowed = [ip for ip in addresses if _refusal(ip, policy.allow) is None]
    if not allowed:
        ip, hint = addresses[0], "set NEWSBOT_ALLOW_PRIVATE_URLS=1 to allow"
        why = f"{_refusal(ip, policy.allow)} ({hint})"
        raise FetchRefused(f"refused: {where} resolves to {why}")
    return allowed


def _refusal(ip: Address, allow: bool | tuple[Network, ...]) -> str | None:
    """Why `ip` may not be fetched ("a loopback address 127.0.0.1"), or None. IPv4 carried in IPv6
    (mapped, 6to4) is judged too."""
    if allow is True:
        return None
    judged: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        judged = [ip.ipv4_mapped] if ip.ipv4_mapped else [ip, *filter(None, [ip.sixtofour])]
    for a in judged:
        shown = f"{a} (in {ip})" if a != ip else str(a)
        if a in METADATA:
            return f"the cloud metadata address {shown}"
        public = a.is_global and not (a.is_multicast or a.is_reserved)  # is_global passes 224/4
        if not public and not any(a in net for net in allow or ()):
            kind = next((k for k in KINDS if getattr(a, f"is_{k}")), "private").replace("_", "-")
            return f"{'an' if kind[0] == 'u' else 'a'} {kind} address {shown}"
    return None


def _read(response: Response, where: str, policy: FetchPolicy, deadline: float) -> bytes:
    """The decoded body, a chunk at a time, so neither a huge body nor a gzip bomb is ever held
    past the cap; an error status raises."""
    if not 200 <= response.status < 300:
        reason = f" {response.reason}" if response.reason else ""
        raise HTTPStatusError(f"HTTP {response.status}{reason} fetching {where}", response.status)
    cap, declared = policy.max_bytes, response.headers.get("Content-Length", "").strip()
    limit = f"{cap / 2**20:g} MiB" if cap >= 2**20 else f"{cap} bytes"
    if declared.isdigit() and int(declared) > cap:
        raise LoadError(f"response larger than {limit} (Content-Length {declared}): {where}")
    body = bytearray()
    while chunk := response.read1(CHUNK):  # one network read each, so the deadline is checked often
        body += chunk
        if len(body) > cap:
            raise LoadError(f"response larger than {limit}; cut off: {where}")
        _remaining(deadline, where, policy)
    return bytes(body)


def _max_age(cache_control: str) -> int | None:
    directives = dict(d.strip().partition("=")[::2] for d in cache_control.lower().split(","))
    value = directives.get("max-age", "").strip('"')
    fresh = value.isdigit() and not {"no-cache", "no-store"} & directives.keys()
    return int(value) if fresh else None


def _remaining(deadline: float, where: str, policy: FetchPolicy) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise LoadError(f"timed out after {policy.timeout:g} s fetching {where}")
    return left

