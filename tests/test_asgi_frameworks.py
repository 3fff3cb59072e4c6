"""The ASGI middleware in ASGI frameworks other than Starlette, each through its own test client:
the app sees every request header, and a matching view's response carries the grant."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import falcon
import falcon.asgi
import falcon.testing
from litestar import Litestar, get
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient as LitestarClient
from middleware_helpers import (
    CUSTOM_SET,
    KEY_ID,
    MEDIA,
    VECTORS,
    assert_grants,
    make_signer,
    options,
    verifier_for,
)

from cfcookie_middleware import starlette as starlette_home
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware, asgi_path


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


def test_the_asgi_adapter_needs_no_starlette(tmp_path: Path) -> None:
    """In a fresh interpreter where importing Starlette fails, a bare ASGI app gets the grant
    and its headers through ``cfcookie_middleware.asgi``, whose headers mapping is its own."""
    script = tmp_path / "bare.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, json, sys
            sys.modules["starlette"] = None  # "import starlette" now raises ImportError

            from cfcookie_middleware import Rule, Signer
            from cfcookie_middleware.asgi import CloudFrontCookieMiddleware

            seen = {}

            async def app(scope, receive, send):
                seen["headers"] = [list(map(bytes.decode, pair)) for pair in scope["headers"]]
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"ok"})

            def when(view):
                seen["view"] = [view.headers["X-App"], view.headers.get("x-missing"),
                                sorted(view.headers), len(view.headers)]
                return True

            signer = Signer(sys.argv[1], open(sys.argv[2]).read())
            wrapped = CloudFrontCookieMiddleware(
                app, signer=signer, when=when,
                rules=[Rule("/videos/*", resource="https://media.example.com/videos/*")],
            )
            sent = []

            async def receive():
                return {"type": "http.request", "body": b""}

            async def send(message):
                sent.append(message)

            scope = {"type": "http", "method": "GET", "scheme": "https", "path": "/videos/a",
                     "headers": iter([(b"host", b"app.example.com"), (b"x-app", b"kept"),
                                      (b"x-app", b"second")])}
            asyncio.run(wrapped(scope, receive, send))
            cookies = [v.decode() for n, v in sent[0]["headers"] if n == b"set-cookie"]
            print(json.dumps({**seen, "cookies": cookies,
                              "starlette": "starlette.datastructures" in sys.modules}))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), KEY_ID, str(VECTORS / "test-rsa-key.pem")],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["starlette"] is False
    assert found["headers"] == [["host", "app.example.com"], ["x-app", "kept"], ["x-app", "second"]]
    assert found["view"] == ["kept", None, ["host", "x-app"], 2]
    assert_grants(found["cookies"], make_signer(), f"{MEDIA}/videos/a", None, domain=None)


def test_the_starlette_module_is_the_asgi_adapter_under_its_first_name() -> None:
    assert starlette_home.CloudFrontCookieMiddleware is CloudFrontCookieMiddleware
    assert starlette_home.asgi_path is asgi_path
