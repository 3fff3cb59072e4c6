"""Grants named at the views, checked against the app when the route check runs (the app's first
call, or Quart's startup), since some mistakes show only once the routes are registered:

- Flask and Quart: a view function registered without its grant, because ``@cloudfront.grant``
  was above ``@app.route`` (which registered the function it was given), or because the
  decorator itself became the view (``@cloudfront.grant`` written without its resource). The
  decorator marks what it took (``mark_slip``); a marked function among the app's views
  (blueprints included) gets one warning.
- FastAPI: a ``Depends(grant(...))`` is made before its routes, so its core is known only on a
  request. Each grant found in a route's dependencies is checked against the core here (and
  its cookie path joins those ``clear_on`` clears from the start), its template against the
  route's path parameters, and its route for being a ``GrantRoute``; problems are logged as
  errors, not raised: the route would fail on its own requests, the rest of the app works.

Nothing here raises: what cannot be read is left unchecked (logged at DEBUG).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from cfcookie_middleware.grants import Grant
from cfcookie_middleware.routers import Routes, starlette_entries
from cfcookie_middleware.rules import Terms
from cfcookie_middleware.signing import ConfigurationError

__all__ = ["check_grants", "declared_by", "mark_dependency", "mark_slip"]

logger = logging.getLogger("cfcookie_middleware.grants")

_SLIP = "_cfcookie_slip"
_GRANT = "_cfcookie_grant"


class ChecksGrants(Protocol):
    """What the check needs of the core (``CookieCore`` is one)."""

    def check_grant(self, grant: Terms) -> None: ...


def mark_slip(function: Callable[..., Any], slip: str) -> None:
    """Mark ``function`` as one that, registered as a view, shows ``slip``."""
    _mark(function, _SLIP, slip)


def mark_dependency(function: Callable[..., Any], declared: Grant) -> None:
    """Mark ``function`` as the FastAPI dependency that names ``declared``."""
    _mark(function, _GRANT, declared)


def declared_by(function: object) -> Grant | None:
    """The grant a dependency marked by ``mark_dependency`` names."""
    found = getattr(function, _GRANT, None)
    return found if isinstance(found, Grant) else None


def _mark(function: Callable[..., Any], name: str, value: object) -> None:
    with contextlib.suppress(AttributeError, TypeError):  # a bound method, a builtin: unmarked
        setattr(function, name, value)


def check_grants(core: ChecksGrants, routes: Routes) -> None:
    """Check the grants the views of ``routes``' app name; log what is wrong."""
    try:
        views = getattr(routes.key, "view_functions", None)  # a Flask or Quart app
        if isinstance(views, Mapping):
            _check_slips(views)
        if hasattr(routes.key, "routes") and "cfcookie_middleware.fastapi" in sys.modules:
            _check_dependencies(core, routes.key.routes)
    except Exception:
        logger.debug("cfcookie: grants not checked against the app's views", exc_info=True)


def _check_slips(views: Mapping[str, object]) -> None:
    slips = [
        f"{endpoint!r}: {slip}"
        for endpoint, view in views.items()
        if isinstance(slip := getattr(view, _SLIP, None), str)
    ]
    if slips:
        logger.warning(
            "cfcookie: views registered without their grant hand out no cookies; %s",
            "; ".join(slips),
        )


def _check_dependencies(core: ChecksGrants, routes: Iterable[Any]) -> None:
    for path, params, route, declared in _dependency_grants(routes, "", frozenset()):
        problem = None
        if not getattr(route, "finishes_grants", False):
            problem = (
                "it is not a GrantRoute, so nothing would see the response FastAPI builds after "
                "the dependencies; create its router with APIRouter(route_class=GrantRoute)"
            )
        else:
            try:
                core.check_grant(declared)
            except ConfigurationError as error:
                problem = str(error)
            missing = declared.template_fields - params
            if problem is None and missing:
                problem = (
                    f"{declared.where}.resource: {', '.join(sorted(missing))} is not among its "
                    f"path parameters ({sorted(params) or 'none'}); name one of them"
                )
        if problem is not None:
            logger.error("cfcookie: the route %r fails on its requests: %s", path, problem)


def _dependency_grants(
    routes: Iterable[Any], prefix: str, params: frozenset[str]
) -> Iterator[tuple[str, frozenset[str], Any, Grant]]:
    """Each grant a route's dependencies name: the route's path (prefixes included), its path
    parameters, the route, and the grant; mounted apps' routes too."""
    from starlette.routing import Host, Mount

    for route in starlette_entries(routes):
        original = getattr(route, "original_route", route)
        path = prefix + (getattr(route, "path", None) or "")
        names = params | frozenset(getattr(route, "param_convertors", None) or ())
        if isinstance(original, (Mount, Host)):
            yield from _dependency_grants(route.routes or (), path, names)
            continue
        dependant = getattr(route, "dependant", None)
        for declared in dict.fromkeys(_declared_in(dependant)):
            yield path, names, original, declared


def _declared_in(dependant: Any) -> Iterator[Grant]:
    for sub in getattr(dependant, "dependencies", None) or ():
        declared = declared_by(sub.call)
        if declared is not None:
            yield declared
        yield from _declared_in(sub)
