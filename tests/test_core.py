"""The framework-agnostic core: when cookies go out, signature reuse, refresh and cache headers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from middleware_helpers import (
    CUSTOM_SET,
    KEY_ID,
    MEDIA,
    T0,
    Clock,
    CountingSigner,
    cookie_header,
    default_rules,
)

from cfcookie_middleware import ConfigurationError, Policy, Signer
from cfcookie_middleware import core as core_module
from cfcookie_middleware.cookies import CLOUDFRONT_COOKIES, cookie_renderer
from cfcookie_middleware.core import CookieCore, Pending
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import b64decode, b64encode
from cfcookie_middleware.verify import Verifier

# A request 123 s into the window that starts at T0 (on the one-hour rules' 300 s grid).
NOW = T0 + 123


@pytest.fixture
def signer(rsa2048: rsa.RSAPrivateKey) -> CountingSigner:
    return CountingSigner(KEY_ID, rsa2048)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def make_core(signer: Signer, clock: Clock, **options: Any) -> CookieCore:
    options.setdefault("rules", default_rules())
    return CookieCore(signer=signer, clock=clock, **options)


def view(
    path: str, params: Mapping[str, str] | None = None, cookie: str = "", **fields: Any
) -> RequestView:
    values: dict[str, Any] = {
        "method": "GET",
        "scheme": "https",
        "host": "www.example.com",
        "path": path,
        "headers": {"cookie": cookie} if cookie else {},
        "cookies": {},
        "client_ip": "203.0.113.9",
        "params": params or {},
        "native": None,
    }
    values.update(fields)
    return RequestView(**values)


def start(
    core: CookieCore, path: str, cookie: str = "", method: str = "GET", **fields: Any
) -> Pending | None:
    """``core.start`` for a request to ``path``, whose view carries ``fields``."""
    host = fields.setdefault("host", "www.example.com")
    return core.start(
        method=method,
        scheme=fields.get("scheme", "https"),
        path=path,
        host=host,
        cookie_header=cookie,
        request=None,
        view=lambda _, params: view(path, params, cookie, **fields),
    )


def respond(
    core: CookieCore, path: str, status: int = 200, cookie: str = "", **fields: Any
) -> list[tuple[str, str]] | None:
    """The headers the core has sent with a ``status`` response to a request to ``path``."""
    pending = start(core, path, cookie, **fields)
    return None if pending is None else pending.finish(status, [])


def set_cookies(headers: list[tuple[str, str]] | None) -> dict[str, str]:
    """name -> value of the Set-Cookie headers (attributes dropped)."""
    assert headers is not None
    pairs = [value.split(";")[0].split("=", 1) for name, value in headers if name == "Set-Cookie"]
    return {name: value for name, value in pairs}


def test_cookies_verify_for_the_resource_and_expire_on_the_window_grid(
    signer: CountingSigner, clock: Clock
) -> None:
    cookies = set_cookies(respond(make_core(signer, clock), "/videos/a"))
    policy = Policy.from_text(b64decode(cookies["CloudFront-Policy"]))
    assert policy == Policy(f"{MEDIA}/videos/*", T0 + 3600)
    verifier = Verifier({"K2JCJMDEHXQW5F": signer.public_key})
    assert verifier.check_cookies(f"{MEDIA}/videos/x.mp4", cookies, now=NOW).allowed
    refused = verifier.check_cookies(f"{MEDIA}/images/x.jpg", cookies, now=NOW)
    assert (refused.allowed, refused.code) == (False, "AccessDenied")


def test_one_cached_set_goes_out_as_asgi_bytes_and_as_str_alike(
    signer: CountingSigner, clock: Clock
) -> None:
    """ASGI's byte headers and the str headers of WSGI and Django carry the same cached set,
    whichever form is asked for first: one signature,
    names capitalized for str and lower case for ASGI, the app's headers passed as they are."""
    core = make_core(signer, clock)

    def asgi() -> list[tuple[bytes, bytes]] | None:
        pending = start(core, "/videos/a")
        assert pending is not None
        return pending.finish_raw(200, [(b"Content-Type", b"text/plain")])

    sent = asgi()
    str_sent = respond(core, "/videos/a")
    assert asgi() == sent
    assert sent is not None
    assert str_sent is not None
    assert sent[0] == (b"Content-Type", b"text/plain")
    assert [(name.lower().encode(), value.encode()) for name, value in str_sent] == sent[1:]
    assert [name for name, _ in str_sent] == ["Cache-Control", "Vary"] + ["Set-Cookie"] * 3
    assert signer.calls == 1
    verifier = Verifier({"K2JCJMDEHXQW5F": signer.public_key})
    assert verifier.check_cookies(f"{MEDIA}/videos/x.mp4", set_cookies(str_sent), now=NOW).allowed


def test_exact_url_resource_gets_a_canned_policy(signer: CountingSigner, clock: Clock) -> None:
    cookies = set_cookies(respond(make_core(signer, clock), "/poster"))
    assert set(cookies) == {"CloudFront-Expires", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert cookies["CloudFront-Expires"] == str(T0 + 3600)
    verifier = Verifier({"K2JCJMDEHXQW5F": signer.public_key})
    assert verifier.check_cookies(f"{MEDIA}/poster.jpg", cookies, now=NOW).allowed


def test_one_signature_serves_a_whole_window(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    first = respond(core, "/videos/a")
    for second in range(1, 177):  # the window [T0, T0 + 300) holds NOW .. NOW + 176
        clock.now = NOW + second
        assert respond(core, "/videos/b") == first
    assert signer.calls == 1
    clock.now = T0 + 300  # next window: a new expiry, a new signature
    later = set_cookies(respond(core, "/videos/a"))
    assert signer.calls == 2
    assert Policy.from_text(b64decode(later["CloudFront-Policy"])).expires == T0 + 300 + 3600


def test_per_user_resources_are_signed_per_user(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    alice = set_cookies(respond(core, "/users/alice/library"))
    bob = set_cookies(respond(core, "/users/bob/library"))
    verifier = Verifier({"K2JCJMDEHXQW5F": signer.public_key})
    assert verifier.check_cookies(f"{MEDIA}/users/alice/1.mp4", alice, now=NOW).allowed
    assert not verifier.check_cookies(f"{MEDIA}/users/bob/1.mp4", alice, now=NOW).allowed
    assert verifier.check_cookies(f"{MEDIA}/users/bob/1.mp4", bob, now=NOW).allowed
    assert signer.calls == 2


def test_returning_visitor_with_current_cookies_gets_nothing(
    signer: CountingSigner, clock: Clock
) -> None:
    core = make_core(signer, clock)
    held = cookie_header(set_cookies(respond(core, "/videos/a")))
    clock.now = T0 + 3600 - 1800 - 1  # still more than the margin (half the ttl) left
    assert respond(core, "/videos/b", cookie=held) is None
    clock.now = T0 + 3600 - 1800  # exactly the margin left: re-issue
    fresh = set_cookies(respond(core, "/videos/b", cookie=held))
    assert Policy.from_text(b64decode(fresh["CloudFront-Policy"])).expires > T0 + 3600


def test_returning_visitor_with_canned_cookies(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    held = cookie_header(set_cookies(respond(core, "/poster")))
    assert respond(core, "/poster", cookie=held) is None


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda c: {**c, "CloudFront-Signature": c["CloudFront-Signature"][:-4] + "AAA_"},
            id="forged-signature",
        ),
        pytest.param(lambda c: {**c, "CloudFront-Key-Pair-Id": "KOLDKEY"}, id="other-key-id"),
        pytest.param(lambda c: {**c, "CloudFront-Hash-Algorithm": "SHA256"}, id="other-hash"),
        pytest.param(lambda c: {**c, "CloudFront-Policy": "garbage!"}, id="garbage-policy"),
        pytest.param(lambda c: {**c, "CloudFront-Policy": "x" * 10_000}, id="oversized"),
        pytest.param(
            lambda c: {k: v for k, v in c.items() if k != "CloudFront-Signature"}, id="missing"
        ),
        # Genuine signatures over the same terms, in bytes CloudFront would refuse or this
        # core never sends: holding them must not stop a fresh set.
        pytest.param(
            lambda c: {
                **c,
                "CloudFront-Policy": b64encode(b" " + b64decode(c["CloudFront-Policy"])),
            },
            id="reformatted-policy",
        ),
        pytest.param(
            lambda c: {**c, "CloudFront-Signature": non_canonical(c["CloudFront-Signature"])},
            id="non-canonical-base64",
        ),
        pytest.param(lambda c: {**c, "CloudFront-Expires": "1800003600"}, id="stray-expires"),
        pytest.param(lambda c: {"other": "1", **c, "CloudFront-Extra": "x"}, id="stray-name"),
    ],
)
def test_unusable_cookies_are_replaced(
    signer: CountingSigner, clock: Clock, tamper: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    core = make_core(signer, clock)
    issued = set_cookies(respond(core, "/videos/a"))
    tampered = tamper(issued)
    replaced = set_cookies(respond(core, "/videos/a", cookie=cookie_header(tampered)))
    # A fresh set, and an expired one of each CloudFront cookie the set does not use.
    stale = {name: "" for name in tampered.keys() - issued.keys() if name in CLOUDFRONT_COOKIES}
    assert replaced == {**issued, **stale}


@pytest.mark.parametrize("max_age", [None, timedelta(minutes=50)])
@pytest.mark.parametrize("kind", [Signer, CountingSigner], ids=["plain", "subclass"])
def test_a_set_too_big_for_a_cookie_at_request_time_sends_nothing_and_warns_once(
    rsa2048: rsa.RSAPrivateKey,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    max_age: timedelta | None,
    kind: type[Signer],
) -> None:
    """A captured value long enough to push the policy cookie past 4,096 bytes (the build-time
    check fills each field with one character) sends no cookie at all, on first and returning
    visits, cached or not, and is logged once."""
    core = make_core(kind(KEY_ID, rsa2048), clock, max_age=max_age, cookie_domain=".example.com")
    path = f"/users/{'u' * 3000}/library"
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        assert respond(core, path) is None
        assert respond(core, path) is None  # the cached set's problem
        assert respond(core, path, cookie="CloudFront-Policy=old") is None
        assert respond(core, path, cookie="CloudFront-Hash-Algorithm=SHA256") is None
    [warning] = [record.getMessage() for record in caplog.records]
    assert "CloudFront-Policy cookie would be" in warning
    assert "no cookies (shorten the captured values" in warning
    assert set_cookies(respond(core, "/users/u1/library"))  # a short one still gets its set


@pytest.mark.parametrize("kind", [Signer, CountingSigner], ids=["plain", "subclass"])
def test_stale_cookies_are_expired_beside_a_set_with_max_age(
    rsa2048: rsa.RSAPrivateKey, clock: Clock, kind: type[Signer]
) -> None:
    core = make_core(kind(KEY_ID, rsa2048), clock, max_age=timedelta(minutes=50))
    held = "CloudFront-Policy=old; CloudFront-Signature=old; CloudFront-Hash-Algorithm=SHA256"
    headers = respond(core, "/videos/a", cookie=held)
    assert headers is not None
    values = [value for name, value in headers if name == "Set-Cookie"]
    fresh = sorted(value.partition("=")[0] for value in values if "Max-Age=3000" in value)
    expired = [value.partition("=")[0] for value in values if "Max-Age=0" in value]
    assert fresh == ["CloudFront-Key-Pair-Id", "CloudFront-Policy", "CloudFront-Signature"]
    assert expired == ["CloudFront-Hash-Algorithm"]
    assert len(values) == 4
    assert set_cookies(headers)["CloudFront-Policy"] != "old"


def non_canonical(value: str) -> str:
    """Another CloudFront base64 spelling of the same bytes (unused low bits set)."""
    decoded = b64decode(value)
    last = len(value.rstrip("_")) - 1
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~":
        spelled = value[:last] + char + value[last + 1 :]
        if spelled != value and b64decode(spelled) == decoded:
            return spelled
    raise AssertionError(f"{value[-4:]}: no other spelling (no padding?)")


def test_holds_current_is_known_before_the_response_only_when_the_rule_allows(
    signer: CountingSigner, clock: Clock
) -> None:
    """``start`` answers ``None`` (adapters then skip wrapping the response) for a current set
    only, and only for rules whose grant needs nothing from the request view."""
    core = make_core(signer, clock)
    held = cookie_header(set_cookies(respond(core, "/videos/a")))
    assert start(core, "/videos/a", held) is None
    assert start(core, "/videos/a", "") is not None
    forged = held.replace("CloudFront-Signature=", "CloudFront-Signature=A")
    assert start(core, "/videos/a", forged) is not None
    clock.now = T0 + 1800  # inside the refresh margin
    assert start(core, "/videos/a", held) is not None
    clock.now = NOW
    assert start(make_core(signer, clock, clear_on="/logout"), "/logout", held) is not None
    for options in (
        {"when": lambda request: True},
        {"rules": [Rule("/videos/*", resource=lambda view: f"{MEDIA}/videos/*")]},
        {"rules": [Rule("/videos/*", resource=f"{MEDIA}/videos/*", bind_client_ip=True)]},
    ):
        other = make_core(signer, clock, **options)
        own = cookie_header(set_cookies(respond(other, "/videos/a")))
        pending = start(other, "/videos/a", own)
        assert pending is not None, options
        assert pending.finish(200, []) is None  # finish still sees it held


def test_only_genuine_sets_take_cache_space(signer: CountingSigner, clock: Clock) -> None:
    """Requests carrying junk sets cannot fill the LRU of held sets; a genuine one is kept."""
    core = make_core(signer, clock)
    issued = set_cookies(respond(core, "/videos/a"))
    signature = issued["CloudFront-Signature"]
    for n in range(50):
        # One character changed (never to itself, whatever the key) inside the first 50, each
        # a whole 6 bits of the signature: every junk set differs from the genuine one.
        changed = "A" if signature[n] != "A" else "B"
        junk = {**issued, "CloudFront-Signature": signature[:n] + changed + signature[n + 1 :]}
        assert respond(core, "/videos/a", cookie=cookie_header(junk)) is not None
    assert core._held.cache_info().currsize == 0
    assert respond(core, "/videos/a", cookie=cookie_header(issued)) is None
    assert core._held.cache_info().currsize == 1


def test_duplicated_cloudfront_cookies_are_replaced(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    issued = set_cookies(respond(core, "/videos/a"))
    doubled = cookie_header(issued) + "; CloudFront-Policy=" + issued["CloudFront-Policy"]
    assert set_cookies(respond(core, "/videos/a", cookie=doubled)) == issued


def test_cookies_for_another_resource_are_replaced(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    alice = cookie_header(set_cookies(respond(core, "/users/alice/library")))
    bob = set_cookies(respond(core, "/users/bob/library", cookie=alice))
    assert f"{MEDIA}/users/bob/*" in b64decode(bob["CloudFront-Policy"]).decode()


def test_a_held_expiry_off_the_grid_or_in_the_future_is_not_trusted(
    signer: CountingSigner, clock: Clock, rsa2048: rsa.RSAPrivateKey
) -> None:
    """Genuine signatures over terms this middleware would never issue get replaced, so a
    request cannot make it sign (and cache) arbitrary expiries."""
    core = make_core(signer, clock)
    other = Signer("K2JCJMDEHXQW5F", rsa2048)
    for expires in (T0 + 3600 + 300, T0 + 3600 - 7):
        held = other.sign_cookies(f"{MEDIA}/videos/*", expires=expires)
        assert set_cookies(respond(core, "/videos/a", cookie=cookie_header(held)))
    assert signer.calls == 1


def test_only_2xx_responses_of_matching_routes(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock)
    for status in (200, 201, 204, 299):
        assert respond(core, "/videos/a", status=status) is not None
    for status in (199, 300, 301, 304, 403, 404, 500):
        assert respond(core, "/videos/a", status=status) is None
    assert start(core, "/images/a") is None
    assert start(core, "/videos/../admin") is None


def test_captured_names_reach_user_code_read_only(signer: CountingSigner, clock: Clock) -> None:
    """A path's route is kept and shared by its requests: ``when`` gets the names the rule
    captured read-only, so one request cannot change what the next one is granted."""
    seen = []

    def when(request: RequestView) -> bool:
        seen.append(dict(request.params))
        with pytest.raises(TypeError):
            request.params["user_id"] = "mallory"  # type: ignore[index]
        return True

    core = make_core(signer, clock, when=when)
    for _ in range(2):
        cookies = set_cookies(respond(core, "/users/alice/library"))
        policy = Policy.from_text(b64decode(cookies["CloudFront-Policy"]))
        assert policy.resource == f"{MEDIA}/users/alice/*"
    assert seen == [{"user_id": "alice"}] * 2


def test_when_decides(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock, when=lambda request: request.cookies.get("session"))
    assert respond(core, "/videos/a") is None
    assert respond(core, "/videos/a", cookies={"session": "alice"}) is not None


def test_failures_never_reach_the_app(
    rsa2048: rsa.RSAPrivateKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Signer):
        __slots__ = ()

        def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
            raise ConnectionError("key service down")

    def broken_when(request: RequestView) -> bool:
        raise RuntimeError("bug in when")

    for core in (
        make_core(Broken("K2JCJMDEHXQW5F", rsa2048), clock),
        make_core(Signer("K2JCJMDEHXQW5F", rsa2048), clock, when=broken_when),
    ):
        with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
            assert respond(core, "/videos/a") is None
    assert len([r for r in caplog.records if "without CloudFront cookies" in r.message]) == 2


def test_holds_current_fails_towards_sending_cookies(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A clock or signer failure while checking held cookies must not read as "current": the
    adapter would then skip the response, and the visitor would get no fresh set."""
    core = make_core(signer, clock)
    held = cookie_header(set_cookies(respond(core, "/videos/a")))
    assert start(core, "/videos/a", held) is None

    def stopped() -> float:
        raise OSError("clock unavailable")

    broken = make_core(signer, stopped)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        assert start(broken, "/videos/a", held) is not None
    assert "could not check the request's CloudFront cookies" in caplog.text


@pytest.mark.parametrize(
    ("path", "dropped"),
    [
        ("/videos/a", "CloudFront-Policy"),
        ("/poster", "CloudFront-Expires"),
        ("/videos/a", "CloudFront-Signature"),
        ("/poster", "CloudFront-Key-Pair-Id"),
    ],
)
def test_a_signer_returning_half_a_set_sends_none(
    rsa2048: rsa.RSAPrivateKey,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    path: str,
    dropped: str,
) -> None:
    """A set missing its policy (or Expires), signature or key id is useless to CloudFront and
    would overwrite a working one in the browser: no cookies at all."""

    class HalfSigner(Signer):
        __slots__ = ()

        def sign_policy(self, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
            fields = super().sign_policy(policy, prefix=prefix)
            del fields[dropped]
            return fields

    core = make_core(HalfSigner("K2JCJMDEHXQW5F", rsa2048), clock)
    whole = make_core(Signer("K2JCJMDEHXQW5F", rsa2048), clock)
    assert dropped in set_cookies(respond(whole, path))  # the case is real: this field is sent
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        assert respond(core, path) is None
    assert "not a whole cookie set" in caplog.text


@pytest.mark.parametrize("key", ["rsa2048", "p256"])
@pytest.mark.parametrize("hash_algorithm", ["SHA1", "SHA256"])
@pytest.mark.parametrize(
    "policy",
    [
        Policy(f"{MEDIA}/poster.jpg", 2**31 - 1),
        Policy(f"{MEDIA}/users/%C3%A9~!$&'()*+,;=:@/*", 1_767_225_600, 1_767_222_000),
        Policy(f"{MEDIA}/a?b=c&d=%22", 1_767_225_600, None, "203.0.113.0/24"),
    ],
)
def test_a_signers_own_fields_are_cookie_safe_as_made(
    request: pytest.FixtureRequest, key: str, hash_algorithm: str, policy: Policy
) -> None:
    """The core renders a plain Signer's fields unchecked (a subclass's are checked, see
    test_faults): what ``Signer.sign_policy`` makes must pass the renderer's full check."""
    own = Signer(KEY_ID, request.getfixturevalue(key), hash_algorithm=hash_algorithm)
    fields = own.sign_policy(policy)
    render = cookie_renderer(domain=".example.com")
    assert render(fields) == render(fields, checked=True)


def _unsigned(headers: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """``headers`` with the signature's value left out (an ECDSA one differs every time)."""
    assert headers is not None
    return [
        (name, value.split("=", 1)[0] if value.startswith("CloudFront-Signature=") else value)
        for name, value in headers
    ]


_POSTER = f"{MEDIA}/poster.jpg"


def _the_poster(request: RequestView) -> str:
    return _POSTER


_CASES = {  # the rule, the path requested, a URL its set opens, whether its policy is canned
    "canned": (Rule("/poster", resource=_POSTER), "/poster", _POSTER, True),
    "wildcard": (Rule("/v/*", resource=f"{MEDIA}/v/*"), "/v/a", f"{MEDIA}/v/a", False),
    "encoded field": (  # percent-encoded into the resource, still one exact URL
        Rule("/u/{name}", resource=f"{MEDIA}/u/{{name}}.jpg"),
        "/u/%C3%A9 x",
        f"{MEDIA}/u/%25C3%25A9%20x.jpg",
        True,
    ),
    "not_before": (
        Rule("/poster", resource=_POSTER, not_before=timedelta(minutes=-5)),
        "/poster",
        _POSTER,
        False,
    ),
    "client IP": (
        Rule("/poster", resource=_POSTER, bind_client_ip=True),
        "/poster",
        _POSTER,
        False,
    ),
    "all conditions": (
        Rule(
            "/v/*", resource=f"{MEDIA}/v/*", not_before=timedelta(minutes=-5), bind_client_ip=True
        ),
        "/v/a",
        f"{MEDIA}/v/a",
        False,
    ),
    "callable": (Rule("/poster", resource=_the_poster), "/poster", _POSTER, True),
}


@pytest.mark.parametrize("key", ["rsa2048", "p256"])
@pytest.mark.parametrize("hash_algorithm", ["SHA1", "SHA256"])
@pytest.mark.parametrize("case", _CASES)
def test_a_plain_signer_signs_what_its_sign_policy_would(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    key: str,
    hash_algorithm: str,
    case: str,
) -> None:
    """The core signs a plain Signer's terms as policy text, without a Policy object (see
    ``_sign``): the set must be, byte for byte, the one its ``sign_policy`` makes for those
    terms as a Policy, which a subclass overriding it gets (RSA signatures are deterministic;
    an ECDSA one is verified instead)."""
    rule, path, url, canned = _CASES[case]
    private_key = request.getfixturevalue(key)
    plain = Signer(KEY_ID, private_key, hash_algorithm=hash_algorithm)
    through_policy = CountingSigner(KEY_ID, private_key, hash_algorithm=hash_algorithm)
    fast, slow = (make_core(each, clock, rules=[rule]) for each in (plain, through_policy))
    expected = respond(slow, path)
    assert through_policy.calls == 1
    with monkeypatch.context() as patched:  # the plain Signer's set is made without a Policy
        patched.setattr(core_module, "Policy", None)
        made = respond(fast, path)
    assert made == expected if key == "rsa2048" else _unsigned(made) == _unsigned(expected)
    cookies = set_cookies(made)
    assert ("CloudFront-Expires" in cookies) is canned
    verifier = Verifier({KEY_ID: plain.public_key})
    decision = verifier.check_cookies(url, cookies, client_ip="203.0.113.9", now=NOW)
    assert decision.allowed, decision.reason


def test_a_key_id_reassigned_while_signing_is_still_checked(
    rsa2048: rsa.RSAPrivateKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The key ID checked is the one the set holds, read after the signature (which may wait
    on a KMS while another thread reassigns the attribute), not one read before it."""

    class Reassigning(Signer):
        __slots__ = ()

        def sign(self, message: bytes) -> bytes:
            signature = super().sign(message)
            self.key_pair_id = "K2JCJMDEHXQW5F; Domain=.evil.example"
            return signature

    core = make_core(Reassigning(KEY_ID, rsa2048), clock)
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        assert respond(core, "/poster") is None
    assert "response sent without CloudFront cookies" in caplog.text


def test_a_patched_sign_policy_is_called(
    rsa2048: rsa.RSAPrivateKey,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A test that patches ``Signer.sign_policy`` (to inject a fault, say) gets its patch
    called, though a plain Signer's sets are otherwise made without it."""
    calls = []
    original = Signer.sign_policy

    def half(self: Signer, policy: Policy, *, prefix: str = "CloudFront-") -> dict[str, str]:
        calls.append(policy)
        fields = original(self, policy, prefix=prefix)
        del fields["CloudFront-Signature"]
        return fields

    core = make_core(Signer(KEY_ID, rsa2048), clock)
    monkeypatch.setattr(Signer, "sign_policy", half)
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        assert respond(core, "/poster") is None
    assert calls == [Policy(_POSTER, T0 + 3600)]
    assert "not a whole cookie set" in caplog.text


def test_a_key_id_set_after_the_signer_was_built_is_still_checked(
    rsa2048: rsa.RSAPrivateKey, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain Signer's key ID is an attribute: one reassigned with a cookie attribute in it
    is checked and must not reach the header."""
    own = Signer(KEY_ID, rsa2048)
    own.key_pair_id = f"{KEY_ID}; Domain=evil.example"
    core = make_core(own, clock)
    with caplog.at_level(logging.ERROR, logger="cfcookie_middleware"):
        assert respond(core, "/videos/a") is None
    assert "CloudFront-Key-Pair-Id" in caplog.text


def test_a_rule_with_its_own_signer_signs_with_that_key(
    signer: CountingSigner, clock: Clock, p256: Any
) -> None:
    """A rule's signer overrides the middleware's for that rule's cookies only, both when
    issuing and when checking a returning visitor's set."""
    own = CountingSigner("K3RULEKEY", p256)
    core = make_core(
        signer,
        clock,
        rules=[
            Rule("/videos/*", resource=f"{MEDIA}/videos/*", signer=own),
            Rule("/poster", resource=f"{MEDIA}/poster.jpg"),
        ],
    )
    cookies = set_cookies(respond(core, "/videos/a"))
    assert cookies["CloudFront-Key-Pair-Id"] == "K3RULEKEY"
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"
    verifier = Verifier({"K3RULEKEY": own.public_key, "K2JCJMDEHXQW5F": signer.public_key})
    decision = verifier.check_cookies(f"{MEDIA}/videos/x.mp4", cookies, now=NOW)
    assert decision.allowed, decision
    assert decision.key_pair_id == "K3RULEKEY"
    assert (own.calls, signer.calls) == (1, 0)
    assert set_cookies(respond(core, "/poster"))["CloudFront-Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    assert respond(core, "/videos/b", cookie=cookie_header(cookies)) is None
    assert start(core, "/videos/b", cookie_header(cookies)) is None
    assert own.verifies >= 1


def test_a_rule_signer_that_cannot_sign_fails_at_build(
    rsa2048: rsa.RSAPrivateKey, signer: CountingSigner, clock: Clock
) -> None:
    class Refusing(Signer):
        __slots__ = ()

        def sign(self, message: bytes) -> bytes:
            raise RuntimeError("no such key in the HSM")

    rule = Rule("/v/*", resource=f"{MEDIA}/v/*", signer=Refusing("K3RULEKEY", rsa2048))
    with pytest.raises(ConfigurationError, match=r"signer: .*K3RULEKEY.*cannot sign here"):
        make_core(signer, clock, rules=[rule])


def test_callable_resource(signer: CountingSigner, clock: Clock) -> None:
    def resource(request: RequestView) -> str | None:
        user = request.cookies.get("user")
        return None if user is None else f"{MEDIA}/private/{user}/*"

    core = make_core(signer, clock, rules=[Rule("/me", resource=resource)])
    assert respond(core, "/me") is None
    cookies = set_cookies(respond(core, "/me", cookies={"user": "carol"}))
    assert f"{MEDIA}/private/carol/*" in b64decode(cookies["CloudFront-Policy"]).decode()
    # A callable that returns something CloudFront cannot use hands out nothing.
    assert respond(core, "/me", cookies={"user": "a b"}) is None


def test_a_wildcard_scheme_resource_is_checked_against_its_host(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """``http*://`` (both schemes) still has media.example.com as its host: no false warning."""
    rule = Rule("/v/*", resource=lambda view: "http*://media.example.com/v/*")
    core = make_core(signer, clock, rules=[rule], cookie_domain=".example.com")
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        assert respond(core, "/v/a") is not None
    assert not caplog.records, caplog.text


def test_max_age_is_capped_at_what_is_left(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock, max_age=timedelta(minutes=50))
    headers = respond(core, "/videos/a")
    assert headers is not None
    assert all(v.endswith("; Max-Age=3000") for n, v in headers if n == "Set-Cookie")
    clock.now = T0 + 299  # same window, 3301 s left of the policy: still capped by max_age
    assert all(
        v.endswith("; Max-Age=3000")
        for n, v in respond(core, "/videos/a") or []
        if n == "Set-Cookie"
    )
    core = make_core(signer, clock, max_age=timedelta(hours=1))
    assert all(
        v.endswith("; Max-Age=3301")
        for n, v in respond(core, "/videos/a") or []
        if n == "Set-Cookie"
    )


def test_bind_client_ip(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core(
        signer, clock, rules=[Rule("/v/*", resource=f"{MEDIA}/v/*", bind_client_ip=True)]
    )
    cookies = set_cookies(respond(core, "/v/a", client_ip="203.0.113.9"))
    assert Policy.from_text(b64decode(cookies["CloudFront-Policy"])).ip_network == "203.0.113.9/32"
    verifier = Verifier({"K2JCJMDEHXQW5F": signer.public_key})
    assert verifier.check_cookies(f"{MEDIA}/v/1", cookies, client_ip="203.0.113.9", now=NOW).allowed
    assert not verifier.check_cookies(
        f"{MEDIA}/v/1", cookies, client_ip="203.0.113.10", now=NOW
    ).allowed
    mapped = set_cookies(respond(core, "/v/a", client_ip="::ffff:198.51.100.7"))
    assert Policy.from_text(b64decode(mapped["CloudFront-Policy"])).ip_network == "198.51.100.7/32"
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        assert respond(core, "/v/a", client_ip="2001:db8::1") is None
        assert respond(core, "/v/a", client_ip=None) is None
    assert "IPv4" in caplog.text


def test_not_before_offset_backdates_the_start(signer: CountingSigner, clock: Clock) -> None:
    rule = Rule("/v/*", resource=f"{MEDIA}/v/*", not_before=timedelta(minutes=-5))
    cookies = set_cookies(respond(make_core(signer, clock, rules=[rule]), "/v/a"))
    policy = Policy.from_text(b64decode(cookies["CloudFront-Policy"]))
    assert (policy.not_before, policy.expires) == (T0 - 300, T0 + 3600)


def test_clear_on_expires_every_cloudfront_cookie(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock, clear_on=["/logout"], cookie_domain=".example.com")
    assert start(core, "/logout", "CloudFront-Policy=held") is not None
    headers = respond(core, "/logout", status=302)
    cleared = [v for n, v in headers or [] if n == "Set-Cookie"]
    assert [v.split("=")[0] for v in cleared] == [
        "CloudFront-Policy",
        "CloudFront-Expires",
        "CloudFront-Signature",
        "CloudFront-Key-Pair-Id",
        "CloudFront-Hash-Algorithm",
    ]
    assert all("Max-Age=0" in v and "Domain=.example.com" in v and "Path=/" in v for v in cleared)
    # Any response but an error logs out: a 399 clears, a 400 (a failed logout) does not.
    assert respond(core, "/logout", status=399) == headers
    for status in (400, 500):
        assert respond(core, "/logout", status=status) is None


def test_host_warning_is_logged_once_per_host(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core(signer, clock, cookie_domain=".example.com")
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(10):
            respond(core, "/videos/a", host="localhost:8000")
        respond(core, "/videos/a", host="www.example.com")
    assert len(caplog.records) == 1
    assert "localhost is not inside cookie_domain .example.com" in caplog.text


@pytest.mark.parametrize("when", [None, lambda request: True])
def test_a_set_known_for_one_host_and_scheme_still_warns_for_another(
    signer: CountingSigner,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    when: Callable[[RequestView], object] | None,
) -> None:
    """A first visit reuses the set the last one got only for the same host and scheme, so a
    request that needs a warning (a host outside cookie_domain, Secure over plain http) logs
    it even after requests that needed none; the set itself is signed once."""
    core = make_core(signer, clock, cookie_domain=".example.com", when=when)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        first = respond(core, "/videos/a")
        assert respond(core, "/videos/a", scheme="http") == first
        assert respond(core, "/videos/a", host="localhost:8000", scheme="http") == first
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "plain-http request to www.example.com" in warnings[0]
    assert "localhost is not inside cookie_domain .example.com" in warnings[1]
    assert signer.calls == 1


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_host_no_url_parser_reads_is_warned_once_over_either_scheme(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture, scheme: str
) -> None:
    """A Host header urlsplit refuses (an unclosed IPv6 bracket) is named once in the log, over
    plain http too (where the Secure check parses the host again), and the set still goes out
    as for any other host the app answered."""
    core = make_core(signer, clock, cookie_domain=".example.com")
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        for _ in range(2):
            assert set(set_cookies(respond(core, "/videos/a", host="[::1", scheme=scheme))) == (
                CUSTOM_SET
            )
    assert [r.getMessage() for r in caplog.records] == [
        "cfcookie: request host '[::1' is not a valid host name"
    ]


def test_a_resource_host_no_url_parser_reads_is_named_beside_the_secure_warning(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A callable resource's URL whose host urlsplit refuses is named as the resource's (not
    the request's) fault, and over plain http the Secure warning is logged beside it."""
    rules = [Rule("/videos/*", resource=lambda request: "https://[media.example.com/videos/a")]
    core = make_core(signer, clock, cookie_domain=".example.com", rules=rules)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        respond(core, "/videos/a", scheme="http")
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "plain-http request to www.example.com" in warnings[0]
    assert "resource host '[media.example.com' is not a valid host name" in warnings[1]


def test_host_only_cookies_warn_when_the_cdn_is_another_host(
    signer: CountingSigner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core(signer, clock)
    with caplog.at_level(logging.WARNING, logger="cfcookie_middleware"):
        respond(core, "/videos/a", host="www.example.com")
    assert "host-only for www.example.com but the resource host is media.example.com" in caplog.text


def test_signature_cache_is_bounded(signer: CountingSigner, clock: Clock) -> None:
    core = make_core(signer, clock, cache_size=2)
    for user in ("a", "b", "c", "a"):
        respond(core, f"/users/{user}/library")
    assert signer.calls == 4  # "a" was evicted by "c"
    assert core._signed.cache_info().currsize == 2


def test_routed_paths_are_bounded(
    signer: CountingSigner, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each path matches is kept for at most ``_ROUTED_PATHS`` paths (emptied when full,
    then refilled), and never for a path longer than ``_CACHED_PATH``: a client sending ever
    new paths cannot grow it, and every request is still answered as if nothing were kept."""
    monkeypatch.setattr(core_module, "_ROUTED_PATHS", 3)
    core = make_core(signer, clock)
    for user in ("a", "b", "c", "d", "e"):
        assert set_cookies(respond(core, f"/users/{user}/library"))
        assert 1 <= len(core._routes) <= 3
    assert list(core._routes) == ["/users/d/library", "/users/e/library"]
    long_path = "/videos/" + "x" * core_module._CACHED_PATH
    assert set_cookies(respond(core, long_path))
    assert long_path not in core._routes
    assert respond(core, "/elsewhere") is None
    assert respond(core, "/elsewhere") is None  # kept: no route, and nothing signed
    assert "/elsewhere" in core._routes
    for _ in range(2):  # an ambiguous path is not kept: junk cannot push real paths out
        assert respond(core, "/videos/../users/a/library") is None
        assert "/videos/../users/a/library" not in core._routes


def test_held_set_cache_is_bounded(signer: CountingSigner, clock: Clock) -> None:
    """Returning visitors' verified sets are kept up to cache_size (an LRU), and so are the
    runs found current (emptied when full, refilled from the LRU): a set pushed out of both is
    verified again, one still in the LRU is not."""
    core = make_core(signer, clock, cache_size=2)
    held = {
        user: cookie_header(set_cookies(respond(core, f"/users/{user}/library")))
        for user in ("a", "b", "c")
    }
    for user in ("a", "b", "a", "b"):
        assert respond(core, f"/users/{user}/library", cookie=held[user]) is None
    assert signer.verifies == 2  # the second "a" and "b" were known current
    assert respond(core, "/users/c/library", cookie=held["c"]) is None
    assert signer.verifies == 3  # "c" pushed "a" out of the LRU
    assert respond(core, "/users/b/library", cookie=held["b"]) is None
    assert signer.verifies == 3  # "b" is still in the LRU: looked up, not verified
    assert respond(core, "/users/a/library", cookie=held["a"]) is None
    assert signer.verifies == 4  # "a" was pushed out, so checked again


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": ["/videos/*"]}, "expected Rule objects"),
        ({"signer": "K2JCJMDEHXQW5F"}, "signer: expected a Signer"),
        ({"cookie_domain": ".cloudfront.net"}, "public suffix"),
        ({"cookie_domain": "com"}, "public suffix"),
        ({"cookie_domain": ".other.com"}, "does not cover media.example.com"),
        ({"cookie_domain": "https://example.com"}, "cookie_domain"),
        ({"cookie_path": "/videos/*"}, "glob"),
        ({"cookie_path": "/vid?"}, "glob"),
        ({"cookie_path": "videos"}, "cookie_path"),
        ({"cookie_path": "/images/"}, "would never send cookies with Path=/images/"),
        # RFC 6265 5.1.4: "/vid" is not a path prefix of "/videos/" (no "/" after it).
        ({"cookie_path": "/vid"}, "would never send cookies with Path=/vid to /videos/"),
        ({"samesite": "sometimes"}, "samesite"),
        ({"samesite": "none", "secure": False}, "needs secure"),
        ({"max_age": timedelta(hours=2)}, "longer than"),
        ({"max_age": 0}, "max_age"),
        # int() would make it 0, and Max-Age=0 deletes the cookies it should keep.
        ({"max_age": timedelta(milliseconds=500)}, "at least one second"),
        ({"rules": None}, "rules: expected a Rule or a list of them, got NoneType"),
        ({"rules": "/videos/*"}, "rules: expected a Rule or a list of them, got str"),
        ({"clear_on": None}, "clear_on: expected a path pattern"),
        ({"refresh_margin": timedelta(hours=1)}, "refresh_margin"),
        ({"when": "yes"}, "when"),
        ({"clear_on": ["logout"]}, "clear_on"),
        ({"cache_size": 0}, "cache_size"),
        (
            {"rules": [Rule("/v", resource=f"{MEDIA}/{'a' * 3000}/*")]},
            "over the 4096 bytes",
        ),
    ],
)
def test_configuration_errors_surface_at_build(
    signer: CountingSigner, clock: Clock, options: dict[str, Any], message: str
) -> None:
    options.setdefault("rules", [Rule("/videos/*", resource=f"{MEDIA}/videos/*")])
    options.setdefault("signer", signer)
    with pytest.raises(ConfigurationError, match=message):
        CookieCore(**options)


def test_a_cookie_domain_covering_the_cdn_is_accepted(signer: CountingSigner, clock: Clock) -> None:
    for domain in (".example.com", "example.com", "media.example.com"):
        make_core(
            signer, clock, cookie_domain=domain, rules=[Rule("/v/*", resource=f"{MEDIA}/v/*")]
        )


def test_rules_with_their_own_cookie_paths_keep_separate_sets(
    signer: CountingSigner, clock: Clock
) -> None:
    """Disjoint paths give the browser one set per path on the media host, so opening the
    library does not replace the catalogue's grant."""
    core = make_core(
        signer,
        clock,
        rules=[
            Rule("/videos", resource=f"{MEDIA}/videos/*", cookie_path="/videos"),
            Rule("/users/{u}/library", resource=f"{MEDIA}/users/{{u}}/*", cookie_path="/users/"),
        ],
        clear_on=["/logout"],
    )
    for path, cookie_path in (("/videos", "/videos"), ("/users/al/library", "/users/")):
        headers = respond(core, path) or []
        assert all(f"; Path={cookie_path};" in v for n, v in headers if n == "Set-Cookie")
    cleared = [v for n, v in respond(core, "/logout") or []]
    cleared = [v for v in cleared if v.startswith("CloudFront-")]
    assert len(cleared) == 3 * 5  # the default "/" and both rule paths, five names each
    for cookie_path in ("/", "/videos", "/users/"):
        assert sum(f"; Path={cookie_path};" in v for v in cleared) == 5


@pytest.mark.parametrize(
    ("resource", "cookie_path", "message"),
    [
        (f"{MEDIA}/v/*", "/images/", r"Rule\('/v/\*'\).cookie_path: browsers would never send"),
        (f"{MEDIA}/v/*", "/v/*", "glob"),
        # One exact URL: a longer Path never path-matches it (RFC 6265 5.1.4).
        (f"{MEDIA}/v/a.mp4", "/v/a.mp4/", "Path=/v/a.mp4/ to /v/a.mp4"),
        (f"{MEDIA}/v/a.mp4", "/v/a.mp4x", "Path=/v/a.mp4x to /v/a.mp4"),
    ],
)
def test_a_rule_cookie_path_is_checked_at_build(
    signer: CountingSigner, clock: Clock, resource: str, cookie_path: str, message: str
) -> None:
    rule = Rule("/v/*", resource=resource, cookie_path=cookie_path)
    with pytest.raises(ConfigurationError, match=message):
        make_core(signer, clock, rules=[rule])


@pytest.mark.parametrize(
    ("resource", "cookie_path"),
    [
        ("http*://media.example.com/v/*", "/"),  # either scheme: the path is still /v/
        ("http*://media.example.com/v/*", "/v/"),
        (f"{MEDIA}/v/a.mp4", "/v/a.mp4"),
        (f"{MEDIA}/v/a.mp4", "/v"),
        (f"{MEDIA}/*", "/v/"),  # narrower than a wildcard: it reaches part of it, by choice
    ],
)
def test_cookie_paths_that_reach_the_resource_build(
    signer: CountingSigner, clock: Clock, resource: str, cookie_path: str
) -> None:
    rule = Rule("/v/*", resource=resource, cookie_path=cookie_path)
    assert make_core(signer, clock, rules=[rule]).rules == (rule,)


@pytest.mark.parametrize("key", ["rsa2048", "p256"])
def test_a_set_from_another_worker_is_checked_not_re_signed(
    key: str, clock: Clock, request: pytest.FixtureRequest
) -> None:
    """Two workers (or a restart) share a key but not a cache; ECDSA signatures also differ on
    every signing. A current set from the other worker is verified with the public key: nothing
    is re-issued and nothing is signed."""
    private_key = request.getfixturevalue(key)
    worker_a = make_core(CountingSigner("K2JCJMDEHXQW5F", private_key), clock)
    signer_b = CountingSigner("K2JCJMDEHXQW5F", private_key)
    worker_b = make_core(signer_b, clock, cache_size=1)
    held = cookie_header(set_cookies(respond(worker_a, "/videos/a")))
    for _ in range(3):
        assert respond(worker_b, "/videos/b", cookie=held) is None
    assert signer_b.calls == 0
    forged = held.replace("CloudFront-Signature=", "CloudFront-Signature=AAAA")
    assert respond(worker_b, "/videos/b", cookie=forged) is not None


# ---- methods and hosts -----------------------------------------------------------------------
def test_match_compares_the_method_as_sent_and_the_host_exactly(
    signer: Signer, clock: Clock
) -> None:
    core = make_core(signer, clock, methods=["get", "head"], clear_on="/logout")
    assert core.methods == {"GET", "HEAD"}
    for method in ("GET", "HEAD"):
        assert start(core, "/videos/a", method=method) is not None
    for method in ("get", "", "POST", "OPTIONS", "GET "):
        assert start(core, "/videos/a", method=method) is None, method
    assert start(core, "/logout", method="POST") is not None  # logout is often a POST
    assert start(core, "/logout", method="OPTIONS") is None
    bound = make_core(
        signer,
        clock,
        rules=[Rule("/videos/*", resource=f"{MEDIA}/videos/*", host="www.example.com")],
    )
    assert start(bound, "/videos/a", host="www.example.com") is not None
    for host in ("", "WWW.EXAMPLE.COM", "www.example.com:443", "www.example.com."):
        assert start(bound, "/videos/a", host=host) is None, host


def test_a_routing_host_overrides_the_host_for_host_bound_rules_only(
    signer: Signer, clock: Clock
) -> None:
    """Django routes on ``get_host()``: a host-bound rule matches that (``None``: refused),
    while the ``Host`` header is still what the cookie-domain check reads."""
    rules = [Rule("/videos/*", resource=f"{MEDIA}/videos/*", host="www.example.com")]
    bound, unbound = make_core(signer, clock, rules=rules), make_core(signer, clock)
    for routing_host, matches in (("www.example.com", True), ("proxy", False), (None, False)):
        for core, expected in ((bound, matches), (unbound, True)):
            pending = core.start(
                method="GET",
                scheme="https",
                path="/videos/a",
                host="proxy" if matches else "www.example.com",
                cookie_header="",
                request=None,
                view=lambda _, params: view("/videos/a", params),
                routing_host=routing_host,
            )
            assert (pending is not None) == expected, (routing_host, core is bound)


def test_first_rule_for_the_host_wins(signer: Signer, clock: Clock) -> None:
    rules = [
        Rule("/videos/*", resource=f"{MEDIA}/www/*", host="www.example.com"),
        Rule("/videos/*", resource=f"{MEDIA}/beta/*", host="beta.example.com"),
    ]
    core = make_core(signer, clock, rules=rules)
    for host, prefix in (("www.example.com", "www"), ("beta.example.com", "beta")):
        cookies = set_cookies(respond(core, "/videos/a", host=host))
        policy = Policy.from_text(b64decode(cookies["CloudFront-Policy"]))
        assert policy.resource == f"{MEDIA}/{prefix}/*"


def test_a_held_set_spaced_otherwise_is_the_same_entry(
    signer: CountingSigner, clock: Clock
) -> None:
    """The run a browser sends ("a=1; b=2") is looked up as it is; the same pairs spaced
    otherwise are the same held set, found by its pairs, never a second entry."""
    core = make_core(signer, clock)
    issued = set_cookies(respond(core, "/videos/a"))
    pairs = [f"{name}={value}" for name, value in issued.items()]
    signer.verifies = 0
    for header in (
        "; ".join(pairs),
        ";".join(pairs),
        " ;  ".join(pairs) + " ",
        "session=abc; " + ";\t".join(pairs),
        "; ".join(pairs),
    ):
        assert respond(core, "/videos/a", cookie=header) is None, header
    assert (core._held.cache_info().currsize, signer.verifies) == (1, 1)


def test_a_held_set_in_filler_is_one_cache_entry(signer: CountingSigner, clock: Clock) -> None:
    """A genuine set surrounded (and split) by kilobytes of other pairs is the same held set:
    looked up by its CloudFront pairs alone, so fresh filler neither costs a verification
    nor takes cache space, and the filler itself is never kept."""
    core = make_core(signer, clock)
    issued = set_cookies(respond(core, "/videos/a"))
    pairs = [f"{name}={value}" for name, value in issued.items()]
    signer.verifies = 0
    for n in range(100):
        filler = [f"f{n}x{i}={'z' * 60}" for i in range(32)]  # about 4 KB each side, half of it
        filler += [f"CloudFront-{n}x{i}-{'z' * 60}" for i in range(32)]  # names without "="
        header = "; ".join([*filler, pairs[0], f"between{n}=1", *pairs[1:], *filler])
        assert len(header) > 8000
        assert respond(core, "/videos/a", cookie=header) is None
    assert (core._held.cache_info().currsize, signer.verifies) == (1, 1)
    spoiled = "; ".join([*pairs, "CloudFront-Extra=1"])  # another CloudFront name: not the set
    assert respond(core, "/videos/a", cookie=spoiled) is not None


def test_a_header_is_remembered_whole_only_beside_a_little_else(
    signer: CountingSigner, clock: Clock
) -> None:
    """A returning visitor's header is remembered whole once its set is found current, when
    its other cookies are short (a session): a header padded around the set is found current
    by its run every time, and is never kept."""
    core = make_core(signer, clock)
    run = cookie_header(set_cookies(respond(core, "/videos/a")))
    short = f"session=abc; {run}; theme=dark"
    padded = "; ".join([*(f"f{i}={'z' * 60}" for i in range(8)), run])  # 520 more characters
    for header in (short, padded, short, padded):
        assert respond(core, "/videos/a", cookie=header) is None
    assert list(core._current) == [short]
    assert signer.verifies == 1


def test_a_header_found_current_at_a_response_passes_at_the_next_request(
    signer: CountingSigner, clock: Clock
) -> None:
    """With ``when``, only the response can tell that a visitor holds a current set; once it
    has, the same header passes at the request, without wrapping the response again."""
    calls: list[RequestView] = []
    core = make_core(signer, clock, when=lambda view: calls.append(view) or True)
    held = cookie_header(set_cookies(respond(core, "/videos/a")))
    assert respond(core, "/videos/a", cookie=held) is None  # when asked, then found current
    assert start(core, "/videos/a", held) is None
    assert len(calls) == 2


def test_a_remembered_header_is_current_only_in_its_span(
    signer: CountingSigner, clock: Clock
) -> None:
    """Remembered, a header is still judged against the clock: not before its set's window
    (a clock set back) and not inside the refresh margin."""
    core = make_core(signer, clock)
    held = cookie_header(set_cookies(respond(core, "/videos/a")))
    assert respond(core, "/videos/a", cookie=held) is None  # now remembered
    for now, current in ((T0 - 1, False), (T0, True), (T0 + 1799, True), (T0 + 1800, False)):
        clock.now = now
        assert (start(core, "/videos/a", held) is None) is current, now
