"""FastAPI: grants named at the route, as a dependency on a ``GrantRoute``.

``Depends(grant(resource))`` says which resource a route's successful responses hand out. A
dependency runs before the endpoint, and FastAPI builds the response after it (from the
endpoint's return value, the route's ``status_code`` and the status an endpoint may set on an
injected ``Response``), or not at all when the endpoint raises; so the dependency only leaves
the grant in the request's scope, and ``GrantRoute``, which sees the response the route
returns, finishes it with its real status. The options are those of the app's
``CloudFrontCookieMiddleware``; see ``cfcookie_middleware.starlette`` for how a grant finds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

try:
    from fastapi import Request, Response
    from fastapi.routing import APIRoute
except ImportError as exc:  # pragma: no cover - exercised only without FastAPI
    raise ImportError(
        "cfcookie_middleware.fastapi needs FastAPI: pip install fastapi "
        '"cfcookie-middleware[starlette]"'
    ) from exc

from cfcookie_middleware.grant_checks import mark_dependency
from cfcookie_middleware.grants import Grant, GrantOptions
from cfcookie_middleware.rules import ResourceSource
from cfcookie_middleware.signing import ConfigurationError
from cfcookie_middleware.starlette import defer, finish_grants

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["GrantRoute", "grant"]


class GrantRoute(APIRoute):
    """A route that finishes the grants its dependencies (or ``cfcookie_middleware.grant``)
    named, on the response it returns: ``APIRouter(route_class=GrantRoute)``, or
    ``app.router.route_class = GrantRoute`` before the routes are added. Its routes pay one
    scope lookup per request; other routes nothing."""

    finishes_grants = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def granting(request: Request) -> Response:
            response = await handler(request)
            await finish_grants(request, response)
            return response

        return granting


def grant(
    resource: ResourceSource, **terms: Unpack[GrantOptions]
) -> Callable[[Request], Awaitable[None]]:
    """A dependency: the route's successful responses to an allowed method get cookies for
    ``resource``, a template filled from the route's path parameters (or a callable taking the
    request view), with ``Rule``'s options. ``dependencies=[Depends(grant(...))]`` on a
    ``GrantRoute``, or on its router. Checked here; against the middleware's options and the
    route's path at the app's first call (a lifespan startup, or the first request), where a
    problem is logged, and on each request to the route, where it is an error (a dependency
    is made before its routes and its app)."""
    declared = Grant(resource, **terms)

    async def grant_dependency(request: Request) -> None:
        if not getattr(request.scope.get("route"), "finishes_grants", False):
            raise ConfigurationError(
                f"{declared.where}: this route is not a GrantRoute, so nothing would see the "
                "response FastAPI builds after the dependencies; create its router with "
                "APIRouter(route_class=GrantRoute), or set app.router.route_class = GrantRoute "
                "before adding routes (from cfcookie_middleware.fastapi import GrantRoute)"
            )
        defer(request, declared, None)

    mark_dependency(grant_dependency, declared)  # found at the app's first call (grant_checks)
    return grant_dependency
