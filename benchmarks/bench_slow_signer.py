"""How long an unrelated request waits while a slow signer (a 1.5 s KMS ``Sign``) works.

A real uvicorn server on loopback serves a Starlette app, then Django's ASGI handler, each with
the cookie middleware and a backend that sleeps 1.5 s per signature. One client asks for a page
that needs a signature; 100 ms later another asks for an unrelated page. Printed: how long the
unrelated request takes alone (median of 7) and while the signature is under way (on the event
loop it would wait about 1.4 s).
Run: python benchmarks/bench_slow_signer.py
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cfcookie_middleware import Rule, Signer
from cfcookie_middleware.signing import LocalKey, VerifyingKey

SIGN_SECONDS = 1.5
DOMAIN = ".example.com"
RULES = [Rule("/videos/*", resource="https://media.example.com/videos/*")]


class SlowBackend:
    """A local key that takes as long as a slow KMS call, once armed."""

    hash_algorithm = "SHA256"

    def __init__(self) -> None:
        self._local = LocalKey(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), "SHA256"
        )
        self.armed = False

    def sign(self, message: bytes) -> bytes:
        if self.armed:
            time.sleep(SIGN_SECONDS)
        return self._local.sign(message)

    def public_key(self) -> VerifyingKey:
        return self._local.public_key()


def starlette_app(signer: Signer) -> Any:
    from cfcookie_middleware.asgi import CloudFrontCookieMiddleware

    async def page(request: Any) -> PlainTextResponse:
        return PlainTextResponse("page")

    app = Starlette(routes=[Route("/videos/a", page), Route("/other", page)])
    return CloudFrontCookieMiddleware(app, signer=signer, rules=RULES, cookie_domain=DOMAIN)


def django_app(signer: Signer) -> Any:
    import django
    from django.conf import settings
    from django.core.handlers.asgi import ASGIHandler
    from django.http import HttpResponse
    from django.urls import path

    settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=["cfcookie_middleware.django.CloudFrontCookieMiddleware"],
        CLOUDFRONT_COOKIES={"signer": signer, "rules": RULES, "cookie_domain": DOMAIN},
    )
    django.setup()
    globals()["urlpatterns"] = [
        path("videos/a", lambda request: HttpResponse("page")),
        path("other", lambda request: HttpResponse("page")),
    ]
    return ASGIHandler()


def unrelated_wait(app: Any, backend: SlowBackend) -> tuple[float, float]:
    """How long the unrelated request takes alone, and while a signature is under way."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    headers = {"Host": "www.example.com"}
    with (
        httpx2.Client(base_url=base, timeout=30, headers=headers) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        client.get("/other")  # the connection is open from here on
        alone = []
        for _ in range(7):
            start = time.perf_counter()
            client.get("/other")
            alone.append(time.perf_counter() - start)
        backend.armed = True
        signing = pool.submit(httpx2.get, f"{base}/videos/a", headers=headers, timeout=30)
        time.sleep(0.1)
        start = time.perf_counter()
        client.get("/other")
        waited = time.perf_counter() - start
        signing.result()
    server.should_exit = True
    thread.join(10)
    return statistics.median(alone), waited


def main() -> None:
    for name, build in (("starlette", starlette_app), ("django asgi", django_app)):
        backend = SlowBackend()
        app = build(Signer("K2JCJMDEHXQW5F", backend))
        alone, waited = unrelated_wait(app, backend)
        print(
            f"{name:<12} unrelated request: {alone * 1e3:6.1f} ms alone, "
            f"{waited * 1e3:7.1f} ms while a signature is under way"
        )


if __name__ == "__main__":
    main()
