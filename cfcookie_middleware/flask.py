"""Flask extension: ``CloudFrontCookies(app, signer=..., rules=...)`` or ``init_app(app)``.

It wraps ``app.wsgi_app`` with the WSGI adapter, so it sees the final response, including the
ones Flask's error handlers made, and gives ``when`` and callable resources ``flask.request`` as
``RequestView.native``. Options come from keyword arguments or from
``app.config["CLOUDFRONT_COOKIES_<OPTION>"]``; a keyword wins. Without a ``signer`` the key comes
from the environment (``Signer.from_env()``), as for the Django middleware. The extension's
``grant`` decorator names a grant at a view instead of by a rule (``cfcookie_middleware.grants``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.flask needs Flask: pip install "cfcookie-middleware[flask]"'
    ) from exc

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.extension import (
    CONFIG_PREFIX,
    GrantingExtension,
    View,
    context_session,
    replace_headers,
    request_core,
)
from cfcookie_middleware.grants import Grant, url_params
from cfcookie_middleware.options import CookieOptions, spelled_out
from cfcookie_middleware.request import Finder
from cfcookie_middleware.routes import checked_wsgi
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware, _host

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

__all__ = ["CONFIG_PREFIX", "CloudFrontCookies"]


class _FlaskFinder(Finder):
    """``flask.session``, and Flask-Login's user when the app has a ``LoginManager``."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        return context_session(flask)

    def user(self, native: Any) -> object | None:
        if not flask.has_request_context() or not hasattr(flask.current_app, "login_manager"):
            return None
        try:
            from flask_login import current_user
        except ImportError:  # a login_manager of another kind
            return None
        found: object = cast(Any, current_user)._get_current_object()
        return found


class _FlaskMiddleware(CloudFrontCookieMiddleware):
    finder = _FlaskFinder()

    def __init__(self, app: WSGIApplication, core: CookieCore) -> None:  # the extension's core
        self.core = core
        self.app = checked_wsgi(self, app)  # blueprints are registered by the first request

    @staticmethod
    def native(environ: WSGIEnvironment) -> Any:
        """The ``flask.Request`` Flask made for this environ (Werkzeug records it there)."""
        return environ.get("werkzeug.request", environ)


class CloudFrontCookies(GrantingExtension):
    """The Flask extension; the core it builds is ``app.extensions["cfcookie"]``. Its
    ``grant`` decorator names a grant at a view (below ``@app.route``)."""

    @spelled_out
    def __init__(self, app: flask.Flask | None = None, **options: Unpack[CookieOptions]) -> None:
        super().__init__(options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Build the core from config and keywords (errors surface now) and wrap the app."""
        core = self._core(app)
        app.wsgi_app = _FlaskMiddleware(app.wsgi_app, core=core)  # type: ignore[method-assign]

    def _granting(self, view: View, declared: Grant) -> View:
        """The view's answer made a response (``flask.make_response``, after Flask's
        ``ensure_sync`` for an async view), finished for ``declared``."""
        is_async = inspect.iscoroutinefunction(view)

        @functools.wraps(view)
        def granting(*args: Any, **kwargs: Any) -> flask.Response:
            run = flask.current_app.ensure_sync(view) if is_async else view
            response = flask.make_response(run(*args, **kwargs))
            grant_response(response, declared, None, kwargs)
            return response

        return granting  # type: ignore[return-value]


def grant_response(
    response: Any, declared: Grant, request: Any, params: Mapping[str, object] | None
) -> None:
    """Finish ``response`` for a grant in the current Flask request (``cfcookie_middleware.grant``
    and the decorator): the app's core, ``flask.request``, the view's URL parameters."""
    core = request_core(flask, declared)
    flask_request = flask.request if request is None else request
    environ = flask_request.environ
    if params is None:
        params = flask_request.view_args or {}
    pending = core.start_grant(
        declared,
        method=environ.get("REQUEST_METHOD", ""),
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=_host(environ),
        cookie_header=environ.get("HTTP_COOKIE", ""),
        params=url_params(params),
        request=environ,
        view=_FlaskMiddleware._view,
    )
    if pending is not None:
        replace_headers(response, pending.finish(response.status_code, list(response.headers)))
