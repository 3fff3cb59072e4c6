"""Quart extension: ``CloudFrontCookies(app, signer=..., rules=...)`` or ``init_app(app)``.

Shaped like the Flask extension (options from keywords or ``app.config``, see
``cfcookie_middleware.extension``). The ASGI middleware around ``app.asgi_app`` cannot give
``when`` Quart's session: Quart leaves the request context before it sends the response. This
extension finishes each response inside that context instead, as the app's last ``after_request``
function (just before Quart saves the session), so ``when`` and callable resources may read
``quart.session`` and get the ``quart.Request`` as ``view.native``. Error handlers' responses
pass there too (and, not 2xx, get nothing); a streamed body is left alone, only the headers
change. Rules match ``request.path``, the path Quart routes on. The extension's ``grant``
decorator names a grant at a view instead (sync or async views), finished inside the request
context as well; ``cfcookie_middleware.grant(response, ...)`` takes a Quart response.

A signer whose key is held elsewhere (``KMSBackend``) signs in a worker thread, at most
``REMOTE_SIGNATURES`` at once, so the event loop never waits on it; the thread carries the
request context, so ``when`` reads the session there as well (``grant(response, ...)``, called
in the view, signs where it is called).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    import quart
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.quart needs Quart: pip install "cfcookie-middleware[quart]"'
    ) from exc
from anyio import CapacityLimiter

from cfcookie_middleware.asgi import Scope, ScopeHeaders, _host_and_cookie, finish_off_the_loop
from cfcookie_middleware.cookies import RequestCookies
from cfcookie_middleware.core import REMOTE_SIGNATURES, CookieCore, Pending
from cfcookie_middleware.extension import (
    GrantingExtension,
    View,
    context_session,
    replace_headers,
    request_core,
)
from cfcookie_middleware.grants import Grant, url_params
from cfcookie_middleware.options import CookieOptions, spelled_out
from cfcookie_middleware.request import Finder, RequestView
from cfcookie_middleware.routes import check_app

if TYPE_CHECKING:
    from quart.typing import ResponseTypes
    from typing_extensions import Unpack

__all__ = ["CloudFrontCookies"]


class CloudFrontCookies(GrantingExtension):
    """The Quart extension; the core it builds is ``app.extensions["cfcookie"]``. Its
    ``grant`` decorator names a grant at a view (below ``@app.route``)."""

    @spelled_out
    def __init__(self, app: quart.Quart | None = None, **options: Unpack[CookieOptions]) -> None:
        super().__init__(options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: quart.Quart) -> None:
        """Build the core from config and keywords (errors surface now) and hook the app."""
        core = self._core(app)
        finishing = _finishers[core] = _Finishing(core)
        # after_request functions run last registered first: at the front, this one runs
        # after every other, whenever they were registered.
        app.after_request_funcs.setdefault(None, []).insert(0, finishing.finish)

        @app.before_serving
        async def check_rules() -> None:  # every blueprint is registered by now
            check_app(core, app)

    def _granting(self, view: View, declared: Grant) -> View:
        """The view's answer made a response (``quart.make_response``, after Quart's
        ``ensure_async`` for a sync view), finished for ``declared`` in the request context."""
        is_async = inspect.iscoroutinefunction(view)

        @functools.wraps(view)
        async def granting(*args: Any, **kwargs: Any) -> ResponseTypes:
            run = view if is_async else quart.current_app.ensure_async(view)
            response = await quart.make_response(await run(*args, **kwargs))
            core = request_core(quart, declared)
            pending = _start_grant(core, declared, _current_request(), kwargs)
            return response if pending is None else await _finishers[core].apply(pending, response)

        return granting  # type: ignore[return-value]


def grant_response(
    response: ResponseTypes, declared: Grant, request: Any, params: Mapping[str, object] | None
) -> None:
    """Finish ``response`` for a grant in the current Quart request (``cfcookie_middleware.grant``):
    the app's core, ``quart.request``, the view's URL parameters; signed where it is called."""
    core = request_core(quart, declared)
    pending = _start_grant(core, declared, request or _current_request(), params)
    if pending is not None:
        replace_headers(response, pending.finish(response.status_code, response.headers.items()))


def _current_request() -> quart.Request:
    found: quart.Request = cast(Any, quart.request)._get_current_object()
    return found


def _start_grant(
    core: CookieCore,
    declared: Grant,
    request: quart.Request,
    params: Mapping[str, object] | None,
) -> Pending | None:
    scope: Scope = cast(Any, request.scope)
    host, cookie = _host_and_cookie(scope)
    return core.start_grant(
        declared,
        method=request.method,
        scheme=request.scheme,
        host=host,
        cookie_header=cookie,
        params=url_params(request.view_args or {} if params is None else params),
        request=request,
        view=_view,
    )


class _Finishing:
    """One app's ``after_request`` function: the core's answer, applied to the response."""

    def __init__(self, core: CookieCore) -> None:
        self.core = core
        self._signing = CapacityLimiter(REMOTE_SIGNATURES)

    async def finish(self, response: ResponseTypes) -> ResponseTypes:
        """``response`` with the cookies it earned (and private caching), or as it was."""
        request = _current_request()
        scope: Scope = cast(Any, request.scope)
        host, cookie = _host_and_cookie(scope)  # scope["headers"] is a list from here on
        pending = self.core.start(
            method=request.method,
            scheme=request.scheme,
            path=request.path,
            host=host,
            cookie_header=cookie,
            request=request,
            view=_view,
        )
        return response if pending is None else await self.apply(pending, response)

    async def apply(self, pending: Pending, response: ResponseTypes) -> ResponseTypes:
        """``pending`` finished on ``response``: a remote signer off the event loop."""
        replaced = await finish_off_the_loop(
            pending, pending.finish, response.status_code, response.headers.items(), self._signing
        )
        replace_headers(response, replaced)
        return response


_finishers: weakref.WeakKeyDictionary[CookieCore, _Finishing] = weakref.WeakKeyDictionary()
"""Each app's ``_Finishing``, by its core: the grants at its views share its signing limiter."""


def _view(request: quart.Request, params: Mapping[str, str]) -> RequestView:
    scope: Scope = cast(Any, request.scope)
    host, cookie = _host_and_cookie(scope)
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
        return context_session(quart)


_IN_CONTEXT = _ContextFinder()
