"""Test helpers for apps that hand out CloudFront signed cookies, as a pytest plugin.

The package registers this module through the ``pytest11`` entry point, so once it is installed
the fixtures below are available in any test suite, no import needed. They are named
``cloudfront_*`` to stay clear of an app's own fixtures; a ``conftest.py`` may override any of
them (say ``cloudfront_key_pair_id``), and the others follow.

- ``cloudfront_key``: a throwaway RSA-2048 private key, made once per session.
- ``cloudfront_key_pair_id``: ``"K2TESTKEYPAIR"``.
- ``cloudfront_signer``: a ``Signer`` with that key and ID, for the app under test.
- ``cloudfront_verifier``: a ``Verifier`` trusting that key, as a CloudFront key group would.
- ``cloudfront_edge``: the local CloudFront stand-in (``cfcookie_middleware.edge``) running on
  a free loopback port, serving an empty temporary folder and trusting ``cloudfront_verifier``:
  ``.url`` (``http://localhost:<port>``, the origin to sign for), ``.root`` (put files there)
  and ``.server``; it is shut down after the test.

``assert_cloudfront_cookies(response, url)`` checks a response's ``CloudFront-*`` cookies the
way a browser would keep and send them to ``url`` (``http.cookiejar``: Domain, Path, host-only,
Secure, expiry), then the way CloudFront would read what it sent, and says which check failed
and why.

This module imports pytest (it is loaded by pytest) but no web framework: responses are read by
their shape.
"""

from __future__ import annotations

import email.message
import functools
import http.cookiejar
import re
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import BaseCookie
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer

from cfcookie_middleware.cookies import (
    domain_covers,
    is_secure_context_host,
    parse_cookie_pairs,
    path_covers,
)
from cfcookie_middleware.edge import Edge, serve
from cfcookie_middleware.signing import PublicKeySource, Signer, When
from cfcookie_middleware.verify import Decision, Verifier

__all__ = [
    "TEST_KEY_PAIR_ID",
    "RunningEdge",
    "assert_cloudfront_cookies",
    "running_edge",
    "set_cookie_headers",
]

TEST_KEY_PAIR_ID = "K2TESTKEYPAIR"
"""The key pair ID of the ``cloudfront_signer`` fixture."""

# Every CloudFront cookie value is CloudFront base64, digits, a key ID or a hash name.
_CLOUDFRONT_VALUE = re.compile(r"[A-Za-z0-9_~-]+")
_ALWAYS = ("CloudFront-Signature", "CloudFront-Key-Pair-Id")
_POLICY, _EXPIRES = "CloudFront-Policy", "CloudFront-Expires"
_SHOWN_VALUE = 40


@functools.cache
def _throwaway_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_current_test: list[pytest.FixtureRequest] = []
"""The running test's fixture request (set by an autouse fixture), so that
``assert_cloudfront_cookies`` trusts the ``cloudfront_signer`` that test sees, overrides
included."""


def _default_verifier() -> Verifier:
    """One trusting the running test's ``cloudfront_signer`` (asked for by the test itself, so
    an override of any scope works); outside a test, the key the fixtures make by default."""
    if _current_test:
        signer: Signer = _current_test[-1].getfixturevalue("cloudfront_signer")
        return Verifier({signer.key_pair_id: signer.public_key})
    return _throwaway_verifier()


@functools.cache
def _throwaway_verifier() -> Verifier:
    return Verifier({TEST_KEY_PAIR_ID: _throwaway_key().public_key()})


# ---- a local edge in a thread ------------------------------------------------------------------
@dataclass(frozen=True)
class RunningEdge:
    """A local CloudFront stand-in serving ``root`` at ``url`` from a thread."""

    url: str
    root: Path
    server: BaseWSGIServer


@contextmanager
def running_edge(
    root: str | Path,
    keys: Mapping[str, PublicKeySource] | Verifier,
    *,
    public_url: str | None = None,
) -> Iterator[RunningEdge]:
    """Run ``Edge(root, keys, public_url=...)`` on a free loopback port until the block ends,
    then shut the server down and close its socket."""
    server = serve(Edge(root, keys, public_url=public_url))
    # A short poll interval: shutdown() waits for the loop to notice, once per test.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="cloudfront-edge", daemon=True
    )
    thread.start()
    try:
        # Named localhost, as the apps under test are (Flask's, Django's and Starlette's test
        # clients ask for localhost or testserver): a browser sends a host-only cookie from
        # localhost to any port of localhost, never to 127.0.0.1.
        yield RunningEdge(f"http://localhost:{server.server_port}", Path(root), server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def cloudfront_key() -> rsa.RSAPrivateKey:
    """A throwaway RSA-2048 private key (the size CloudFront key groups take)."""
    return _throwaway_key()


@pytest.fixture(scope="session")
def cloudfront_key_pair_id() -> str:
    """The ID ``cloudfront_signer`` puts in ``CloudFront-Key-Pair-Id``."""
    return TEST_KEY_PAIR_ID


@pytest.fixture(scope="session")
def cloudfront_signer(cloudfront_key: rsa.RSAPrivateKey, cloudfront_key_pair_id: str) -> Signer:
    """A ``Signer`` for the app under test (RSA, SHA-1 as CloudFront's default)."""
    return Signer(cloudfront_key_pair_id, cloudfront_key)


@pytest.fixture(scope="session")
def cloudfront_verifier(cloudfront_signer: Signer) -> Verifier:
    """A ``Verifier`` trusting ``cloudfront_signer``'s key, as a CloudFront key group would."""
    return Verifier({cloudfront_signer.key_pair_id: cloudfront_signer.public_key})


@pytest.fixture(autouse=True)
def _cloudfront_current_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Records the running test for ``assert_cloudfront_cookies``; builds nothing until that
    asks, so suites that never use the plugin pay nothing."""
    _current_test.append(request)
    yield
    _current_test.remove(request)


@pytest.fixture
def cloudfront_edge(
    cloudfront_verifier: Verifier, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningEdge]:
    """The local CloudFront stand-in on a free loopback port, serving an empty temporary
    folder (``.root``) at ``.url`` and trusting ``cloudfront_verifier``; stopped after the test."""
    with running_edge(tmp_path_factory.mktemp("cloudfront-edge"), cloudfront_verifier) as edge:
        yield edge


# ---- reading responses -------------------------------------------------------------------------
def set_cookie_headers(response: object) -> list[str]:
    """Every ``Set-Cookie`` header value of a test response, verbatim and in order.

    Takes a Werkzeug or Flask test response, an httpx or httpx2 response (Starlette's and
    FastAPI's test clients), a Django test response, or a list of header values. Nothing goes
    through ``http.cookies`` parsing, which would unquote or drop values.
    """
    if isinstance(response, (list, tuple)):
        if not all(isinstance(value, str) for value in response):
            raise TypeError("response: a list must hold Set-Cookie header values (str)")
        return list(response)
    headers = getattr(response, "headers", None)
    for method in ("getlist", "get_list"):  # Werkzeug's Headers; httpx's and httpx2's
        values = getattr(headers, method, None)
        if callable(values):
            return [str(value) for value in values("Set-Cookie")]
    cookies = getattr(response, "cookies", None)
    if isinstance(cookies, BaseCookie):
        # Django keeps cookies out of its headers and writes one Set-Cookie per morsel, as
        # morsel.output(header=""), when it sends the response.
        return [morsel.output(header="").strip() for morsel in cookies.values()]
    raise TypeError(
        f"response: cannot read Set-Cookie headers from {type(response).__name__}; pass a "
        "Werkzeug/Flask, httpx/httpx2 (Starlette, FastAPI) or Django test response, or a "
        "list of Set-Cookie header values"
    )


@dataclass(frozen=True)
class _SetCookie:
    raw: str
    name: str
    value: str
    attributes: frozenset[str]  # attribute names, lower case


def _parse(raw: str) -> _SetCookie:
    """``name=value; Attr; Attr=x`` split by hand (RFC 6265 section 4.1.1)."""
    pair, _, rest = raw.partition(";")
    name, _, value = pair.partition("=")
    attributes = frozenset(
        part.partition("=")[0].strip().lower() for part in rest.split(";") if part.strip()
    )
    return _SetCookie(raw, name.strip(), value.strip(), attributes)


def _shown(cookie: _SetCookie) -> str:
    value = cookie.value
    if len(value) > _SHOWN_VALUE:
        value = f"{value[:_SHOWN_VALUE]}...({len(cookie.value)} chars)"
    rest = cookie.raw.partition(";")[2]
    return f"{cookie.name}={value}" + (f";{rest}" if rest else "")


def _verdict(decision: Decision) -> str:
    return f"{'allowed' if decision.allowed else decision.code}: {decision.reason}"


def _set_problem(cloudfront: list[_SetCookie]) -> str | None:
    """What is wrong with the set of cookie names, if anything."""
    if not cloudfront:
        return (
            "no CloudFront-* Set-Cookie header in the response (no Rule matches the path, the "
            "status is not 2xx, `when` said no, or the request already held current cookies)"
        )
    names = [cookie.name for cookie in cloudfront]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return f"{', '.join(repeated)} sent more than once; each cookie must be sent once"
    if _POLICY in names and _EXPIRES in names:
        return f"both {_POLICY} and {_EXPIRES} were sent; a set carries one of them"
    missing = [name for name in _ALWAYS if name not in names]
    if _POLICY not in names and _EXPIRES not in names:
        missing.insert(0, f"{_POLICY} (or {_EXPIRES})")
    if missing:
        return (
            f"missing {', '.join(missing)}: a set is {_POLICY} or {_EXPIRES}, "
            f"{' and '.join(_ALWAYS)}, plus CloudFront-Hash-Algorithm for SHA-256"
        )
    return None


def _value_problem(cloudfront: list[_SetCookie]) -> str | None:
    for cookie in cloudfront:
        if cookie.value.startswith('"'):
            return (
                f"{cookie.name} is quoted; CloudFront reads the quotes as part of the value, so "
                "the signature no longer verifies (http.cookies / set_cookie quoted it)"
            )
        if not cookie.value:
            return f"{cookie.name} is empty (a header that clears the cookie, as on logout?)"
        if not _CLOUDFRONT_VALUE.fullmatch(cookie.value):
            return (
                f"{cookie.name} holds characters outside CloudFront's base64 alphabet "
                "(A-Z a-z 0-9 - _ ~): it was encoded or escaped on the way"
            )
    return None


def _page_url(response: object) -> str | None:
    """The URL of the request a test response answers, when the response records it
    (Werkzeug/Flask, httpx/httpx2, Django's test clients); ``None`` otherwise."""
    if isinstance(response, (list, tuple)):
        return None
    for name in ("wsgi_request", "asgi_request"):  # Django's test clients
        request = getattr(response, name, None)
        if request is not None:
            url: str = request.build_absolute_uri()
            return url
    try:
        request = getattr(response, "request", None)  # httpx raises when it has none
    except RuntimeError:
        return None
    found = getattr(request, "url", None)
    return None if found is None else str(found)


class _BrowserPolicy(http.cookiejar.DefaultCookiePolicy):
    """``http.cookiejar`` as current browsers behave: a cookie without Domain goes back to its
    own host only, and Secure cookies also travel over http to a loopback host (a secure
    context, so a local edge at http://127.0.0.1 gets them)."""

    def __init__(self) -> None:
        super().__init__(strict_ns_domain=self.DomainStrictNonDomain)

    def return_ok_secure(
        self, cookie: http.cookiejar.Cookie, request: urllib.request.Request
    ) -> bool:
        return super().return_ok_secure(cookie, request) or is_secure_context_host(request.host)


class _Answer:
    """The response side ``CookieJar.extract_cookies`` reads: only its headers."""

    def __init__(self, set_cookies: list[str]) -> None:
        self._headers = email.message.Message()
        for value in set_cookies:
            self._headers["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._headers


def _browser_sends(
    cloudfront: list[_SetCookie], page_url: str, url: str
) -> tuple[dict[str, str], str | None]:
    """What a browser that got ``cloudfront`` from ``page_url`` sends to ``url`` (CloudFront
    cookies only), and why a cookie of the set would be missing there, if one is."""
    jar = http.cookiejar.CookieJar(_BrowserPolicy())
    # Requests the jar only reads (never opened): where the cookies came from, where they go.
    set_by = urllib.request.Request(page_url)  # noqa: S310
    answer = _Answer([cookie.raw for cookie in cloudfront])
    jar.extract_cookies(answer, set_by)  # type: ignore[arg-type]  # it only calls info()
    request = urllib.request.Request(url)  # noqa: S310
    jar.add_cookie_header(request)
    sent = dict(parse_cookie_pairs(request.get_header("Cookie", "")))
    kept = {cookie.name: cookie for cookie in jar}
    for cookie in cloudfront:
        if cookie.name in sent:
            continue
        held = kept.get(cookie.name)
        if held is None:
            why = _refused(cookie, page_url)
            return sent, f"a browser would not keep {cookie.name} from {page_url}: {why}"
        why = _not_sent(held, url, page_url)
        return sent, f"a browser would not send {cookie.name} to {url}: {why}"
    return sent, None


def _refused(cookie: _SetCookie, page_url: str) -> str:
    domain = _attribute(cookie, "domain")
    host = urlsplit(page_url).hostname or ""
    if domain is not None and not domain_covers(host, domain):
        return f"Domain={domain} does not cover the page's host {host}"
    return "it has expired (Max-Age=0 or an Expires in the past)"


def _attribute(cookie: _SetCookie, name: str) -> str | None:
    for part in cookie.raw.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _not_sent(cookie: http.cookiejar.Cookie, url: str, page_url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    # The page's own host: the jar files a host-only cookie from "testserver" as "testserver.local"
    page_host = urlsplit(page_url).hostname or cookie.domain
    if (
        cookie.secure
        and parts.scheme not in ("https", "wss")
        and not is_secure_context_host(parts.netloc)
    ):
        return "it is Secure and the URL is not https"
    if not cookie.domain_specified:
        return (
            f"it is host-only for {page_host} (no Domain attribute) and the URL's host is "
            f"{host}; set cookie_domain to a domain covering both, or ask the app on {host}"
        )
    if not domain_covers(host, cookie.domain):
        return f"Domain={cookie.domain} does not cover {host}"
    if not path_covers(cookie.path, parts.path or "/", exact=True):
        return f"Path={cookie.path} does not cover {parts.path or '/'}"
    return "it has expired"


def _attribute_problem(cloudfront: list[_SetCookie], attribute: str, why: str) -> str | None:
    lacking = [cookie.name for cookie in cloudfront if attribute.lower() not in cookie.attributes]
    if lacking:
        verb = "lacks" if len(lacking) == 1 else "lack"
        return f"{', '.join(lacking)} {verb} {attribute} ({why})"
    return None


def assert_cloudfront_cookies(
    response: object,
    url: str,
    *,
    verifier: Verifier | None = None,
    client_ip: str | None = None,
    now: When | None = None,
    allowed: bool = True,
    secure: bool = True,
    httponly: bool = True,
    page_url: str | None = None,
) -> dict[str, str]:
    """Check the ``CloudFront-*`` cookies a response sets and return what a browser sends to
    ``url`` with them, as {name: value}.

    In order: each cookie of a set sent exactly once; values unquoted CloudFront base64;
    ``Secure`` and ``HttpOnly`` on each (skip with ``secure=False`` / ``httponly=False`` for an
    app configured so); a browser that got them from ``page_url`` (read from the response when
    it records its request; pass it for a list of headers) keeps them and sends every one to
    ``url`` (Domain, Path, host-only, Secure, expiry, judged by ``http.cookiejar``); then the
    verifier must serve ``url`` with what the browser sends (refuse it when ``allowed=False``),
    for ``client_ip`` at ``now``. ``verifier`` defaults to one trusting the running test's
    ``cloudfront_signer`` (so it follows a ``conftest.py`` that overrides the key, its ID or
    the signer). A failure raises ``AssertionError`` naming the check, the headers seen and the
    verifier's code and reason.
    """
    __tracebackhide__ = True
    seen = [_parse(raw) for raw in set_cookie_headers(response)]
    page = page_url or _page_url(response)
    if page is None:
        raise TypeError(
            "page_url: this response does not say which URL it answered; pass page_url= (the "
            "URL the app was asked on) so the cookies can be judged as a browser keeps them"
        )
    cloudfront = [cookie for cookie in seen if cookie.name.startswith("CloudFront-")]
    values, unsent = _browser_sends(cloudfront, page, url)
    checker = _default_verifier() if verifier is None else verifier
    decision = checker.check_cookies(url, values, client_ip=client_ip, now=now)

    problems = [
        ("cookie set", _set_problem(cloudfront)),
        ("cookie values", _value_problem(cloudfront)),
        ("Secure", _attribute_problem(cloudfront, "Secure", "HTTPS only") if secure else None),
        (
            "HttpOnly",
            _attribute_problem(cloudfront, "HttpOnly", "kept from scripts") if httponly else None,
        ),
        # Cookies a browser would not send to url cannot open it: that is a refusal too.
        ("browser", unsent if allowed else None),
    ]
    for check, problem in problems:
        if problem is not None:
            raise AssertionError(_message(check, problem, url, page, seen, decision, verifier))
    if decision.allowed != allowed:
        found = (
            f"CloudFront would refuse {url} with these cookies"
            if allowed
            else f"CloudFront would serve {url} with these cookies, but a refusal was expected"
        )
        raise AssertionError(_message("verifier", found, url, page, seen, decision, verifier))
    return values


def _message(
    check: str,
    problem: str,
    url: str,
    page: str,
    seen: list[_SetCookie],
    decision: Decision,
    verifier: Verifier | None,
) -> str:
    lines = [f"CloudFront cookies: {check} check failed: {problem}", f"  url: {url}"]
    lines.append(f"  set by: {page}")
    lines.append(f"  Set-Cookie headers seen ({len(seen)}):")
    lines.extend(f"    {_shown(cookie)}" for cookie in seen)
    if not seen:
        lines.append("    (none)")
    verdict = f"  verifier: {_verdict(decision)}"
    if verifier is None and decision.code == "InvalidKey":
        verdict += (
            " (the default verifier trusts the cloudfront_signer fixture's key; if the app "
            "signs with another key, pass verifier= trusting it)"
        )
    lines.append(verdict)
    return "\n".join(lines)
