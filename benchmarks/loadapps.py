"""Hello-world apps for the load test (benchmarks/load.py, tests/test_load.py), built on import.

Servers import them by name, such as ``uvicorn benchmarks.loadapps:starlette_cf --workers 2`` or
``gunicorn benchmarks.loadapps:flask_cf --workers 2``, so every worker process builds its own
middleware from ``Signer.from_env()`` (``CLOUDFRONT_KEY_PAIR_ID`` and ``CLOUDFRONT_PRIVATE_KEY``),
as a deployed app would. Each ``*_plain`` app is its ``*_cf`` twin without the middleware. The
route answers every path below ``/videos/`` with ``hello``; the rule grants ``/videos/*`` of the
media host, with cookies for ``.example.com`` (clients send ``Host: www.example.com``).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.load import BODY, MEDIA
from cfcookie_middleware import Signer
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.starlette import CloudFrontCookieMiddleware

__all__ = [
    "fastapi_cf",
    "fastapi_plain",
    "flask_cf",
    "flask_plain",
    "starlette_cf",
    "starlette_plain",
]


def options() -> dict[str, Any]:
    """The middleware's options, with the signer read from the environment."""
    return {
        "signer": Signer.from_env(),
        "rules": [Rule("/videos/*", resource=f"{MEDIA}/videos/*")],
        "cookie_domain": ".example.com",
    }


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(BODY)


def starlette_app(cloudfront: bool) -> Starlette:
    app = Starlette(routes=[Route("/videos/{name:path}", hello)])
    if cloudfront:
        app.add_middleware(CloudFrontCookieMiddleware, **options())
    return app


def fastapi_app(cloudfront: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/videos/{name:path}")
    async def video(name: str) -> PlainTextResponse:
        return PlainTextResponse(BODY)

    if cloudfront:
        app.add_middleware(CloudFrontCookieMiddleware, **options())
    return app


def flask_app(cloudfront: bool) -> Flask:
    app = Flask(__name__)

    @app.get("/videos/<path:name>")
    def video(name: str) -> bytes:
        return BODY

    if cloudfront:
        CloudFrontCookies(app, **options())
    return app


def no_delay_for_inherited_listeners() -> None:
    """Turn Nagle's algorithm off on the TCP sockets this process inherited: its listener.

    ``uvicorn --workers N`` binds the socket in its master without telling Python it is TCP, so
    asyncio never sets TCP_NODELAY on the connections a worker accepts (uvicorn issue 3149):
    every keep-alive response then waits ~40 ms for the client's delayed ACK, and 64 connections
    top out near 1,500 requests/s whatever the app does. On Linux accepted sockets inherit the
    option from the listener, so setting it here, at import in each worker (before it accepts
    anything, maybe before it listens), restores what uvicorn does without ``--workers``.
    gunicorn sets the option itself, so for it this changes nothing.
    """
    for name in os.listdir("/proc/self/fd"):
        try:
            probe = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # not a socket
        with probe:
            if probe.type == socket.SOCK_STREAM and probe.family in (
                socket.AF_INET,
                socket.AF_INET6,
            ):
                probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


no_delay_for_inherited_listeners()
starlette_plain = starlette_app(cloudfront=False)
starlette_cf = starlette_app(cloudfront=True)
fastapi_plain = fastapi_app(cloudfront=False)
fastapi_cf = fastapi_app(cloudfront=True)
flask_plain = flask_app(cloudfront=False)
flask_cf = flask_app(cloudfront=True)
