"""Key rotation end to end with the local edge, and the client IP behind proxies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from middleware_helpers import MEDIA, cookie_header
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

from cfcookie_middleware import ConfigurationError, Policy, Rule, Signer
from cfcookie_middleware.edge import Edge
from cfcookie_middleware.signing import b64decode
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

OLD_ID, NEW_ID = "K2OLDKEY", "K2NEWKEY"


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def handed_out(response: Any) -> dict[str, str]:
    values = response.headers.getlist("Set-Cookie")
    return dict(v.split(";")[0].split("=", 1) for v in values if v.startswith("CloudFront-"))


def videos_middleware(signer: Signer) -> CloudFrontCookieMiddleware:
    return CloudFrontCookieMiddleware(
        hello, signer=signer, rules=[Rule("/videos/*", resource=f"{MEDIA}/videos/*")]
    )


@pytest.fixture
def media(tmp_path: Path) -> Path:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"video")
    return tmp_path


def test_rotation_rolls_out_on_the_next_matching_request(
    media: Path, rsa2048: rsa.RSAPrivateKey, p256: ec.EllipticCurvePrivateKey
) -> None:
    old, new = Signer(OLD_ID, rsa2048), Signer(NEW_ID, p256)
    middleware = videos_middleware(old)
    app = Client(middleware, use_cookies=False)
    both = Client(
        Edge(media, {OLD_ID: old.public_key, NEW_ID: new.public_key}, public_url=MEDIA),
        use_cookies=False,
    )
    only_new = Client(Edge(media, {NEW_ID: new.public_key}, public_url=MEDIA), use_cookies=False)

    old_cookies = handed_out(app.get("/videos/", headers={"Host": "media.example.com"}))
    assert old_cookies["CloudFront-Key-Pair-Id"] == OLD_ID
    held = {"Cookie": cookie_header(old_cookies)}
    # Still current: nothing re-issued while the old key is active.
    assert handed_out(app.get("/videos/", headers={**held, "Host": "media.example.com"})) == {}

    middleware.core.signer = new  # the rotation
    new_cookies = handed_out(app.get("/videos/", headers={**held, "Host": "media.example.com"}))
    assert new_cookies["CloudFront-Key-Pair-Id"] == NEW_ID
    assert new_cookies["CloudFront-Hash-Algorithm"] == "SHA256"  # ECDSA signs with SHA-256

    # During the overlap the edge trusts both keys; after it, only the new one.
    for cookies, edge, status, code in [
        (old_cookies, both, 200, None),
        (new_cookies, both, 200, None),
        (old_cookies, only_new, 403, "InvalidKey"),
        (new_cookies, only_new, 200, None),
    ]:
        with edge.get("/videos/a.mp4", headers={"Cookie": cookie_header(cookies)}) as answer:
            assert answer.status_code == status, answer.headers.get("X-Cfcookie-Reason")
            assert code is None or f"<Code>{code}</Code>" in answer.get_data(as_text=True)


def kept(jar: dict[str, str], response: Any) -> dict[str, str]:
    """``jar`` after a browser applies the response's cookies (Max-Age=0 deletes one)."""
    jar = dict(jar)
    for header in response.headers.getlist("Set-Cookie"):
        pair, *attributes = header.split("; ")
        name, value = pair.split("=", 1)
        if "Max-Age=0" in attributes:
            jar.pop(name, None)
        else:
            jar[name] = value
    return jar


def test_rotation_to_a_sha1_key_expires_the_old_hash_cookie(
    media: Path, rsa2048: rsa.RSAPrivateKey, p256: ec.EllipticCurvePrivateKey
) -> None:
    # cloudfront.md: no CloudFront-Hash-Algorithm means SHA1; a stale SHA256 one left in the
    # browser would make CloudFront check the new RSA/SHA-1 signature with SHA-256.
    old, new = Signer(OLD_ID, p256), Signer(NEW_ID, rsa2048)
    middleware = videos_middleware(old)
    app = Client(middleware, use_cookies=False)
    edge = Client(Edge(media, {NEW_ID: new.public_key}, public_url=MEDIA), use_cookies=False)
    host = {"Host": "media.example.com"}

    jar = kept({}, app.get("/videos/", headers=host))
    assert jar["CloudFront-Hash-Algorithm"] == "SHA256"
    middleware.core.signer = new
    jar = kept(jar, app.get("/videos/", headers={**host, "Cookie": cookie_header(jar)}))
    assert set(jar) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    with edge.get("/videos/a.mp4", headers={"Cookie": cookie_header(jar)}) as answer:
        assert answer.status_code == 200, answer.headers.get("X-Cfcookie-Reason")
    # The browser's set is now current: nothing more is sent.
    assert (
        app.get("/videos/", headers={**host, "Cookie": cookie_header(jar)}).headers.getlist(
            "Set-Cookie"
        )
        == []
    )


def test_a_signer_that_is_not_one_is_refused_at_rotation(rsa2048: rsa.RSAPrivateKey) -> None:
    middleware = CloudFrontCookieMiddleware(
        hello, signer=Signer(OLD_ID, rsa2048), rules=[Rule("/v/*", resource=f"{MEDIA}/v/*")]
    )
    with pytest.raises(ConfigurationError, match="signer: expected a Signer"):
        middleware.core.signer = "K2NEWKEY"  # type: ignore[assignment]
    assert middleware.core.signer.key_pair_id == OLD_ID


def bound_ip(response: Any) -> str | None:
    policy = Policy.from_text(b64decode(handed_out(response)["CloudFront-Policy"]))
    return policy.ip_network


@pytest.mark.parametrize("trust_proxy", [False, True])
def test_a_forged_forwarded_for_does_not_move_the_bound_ip(
    rsa2048: rsa.RSAPrivateKey, trust_proxy: bool
) -> None:
    """The bound address is the server's view of the connection (REMOTE_ADDR); only a proxy
    the app chose to trust (Werkzeug's ProxyFix here) may replace it."""
    rule = Rule("/v/*", resource=f"{MEDIA}/v/*", bind_client_ip=True)
    middleware: Any = CloudFrontCookieMiddleware(hello, signer=Signer(OLD_ID, rsa2048), rules=rule)
    if trust_proxy:
        middleware = ProxyFix(middleware, x_for=1)
    response = Client(middleware).get(
        "/v/a",
        headers={"X-Forwarded-For": "198.51.100.66"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert bound_ip(response) == ("198.51.100.66/32" if trust_proxy else "203.0.113.9/32")


@pytest.mark.parametrize("trust_proxy", [False, True])
def test_asgi_bound_ip_moves_only_behind_a_trusted_proxy(
    rsa2048: rsa.RSAPrivateKey, trust_proxy: bool
) -> None:
    """uvicorn's --proxy-headers --forwarded-allow-ips is its ProxyHeadersMiddleware."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from cfcookie_middleware.asgi import CloudFrontCookieMiddleware as ASGIMiddleware

    async def asgi_hello(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    rule = Rule("/v/*", resource=f"{MEDIA}/v/*", bind_client_ip=True)
    app: Any = ASGIMiddleware(asgi_hello, signer=Signer(OLD_ID, rsa2048), rules=rule)
    if trust_proxy:
        app = ProxyHeadersMiddleware(app, trusted_hosts="203.0.113.9")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "https", "path": "/v/a", "raw_path": b"/v/a", "root_path": "",
        "query_string": b"", "client": ("203.0.113.9", 50000), "server": ("app", 443),
        "headers": [(b"host", b"www.example.com"), (b"x-forwarded-for", b"198.51.100.66")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    set_cookies = [v.decode() for k, v in sent[0]["headers"] if k == b"set-cookie"]
    policy = next(v for v in set_cookies if v.startswith("CloudFront-Policy="))
    value = policy.split(";")[0].split("=", 1)[1]
    bound = Policy.from_text(b64decode(value)).ip_network
    assert bound == ("198.51.100.66/32" if trust_proxy else "203.0.113.9/32")
