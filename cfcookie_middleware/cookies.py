"""The browser's cookie rules: render ``Set-Cookie`` values, read ``Cookie`` headers, and judge
domains, paths and sizes as browsers do.

Python's ``http.cookies`` quotes some values, and a quoted CloudFront signature no longer verifies,
so the middleware and the command line share this small renderer instead. It never quotes or
escapes: anything that cannot appear verbatim in a ``Set-Cookie`` header (RFC 6265) is refused.
The middleware, ``cfcookie`` and the doctor judge domains and sizes with the same functions here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from cfcookie_middleware.signing import ConfigurationError, When, to_epoch

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

__all__ = [
    "CLOUDFRONT_COOKIES",
    "MAX_COOKIE_BYTES",
    "CookieRenderer",
    "RequestCookies",
    "check_cookie_domain",
    "cookie_renderer",
    "domain_covers",
    "is_cookie_value",
    "is_secure_context_host",
    "parse_cookie_header",
    "parse_cookie_pairs",
    "registrable_domain",
    "set_cookie_header",
    "size_problem",
]

CLOUDFRONT_COOKIES = (
    "CloudFront-Policy",
    "CloudFront-Expires",
    "CloudFront-Signature",
    "CloudFront-Key-Pair-Id",
    "CloudFront-Hash-Algorithm",
)
_CLOUDFRONT_NAMES = frozenset(CLOUDFRONT_COOKIES)
MAX_COOKIE_BYTES = 4096
"""What browsers keep of one cookie: name, value and attributes (RFC 6265 section 6.1)."""

# RFC 6265 section 4.1.1: a cookie name is an RFC 2616 token, a value is a run of cookie-octets
# (printable ASCII except space, '"', ',', ';' and '\'). CloudFront's base64 is always inside it.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# A host name (optionally with the legacy leading dot): no scheme, port, path or spaces.
_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# A path attribute value is any printable ASCII except ';' (RFC 6265 section 4.1.1).
_PATH = re.compile(r"/[\x20-\x3a\x3c-\x7e]*")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def set_cookie_header(
    name: str,
    value: str,
    *,
    domain: str | None = None,
    path: str | None = "/",
    secure: bool = True,
    httponly: bool = True,
    samesite: str | None = "Lax",
    max_age: int | None = None,
    expires: When | None = None,
) -> str:
    """The value of one ``Set-Cookie`` header (without the ``Set-Cookie:`` name), never quoted.

    Defaults are the safe ones for signed cookies: ``Path=/``, ``Secure``, ``HttpOnly``,
    ``SameSite=Lax`` and a session cookie (no ``Expires``/``Max-Age``). ``expires`` takes what
    ``Signer`` takes (aware datetime, timedelta from now or epoch seconds); ``samesite=None``
    leaves the attribute out. Every refusal is a ``ConfigurationError`` naming the input.
    """
    parts = [_pair(name, value)]
    if domain is not None:
        if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain) or ".." in domain:
            raise ConfigurationError(
                f"cookie_domain: {str(domain)[:80]!r} is not a host name; use a name such as "
                "example.com or media.example.com (letters, digits, '-' and '.', with no "
                "scheme, port or path)"
            )
        parts.append(f"Domain={domain}")
    if path is not None:
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise ConfigurationError(
                f"cookie_path: {str(path)[:80]!r} must start with '/' and contain only printable "
                "ASCII without ';' (percent-encode anything else), such as / or /videos/"
            )
        if "*" in path or "?" in path:
            raise ConfigurationError(
                f"cookie_path: {path[:80]!r} is a glob, but a cookie Path is a literal prefix "
                "that browsers never expand; use the directory itself, such as /videos/"
            )
        parts.append(f"Path={path}")
    if expires is not None:
        parts.append("Expires=" + formatdate(to_epoch(expires, name="expires"), usegmt=True))
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ConfigurationError(
                f"max_age: {max_age!r} is not a number of seconds; pass an int >= 0 "
                "(0 deletes the cookie) or None for a session cookie"
            )
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE.get(str(samesite).lower())
        if canonical is None:
            raise ConfigurationError(
                f"samesite: {str(samesite)[:20]!r} is not one of 'lax', 'strict' or 'none'"
            )
        if canonical == "None" and not secure:
            raise ConfigurationError(
                "samesite: 'none' needs secure=True; browsers drop SameSite=None cookies "
                "that are not Secure"
            )
        parts.append(f"SameSite={canonical}")
    return "; ".join(parts)


class CookieRenderer(Protocol):
    """What ``cookie_renderer`` returns."""

    def __call__(self, cookies: Mapping[str, str], *, checked: bool = False) -> list[str]: ...


def cookie_renderer(**attributes: Any) -> CookieRenderer:
    """``set_cookie_header`` for a CloudFront cookie set, with the attributes (``domain``,
    ``path``, ``secure``...) fixed and checked once, here: each call checks only the cookies,
    which vary, and appends the attributes written in advance (a signed set is rendered per
    user, or per window)."""
    written = set_cookie_header("x", "", **attributes).removeprefix("x=")

    def render(cookies: Mapping[str, str], *, checked: bool = False) -> list[str]:
        """A ``Set-Cookie`` value per cookie, refused unless each is a CloudFront cookie whose
        value can go in a header unquoted; ``checked`` says the caller knows that already. The
        values are checked joined, one regex pass per set (a run of cookie-octets is one
        exactly when each of its parts is); only a refusal checks them one by one, to name
        the cookie at fault."""
        if not checked:
            _check_cloudfront_cookies(cookies)
        return [f"{name}={value}{written}" for name, value in cookies.items()]

    return render


def is_cookie_value(value: str) -> bool:
    """Whether ``value`` can go in a ``Set-Cookie`` header unquoted."""
    return _VALUE.fullmatch(value) is not None


def _check_cloudfront_cookies(cookies: Mapping[str, str]) -> None:
    if not cookies.keys() <= _CLOUDFRONT_NAMES:
        unknown = sorted(map(str, cookies.keys() - _CLOUDFRONT_NAMES))
        raise ConfigurationError(
            f"cookie {unknown[0][:60]!r} is not a CloudFront cookie "
            f"({', '.join(CLOUDFRONT_COOKIES)})"
        )
    try:
        sendable = is_cookie_value("".join(cookies.values()))
    except TypeError:  # a value that is not a str
        sendable = False
    if not sendable:
        for name, value in cookies.items():
            _pair(name, value)


def _pair(name: str, value: str) -> str:
    """``name=value``, refused unless both can go in a ``Set-Cookie`` header unquoted."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"cookie name {str(name)[:60]!r} is not a valid cookie name (letters, digits and "
            "!#$%&'*+-.^_`|~ only; no spaces, '=', ';' or quotes)"
        )
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise ConfigurationError(
            f"cookie {name}: the value contains a space, '\"', ',', ';', '\\', a control or a "
            "non-ASCII character, which a Set-Cookie header cannot carry unquoted; CloudFront's "
            "base64 never does, so pass the value exactly as the signer produced it"
        )
    return f"{name}={value}"


def parse_cookie_pairs(header: str) -> list[tuple[str, str]]:
    """Every ``name=value`` pair of a ``Cookie`` request header, in order, values verbatim.

    Browsers send ``name=value; name2=value2`` with no quoting; ``http.cookies.SimpleCookie``
    would drop the whole header on one odd pair, so this reads pair by pair and skips only
    the pairs without ``=``. Surrounding double quotes are kept: CloudFront values never have
    them, so a quoted value simply fails to verify, as it would at CloudFront.
    """
    pairs = []
    for part in header.split(";"):
        name, equals, value = part.partition("=")
        if equals and name.strip():
            pairs.append((name.strip(), value.strip()))
    return pairs


def parse_cookie_header(header: str) -> dict[str, str]:
    """A ``Cookie`` header as a mapping; the first of repeated names wins, as browsers list the
    cookie with the longest matching path first."""
    cookies: dict[str, str] = {}
    for name, value in parse_cookie_pairs(header):
        cookies.setdefault(name, value)
    return cookies


class RequestCookies(Mapping[str, str]):
    """A ``Cookie`` header read as a mapping (first of repeated names wins), parsed on first use:
    most requests never look at it."""

    __slots__ = ("_parsed", "header")

    def __init__(self, header: str) -> None:
        self.header = header
        self._parsed: dict[str, str] | None = None

    def _cookies(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = parse_cookie_header(self.header)
        return self._parsed

    def __getitem__(self, name: str) -> str:
        return self._cookies()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cookies())

    def __len__(self) -> int:
        return len(self._cookies())

    def __repr__(self) -> str:
        return f"RequestCookies({sorted(self._cookies())})"


def resource_path(resource: str) -> tuple[str, bool]:
    """The path every URL a policy resource covers starts with, and whether the resource is
    one exact URL.

    (In a canned resource ``?`` starts the query; in a custom one it is a wildcard: either way
    the path ends there. A wildcard in the host is taken to stay within the host.)
    """
    rest = resource.split("://", 1)[1]
    slash, path = rest.partition("/")[1:]
    path = slash + path
    cut = min((i for i in (path.find("*"), path.find("?")) if i >= 0), default=len(path))
    exact = "*" not in resource
    return (path[:cut] or ("/" if exact else "")), exact


def path_covers(cookie_path: str, literal: str, *, exact: bool) -> bool:
    """RFC 6265's path-match of ``cookie_path`` against every path starting with ``literal``
    (against ``literal`` alone when ``exact``): whether browsers send the cookie to them all."""
    if cookie_path == "/":
        return True
    if not literal.startswith(cookie_path):
        return False
    rest = literal[len(cookie_path) :]
    return cookie_path.endswith("/") or rest.startswith("/") or (not rest and exact)


def size_problem(*set_cookies: str, room: int = 0) -> str | None:
    """Why browsers would drop the first cookie of these ``Set-Cookie`` values that is too
    big, or ``None`` when all fit; ``room`` counts bytes added later to each (a ``Max-Age``
    each response sets)."""
    for set_cookie in set_cookies:
        size = len(set_cookie) + room
        if size > MAX_COOKIE_BYTES:
            return (
                f"the {set_cookie.partition('=')[0]} cookie would be {size} bytes, over the "
                f"{MAX_COOKIE_BYTES} bytes browsers keep; shorten the resource (a wildcard "
                "such as https://media.example.com/videos/* covers many files)"
            )
    return None


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """Loaded on first use (about 50 ms), not on import: ``cfcookie --version`` never needs it."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def check_cookie_domain(domain: str) -> None:
    """Refuse a public-suffix ``Domain``: browsers reject cookies set for it."""
    bare = domain.lstrip(".").lower()
    suffixes = _public_suffixes()
    if suffixes.is_public(bare) or suffixes.privatesuffix(bare) is None:
        raise ConfigurationError(
            f"cookie_domain: {domain} is a public suffix, so browsers refuse cookies for it "
            "(an app can never set cookies for *.cloudfront.net); give the distribution an "
            "alternate domain name such as media.example.com and use cookie_domain "
            "'.example.com'"
        )


def domain_covers(host: str, domain: str) -> bool:
    """Whether browsers send a cookie with this ``Domain`` to ``host``."""
    bare = domain.lstrip(".").lower()
    host = host.lower()
    return host == bare or host.endswith("." + bare)


def registrable_domain(host: str) -> str:
    """The highest domain above ``host`` that may carry cookies (``example.com`` for
    ``media.example.com``)."""
    return _public_suffixes().privatesuffix(host.lower()) or host


def is_secure_context_host(host: str) -> bool:
    """Whether browsers treat plain http to ``host`` (a Host header, with or without its port)
    as a secure context: localhost, ``*.localhost`` and loopback addresses, where they keep and
    send ``Secure`` cookies anyway."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
