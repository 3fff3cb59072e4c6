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

Each user's library, ``/users/{user_id}/library``, answers ``hello`` too, and a second rule grants
it ``/users/{user_id}/*``: one signature per user. ``*_users`` is the middleware's app again,
served apart for the load of a distinct user per request (whose caches fill up to
``cache_size``, so the leak check stays on ``*_cf``), and ``*_signs`` is the plain app whose view
signs each user's set itself with bare ``cryptography``, the same key and policy, and sends the
very headers the middleware would: the least any app must do to hand each user their own set.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.load import BODY, HOST, MEDIA, PATH, USER_PATH, VARIANTS
from cfcookie_middleware import Signer
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.flask import CloudFrontCookies
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import b64encode, custom_policy

__all__ = [
    "fastapi_cf",
    "fastapi_headers",
    "fastapi_plain",
    "fastapi_signs",
    "fastapi_users",
    "flask_cf",
    "flask_headers",
    "flask_plain",
    "flask_signs",
    "flask_users",
    "starlette_cf",
    "starlette_headers",
    "starlette_plain",
    "starlette_signs",
    "starlette_users",
]
TTL = 3600
"""The rules' ttl (``Rule``'s default, an hour), and below the grid their policies end on."""
STEP = 300
"""A tenth of the ttl, at most 5 minutes: ``CookieCore`` ends each policy on this grid."""
ATTRIBUTES = "; Domain=.example.com; Path=/; Secure; HttpOnly; SameSite=Lax"
"""What the middleware's defaults and ``cookie_domain`` put after each cookie."""


def options() -> dict[str, Any]:
    """The middleware's options, with the signer read from the environment."""
    return {
        "signer": Signer.from_env(),
        "rules": [
            Rule("/videos/*", resource=f"{MEDIA}/videos/*"),
            Rule(USER_PATH.format(user="{user_id}"), resource=f"{MEDIA}/users/{{user_id}}/*"),
        ],
        "cookie_domain": ".example.com",
    }


def first_visit_headers(
    path: str = PATH, clock: Callable[[], float] = time.time
) -> list[tuple[str, str]]:
    """What the middleware adds to a first visit's response: Cache-Control, Vary, the set."""
    core = CookieCore(**{**options(), "clock": clock})
    pending = core.start(
        method="GET",
        scheme="https",
        path=path,
        host=HOST,
        cookie_header="",
        request=None,
        view=_no_view,
    )
    assert pending is not None
    added = pending.finish(200, [])
    assert added
    return added


def bare_signer() -> Callable[[str, float], list[tuple[str, str]]]:
    """What a view must do to hand a user their own set without the middleware: the policy
    text of ``/users/<user>/*`` ending on the middleware's grid, one signature with bare
    ``cryptography`` (the key and hash the middleware's ``Signer.from_env()`` uses), CloudFront's
    base64, and the headers; nothing checked. Checked once here against the middleware's own
    headers for one user, so both sides send the same bytes (bar an ECDSA signature's)."""
    signer = Signer.from_env()
    key = serialization.load_pem_private_key(
        os.environ["CLOUDFRONT_PRIVATE_KEY"].encode(), password=None
    )
    digest = hashes.SHA1() if signer.hash_algorithm == "SHA1" else hashes.SHA256()
    extra = (
        []
        if signer.hash_algorithm == "SHA1"
        else [("CloudFront-Hash-Algorithm", signer.hash_algorithm)]
    )
    if isinstance(key, rsa.RSAPrivateKey):
        pkcs1 = padding.PKCS1v15()

        def sign(data: bytes) -> bytes:
            return key.sign(data, pkcs1, digest)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        ecdsa = ec.ECDSA(digest)

        def sign(data: bytes) -> bytes:
            return key.sign(data, ecdsa)

    def headers(user: str, now: float) -> list[tuple[str, str]]:
        expires = int(now // STEP * STEP) + TTL
        data = custom_policy(f"{MEDIA}/users/{user}/*", expires).encode()
        cookies = [
            ("CloudFront-Policy", b64encode(data)),
            ("CloudFront-Signature", b64encode(sign(data))),
            ("CloudFront-Key-Pair-Id", signer.key_pair_id),
            *extra,
        ]
        return [
            ("Cache-Control", "private"),
            ("Vary", "Cookie"),
            *(("Set-Cookie", f"{name}={value}{ATTRIBUTES}") for name, value in cookies),
        ]

    now = time.time()
    made, theirs = (
        headers("check", now),
        first_visit_headers(USER_PATH.format(user="check"), lambda: now),
    )
    assert _unsigned(made) == _unsigned(theirs), (made, theirs)
    return headers


def _unsigned(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the signature's value left out (an ECDSA one differs every time)."""
    return [
        (name, "CloudFront-Signature=;" + value.split(";", 1)[1])
        if value.startswith("CloudFront-Signature=")
        else (name, value)
        for name, value in headers
    ]


def _no_view(request: object, params: Mapping[str, str]) -> RequestView:
    raise AssertionError("the rule reads nothing from the request")


def raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI app sends them."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


ADDED = first_visit_headers()
RAW_ADDED = raw(ADDED)
SIGNED = bare_signer()
MIDDLEWARE = ("cf", "users")
"""The variants with the middleware."""


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(BODY)


async def hello_with_headers(request: Request) -> PlainTextResponse:
    response = PlainTextResponse(BODY)
    response.raw_headers += RAW_ADDED
    return response


async def library_signed(request: Request) -> PlainTextResponse:
    response = PlainTextResponse(BODY)
    response.raw_headers += raw(SIGNED(request.path_params["user_id"], time.time()))
    return response


def starlette_app(variant: str) -> Starlette:
    endpoint = hello_with_headers if variant == "headers" else hello
    library = library_signed if variant == "signs" else hello
    app = Starlette(
        routes=[
            Route("/videos/{name:path}", endpoint),
            Route(USER_PATH.format(user="{user_id}"), library),
        ]
    )
    if variant in MIDDLEWARE:
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

    @app.get(USER_PATH.format(user="{user_id}"))
    async def library(user_id: str) -> PlainTextResponse:
        response = PlainTextResponse(BODY)
        if variant == "signs":
            response.raw_headers += raw(SIGNED(user_id, time.time()))
        return response

    if variant in MIDDLEWARE:
        app.add_middleware(CloudFrontCookieMiddleware, **options())
    return app


def flask_app(variant: str) -> Flask:
    app = Flask(__name__)

    @app.get("/videos/<path:name>")
    def video(name: str) -> tuple[bytes, int, list[tuple[str, str]]]:
        return BODY, 200, ADDED if variant == "headers" else []

    @app.get(USER_PATH.format(user="<user_id>"))
    def library(user_id: str) -> tuple[bytes, int, list[tuple[str, str]]]:
        return BODY, 200, SIGNED(user_id, time.time()) if variant == "signs" else []

    if variant in MIDDLEWARE:
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
starlette_plain, starlette_cf, starlette_headers, starlette_users, starlette_signs = map(
    starlette_app, VARIANTS
)
fastapi_plain, fastapi_cf, fastapi_headers, fastapi_users, fastapi_signs = map(
    fastapi_app, VARIANTS
)
flask_plain, flask_cf, flask_headers, flask_users, flask_signs = map(flask_app, VARIANTS)
