"""The ASGI adapter under its first home, and grants named at Starlette and FastAPI views.

The adapter lives in ``cfcookie_middleware.asgi`` now, which needs no Starlette; this name stays,
without a warning: Starlette and FastAPI apps use it. What is added here serves
``cfcookie_middleware.grant`` for a Starlette response and FastAPI's ``grant`` dependency
(``cfcookie_middleware.fastapi``); it imports no Starlette either, since only a Starlette app
calls it.

Where a grant finds what it needs: the core is that of the ``CloudFrontCookieMiddleware`` that
served the request, which leaves itself in the request's scope (``MIDDLEWARE``); a scope passes
down the app's router and into mounted apps, so this holds however the middleware was added
(``app.add_middleware``, wrapping the app, around a bare ``Router``) and for views of a mounted
sub-app. The request is the one the view was given. The status is the response's: a view's own
``Response`` has it, while the ``Response`` FastAPI injects has none until FastAPI builds the
real one after the view, so there only a ``GrantRoute`` (which sees that one) can finish a grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from cfcookie_middleware.asgi import (
    SCOPE_KEY,
    CloudFrontCookieMiddleware,
    _host_and_cookie,
    _view,
    asgi_path,
    finish_off_the_loop,
)
from cfcookie_middleware.core import Pending
from cfcookie_middleware.grants import Grant, url_params
from cfcookie_middleware.signing import ConfigurationError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = [
    "GRANTS",
    "MIDDLEWARE",
    "CloudFrontCookieMiddleware",
    "asgi_path",
    "finish_grants",
    "grant_response",
]

GRANTS = "cfcookie.grants"
"""The scope key under which grants wait for a ``GrantRoute`` to finish the final response."""
MIDDLEWARE = SCOPE_KEY
"""The scope key under which ``CloudFrontCookieMiddleware`` leaves itself for grants at the view."""


def grant_response(
    response: Response,
    declared: Grant,
    request: Request | None,
    params: Mapping[str, object] | None,
) -> None:
    """``cfcookie_middleware.grant`` for a Starlette or FastAPI response (``request`` needed):
    on a ``GrantRoute`` it waits for the final response; elsewhere it finishes ``response``
    now, which must then be the one the view returns, with its status."""
    if request is None or not hasattr(request, "scope"):
        raise ConfigurationError(
            f"{declared.where}: Starlette has no current request; pass it: "
            "grant(response, resource, request=request)"
        )
    if getattr(request.scope.get("route"), "finishes_grants", False):
        defer(request, declared, params)
        return
    if response.status_code is None:  # FastAPI's injected Response: the status comes later
        raise ConfigurationError(
            f"{declared.where}: FastAPI builds the response after the view, so this "
            "Response has no status yet; make the route a GrantRoute "
            "(APIRouter(route_class=GrantRoute), from cfcookie_middleware.fastapi), or "
            "return a Response of your own and grant on it"
        )
    middleware = _middleware(request, declared)
    pending = _start(middleware, declared, request, params)
    if pending is not None:
        _replace(response, pending.finish_raw(response.status_code, response.raw_headers))


def defer(request: Request, declared: Grant, params: Mapping[str, object] | None) -> None:
    """Leave ``declared`` in the scope for ``finish_grants``."""
    request.scope.setdefault(GRANTS, []).append((declared, params))


async def finish_grants(request: Request, response: Response) -> None:
    """Finish ``response`` for the grants the view left in the scope: each is started with the
    app's core and finished with the response's status and headers, as the middleware
    finishes a rule's (a remote signer in a worker thread, off the event loop)."""
    granted = request.scope.pop(GRANTS, None)
    if not granted:
        return
    for declared, params in granted:
        middleware = _middleware(request, declared)
        pending = _start(middleware, declared, request, params)
        if pending is None:
            continue
        replaced = await finish_off_the_loop(
            pending,
            pending.finish_raw,
            response.status_code,
            response.raw_headers,
            middleware._signing,
        )
        _replace(response, replaced)


def _middleware(request: Request, declared: Grant) -> CloudFrontCookieMiddleware:
    """The ``CloudFrontCookieMiddleware`` that served ``request``."""
    found = request.scope.get(MIDDLEWARE)
    if not isinstance(found, CloudFrontCookieMiddleware):
        raise ConfigurationError(
            f"{declared.where}: no CloudFrontCookieMiddleware served this request, and it holds "
            "the options grants use; add it to the app that serves this view, or to an app "
            "that mounts it: app.add_middleware(CloudFrontCookieMiddleware, signer=..., "
            "rules=[...]) (rules=[] when only views grant), or CloudFrontCookieMiddleware(app, "
            "...) around it"
        )
    return found


def _start(
    middleware: CloudFrontCookieMiddleware,
    declared: Grant,
    request: Request,
    params: Mapping[str, object] | None,
) -> Pending | None:
    scope = request.scope
    host, cookie = _host_and_cookie(scope)
    return middleware.core.start_grant(
        declared,
        method=scope.get("method", ""),
        scheme=scope.get("scheme", "http"),
        host=host,
        cookie_header=cookie,
        params=url_params(request.path_params if params is None else params),
        request=scope,
        view=_view,
    )


def _replace(response: Response, replaced: list[tuple[bytes, bytes]] | None) -> None:
    """In place: ``response.headers`` is a view over this very list."""
    if replaced is not None:
        response.raw_headers[:] = replaced
