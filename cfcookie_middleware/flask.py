"""Flask extension: ``CloudFrontCookies(app, signer=..., rules=...)`` or ``init_app(app)``.

It wraps ``app.wsgi_app`` with the WSGI adapter, so it sees the final response, including the
ones Flask's error handlers made, and gives ``when`` and callable resources ``flask.request`` as
``RequestView.native``. Options come from keyword arguments or from
``app.config["CLOUDFRONT_COOKIES_<OPTION>"]``; a keyword wins. Without a ``signer`` the key comes
from the environment (``Signer.from_env()``), as for the Django middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.flask needs Flask: pip install "cfcookie-middleware[flask]"'
    ) from exc

from cfcookie_middleware.core import CookieCore
from cfcookie_middleware.extension import CONFIG_PREFIX, core_for
from cfcookie_middleware.options import CookieOptions, check_names, spelled_out
from cfcookie_middleware.request import Finder
from cfcookie_middleware.routes import checked_wsgi
from cfcookie_middleware.wsgi import CloudFrontCookieMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

__all__ = ["CONFIG_PREFIX", "CloudFrontCookies"]


class _FlaskFinder(Finder):
    """``flask.session``, and Flask-Login's user when the app has a ``LoginManager``."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        if not flask.has_request_context():
            return None
        found: Mapping[str, Any] = cast(Any, flask.session)._get_current_object()
        return found

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

    def native(self, environ: WSGIEnvironment) -> Any:
        """The ``flask.Request`` Flask made for this environ (Werkzeug records it there)."""
        return environ.get("werkzeug.request", environ)


class CloudFrontCookies:
    """The Flask extension; the core it builds is ``app.extensions["cfcookie"]``."""

    @spelled_out
    def __init__(self, app: flask.Flask | None = None, **options: Unpack[CookieOptions]) -> None:
        check_names(options)
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Build the core from config and keywords (errors surface now) and wrap the app."""
        core = core_for(app, self.options)
        app.wsgi_app = _FlaskMiddleware(app.wsgi_app, core=core)  # type: ignore[method-assign]
