"""The framework-neutral view of a request that ``when`` and callable resources read.

Its own module so that rules (which name it in types) and the core both depend on it, and
neither on the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestView"]


@dataclass(slots=True, eq=False)
class RequestView:
    """The framework-neutral view of a request given to ``when`` and callable resources.

    ``path`` is below the app's mount point; ``headers`` is case-insensitive; ``params`` holds
    the names the rule captured. ``native`` is the framework's own request, for what the view
    does not carry (the session, the user), and its type depends on the adapter:

    - Flask: the ``flask.Request`` (``flask.session`` also works inside ``when``);
    - Django: the ``HttpRequest``, with ``session`` and ``user`` once their middleware ran;
    - ASGI (Starlette, FastAPI, Litestar, Falcon, Quart): the ASGI scope, a dict, where
      Starlette's ``SessionMiddleware`` and ``AuthenticationMiddleware`` put ``"session"``
      and ``"user"``;
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
