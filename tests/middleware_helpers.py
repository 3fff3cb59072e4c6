"""Shared helpers for the adapter suites (test_wsgi, test_starlette, test_flask).

Everything here reads what went over the wire: raw ``Set-Cookie`` header values are split by hand
(RFC 6265 section 4.1.1: ``name=value`` then ``; attribute`` pairs) rather than with the library's
own renderer, and every cookie set is judged by the project's ``Verifier``, the way CloudFront
would judge it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

from cfcookie_middleware.cookies import RequestCookies, parse_cookie_header, parse_cookie_pairs
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import (
    LocalKey,
    Policy,
    Signer,
    VerifyingKey,
    load_private_key,
)
from cfcookie_middleware.verify import Verifier

VECTORS = Path(__file__).parent / "vectors"
KEY_ID = "K2JCJMDEHXQW5F"
ROTATED_KEY_ID = "K3ROTATEDKEY7Q"
APP_HOST = "app.example.com"
BASE_URL = f"https://{APP_HOST}"
MEDIA = "https://media.example.com"
DOMAIN = ".example.com"
CLOUDFRONT_NAMES = (
    "CloudFront-Policy",
    "CloudFront-Expires",
    "CloudFront-Signature",
    "CloudFront-Key-Pair-Id",
    "CloudFront-Hash-Algorithm",
)
CUSTOM_SET = {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
CANNED_SET = {"CloudFront-Expires", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
# A window start on the one-hour rules' 300 s grid (a tenth of the ttl, at most five minutes):
# requests timed from here get policies expiring at exactly T0 + 3600.
T0 = 1_800_000_000


CLIENT_IP = "203.0.113.9"


def asgi_scope(
    path: str,
    *,
    root_path: str = "",
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    spec_version: str = "2.3",
) -> dict[str, Any]:
    """A GET scope as an ASGI server for https://app.example.com builds it: ``Host`` first,
    then ``headers``; ``raw_path`` defaults to ``path`` encoded."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "root_path": root_path,
        "query_string": query_string,
        "headers": [(b"host", APP_HOST.encode()), *headers],
        "client": (CLIENT_IP, 50000),
        "server": (APP_HOST, 443),
    }


def wsgi_environ(path_info: str, *, query: str = "", **extra: Any) -> dict[str, Any]:
    """A GET environ as a PEP 3333 server for https://app.example.com builds it (the rest
    filled in by ``wsgiref``); ``extra`` adds or replaces keys."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": APP_HOST,
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": APP_HOST,
        "REMOTE_ADDR": CLIENT_IP,
        "wsgi.url_scheme": "https",
        **extra,
    }
    setup_testing_defaults(environ)
    return environ


class CountingSigner(Signer):
    """A real Signer that counts ``sign_policy`` calls and checks of held sets (Signer has
    ``__slots__``, hence this subclass), to show the middleware reuses signatures instead of
    paying one per request."""

    __slots__ = ("_calls_lock", "calls", "verifies")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = self.verifies = 0
        self._calls_lock = threading.Lock()

    def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
        with self._calls_lock:
            self.calls += 1
        return super().sign_policy(policy, prefix=prefix)

    def verify(self, message: bytes, signature: bytes) -> bool:
        with self._calls_lock:
            self.verifies += 1
        return super().verify(message, signature)


class GatedBackend:
    """A signing backend standing in for a slow KMS: once ``armed``, each signature waits until
    the test sets ``release`` (a gate, not a sleep, so no test depends on timing). It counts the
    signatures in flight, the most at once, and those made on an event loop's thread."""

    hash_algorithm = "SHA256"

    def __init__(self, key_path: Path = VECTORS / "test-rsa-key.pem") -> None:
        self._local = LocalKey(load_private_key(key_path), "SHA256")
        self.armed = False
        self.release = threading.Event()
        self.in_flight = self.peak = 0
        self.on_a_loop = 0
        self._lock = threading.Lock()

    def sign(self, message: bytes) -> bytes:
        if self.armed:
            with self._lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                self.on_a_loop += _on_an_event_loop()
            try:
                if not self.release.wait(20):
                    raise TimeoutError("the test never released the gated signer")
            finally:
                with self._lock:
                    self.in_flight -= 1
        return self._local.sign(message)

    def public_key(self) -> VerifyingKey:
        return self._local.public_key()

    def wait_for(self, in_flight: int) -> None:
        """Until ``in_flight`` signatures are waiting at the gate (at most ten seconds)."""
        deadline = time.monotonic() + 10
        while self.in_flight < in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.in_flight >= in_flight, self.in_flight


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def make_signer() -> CountingSigner:
    """The RSA test key AWS publishes with its signing vectors (SHA-1, three cookies)."""
    return CountingSigner(KEY_ID, VECTORS / "test-rsa-key.pem")


def rotated_signer() -> CountingSigner:
    """Key rotation: another key pair, another id (ECDSA P-256, so four cookies)."""
    return CountingSigner(ROTATED_KEY_ID, VECTORS / "test-ecdsa-key.pem")


def default_rules() -> list[Rule]:
    return [
        Rule("/videos/*", resource=f"{MEDIA}/videos/*"),
        Rule("/users/{user_id}/library", resource=f"{MEDIA}/users/{{user_id}}/*"),
        Rule("/poster", resource=f"{MEDIA}/poster.jpg"),
    ]


def options(signer: Signer, **overrides: Any) -> dict[str, Any]:
    """The keyword options every adapter takes, with the suites' defaults."""
    return {"signer": signer, "rules": default_rules(), "cookie_domain": DOMAIN, **overrides}


class Clock:
    """A settable clock for the ``clock`` option, so a test can move a visitor through time."""

    def __init__(self, now: float = T0 + 17) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- reading responses --------------------------------------------------------------------
@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header value split by hand: attribute names lower-cased."""

    raw: str
    name: str
    value: str
    attributes: dict[str, str | None] = field(default_factory=dict)


def parse_set_cookie(raw: str) -> SetCookie:
    pair, *attributes = raw.split(";")
    name, _, value = pair.partition("=")
    parsed: dict[str, str | None] = {}
    for attribute in attributes:
        key, equals, attribute_value = attribute.strip().partition("=")
        assert key.lower() not in parsed, f"attribute {key} repeated in {raw!r}"
        parsed[key.lower()] = attribute_value if equals else None
    return SetCookie(raw, name.strip(), value.strip(), parsed)


def header_values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive) in the order sent."""
    return [value for key, value in headers if key.lower() == name.lower()]


def cloudfront_set_cookies(set_cookie_values: Iterable[str]) -> dict[str, SetCookie]:
    """The ``CloudFront-*`` Set-Cookie headers by name; each name must be sent exactly once."""
    found: dict[str, SetCookie] = {}
    for raw in set_cookie_values:
        cookie = parse_set_cookie(raw)
        if cookie.name.startswith("CloudFront-"):
            assert cookie.name not in found, f"{cookie.name} sent twice"
            found[cookie.name] = cookie
    return found


def assert_safe_attributes(
    cookie: SetCookie, *, domain: str | None = DOMAIN, clearing: bool = False
) -> None:
    """The defaults the design promises: Domain as configured, Path=/, Secure, HttpOnly,
    SameSite=Lax, a session cookie (or, ``clearing``, one expired at once, RFC 6265 5.2.2);
    and the value verbatim (never quoted)."""
    expected: dict[str, str | None] = {"path": "/", "secure": None, "httponly": None}
    expected["samesite"] = "Lax"
    if clearing:
        expected |= {"max-age": "0", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}
    if domain is not None:
        expected["domain"] = domain
    assert cookie.attributes == expected, cookie.raw
    assert not set(cookie.value) & set('"\\; '), cookie.raw


def verifier_for(*signers: Signer) -> Verifier:
    return Verifier({signer.key_pair_id: signer.public_key for signer in signers})


def assert_grants(
    set_cookie_values: Iterable[str],
    signer: Signer,
    inside: str,
    outside: str | None,
    *,
    expected_names: set[str] | None = None,
    now: float | None = None,
    domain: str | None = DOMAIN,
) -> dict[str, str]:
    """Check one freshly issued set and return it as {name: value}.

    CloudFront (as the Verifier) must serve ``inside`` with it and refuse ``outside`` with
    AccessDenied; the names default to the custom-policy set of an RSA/SHA-1 signer.
    """
    cookies = cloudfront_set_cookies(set_cookie_values)
    # A CloudFront cookie the browser holds but the set lacks is sent expired, at the same
    # Domain and Path; the rest is the set itself.
    for name, cookie in list(cookies.items()):
        if cookie.attributes.get("max-age") == "0":
            assert cookie.value == "", cookie.raw
            assert_safe_attributes(cookie, domain=domain, clearing=True)
            del cookies[name]
    assert set(cookies) == (CUSTOM_SET if expected_names is None else expected_names)
    for cookie in cookies.values():
        assert_safe_attributes(cookie, domain=domain)
    values = {name: cookie.value for name, cookie in cookies.items()}
    at = None if now is None else int(now)
    verifier = verifier_for(signer)
    decision = verifier.check_cookies(inside, values, now=at)
    assert decision.allowed, decision.reason
    if outside is not None:
        refused = verifier.check_cookies(outside, values, now=at)
        assert (refused.allowed, refused.code) == (False, "AccessDenied"), refused.reason
    return values


def cloudfront_b64(data: bytes) -> str:
    """CloudFront's base64 by hand: ``+ = /`` written as ``- _ ~`` (CloudFront developer guide,
    "Set signed cookies using a custom policy")."""
    return base64.b64encode(data).decode().translate(str.maketrans("+=/", "-_~"))


def policy_document(value: str) -> Any:
    """A ``CloudFront-Policy`` value decoded by hand (the inverse of ``cloudfront_b64``)."""
    return json.loads(base64.b64decode(value.translate(str.maketrans("-_~", "+=/"))))


def policy_expiry(values: Mapping[str, str]) -> int:
    if "CloudFront-Expires" in values:
        return int(values["CloudFront-Expires"])
    statement = policy_document(values["CloudFront-Policy"])["Statement"][0]
    expiry: int = statement["Condition"]["DateLessThan"]["AWS:EpochTime"]
    return expiry


def cookie_header(cookies: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """A ``Cookie`` request header as a browser writes it."""
    pairs = cookies.items() if isinstance(cookies, Mapping) else cookies
    return "; ".join(f"{name}={value}" for name, value in pairs)


def garbage_cookie_headers(valid: Mapping[str, str]) -> dict[str, str]:
    """Cookie headers a request may carry that must never stop a fresh valid set going out.

    ``valid`` is a set issued earlier for another resource; pieces of it make the mixes.
    """
    key_id = valid["CloudFront-Key-Pair-Id"]
    return {
        "not-base64": f"CloudFront-Policy=!!!%%%; CloudFront-Signature=x; "
        f"CloudFront-Key-Pair-Id={key_id}",
        "base64-not-json": "CloudFront-Policy=bm90IGpzb24_; CloudFront-Signature=AAAA; "
        f"CloudFront-Key-Pair-Id={key_id}",
        "json-wrong-shape": "CloudFront-Policy="
        + cloudfront_b64(b'{"Statement":{"Resource":7}}')
        + f"; CloudFront-Signature=AAAA; CloudFront-Key-Pair-Id={key_id}",
        "oversized": f"CloudFront-Policy={'A' * 9000}; CloudFront-Signature={'B' * 5000}; "
        f"CloudFront-Key-Pair-Id={key_id}",
        "duplicated": cookie_header(valid) + "; " + cookie_header(valid),
        "quoted": cookie_header({name: f'"{value}"' for name, value in valid.items()}),
        "no-value-pairs": "CloudFront-Policy; CloudFront-Signature; =; ;;",
        "unknown-key-id": cookie_header({**valid, "CloudFront-Key-Pair-Id": "KNOTOURS00000"}),
        "wrong-hash": cookie_header({**valid, "CloudFront-Hash-Algorithm": "MD5"}),
        "forged-signature": cookie_header({**valid, "CloudFront-Signature": "AAAA"}),
    }


GARBAGE_KINDS = sorted(garbage_cookie_headers(dict.fromkeys(CUSTOM_SET, "x")))


# ---- configuration errors, shared by the Flask and Starlette suites -------------------------
@dataclass(frozen=True)
class BadConfig:
    """One misconfiguration and the ``ConfigurationError`` it must raise.

    ``stage`` is where it surfaces: ``"rule"`` when writing the ``Rule`` itself already fails,
    ``"build"`` when the options are fine one by one and the middleware's build refuses them.
    """

    id: str
    make: Callable[[Signer], dict[str, Any]]
    match: str
    stage: str = "build"


def _with_rule(*args: Any, **kwargs: Any) -> Callable[[Signer], dict[str, Any]]:
    return lambda signer: options(signer, rules=[Rule(*args, **kwargs)])


def _with(**overrides: Any) -> Callable[[Signer], dict[str, Any]]:
    return lambda signer: options(signer, **overrides)


BAD_CONFIGS = [
    BadConfig(
        "no-rules",  # rules=[] is how an app with grants named at its views only says it
        lambda s: {k: v for k, v in options(s).items() if k != "rules"},
        r"rules: none given; .* or rules=\[\] when only grants",
    ),
    BadConfig(
        "misspelled-option",
        _with(cookie_domian=".example.com"),
        # Each adapter spells the name as its user wrote it (Flask and Django: their settings).
        r"(?i)cookie_domian'?\]?: not an option; did you mean .*cookie_domain\b",
    ),
    BadConfig("not-a-signer", lambda s: {**options(s), "signer": "k.pem"}, "expected a Signer"),
    BadConfig(
        "unknown-template-field",
        _with_rule("/videos/*", resource=f"{MEDIA}/{{user_id}}/*"),
        "user_id .* not captured by the pattern",
        "rule",
    ),
    BadConfig("stray-star", _with_rule("/videos*", resource=f"{MEDIA}/v/*"), "stray", "rule"),
    BadConfig(
        "unclosed-brace",
        _with_rule("/users/{user_id/library", resource=f"{MEDIA}/v/*"),
        "stray",
        "rule",
    ),
    BadConfig("pattern-not-a-path", _with_rule("videos/*", resource=f"{MEDIA}/v/*"), "'/'", "rule"),
    BadConfig("stray-star-in-clear_on", _with(clear_on="/logout*"), "clear_on.*stray"),
    BadConfig(
        "zero-ttl",
        _with_rule("/v/*", resource=f"{MEDIA}/v/*", ttl=timedelta(0)),
        "ttl",
        "rule",
    ),
    BadConfig(
        "negative-ttl",
        _with_rule("/v/*", resource=f"{MEDIA}/v/*", ttl=timedelta(hours=-1)),
        "ttl",
        "rule",
    ),
    BadConfig(
        "domain-cloudfront-net",
        lambda s: options(
            s,
            cookie_domain=".cloudfront.net",
            rules=[Rule("/v/*", resource="https://d111111abcdef8.cloudfront.net/v/*")],
        ),
        "public suffix",
    ),
    BadConfig("domain-com", _with(cookie_domain=".com"), "public suffix"),
    BadConfig(
        "domain-not-covering-resource",
        _with(cookie_domain=".example.org"),
        "does not cover media.example.com",
    ),
    BadConfig("glob-star-in-path", _with(cookie_path="/videos/*"), "cookie_path.*glob"),
    BadConfig("glob-question-in-path", _with(cookie_path="/videos?"), "cookie_path.*glob"),
    BadConfig("unknown-samesite", _with(samesite="sometimes"), "samesite"),
    BadConfig("samesite-none-not-secure", _with(samesite="none", secure=False), "needs secure"),
    BadConfig("max-age-over-ttl", _with(max_age=timedelta(hours=2)), "max_age.*longer than"),
    BadConfig("refresh-margin-not-below-ttl", _with(refresh_margin=timedelta(hours=1)), "margin"),
    BadConfig("methods-options", _with(methods=["GET", "options"]), "OPTIONS cannot carry"),
    BadConfig("methods-not-a-method", _with(methods=["GET /"]), "'GET /' is not an HTTP"),
    BadConfig("methods-none", _with(methods=[]), "methods: none given"),
    BadConfig(
        "host-upper-case",
        _with_rule("/v/*", resource=f"{MEDIA}/v/*", host="WWW.example.com"),
        "host: 'WWW.example.com' must be a lower-case host name",
        "rule",
    ),
    BadConfig(
        "host-with-scheme", _with_rule("/v", resource=MEDIA, host="https://x"), "host", "rule"
    ),
    BadConfig(
        "host-on-some-rules-only",
        _with(
            rules=[
                Rule("/videos/*", resource=f"{MEDIA}/videos/*", host="www.example.com"),
                Rule("/poster", resource=f"{MEDIA}/poster.jpg"),
            ]
        ),
        r"Rule\('/poster'\).host: not set while other rules name a host",
    ),
    BadConfig(
        "policy-over-4kb",
        _with_rule("/v/*", resource=f"{MEDIA}/{'a' * 3100}/*"),
        "over the 4096 bytes",
    ),
]


# ---- a body iterable with close(), as WSGI servers must call it ---------------------------
class ClosingBody:
    """A WSGI response body that records whether the server reached its ``close()``."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def check_cookie_parsing(header: str) -> None:
    """What must hold for any Cookie header: pairs are trimmed names without ';' or '=', values
    without ';', and the lazy mapping agrees with the eager parser (the fuzz property)."""
    pairs = parse_cookie_pairs(header)
    assert len(pairs) <= header.count("=")
    for name, value in pairs:
        assert name == name.strip() != ""
        assert not set(name) & set(";=")
        assert ";" not in value
        assert value == value.strip()
    assert dict(RequestCookies(header)) == parse_cookie_header(header)
