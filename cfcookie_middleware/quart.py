"""Quart extension: ``CloudFrontCookies(app, signer=..., rules=...)`` or ``init_app(app)``.

Shaped like the Flask extension (options from keywords or ``app.config``, see
``cfcookie_middleware.extension``). The ASGI middleware around ``app.asgi_app`` cannot give
``when`` Quart's session: Quart leaves the request context before it sends the response. This
extension finishes each response inside that context instead, as the app's last ``after_request``
function (just before Quart saves the session), so ``when`` and callable resources may read
``quart.session`` and get the ``quart.Request`` as ``view.native``. Error handlers' responses
pass there too (and, not 2xx, get nothing); a streamed body is left alone, only the headers
change. Rules match ``request.path``, the path Quart routes on.

A signer whose key is held elsewhere (``KMSBackend``) signs in a worker thread, at most
``REMOTE_SIGNATURES`` at once, so the event loop never waits on it; the thread carries the
request context, so ``when`` reads the session there as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    import quart
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.quart needs Quart: pip install "cfcookie-middleware[quart]"'
    ) from exc
from anyio import CapacityLimiter, to_thread

from cfcookie_middleware.asgi import Scope, ScopeHeaders, _host_and_cookie
from cfcookie_middleware.cookies import RequestCookies
from cfcookie_middleware.core import REMOTE_SIGNATURES, CookieCore
from cfcookie_middleware.extension import core_for
from cfcookie_middleware.options import CookieOptions, check_names, spelled_out
from cfcookie_middleware.request import Finder, RequestView
from cfcookie_middleware.routes import check_app

if TYPE_CHECKING:
    from quart.typing import ResponseTypes
    from typing_extensions import Unpack

__all__ = ["CloudFrontCookies"]


class CloudFrontCookies:
    """The Quart extension; the core it builds is ``app.extensions["cfcookie"]``."""

    @spelled_out
    def __init__(self, app: quart.Quart | None = None, **options: Unpack[CookieOptions]) -> None:
        check_names(options)
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: quart.Quart) -> None:
        """Build the core from config and keywords (errors surface now) and hook the app."""
        core = core_for(app, self.options)
        # after_request functions run last registered first: at the front, this one runs
        # after every other, whenever they were registered.
        app.after_request_funcs.setdefault(None, []).insert(0, _Finishing(core).finish)

        @app.before_serving
        async def check_rules() -> None:  # every blueprint is registered by now
            check_app(core, app)


class _Finishing:
    """One app's ``after_request`` function: the core's answer, applied to the response."""

    def __init__(self, core: CookieCore) -> None:
        self.core = core
        self._signing = CapacityLimiter(REMOTE_SIGNATURES)

    async def finish(self, response: ResponseTypes) -> ResponseTypes:
        """``response`` with the cookies it earned (and private caching), or as it was."""
        request: quart.Request = cast(Any, quart.request)._get_current_object()
        scope: Scope = cast(Any, request.scope)
        host, cookie = _host_and_cookie(scope)  # scope["headers"] is a list from here on
        pending = self.core.start(
            method=request.method,
            scheme=request.scheme,
            path=request.path,
            host=host,
            cookie_header=cookie,
            view=lambda params: _view(request, scope, params, host, cookie),
        )
        if pending is None:
            return response
        status, headers = response.status_code, response.headers.items()
        if pending.signs_remotely(status):
            replaced = await to_thread.run_sync(
                pending.finish, status, headers, limiter=self._signing
            )
        else:
            replaced = pending.finish(status, headers)
        if replaced is not None:
            response.headers.clear()
            response.headers.extend(replaced)
        return response


def _view(
    request: quart.Request, scope: Scope, params: Mapping[str, str], host: str, cookie: str
) -> RequestView:
    client = scope.get("client")
    return RequestView(
        method=request.method,
        scheme=request.scheme,
        host=host,
        path=request.path,
        headers=ScopeHeaders(scope["headers"]),
        cookies=RequestCookies(cookie),
        client_ip=client[0] if client else None,
        params=params,
        native=request,
        finder=_IN_CONTEXT,
    )


class _ContextFinder(Finder):
    """``quart.session``; Quart has no standard place for a user."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        if not quart.has_request_context():
            return None
        found: Mapping[str, Any] = cast(Any, quart.session)._get_current_object()
        return found


_IN_CONTEXT = _ContextFinder()
