"""The framework-neutral view of a request that ``when`` and callable resources read.

Its own module so that rules (which name it in types) and the core both depend on it, and
neither on the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NOWHERE", "Finder", "RequestView"]


class Finder:
    """Where an adapter finds the session and the user in its native request. This one finds
    neither: plain WSGI has no standard place for them. Each adapter with one subclasses it."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        return None

    def user(self, native: Any) -> object | None:
        return None


NOWHERE = Finder()


@dataclass(slots=True, eq=False)
class RequestView:
    """The framework-neutral view of a request given to ``when`` and callable resources.

    ``path`` is below the app's mount point; ``headers`` is case-insensitive; ``params`` holds
    the names the rule captured. ``session`` and ``user`` keep a ``when`` the same in every
    framework (``lambda view: view.session is not None and "user" in view.session``); they
    are looked up only when read, where each adapter's framework keeps them:

    - Flask: ``flask.session``; the user is Flask-Login's ``current_user`` when the app has a
      ``LoginManager``, else ``None``;
    - Quart (``cfcookie_middleware.quart``): ``quart.session``; no user (Quart has no
      standard place for one);
    - Django: ``request.session`` (read-only here) and ``request.user``, once
      ``SessionMiddleware`` and ``AuthenticationMiddleware`` ran, else ``None``;
    - ASGI (Starlette, FastAPI, Litestar, Falcon): ``scope["session"]`` and
      ``scope["user"]``, where Starlette's ``SessionMiddleware`` and
      ``AuthenticationMiddleware`` (and Litestar's) put them, else ``None``;
    - plain WSGI: ``None`` for both.

    A user is the framework's own object: Django, Starlette and Flask-Login all give it
    ``is_authenticated``, false for their anonymous user.

    ``native`` is the framework's own request, for anything else:

    - Flask: the ``flask.Request``; Quart (extension): the ``quart.Request``;
    - Django: the ``HttpRequest``;
    - ASGI: the ASGI scope, a dict;
    - plain WSGI: the environ.

    (Not frozen: it is built for every matching response, and a frozen dataclass costs five
    times as much to build.)
    """

    method: str
    scheme: str
    host: str
    path: str
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    client_ip: str | None
    params: Mapping[str, str]
    native: Any
    finder: Finder = field(default=NOWHERE, repr=False)

    @property
    def session(self) -> Mapping[str, Any] | None:
        """The framework's session for this request, or ``None`` where it has none."""
        return self.finder.session(self.native)

    @property
    def user(self) -> object | None:
        """The framework's user for this request (maybe its anonymous user), or ``None``."""
        return self.finder.user(self.native)
