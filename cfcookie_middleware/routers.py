"""What an app routes, read from its framework, for checking rules against the app's routes.

A ``Routes`` answers "does this path, on this host, reach a view?" with the framework's own
matcher, so converters, prefixes, mounts and trailing-slash redirects are judged as the
framework judges them, and lists the routes as the framework spells them, prefixes included.
``find_routes`` walks an app or a middleware chain down to a router it can read: Werkzeug's map
(Flask, Quart) or Starlette's router (Starlette, FastAPI); ``django_routes`` reads the URLconf.
Anything else gives ``None``, and nothing is checked.
"""

from __future__ import annotations

import functools
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, MapAdapter, RoutingException

__all__ = ["Route", "Routes", "django_routes", "find_routes"]

# A router's placeholder in a host (Werkzeug's <name>, Starlette's {name}), for sample hosts.
_HOST_FIELD = re.compile(r"<[^<>]*>|\{[^{}]*\}")
_DEPTH = 32  # middleware layers walked before giving up


class Route(NamedTuple):
    """A route as its framework spells it, prefixes included; ``host`` where it routes on one."""

    path: str
    host: str | None = None


class Routes(ABC):
    """One app's router, asked through the framework's own matcher."""

    framework: str
    key: object
    """What the check remembers as checked (the app or the resolver): it is checked once."""

    @abstractmethod
    def reaches(self, path: str, host: str | None) -> bool:
        """Whether a GET of ``path`` (on ``host``, when given) runs a view (any method's view
        counts: the path is routed); a redirect to another path does not."""

    @abstractmethod
    def routes(self) -> Iterator[Route]:
        """Every route, for naming the closest one."""

    @functools.cached_property
    def hosts(self) -> tuple[str | None, ...]:
        """The hosts to try for a rule that names none: the default (``None``), and one for
        each host the routes name, its placeholders filled. Listed once per check, which
        asks it for every pattern and candidate fix (the routes do not change meanwhile)."""
        hosts = {route.host for route in self.routes()}
        return (None, *sorted(_sample_host(host) for host in hosts if host))


def find_routes(app: object) -> Routes | None:
    """The routes of ``app``, found through its middleware (each layer's ``app``), or ``None``
    when no router there can be read."""
    current: object = app
    for _ in range(_DEPTH):
        found = _werkzeug_routes(current) or _starlette_routes(current)
        if found is not None:
            return found
        if hasattr(current, "mounts"):  # Werkzeug's DispatcherMiddleware: other apps answer too
            return None
        bound = getattr(current, "__self__", None)  # a bound method: Flask's app.wsgi_app
        current = bound if bound is not None else getattr(current, "app", None)
        if current is None:
            return None
    return None


def _framework(obj: object, default: str) -> str:
    """The framework ``obj`` (or a class it derives from) comes from, for the message."""
    for cls in type(obj).__mro__:
        name = _FRAMEWORKS.get(cls.__module__.partition(".")[0])
        if name is not None:
            return name
    return default


def _sample_host(host: str) -> str:
    return _HOST_FIELD.sub("a", host)


# ---- Werkzeug: Flask, Quart ---------------------------------------------------------------
class _WerkzeugRoutes(Routes):
    """A Werkzeug ``Map`` bound as Flask (3.1) binds it for a request: on the request's host
    when the map routes on hosts, on ``SERVER_NAME``'s subdomain with ``subdomain_matching``,
    else on the default subdomain."""

    def __init__(self, app: Any, url_map: Map) -> None:
        self.key = app
        self.framework = _framework(app, "Werkzeug")
        self._map = url_map
        config: Mapping[str, Any] = getattr(app, "config", {})
        self._server_name: str | None = config.get("SERVER_NAME")
        self._subdomains = bool(getattr(app, "subdomain_matching", False) and self._server_name)

    def reaches(self, path: str, host: str | None) -> bool:
        try:
            self._adapter(host or self._server_name or "localhost").match(path, method="GET")
        except MethodNotAllowed:
            return True
        except (HTTPException, RoutingException):  # not found, or a redirect: no view
            return False
        return True

    def _adapter(self, host: str) -> MapAdapter:
        if self._map.host_matching:
            return self._map.bind(host)
        if not self._subdomains:
            return self._map.bind(host, subdomain=self._map.default_subdomain or "")
        server_name = str(self._server_name).lower()
        host = host.lower()
        subdomain = (
            ""
            if host == server_name
            else host.removesuffix(f".{server_name}")
            if host.endswith(f".{server_name}")
            else "<invalid>"
        )
        return self._map.bind(server_name, subdomain=subdomain)

    def routes(self) -> Iterator[Route]:
        for rule in self._map.iter_rules():
            yield Route(rule.rule, self._host_of(rule.host, rule.subdomain))

    def _host_of(self, host: str | None, subdomain: str | None) -> str | None:
        if self._map.host_matching:
            return host or None
        if self._subdomains and subdomain:
            return f"{subdomain}.{self._server_name}"
        return None


def _werkzeug_routes(app: object) -> Routes | None:
    url_map = getattr(app, "url_map", None)
    return _WerkzeugRoutes(app, url_map) if isinstance(url_map, Map) else None


# ---- Starlette: Starlette, FastAPI --------------------------------------------------------
class _StarletteRoutes(Routes):
    """A Starlette ``Router``, asked route by route as it routes: the first full match wins
    (a ``Mount`` or ``Host`` then asks its own routes), else a partial one (another method)."""

    def __init__(self, router: Any) -> None:
        self.key = router
        self.framework = _framework(router, "Starlette")
        self._router = router

    def reaches(self, path: str, host: str | None) -> bool:
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("utf-8"),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", (host or "localhost").encode("latin-1"))],
            "client": ("127.0.0.1", 50000),
            "path_params": {},
        }
        return _reaches(self._router.routes, scope)

    def routes(self) -> Iterator[Route]:
        return _spelled(self._router.routes, "", None)


def _reaches(routes: Iterable[Any], scope: dict[str, Any]) -> bool:
    from starlette.routing import Host, Match, Mount

    partial = False
    for route in routes:
        match, child_scope = route.matches(dict(scope))
        if match == Match.FULL:
            inner = route.routes if isinstance(route, (Mount, Host)) else None
            # A mounted app that is no router (static files, another framework) takes it all.
            return _reaches(inner, {**scope, **child_scope}) if inner else True
        partial = partial or match == Match.PARTIAL
    return partial


def starlette_entries(routes: Iterable[Any]) -> Iterable[Any]:
    """A Starlette router's routes as FastAPI serves them: newer FastAPI keeps an included
    router whole, and its ``iter_route_contexts`` lists the routes inside, prefixed and with the
    router's dependencies (older ones copy them, prefixed, into the app's router)."""
    contexts = getattr(sys.modules.get("fastapi.routing"), "iter_route_contexts", None)
    return routes if contexts is None else contexts(list(routes))


def _spelled(routes: Iterable[Any], prefix: str, host: str | None) -> Iterator[Route]:
    from starlette.routing import Host, Mount, WebSocketRoute

    for route in starlette_entries(routes):
        original = getattr(route, "original_route", route)
        if isinstance(original, WebSocketRoute):
            continue
        if isinstance(original, Host):
            inner = route.routes
            if inner:
                yield from _spelled(inner, prefix, original.host)
            else:
                yield Route(f"{prefix}/{{path:path}}", original.host)
        elif isinstance(original, Mount):
            inner = route.routes
            if inner:
                yield from _spelled(inner, prefix + route.path, host)
            else:
                yield Route(f"{prefix}{route.path}/{{path:path}}", host)
        elif isinstance(getattr(route, "path", None), str):
            yield Route(prefix + route.path, host)


def _starlette_routes(app: object) -> Routes | None:
    try:
        from starlette.routing import Router
    except ImportError:
        return None
    for router in (app, getattr(app, "router", None)):
        if isinstance(router, Router):
            return _StarletteRoutes(router)
    return None


# ---- Django -------------------------------------------------------------------------------
class _DjangoRoutes(Routes):
    """The root URLconf's resolver, which resolves every request (no host routing). A URLconf
    that reads the language (``i18n_patterns``, routes given as lazy translations) resolves a
    path under the language ``LocaleMiddleware`` activates for it: the one its prefix names,
    or, for translated routes, any of ``settings.LANGUAGES`` (a cookie or a header picks it)."""

    framework = "Django"

    def __init__(self, resolver: Any) -> None:
        from django.conf import settings

        self.key = resolver
        self._resolver = resolver
        prefixed, translated = _language_use(resolver.url_patterns, settings.USE_I18N)
        every = tuple(code for code, _name in settings.LANGUAGES)
        self._by_prefix = prefixed or translated
        self._always = every if translated else ()
        self._spelled_in = (None, *every) if self._by_prefix else (None,)

    def reaches(self, path: str, host: str | None) -> bool:
        from django.urls import Resolver404

        for language in self._languages(path):
            try:
                with _language(language):
                    self._resolver.resolve(path)
            except Resolver404:  # APPEND_SLASH's redirect is no view either
                continue
            return True
        return False

    def _languages(self, path: str) -> Iterator[str | None]:
        """The active language (``None``: as it is), then those a request may activate."""
        from django.utils.translation import get_language_from_path

        yield None
        if self._by_prefix:
            yield get_language_from_path(path)
        yield from self._always

    @functools.cached_property
    def hosts(self) -> tuple[str | None, ...]:
        return (None,)  # Django routes every host alike

    def routes(self) -> Iterator[Route]:
        spelled: dict[str, None] = {}  # each language's spelling, in order, once
        for language in self._spelled_in:
            with _language(language):
                spelled.update(dict.fromkeys(_django_spelled(self._resolver.url_patterns)))
        return (Route(f"/{path}") for path in spelled)


def _language(code: str | None) -> AbstractContextManager[object]:
    """``code`` active for a while (Django's ``override``); ``None`` leaves the active one."""
    from django.utils import translation

    return nullcontext() if code is None else translation.override(code)


def _language_use(patterns: Iterable[Any], i18n: bool) -> tuple[bool, bool]:
    """Whether the URLconf has a language prefix, and whether it has a route given as a lazy
    translation (Django keeps it as given, not as a ``str``, to translate it per language)."""
    from django.urls import LocalePrefixPattern

    owns = list(_own_patterns(patterns)) if i18n else []
    prefixed = any(isinstance(own, LocalePrefixPattern) for own in owns)
    given = (getattr(own, "_route", getattr(own, "_regex", "")) for own in owns)
    return prefixed, any(not isinstance(text, str) for text in given)


def _own_patterns(patterns: Iterable[Any]) -> Iterator[Any]:
    """Each entry's own pattern, those of includes too."""
    for pattern in patterns:
        yield pattern.pattern
        inner = getattr(pattern, "url_patterns", None)
        if inner is not None:
            yield from _own_patterns(inner)


def _django_spelled(patterns: Iterable[Any]) -> Iterator[str]:
    for pattern in patterns:
        # A regex pattern (re_path) spells its anchors; the whole path shows them once, not at
        # each include.
        own = str(pattern.pattern).removeprefix("^").removesuffix("$").removesuffix(r"\Z")
        inner = getattr(pattern, "url_patterns", None)
        if inner is None:
            yield own
        else:
            yield from (own + rest for rest in _django_spelled(inner))


def django_routes() -> Routes | None:
    """The routes of ``settings.ROOT_URLCONF``; ``None`` with django-hosts (``ROOT_HOSTCONF``),
    which picks another URLconf per host."""
    from django.conf import settings
    from django.urls import get_resolver

    if getattr(settings, "ROOT_HOSTCONF", None):
        return None
    return _DjangoRoutes(get_resolver())


_FRAMEWORKS = {"flask": "Flask", "quart": "Quart", "starlette": "Starlette", "fastapi": "FastAPI"}
