"""``cfcookie doctor``: check a signed-cookie setup against the pitfalls users hit, one line each.

:func:`diagnose` checks a configuration without the network: the key (read from the variables
``Signer.from_env()`` reads), a sign-then-verify round trip, whether the resource covers the CDN
URL, the cookie domain, path and ``Secure`` flag, the cookies' size and the local clock.
:func:`probe` requests a real CDN URL twice, without and with signed cookies, and reads the
answer; given the page's ``origin``, the signed request is a credentialed CORS request, as a
player's (hls.js ``withCredentials``, Shaka ``allowCrossSiteCredentials``), and three more checks
read the CORS answer. Every :class:`Check` says what was found or, when it failed, the fix.

Checks that need a working key or a valid resource are left out until those pass, so the first
failing line is the one to fix first.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import IO
from urllib.parse import urlsplit

from cfcookie_middleware import __version__

# The middleware's own cookie rules, so that the doctor and the middleware judge alike.
from cfcookie_middleware.cookies import (
    MAX_COOKIE_BYTES,
    check_cookie_domain,
    domain_covers,
    path_covers,
    registrable_domain,
    resource_path,
    set_cookie_header,
    size_problem,
)
from cfcookie_middleware.signing import (
    MAX_EPOCH,
    ConfigurationError,
    Signer,
    check_signer_works,
    key_size_problem,
    validate_key_pair_id,
    validate_resource,
)
from cfcookie_middleware.verify import Verifier

__all__ = ["Check", "diagnose", "probe"]

_TTL = 3600
"""Lifetime of the cookies the doctor signs for its checks and its probe."""
_EARLIEST = 1735689600
"""2025-01-01T00:00:00Z: a clock before it is wrong (the package and its keys are younger)."""
_MAX_SKEW = 60
"""Seconds the local clock may differ from the CDN's ``Date`` header, which has a resolution of
one second and arrives after a network round trip."""
_MAX_BODY = 65536
_PLACEHOLDER_KEY_ID = "K2JCJMDEHXQW5F"
"""The key ID from AWS's docs, standing in for a malformed one so that the key is still checked."""
_KEY_FILE, _KEY_PEM = "CLOUDFRONT_PRIVATE_KEY_FILE", "CLOUDFRONT_PRIVATE_KEY"
_CODE = re.compile(rb"<Code>([A-Za-z]{1,64})</Code>")
_SIGNED_MEANING = {
    "MissingKey": "CloudFront saw no key ID although the request carried CloudFront-Key-Pair-Id: "
    "something in front of CloudFront drops the Cookie header",
    "InvalidKey": "key ID {key_id} is not in the cache behavior's trusted key group: add its "
    "public key to the key group this behavior trusts, or sign with a key that is in it",
    "MalformedSignature": "CloudFront could not decode the signature: send the cookie values "
    "exactly as signed (never quoted or URL-encoded)",
    "MalformedPolicy": "CloudFront could not read the policy (it wants epoch seconds and one "
    "statement)",
    "AccessDenied": "resource, time or signature mismatch: check that the resource covers this "
    "exact URL (scheme, host, path, encoding), that the clock is right, and that the public key "
    "in CloudFront is the one derived from this private key",
}


@dataclass(frozen=True)
class Check:
    """One finding: ``detail`` is what was found when ``ok``, otherwise the fix (one line)."""

    name: str
    ok: bool
    detail: str


def _ok(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _fail(name: str, fix: str) -> Check:
    return Check(name, False, " ".join(fix.split()))


# --- diagnose ---------------------------------------------------------------------------------


def diagnose(
    *,
    signer_env: Mapping[str, str],
    resource: str,
    app_url: str,
    cdn_url: str | None,
    cookie_domain: str | None,
    cookie_path: str = "/",
    secure: bool | None = None,
    now: float | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Check]:
    """Check a configuration offline.

    ``cdn_url`` is a URL the browser will request from the CDN (without it, the resource's host
    stands for the CDN host); ``secure=None`` means the middleware's default, ``Secure``
    cookies; ``now`` stands in for the local clock; ``sources`` names where a ``CLOUDFRONT_*``
    variable of ``signer_env`` really came from (a command-line option), for the messages.
    """
    at = time.time() if now is None else now
    secure = True if secure is None else secure
    resource_check = _resource(resource)
    names = _Names(sources or {})
    key_id_check = _key_id(signer_env, names)
    signer, key_check = _private_key(signer_env, names, key_id_ok=key_id_check.ok)
    checks = [resource_check, key_id_check, key_check]
    cookies = None
    if signer is not None and resource_check.ok:
        verifier = Verifier({signer.key_pair_id: signer.public_key})
        round_trip, cookies = _round_trip(signer, verifier, resource, at)
        checks.append(round_trip)
        if cookies is not None and cdn_url is not None:
            checks.append(_covers(verifier, cookies, resource, cdn_url, at))

    app = _split(app_url)
    cdn = _split(cdn_url) if cdn_url is not None else None
    if cdn is None and resource_check.ok:
        cdn = _split(resource)
    domain_problem = None if cookie_domain is None else _domain_problem(cookie_domain)
    if cookie_domain is None:
        checks.append(_ok("cookie domain", "none: host-only cookies"))
    elif domain_problem is not None:
        checks.append(_fail("cookie domain", domain_problem))
    else:
        checks.append(_ok("cookie domain", f"{cookie_domain} (not a public suffix)"))
    if app is None:
        checks.append(
            _fail("app host", f"app URL {app_url[:200]!r} is not an http:// or https:// URL")
        )
    elif domain_problem is None:
        checks.append(_app_host(app[1], None if cdn is None else cdn[1], cookie_domain))
        if cdn is not None:
            checks.append(_cdn_host(app[1], cdn[1], cookie_domain))
    path_problem = _render_problem(path=cookie_path)
    if path_problem is not None:
        checks.append(_fail("cookie path", path_problem))
    elif resource_check.ok:
        checks.append(_cookie_path(cookie_path, resource))
    if app is not None:
        checks.append(_secure(app[0], None if cdn is None else cdn[0], secure))
    if cookies is not None:
        domain = None if domain_problem else cookie_domain
        path = "/" if path_problem else cookie_path
        checks.append(_sizes(cookies, domain=domain, path=path, secure=secure))
    checks.append(_clock(at))
    return checks


def _resource(resource: str) -> Check:
    try:
        validate_resource(resource)
    except ConfigurationError as exc:
        return _fail("resource", str(exc))
    kind = "custom policy" if "*" in resource else "canned policy: exactly this one URL"
    return _ok("resource", f"{resource} ({kind})")


class _Names:
    """What to call each ``CLOUDFRONT_*`` variable in a message: itself, or the command-line
    option whose value the command put there."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._sources = sources

    def __call__(self, variable: str) -> str:
        return self._sources.get(variable, variable)

    def message(self, message: str, key_source: str = _KEY_FILE) -> str:
        """A ``Signer`` error message naming where the input came from, not the argument or
        the variable ``Signer.from_env`` read it through."""
        for prefix, variable in (
            ("private_key: ", key_source),
            ("key_pair_id: ", "CLOUDFRONT_KEY_PAIR_ID"),
            ("hash_algorithm: ", "CLOUDFRONT_HASH_ALGORITHM"),
            *((f"{name}: ", name) for name in self._sources),
        ):
            if message.startswith(prefix):
                return f"{self(variable)}: {message[len(prefix) :]}"
        return message


def _key_id(env: Mapping[str, str], names: _Names) -> Check:
    value = env.get("CLOUDFRONT_KEY_PAIR_ID", "")
    if not value:
        return _fail(
            "key id",
            f"{names('CLOUDFRONT_KEY_PAIR_ID')}: not set; export the ID of the CloudFront "
            "public key (such as K2JCJMDEHXQW5F)",
        )
    try:
        validate_key_pair_id(value)
    except ConfigurationError as exc:
        return _fail("key id", names.message(str(exc)))
    return _ok("key id", value)


def _private_key(
    env: Mapping[str, str], names: _Names, *, key_id_ok: bool
) -> tuple[Signer | None, Check]:
    """The signer, or ``None`` when the key or its ID is unusable (the key is checked anyway)."""
    trial = dict(env)
    if not key_id_ok:
        trial["CLOUDFRONT_KEY_PAIR_ID"] = _PLACEHOLDER_KEY_ID
    source = _KEY_FILE if env.get(_KEY_FILE) else _KEY_PEM
    try:
        signer = Signer.from_env(trial)
    except ConfigurationError as exc:
        return None, _fail("private key", names.message(str(exc), source))
    if not key_id_ok:
        return None, _ok("private key", f"loads from {names(source)}")
    problem = key_size_problem(signer.key_pair_id, signer.public_key)
    if problem is not None:
        return None, _fail("private key", f"{names(source)}: {problem}")
    return signer, _ok("private key", f"loads from {names(source)}: {signer!r}")


def _round_trip(
    signer: Signer, verifier: Verifier, resource: str, at: float
) -> tuple[Check, dict[str, str] | None]:
    """Sign cookies for the resource and verify them with the public key derived from the
    private key, at the resource itself (which its own pattern always matches)."""
    try:
        check_signer_works(signer)
        cookies = signer.sign_cookies(resource, expires=int(at) + _TTL)
        decision = verifier.check_cookies(resource, cookies, now=int(at))
    except ConfigurationError as exc:  # the key cannot sign here, or the clock is far off
        return _fail("round trip", str(exc)), None
    if not decision.allowed:
        return _fail("round trip", f"{decision.code}: {decision.reason}"), None
    detail = f"signed, then verified with the derived public key: {decision.reason}"
    return _ok("round trip", detail), cookies


def _covers(
    verifier: Verifier, cookies: Mapping[str, str], resource: str, cdn_url: str, at: float
) -> Check:
    try:
        validate_resource(cdn_url, name="CDN URL")
    except ConfigurationError as exc:
        return _fail("cdn url", str(exc))
    decision = verifier.check_cookies(cdn_url, cookies, now=int(at))
    if decision.allowed:
        return _ok("cdn url", f"the resource covers {cdn_url}")
    parts = urlsplit(cdn_url)
    wider = f"{parts.scheme}://{parts.netloc}{parts.path.rpartition('/')[0]}/*"
    found = (
        decision.reason
        if decision.policy is not None or "*" in resource
        # The verifier can only say that a canned signature does not match this URL.
        else f"the canned policy for {resource} covers that one URL only, not {cdn_url}"
    )
    return _fail(
        "cdn url",
        f"{found}; sign a resource that matches the URL exactly as browsers request it "
        f"(scheme, host, path and percent-encoding), such as {wider}",
    )


def _split(url: str) -> tuple[str, str] | None:
    """The lower-case scheme and host of an http(s) URL (a leading ``*.`` of a wildcard host
    dropped), or ``None``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in ("http", "https"):
        return None
    return parts.scheme.lower(), host.removeprefix("*.")


def _render_problem(*, domain: str | None = None, path: str = "/") -> str | None:
    """Why a ``Set-Cookie`` with this Domain and Path cannot be sent (syntax, glob), or None."""
    try:
        set_cookie_header("CloudFront-Key-Pair-Id", "K", domain=domain, path=path)
    except ConfigurationError as exc:
        return str(exc)
    return None


def _domain_problem(domain: str) -> str | None:
    problem = _render_problem(domain=domain)
    if problem is not None:
        return problem
    try:
        check_cookie_domain(domain)
    except ConfigurationError as exc:
        return str(exc)
    return None


def _common_parent(first: str, second: str) -> str | None:
    """The closest domain at or above both hosts that may carry cookies, if any."""
    if _is_ip(first) or _is_ip(second):
        return first if first == second else None
    common: list[str] = []
    for a, b in zip(reversed(first.split(".")), reversed(second.split(".")), strict=False):
        if a != b:
            break
        common.insert(0, a)
    parent = ".".join(common)
    return parent if parent and _domain_problem(parent) is None else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _app_host(app_host: str, cdn_host: str | None, cookie_domain: str | None) -> Check:
    if cookie_domain is None:
        return _ok("app host", f"{app_host} sets host-only cookies")
    if domain_covers(app_host, cookie_domain):
        return _ok("app host", f"{app_host} is inside {cookie_domain}")
    parent = None if cdn_host is None else _common_parent(app_host, cdn_host)
    fix = f"use {parent}, which holds both" if parent else f"use a domain holding {app_host}"
    return _fail(
        "app host",
        f"the app at {app_host} cannot set cookies for {cookie_domain} (browsers drop them); {fix}",
    )


def _cdn_host(app_host: str, cdn_host: str, cookie_domain: str | None) -> Check:
    if cookie_domain is None and app_host == cdn_host:
        return _ok("cdn host", f"app and CDN share the host {cdn_host} (cookies ignore ports)")
    if cookie_domain is not None and domain_covers(cdn_host, cookie_domain):
        return _ok("cdn host", f"{cdn_host} is inside {cookie_domain}")
    found = (
        f"cookies without a domain are host-only: set by {app_host}, never sent to {cdn_host}"
        if cookie_domain is None
        else f"browsers never send cookies for {cookie_domain} to {cdn_host}"
    )
    parent = _common_parent(app_host, cdn_host)
    if parent is not None:
        return _fail("cdn host", f"{found}; use the cookie domain {parent}, which holds both")
    registrable = registrable_domain(app_host)
    if _is_ip(app_host) or _domain_problem(registrable):
        return _fail(
            "cdn host",
            f"{found}, and no cookie domain can hold both: an app on {app_host} can never set "
            f"cookies for {cdn_host}; run the app under a name in the CDN's domain, or develop "
            "against the local edge (cfcookie demo)",
        )
    return _fail(
        "cdn host",
        f"{found}, and no cookie domain can hold both ({cdn_host} is not in {registrable}); "
        "give the distribution an alternate domain name "
        f"(CNAME) such as media.{registrable}, sign resources on that host and use the cookie "
        f"domain {registrable}",
    )


def _cookie_path(cookie_path: str, resource: str) -> Check:
    """Whether browsers send cookies with this Path to every URL the resource covers."""
    literal, exact = resource_path(resource)
    if path_covers(cookie_path, literal, exact=exact):
        return _ok(
            "cookie path", f"{cookie_path} covers the resource's paths ({literal or '/'}...)"
        )
    wider = literal[: literal.rfind("/") + 1] or "/"
    return _fail(
        "cookie path",
        f"{cookie_path} does not cover {literal or '/'}, where the resource's paths start: "
        "browsers send a cookie only to paths that start with its Path and continue with '/' "
        f"there; use {wider} or /",
    )


def _secure(app_scheme: str, cdn_scheme: str | None, secure: bool) -> Check:
    if app_scheme == "http" and secure:
        return _fail(
            "secure",
            "http app URL: browsers keep Secure cookies only from https (some make an exception "
            "for localhost); use COOKIE_SECURE=0 (secure=False, --no-secure) locally and https "
            "in production",
        )
    if app_scheme == "https" and not secure:
        return _fail(
            "secure",
            "the app is https but the cookies are not Secure, so browsers would also send them "
            "over plain http; keep secure=True (the default)",
        )
    if secure and cdn_scheme == "http":
        return _fail(
            "secure",
            "the CDN URL is http, but browsers send Secure cookies only over https: serve the "
            "media over https (or use COOKIE_SECURE=0 for a local demo)",
        )
    if not secure:
        return _ok("secure", "http app URL, cookies without Secure: for a local demo only")
    return _ok("secure", "Secure cookies from an https app")


def _sizes(cookies: Mapping[str, str], *, domain: str | None, path: str, secure: bool) -> Check:
    header = max(
        (
            set_cookie_header(name, value, domain=domain, path=path, secure=secure)
            for name, value in cookies.items()
        ),
        key=len,
    )
    size, name = len(header), header.partition("=")[0]
    too_big = size_problem(header)
    if too_big is not None:
        return _fail("cookie sizes", too_big)
    return _ok("cookie sizes", f"largest is {name}, {size} of {MAX_COOKIE_BYTES} bytes")


def _clock(at: float) -> Check:
    if not _EARLIEST <= at <= MAX_EPOCH - _TTL:
        shown = f"epoch {at:.0f}"
        if 0 <= at <= MAX_EPOCH:
            shown = _utc(at)
        return _fail(
            "clock",
            f"the local clock reads {shown}, outside 2025..2038: set it right (NTP); cookies "
            "signed now would be expired or not yet valid at CloudFront",
        )
    return _ok(
        "clock", f"local clock reads {_utc(at)}, after 2025 (--probe compares it with the CDN's)"
    )


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- probe ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """What a CDN answered: status, headers, the start of the body, and when it arrived."""

    status: int
    headers: Message
    body: bytes
    received: float

    @property
    def code(self) -> str | None:
        """The ``<Code>`` of an XML error body (CloudFront's or S3's)."""
        found = _CODE.search(self.body)
        return None if found is None else found.group(1).decode("ascii")

    @property
    def from_origin(self) -> bool:
        """An S3 error: RequestId/HostId in the body or an S3-only code (CloudFront's own
        signed-request errors have neither)."""
        return (
            b"<RequestId>" in self.body
            or b"<HostId>" in self.body
            or self.code in ("NoSuchKey", "NoSuchBucket")
        )

    def summary(self) -> str:
        return f"{self.status} {self.code}" if self.code else str(self.status)

    def edge_reason(self) -> str:
        """The local edge's ``X-Cfcookie-Reason``, as a suffix for a detail."""
        reason = self.headers.get("X-Cfcookie-Reason")
        return f" (edge: {reason})" if reason else ""


class _Unreachable(Exception):
    """No HTTP answer at all: DNS, connection, TLS or timeout."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the answer instead of following it."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _fetch(
    url: str,
    cookie: str | None,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    origin: str | None = None,
) -> _Answer:
    # The scheme is http or https: probe() checked it (S310 is about file: and custom schemes).
    headers = {"User-Agent": f"cfcookie-doctor/{__version__}"}
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    if cookie is not None:
        request.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=ssl_context)
    )
    try:
        try:
            with opener.open(request, timeout=timeout) as response:
                return _Answer(
                    response.status, response.headers, response.read(_MAX_BODY), time.time()
                )
        except urllib.error.HTTPError as error:
            try:
                return _Answer(error.code, error.headers, error.read(_MAX_BODY), time.time())
            finally:
                error.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _Unreachable(str(getattr(exc, "reason", None) or exc)) from None


def probe(
    url: str,
    signer: Signer,
    *,
    resource: str | None = None,
    origin: str | None = None,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Check]:
    """Request ``url`` without cookies, then with cookies signed for ``resource`` (default: the
    URL itself), and read each answer as CloudFront's; compare the clocks on the way. With
    ``origin`` (the page's ``scheme://host[:port]``), the signed request carries it and its
    answer's CORS headers are checked as a browser reads them for a credentialed request."""
    resource = url if resource is None else resource
    if _split(url) is None:
        return [_fail("probe", f"probe URL {url[:200]!r} is not an http:// or https:// URL")]
    try:
        validate_resource(url, name="probe URL")
        cookies = signer.sign_cookies(resource, expires=int(time.time()) + _TTL)
    except ConfigurationError as exc:
        return [_fail("probe", str(exc))]
    try:
        unsigned = _fetch(url, None, timeout, ssl_context)
    except _Unreachable as exc:
        return [
            _fail(
                "probe unsigned",
                f"no answer from {url}: {exc}; check the URL, DNS and network (and --ca-file "
                "for a private certificate authority)",
            )
        ]
    checks = [_read_unsigned(unsigned)]
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    try:
        signed = _fetch(url, cookie, timeout, ssl_context, origin)
    except _Unreachable as exc:
        checks.append(_fail("probe signed", f"no answer from {url}: {exc}"))
    else:
        checks.append(_read_signed(signed, signer.key_pair_id))
        if origin is not None:
            checks += _read_cors(signed, origin)
    clock = _clock_against(unsigned)
    if clock is not None:
        checks.append(clock)
    return checks


def _read_unsigned(answer: _Answer) -> Check:
    name, status, code = "probe unsigned", answer.status, answer.code
    if 200 <= status < 300:
        return _fail(
            name,
            f"{status} without any cookie: not restricted: the cache behavior has no trusted key "
            "group; set Restrict viewer access to Yes with your key group on the behavior that "
            "serves this path",
        )
    if 300 <= status < 400:
        location = answer.headers.get("Location", "nowhere")
        return _fail(
            name,
            f"{status} redirect to {location}: probe that URL instead (CloudFront redirects "
            "http to https when the viewer protocol policy says so)",
        )
    if answer.from_origin:
        return _fail(
            name,
            f"{answer.summary()} from the origin (S3), not from CloudFront's signed-cookie "
            "check: the request reached the origin, so the cache behavior for this path does not "
            "restrict viewer access; set Restrict viewer access to Yes with your key group"
            + answer.edge_reason(),
        )
    if status == 403 and code == "MissingKey":
        return _ok(name, "403 MissingKey: the cache behavior requires signed cookies or URLs")
    return _fail(
        name,
        f"{answer.summary()} without any cookie, where a restricted cache behavior answers "
        "403 MissingKey: something else (the origin, AWS WAF, a geo restriction) answered; "
        "check that this path is served by the behavior that trusts your key group"
        + answer.edge_reason(),
    )


def _read_signed(answer: _Answer, key_id: str) -> Check:
    name, status, code = "probe signed", answer.status, answer.code
    if 200 <= status < 300:
        return _ok(name, f"{status} with signed cookies")
    if answer.from_origin:
        cause = (
            "the object does not exist there (S3 keys are literal and case-sensitive)"
            if code in ("NoSuchKey", "NoSuchBucket")
            else "the bucket refuses CloudFront (check the origin access control and the bucket "
            "policy) or the object does not exist"
        )
        return _fail(
            name,
            f"{answer.summary()} from the origin (S3): CloudFront accepted the cookies and passed "
            f"the request on, but {cause}" + answer.edge_reason(),
        )
    if status == 403 and code in _SIGNED_MEANING:
        meaning = _SIGNED_MEANING[code].format(key_id=key_id)
        return _fail(name, f"403 {code}: {meaning}{answer.edge_reason()}")
    return _fail(
        name,
        f"{answer.summary()} with signed cookies, where CloudFront serves the file: check the "
        "URL and that the file exists" + answer.edge_reason(),
    )


def _read_cors(answer: _Answer, origin: str) -> list[Check]:
    """What a browser needs to hand a credentialed cross-origin answer to the page's player,
    each failure fixed in the behavior's response headers policy or cache policy."""
    allowed = answer.headers.get("Access-Control-Allow-Origin")
    if allowed == origin:
        origin_check = _ok("cors origin", f"Access-Control-Allow-Origin: {origin}")
    else:
        found = "none" if allowed is None else repr(allowed)
        why = ", which browsers refuse for requests with credentials" if allowed == "*" else ""
        origin_check = _fail(
            "cors origin",
            f"Access-Control-Allow-Origin is {found}{why}, not {origin}: in the cache behavior's "
            f"response headers policy, set CORS Access-Control-Allow-Origin to {origin} (never "
            "'*'), with Origin override on",
        )
    credentials = answer.headers.get("Access-Control-Allow-Credentials")
    if credentials == "true":
        credentials_check = _ok("cors credentials", "Access-Control-Allow-Credentials: true")
    else:
        credentials_check = _fail(
            "cors credentials",
            f"Access-Control-Allow-Credentials is {credentials or 'missing'}, so the browser "
            "withholds the answer from a player that sends cookies: in the response headers "
            "policy, set Access-Control-Allow-Credentials to true",
        )
    vary = {
        part.strip().lower()
        for part in answer.headers.get_all("Vary", [])
        for part in part.split(",")
    }
    if "origin" in vary or "*" in vary:
        vary_check = _ok("cors vary", "Vary: Origin, so no cache mixes answers for two origins")
    else:
        vary_check = _fail(
            "cors vary",
            "no Vary: Origin: a cache may hand this origin an answer made for another (or for "
            "none); put Origin in the cache key (the behavior's cache policy, Headers: Origin) "
            "or forward it in the origin request policy to an origin that sends Vary: Origin",
        )
    return [origin_check, credentials_check, vary_check]


def _clock_against(answer: _Answer) -> Check | None:
    """The local clock against the answer's ``Date`` (plus ``Age`` for a cached answer)."""
    try:
        remote = parsedate_to_datetime(answer.headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        return None
    age = answer.headers.get("Age", "0")
    skew = answer.received - remote - (int(age) if age.isdigit() else 0)
    if abs(skew) > _MAX_SKEW:
        direction = "ahead of" if skew > 0 else "behind"
        return _fail(
            "clock vs cdn",
            f"the local clock is {abs(skew):.0f} s {direction} the CDN's Date header: sync it "
            "(NTP); cookies signed here start and expire off by that much",
        )
    return _ok("clock vs cdn", f"within {abs(skew):.0f} s of the CDN's Date header")
