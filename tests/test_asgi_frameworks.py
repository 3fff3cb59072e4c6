"""The ASGI middleware in ASGI frameworks other than Starlette, each through its own test client:
the app sees every request header, and a matching view's response carries the grant."""

from __future__ import annotations

import asyncio

import falcon
import falcon.asgi
import falcon.testing
from litestar import Litestar, get
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient as LitestarClient
from middleware_helpers import (
    CUSTOM_SET,
    MEDIA,
    assert_grants,
    make_signer,
    options,
    verifier_for,
)

from cfcookie_middleware.starlette import CloudFrontCookieMiddleware


def test_falcon_asgi_app_sees_its_headers_and_gets_the_grant() -> None:
    """Falcon's test client sends the headers as iterators of iterators (one-shot)."""

    class Video:
        async def on_get(
            self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str
        ) -> None:
            resp.text = f"{req.get_header('X-App')} {req.get_header('Cookie')}"

    inner = falcon.asgi.App()
    inner.add_route("/videos/{name}", Video())
    signer = make_signer()
    app = CloudFrontCookieMiddleware(inner, **options(signer))

    async def visit() -> falcon.testing.Result:
        # In a loop of the test's own, closed at the end (the synchronous TestClient leaves
        # one open on Python 3.10).
        async with falcon.testing.ASGIConductor(app) as conductor:
            return await conductor.simulate_get(
                "/videos/a.mp4",
                headers={"X-App": "kept", "Cookie": "session=1", "Host": "app.example.com"},
                protocol="https",
            )

    reply = asyncio.run(visit())
    assert (reply.status_code, reply.text) == (200, "kept session=1")
    # Falcon's result keeps cookies parsed, not the raw Set-Cookie headers.
    values = {name: cookie.value for name, cookie in reply.cookies.items()}
    assert set(values) == CUSTOM_SET
    verifier = verifier_for(signer)
    assert verifier.check_cookies(f"{MEDIA}/videos/a.mp4", values).allowed
    assert not verifier.check_cookies(f"{MEDIA}/images/a.jpg", values).allowed


def test_litestar_builds_it_with_define_middleware() -> None:
    """Litestar passes ``app`` as a keyword when it builds the middleware."""

    @get("/videos/a.mp4", media_type="text/plain")  # no path parameter: its syntax changed
    async def video() -> str:
        return "video a.mp4"

    signer = make_signer()
    app = Litestar(
        route_handlers=[video],
        middleware=[DefineMiddleware(CloudFrontCookieMiddleware, **options(signer))],
    )
    with LitestarClient(app, base_url="https://app.example.com") as client:
        reply = client.get("/videos/a.mp4")
    assert (reply.status_code, reply.text) == (200, "video a.mp4")
    assert_grants(reply.headers.get_list("set-cookie"), signer, f"{MEDIA}/videos/a.mp4", None)
