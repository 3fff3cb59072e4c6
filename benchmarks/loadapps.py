"""Hello-world apps for the load test (benchmarks/load.py, tests/test_load.py), built on import.

Servers import them by name, such as ``uvicorn benchmarks.loadapps:starlette_cf --workers 2`` or
``gunicorn benchmarks.loadapps:flask_cf --workers 2``, so every worker process builds its own
middleware from ``Signer.from_env()`` (``CLOUDFRONT_KEY_PAIR_ID`` and ``CLOUDFRONT_PRIVATE_KEY``),
as a deployed app would. Each ``*_plain`` app is its ``*_cf`` twin without the middleware, and
each ``*_headers`` app is the plain one sending, from its own view, the very headers the middleware
adds to a first visit (made once at import): the cost of sending those bytes, without the
middleware's. The route answers every path below ``/videos/`` with ``hello``; the rule grants
``/videos/*`` of the media host, with cookies for ``.example.com`` (clients send
``Host: www.example.com``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.load import BODY, HOST, MEDIA, PATH, VARIANTS
from cfcookie_middleware import Signer
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule

__all__ = [
    "fastapi_cf",
    "fastapi_headers",
    "fastapi_plain",
    "flask_cf",
    "flask_headers",
    "flask_plain",
    "starlette_cf",
    "starlette_headers",
    "starlette_plain",
]


def options() -> dict[str, Any]:
    """The middleware's options, with the signer read from the environment."""
    return {
        "signer": Signer.from_env(),
        "rules": [Rule("/videos/*", resource=f"{MEDIA}/videos/*")],
        "cookie_domain": ".example.com",
    }


def first_visit_headers() -> list[tuple[str, str]]:
    """What the middleware adds to a first visit's response: Cache-Control, Vary, the set."""
    core = CookieCore(**options())
    pending = core.start(
        method="GET", scheme="https", path=PATH, host=HOST, cookie_header="", view=_no_view
    )
    assert pending is not None
    added = pending.finish(200, [])
    assert added
    return added


def _no_view(params: Mapping[str, str]) -> RequestView:
    raise AssertionError("the rule reads nothing from the request")


ADDED = first_visit_headers()
RAW_ADDED = [(name.lower().encode(), value.encode()) for name, value in ADDED]


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(BODY)


async def hello_with_headers(request: Request) -> PlainTextResponse:
    response = PlainTextResponse(BODY)
    response.raw_headers += RAW_ADDED
    return response


def starlette_app(variant: str) -> Starlette:
    endpoint = hello_with_headers if variant == "headers" else hello
    app = Starlette(routes=[Route("/videos/{name:path}", endpoint)])
    if variant == "cf":
        app.add_middleware(CloudFrontCookieMiddleware, **options())
    return app


def fastapi_app(variant: str) -> FastAPI:
    app = FastAPI()

    @app.get("/videos/{name:path}")
    async def video(name: str) -> PlainTextResponse:
        response = PlainTextResponse(BODY)
        if variant == "headers":
            response.raw_headers += RAW_ADDED
        return response

    if variant == "cf":
        app.add_middleware(CloudFrontCookieMiddleware, **options())
    return app


def flask_app(variant: str) -> Flask:
    app = Flask(__name__)

    @app.get("/videos/<path:name>")
    def video(name: str) -> tuple[bytes, int, list[tuple[str, str]]]:
        return BODY, 200, ADDED if variant == "headers" else []

    if variant == "cf":
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
starlette_plain, starlette_cf, starlette_headers = map(starlette_app, VARIANTS)
fastapi_plain, fastapi_cf, fastapi_headers = map(fastapi_app, VARIANTS)
flask_plain, flask_cf, flask_headers = map(flask_app, VARIANTS)
