"""Plain WSGI adapter: Django, Pyramid, Bottle, Flask or any WSGI app.

Only ``start_response`` is wrapped: the app's body iterable is returned untouched, so streaming
and the server's call to its ``close()`` work as without the middleware.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import get_host

from cfcookie_middleware.cookies import RequestCookies
from cfcookie_middleware.core import CookieCore, Pending, logger
from cfcookie_middleware.options import CookieOptions, spelled_out
from cfcookie_middleware.request import NOWHERE, Finder, RequestView
from cfcookie_middleware.routes import checked_wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

__all__ = ["CloudFrontCookieMiddleware", "EnvironHeaders", "wsgi_path"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def wsgi_path(environ: WSGIEnvironment) -> str | None:
    """``PATH_INFO`` decoded the WSGI way (latin-1 bytes, then UTF-8); ``None`` when it is not
    UTF-8, since the framework would then route on replacement characters."""
    path: str = environ.get("PATH_INFO", "")
    if path.isascii():  # the common case, and the same string either way
        return path
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def _host(environ: WSGIEnvironment) -> str:
    """``Host``, else the server's name and port as Werkzeug derives them; "" when a loose
    environ lacks those too (what a request carries must never raise)."""
    host: str | None = environ.get("HTTP_HOST")
    if host:
        return host
    try:
        return get_host(environ)
    except (KeyError, ValueError, TypeError):
        return ""


def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


class EnvironHeaders(Mapping[str, str]):
    """The request headers of a WSGI environ as a case-insensitive read-only mapping."""

    def __init__(self, environ: WSGIEnvironment) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        value: str = self._environ[_environ_key(name)]
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """Without the KeyError round trip of ``Mapping.get`` (called on every request)."""
        return self._environ.get(_environ_key(name), default)

    def __iter__(self) -> Iterator[str]:
        for key in self._environ:
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield key.removeprefix("HTTP_").replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class CloudFrontCookieMiddleware:
    """Adds CloudFront signed cookies to successful responses of matching routes.

    ``CloudFrontCookieMiddleware(app, signer=..., rules=..., **options)``; the options are
    ``cfcookie_middleware.options.CookieOptions``, all checked here, when it is built.
    """

    finder: Finder = NOWHERE  # where the view finds a session and a user: none in plain WSGI

    @spelled_out
    def __init__(self, app: WSGIApplication, **options: Unpack[CookieOptions]) -> None:
        self.core = CookieCore(**options)
        self.app = checked_wsgi(self, app)  # rules against a Flask app's routes, first call

    @staticmethod
    def native(environ: WSGIEnvironment) -> Any:
        """What ``RequestView.native`` carries: the environ (subclasses give a request object)."""
        return environ

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = wsgi_path(environ)
        if path is None:
            logger.debug("cfcookie: no cookies for a PATH_INFO that is not UTF-8")
            return self.app(environ, start_response)
        pending = self.core.start(
            method=environ.get("REQUEST_METHOD", ""),
            scheme=environ.get("wsgi.url_scheme", "http"),
            path=path,
            host=_host(environ),
            cookie_header=environ.get("HTTP_COOKIE", ""),
            request=environ,
            view=self._view,
        )
        if pending is None:
            return self.app(environ, start_response)
        return self.app(environ, _starting(pending, start_response))

    @classmethod
    def _view(cls, environ: WSGIEnvironment, params: Mapping[str, str]) -> RequestView:
        """The request view (a class method: the Flask extension's grants build one too)."""
        return RequestView(
            method=environ.get("REQUEST_METHOD", "GET"),
            scheme=environ.get("wsgi.url_scheme", "http"),
            host=_host(environ),
            path=wsgi_path(environ) or "",
            headers=EnvironHeaders(environ),
            cookies=RequestCookies(environ.get("HTTP_COOKIE", "")),
            client_ip=environ.get("REMOTE_ADDR"),
            params=params,
            native=cls.native(environ),
            finder=cls.finder,
        )


def _starting(pending: Pending, start_response: StartResponse) -> StartResponse:
    """``start_response``, with the headers finished by ``pending``. Made here, not inside
    ``__call__``: a closure there would make every request, even one passed through, allocate
    the cells it reads."""

    def start(
        status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        code = int(status[:3]) if status[:3].isdigit() else 500
        replaced = pending.finish(code, headers)
        return start_response(status, headers if replaced is None else replaced, exc_info)

    return start
