"""Pure ASGI adapter: Starlette, FastAPI, Litestar, Falcon, Quart, Django or any ASGI app.

It needs no framework (``cfcookie_middleware.starlette`` is the same class under its older home).
No ``BaseHTTPMiddleware``: only the ``http.response.start`` message is touched, so streamed
bodies, background tasks and websockets pass through exactly as without the middleware. A
signer whose key is held elsewhere (``KMSBackend``) signs in a worker thread (anyio's, so under
asyncio or trio), so a slow signature never blocks the event loop; ``when`` and callable
resources then run there too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from anyio import CapacityLimiter, to_thread
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.asgi needs anyio: pip install "cfcookie-middleware[asgi]"'
    ) from exc
from werkzeug.sansio.utils import get_host

from cfcookie_middleware.cookies import RequestCookies
from cfcookie_middleware.core import REMOTE_SIGNATURES, CookieCore, Pending
from cfcookie_middleware.options import CookieOptions, spelled_out
from cfcookie_middleware.request import Finder, RequestView
from cfcookie_middleware.routes import checked_asgi

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "CloudFrontCookieMiddleware",
    "ScopeHeaders",
    "asgi_path",
    "finish_off_the_loop",
]

# The ASGI callables, typed as the specification (and Starlette) describe them.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Headers = TypeVar("Headers")
Finished = TypeVar("Finished")

SCOPE_KEY = "cfcookie.middleware"
"""The scope key under which the middleware leaves itself, for grants at the view."""


def asgi_path(scope: Scope) -> str:
    """The decoded path below the mount point: servers differ on whether ``path`` includes
    ``root_path``, so a leading ``root_path`` is removed when present."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if (
        root_path
        and path.startswith(root_path)
        and path[len(root_path) : len(root_path) + 1]
        in (
            "",
            "/",
        )
    ):
        return path[len(root_path) :] or "/"
    return path


class CloudFrontCookieMiddleware:
    """Adds CloudFront signed cookies to successful responses of matching routes.

    ``app.add_middleware(CloudFrontCookieMiddleware, signer=..., rules=..., **options)``; the
    options are ``cfcookie_middleware.options.CookieOptions``, all checked when it is built.
    Starlette builds its middleware stack when the app starts (the lifespan startup, or the
    first request without one), so a bad option fails the start, before any request is served.
    """

    @spelled_out
    def __init__(self, app: ASGIApp, **options: Unpack[CookieOptions]) -> None:
        self.core = CookieCore(**options)
        self.app = checked_asgi(self, app)  # rules against the routes, at the first call
        self._signing = CapacityLimiter(REMOTE_SIGNATURES)  # anyio 4.2+ makes one off the loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self  # for grants at the view (cfcookie_middleware.starlette)
        host, cookie = _host_and_cookie(scope)
        pending = self.core.start(
            method=scope.get("method", ""),
            scheme=scope.get("scheme", "http"),
            path=asgi_path(scope) if scope.get("root_path") else scope["path"],
            host=host,
            cookie_header=cookie,
            request=scope,
            view=_view,
        )
        if pending is None:
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, _sending(self.core, pending, send, self._signing))


def _sending(core: CookieCore, pending: Pending, send: Send, limiter: CapacityLimiter) -> Send:
    """``send``, with the response start finished by ``pending``. Made here, not inside
    ``__call__``: a closure there would make every request, even one passed through, allocate
    the cells it reads. A coroutine function, as callers may check (asgiref's ``AsyncToSync``
    warns about any other callable)."""

    async def send_with_cookies(message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = message.get("headers", ())
            # finish_off_the_loop's test, inline: one coroutine less per first visit.
            if core.may_sign_remotely and pending.signs_remotely(status):
                replaced = await to_thread.run_sync(
                    pending.finish_raw, status, headers, limiter=limiter
                )
            else:
                replaced = pending.finish_raw(status, headers)
            if replaced is not None:
                message = {**message, "headers": replaced}
        await send(message)

    return send_with_cookies


async def finish_off_the_loop(
    pending: Pending,
    finish: Callable[[int, Headers], Finished],
    status: int,
    headers: Headers,
    limiter: CapacityLimiter,
) -> Finished:
    """``finish(status, headers)`` (``pending``'s ``finish`` or ``finish_raw``), in a worker
    thread when ``pending`` may call a remote signer, so the event loop never waits on it."""
    if pending.signs_remotely(status):
        return await to_thread.run_sync(finish, status, headers, limiter=limiter)
    return finish(status, headers)


def _host_and_cookie(scope: Scope) -> tuple[str, str]:
    """The ``Host`` and ``Cookie`` headers, found in one pass (HTTP/2 may split the Cookie
    header: the parts are rejoined). ``scope["headers"]``, and each name-value pair in it, may
    be any iterable, even a one-shot one (Falcon's test client sends iterators of iterators):
    anything but a list (what servers send) is stored back as a list of pairs, so the app still
    sees every header."""
    host = cookie = None
    headers = scope.get("headers", ())
    if type(headers) is not list:  # the copy costs a third of this function: only when needed
        headers = scope["headers"] = list(map(tuple, headers))
    for name, value in headers:
        if name == b"host" and host is None:
            host = value.decode("latin-1")
        elif name == b"cookie":
            text = value.decode("latin-1")
            cookie = text if cookie is None else f"{cookie}; {text}"
    if not host:
        try:
            host = get_host(scope.get("scheme", "http"), None, scope.get("server"))
        except (ValueError, TypeError):  # a malformed "server": no host rather than an error
            host = ""
    return host, cookie or ""


def _view(scope: Scope, params: Mapping[str, str]) -> RequestView:
    """The request view of ``scope`` (``host`` and ``cookie`` read again: a view is rare)."""
    host, cookie = _host_and_cookie(scope)
    client = scope.get("client")
    return RequestView(
        method=scope.get("method", "GET"),
        scheme=scope.get("scheme", "http"),
        host=host,
        path=asgi_path(scope),
        headers=ScopeHeaders(scope["headers"]),
        cookies=RequestCookies(cookie),
        client_ip=client[0] if client else None,
        params=params,
        native=scope,
        finder=_IN_SCOPE,
    )


class _ScopeFinder(Finder):
    """Starlette's ``SessionMiddleware`` and ``AuthenticationMiddleware`` (and Litestar's)
    leave the session and the user in the scope."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        found = native.get("session")
        return found if isinstance(found, Mapping) else None

    def user(self, native: Any) -> object | None:
        found: object | None = native.get("user")
        return found


_IN_SCOPE = _ScopeFinder()


class ScopeHeaders(Mapping[str, str]):
    """An ASGI scope's request headers as a case-insensitive read-only mapping (latin-1, as
    the specification says); a repeated header gives its first value."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._pairs = pairs

    def __getitem__(self, name: str) -> str:
        key = name.lower().encode("latin-1")
        for header, value in self._pairs:
            if header == key:
                return value.decode("latin-1")
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(header.decode("latin-1") for header, _ in self._pairs))

    def __len__(self) -> int:
        return len({header for header, _ in self._pairs})
