"""The example site as a plain WSGI app (no framework), the one ``cfcookie demo`` runs:
``python -m cfcookie_middleware.demo.app``, or any WSGI server with the factory, such as
``gunicorn 'cfcookie_middleware.demo.app:create_app()'`` (settings from the environment: see
``cfcookie_middleware.demo.site``).

``GET /videos/refresh`` answers a logged-in viewer with 204: it is how a playing page keeps its
CloudFront cookies fresh. A rule with the catalogue's resource and cookie path matches it, so
the app's own check (the session, and the middleware's ``when``) gates every fresh set, and the
middleware re-signs only a set within its refresh margin (``Settings.middleware_options``).

The login is a cookie ``session=<user>.<issued>.<nonce>.<HMAC-SHA256 of the rest>``, good for
12 hours; logout revokes its nonce (kept in memory: a real app keeps sessions in its store, so
that every worker sees the logout). The middleware's ``when`` checks it the same way the app
does, from the request view's cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import make_server

from cfcookie_middleware import RequestView, Signer
from cfcookie_middleware.cookies import parse_cookie_header, set_cookie_header
from cfcookie_middleware.demo.site import (
    MAX_FORM_BYTES,
    REFRESH_PATH,
    Settings,
    form_user,
    library_page,
    load_settings,
    login_page,
    login_user,
    port,
    videos_page,
)
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["create_app", "main"]

SESSION_COOKIE = "session"
SESSION_SECONDS = 12 * 3600
_LIBRARY = re.compile(r"/users/([^/]+)/library")


class ExampleApp:
    """The routes: a tiny dispatcher on method and ``PATH_INFO``."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._key = settings.secret_key.encode()
        self._clock = clock
        self._revoked: dict[str, float] = {}  # nonce -> when its session would have expired

    def session_user(self, cookies: Mapping[str, str]) -> str | None:
        """The user a ``session`` cookie names, if its HMAC checks out, it is under 12 hours
        old and it was not logged out."""
        session = self._session(cookies)
        return None if session is None else session[0]

    def _session(self, cookies: Mapping[str, str]) -> tuple[str, str, float] | None:
        """(user, nonce, expiry) of a valid session cookie, else None."""
        signed, _, mac = cookies.get(SESSION_COOKIE, "").rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(signed).encode()):
            return None
        parts = signed.rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        user, issued, nonce = parts
        expires = int(issued) + SESSION_SECONDS
        if self._clock() >= expires or nonce in self._revoked or login_user(user) is None:
            return None
        return user, nonce, expires

    def _log_out(self, cookies: Mapping[str, str]) -> None:
        """Revoke the session's nonce, and forget revoked ones that have expired anyway."""
        now = self._clock()
        self._revoked = {nonce: end for nonce, end in self._revoked.items() if end > now}
        session = self._session(cookies)
        if session is not None:
            self._revoked[session[1]] = session[2]

    def logged_in(self, view: RequestView) -> bool:
        """The middleware's ``when``: CloudFront cookies only for a logged-in session."""
        return self.session_user(view.cookies) is not None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if path == "/login" and method == "POST":
            user = form_user(_read_body(environ))
            if user is None:
                return _send(start_response, "401 Unauthorized", login_page(failed=True))
            return _redirect(start_response, "/videos", self._session_cookie(user))
        if path == "/logout" and method == "POST":
            self._log_out(parse_cookie_header(environ.get("HTTP_COOKIE", "")))
            return _redirect(start_response, "/login", self._session_cookie(None))
        library = _LIBRARY.fullmatch(path)
        pages = ("/", "/login", "/videos", REFRESH_PATH)
        if method != "GET" or (path not in pages and library is None):
            return _send(start_response, "404 Not Found", "Not found", "text/plain")
        if path == "/login":
            return _send(start_response, "200 OK", login_page())
        user = self.session_user(parse_cookie_header(environ.get("HTTP_COOKIE", "")))
        if path == REFRESH_PATH:  # called by scripts: a status, never a redirect to a form
            if user is None:
                return _send(start_response, "401 Unauthorized", "Log in", "text/plain")
            start_response("204 No Content", [])
            return []
        if user is None:
            return _redirect(start_response, "/login")
        if library is not None and library.group(1) != user:
            return _send(start_response, "403 Forbidden", "Forbidden", "text/plain")
        settings = self.settings
        if library is not None:
            page = library_page(user, settings.media_url, player_url=settings.player_url)
            return _send(start_response, "200 OK", page)
        if path == "/":
            return _redirect(start_response, "/videos")
        page = videos_page(
            user, settings.media_url, player_url=settings.player_url, refresh=settings.refresh
        )
        return _send(start_response, "200 OK", page)

    def _mac(self, signed: str) -> str:
        return hmac.new(self._key, signed.encode(), hashlib.sha256).hexdigest()

    def _session_cookie(self, user: str | None) -> str:
        """A ``Set-Cookie`` value logging ``user`` in, or out for ``None``."""
        signed = f"{user}.{int(self._clock())}.{secrets.token_hex(16)}"
        value = "" if user is None else f"{signed}.{self._mac(signed)}"
        return set_cookie_header(
            SESSION_COOKIE, value, secure=self.settings.secure, max_age=None if user else 0
        )


def create_app(signer: Signer | None = None, **overrides: Any) -> WSGIApplication:
    """The app, configured from the environment; ``overrides`` replace ``Settings`` fields."""
    app = ExampleApp(load_settings(**overrides))
    return CloudFrontCookieMiddleware(
        app,
        signer=signer or Signer.from_env(),
        when=app.logged_in,
        **app.settings.middleware_options(),
    )


def _read_body(environ: WSGIEnvironment) -> bytes:
    length = environ.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return b""
    body: bytes = environ["wsgi.input"].read(int(length))
    return body


def _send(
    start_response: StartResponse, status: str, text: str, content_type: str = "text/html"
) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _redirect(
    start_response: StartResponse, location: str, cookie: str | None = None
) -> list[bytes]:
    headers = [("Location", location), ("Content-Length", "0")]
    if cookie is not None:
        headers.append(("Set-Cookie", cookie))
    start_response("303 See Other", headers)
    return []


def main() -> None:
    """Serve the app on loopback at ``PORT``, with settings from the environment."""
    logging.basicConfig(level=logging.INFO)
    with make_server("127.0.0.1", port(), create_app()) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
