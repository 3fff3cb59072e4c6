"""Django middleware: ``"cfcookie_middleware.django.CloudFrontCookieMiddleware"`` in ``MIDDLEWARE``.

Its options are the keys of ``settings.CLOUDFRONT_COOKIES``, a dict whose keys are the names of
``cfcookie_middleware.options.CookieOptions``. ``signer`` may be left out: then the key is
django-storages' ``AWS_CLOUDFRONT_KEY_ID`` and ``AWS_CLOUDFRONT_KEY`` (the private key's PEM) when
both are set, as they are for its signed URLs, else ``Signer.from_env()``. Django builds each
middleware once per process, at startup, so every settings error surfaces then, as
``ImproperlyConfigured`` carrying the core's message. The ``grant`` decorator names a grant at a
view instead of by a rule, with the same settings and the same core (``shared_core``).

Rules match ``request.path_info``, the path below the mount point (``SCRIPT_NAME``, or
``FORCE_SCRIPT_NAME`` when set), which is what Django's URL resolver routes on. The middleware
only looks at the response, so its place in ``MIDDLEWARE`` does not change what ``when`` sees:
``view.native`` is the ``HttpRequest``, with ``session`` and ``user`` once their middleware ran.
Under ASGI, ``when`` and resource callables run in Django's sync thread (``sync_to_async``), as
a sync view would, so they may read a database session or ``request.user`` (a signature is then
made there too); otherwise a signer whose key is held elsewhere (``KMSBackend``) signs in a
pool of ``REMOTE_SIGNATURES`` threads of its own, so it never blocks the event loop.

How the cookies are sent: Django's handlers write the response's headers (one value per name),
then one ``Set-Cookie`` per entry of ``response.cookies``, as ``morsel.output(header="")``.
``response.set_cookie`` would let ``http.cookies`` quote a value, and a quoted CloudFront
signature no longer verifies; so each value the core rendered goes into ``response.cookies`` as
a ``Morsel`` whose output is that value, byte for byte. The app's own cookies stay where they
are; a response that sets ``CloudFront-*`` cookies already, at any path (a ``grant`` at the
view did, or the app), gets no second set from the rule.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Container, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.cookies import Morsel
from typing import TYPE_CHECKING, Any

try:
    from django.conf import settings
    from django.core.exceptions import DisallowedHost, ImproperlyConfigured
    from django.http import HttpRequest, HttpResponseBase
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'cfcookie_middleware.django needs Django: pip install "cfcookie-middleware[django]"'
    ) from exc

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from cfcookie_middleware.caching import Headers
from cfcookie_middleware.cookies import RequestCookies
from cfcookie_middleware.core import REMOTE_SIGNATURES, CookieCore, Pending
from cfcookie_middleware.extension import View
from cfcookie_middleware.grants import Grant, GrantOptions, url_params
from cfcookie_middleware.options import NAMES, check_names
from cfcookie_middleware.request import Finder, RequestView
from cfcookie_middleware.routes import check_django
from cfcookie_middleware.rules import ResourceSource
from cfcookie_middleware.signing import ConfigurationError, Signer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SETTING", "CloudFrontCookieMiddleware", "grant", "shared_core"]

SETTING = "CLOUDFRONT_COOKIES"


class CloudFrontCookieMiddleware:
    """Adds CloudFront signed cookies to successful responses of matching routes (sync or
    async, whichever the rest of the middleware chain is)."""

    sync_capable = True
    async_capable = True
    __doc__ = f"{__doc__}\n\n    The keys of settings.{SETTING}: {', '.join(NAMES)}."

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.core = shared_core()
        check_django(self.core)  # the rules against the URLconf's routes
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        meta = request.META
        pending = self.core.start(
            method=request.method or "",
            scheme=request.scheme or "http",
            path=request.path_info,
            host=_host(meta),
            cookie_header=meta.get("HTTP_COOKIE", ""),
            request=request,
            view=_view,
            routing_host=_routing_host(request),
        )
        if pending is None:
            return self.get_response(request)
        if self._async:
            return self._acall(request, pending)
        return _add(pending, self.get_response(request))

    async def _acall(self, request: HttpRequest, pending: Pending) -> HttpResponseBase:
        response: HttpResponseBase = await self.get_response(request)
        return await _add_async(pending, response)


async def _add_async(pending: Pending, response: HttpResponseBase) -> HttpResponseBase:
    """``_add`` from async code: off the event loop when it may run user code or wait."""
    add = functools.partial(_add, pending, response)
    if pending.reads_request:
        # ``when`` and resource callables are sync code that may touch the ORM (a
        # database session, request.user): Django's rule is a thread, not the event loop.
        added: HttpResponseBase = await sync_to_async(add, thread_sensitive=True)()
        return added
    if pending.signs_remotely(response.status_code):
        # A remote signer (KMS) may wait on I/O: a pool of its own, so a stalled key
        # service neither blocks the loop nor takes the loop's default executor.
        return await asyncio.get_running_loop().run_in_executor(_signing_pool(), add)
    return add()


def _add(pending: Pending, response: HttpResponseBase) -> HttpResponseBase:
    """``response``, finished by the core (cookies and cache headers when it earned them).
    The core sees the ``CloudFront-*`` cookies a grant at the view set, which live in
    ``response.cookies``, not in its headers: a rule adds no second set beside them."""
    held = [
        ("Set-Cookie", morsel.OutputString())
        for name, morsel in response.cookies.items()
        if name.startswith("CloudFront-")
    ]
    replaced = pending.finish(response.status_code, [*response.items(), *held])
    if replaced is not None:
        _apply(response, replaced)
    return response


def build_core() -> CookieCore:
    """The core from ``settings.CLOUDFRONT_COOKIES``; every problem is ``ImproperlyConfigured``."""
    configured = getattr(settings, SETTING, None)
    if not isinstance(configured, Mapping):
        found = "not set" if configured is None else f"a {type(configured).__name__}"
        raise ImproperlyConfigured(
            f"settings.{SETTING}: {found}; it must be a dict of options such as "
            "{'rules': [Rule('/videos/*', resource='https://media.example.com/videos/*')], "
            "'cookie_domain': '.example.com'}"
        )
    try:
        check_names(configured, spelled=lambda name: f"settings.{SETTING}[{name!r}]")
        signer = configured["signer"] if "signer" in configured else _default_signer()
        return CookieCore(**{**configured, "signer": signer})
    except ConfigurationError as error:
        raise ImproperlyConfigured(str(error)) from error


_shared: tuple[object, CookieCore] | None = None
_building = threading.Lock()
_signing: ThreadPoolExecutor | None = None  # _signing_pool()


def shared_core() -> CookieCore:
    """The core for the current ``settings.CLOUDFRONT_COOKIES``, built once per process and
    shared by the middleware and the ``grant`` decorators, so they share signatures and
    checked sets too (rebuilt when the setting is another object, as under
    ``override_settings``)."""
    global _shared
    configured = getattr(settings, SETTING, None)
    shared = _shared
    if shared is not None and shared[0] is configured:
        return shared[1]
    with _building:
        if _shared is None or _shared[0] is not configured:
            _shared = (configured, build_core())
        return _shared[1]


def _default_signer() -> Signer:
    """django-storages' CloudFront key when its settings name one, else the environment's."""
    key_id = getattr(settings, "AWS_CLOUDFRONT_KEY_ID", None)
    key = getattr(settings, "AWS_CLOUDFRONT_KEY", None)
    if key_id is None and key is None:
        return Signer.from_env()
    if key_id is None or key is None:
        missing = "AWS_CLOUDFRONT_KEY_ID" if key_id is None else "AWS_CLOUDFRONT_KEY"
        raise ConfigurationError(
            f"settings.{missing}: not set, but the other django-storages CloudFront setting is; "
            "set both (the key's ID and its private key PEM), or give "
            f"settings.{SETTING}['signer']"
        )
    try:
        return Signer(key_id, key)
    except ConfigurationError as error:
        argument, _, reason = str(error).partition(": ")
        setting = {"key_pair_id": "AWS_CLOUDFRONT_KEY_ID", "private_key": "AWS_CLOUDFRONT_KEY"}
        raise ConfigurationError(f"settings.{setting.get(argument, argument)}: {reason}") from None


def _apply(response: HttpResponseBase, headers: Headers) -> None:
    """Make ``response`` send ``headers``, the core's replacement for its own header list.

    A cookie goes into ``response.cookies`` under its name, replacing the app's cookie of that
    name; a second one of the same name (logout clears each name at every cookie path) under
    its whole header, since ``response.cookies`` would otherwise keep only the last path.
    """
    named: set[str] = set()
    for name, value in headers:
        if name.lower() != "set-cookie":
            response.headers[name] = value
        elif value != response.headers.get("Set-Cookie"):  # not one the app put in headers
            morsel = _RawMorsel(value)
            response.cookies[value if morsel.key in named else morsel.key] = morsel
            named.add(morsel.key)


class _RawMorsel(Morsel[str]):
    """A cookie whose ``Set-Cookie`` value is exactly ``header``, never re-quoted.

    ``key`` and ``coded_value`` are set too, so Django's test client sends it back verbatim;
    ``__reduce__`` keeps ``header`` through ``copy`` and ``pickle`` (``Morsel``'s own state
    would drop it).
    """

    def __init__(self, header: str) -> None:
        super().__init__()
        name, _, value = header.split(";", 1)[0].partition("=")
        self.set(name, value, value)
        self._header = header

    def OutputString(self, attrs: Container[str] | None = None) -> str:
        return self._header

    def output(self, attrs: Container[str] | None = None, header: str = "Set-Cookie:") -> str:
        """``Morsel.output`` puts a space after ``header`` even when it is empty, as Django's
        WSGI handler calls it; this sends the value as rendered."""
        return f"{header} {self._header}" if header else self._header

    def __reduce__(self) -> tuple[type[_RawMorsel], tuple[str]]:
        return (_RawMorsel, (self._header,))


def _host(meta: Mapping[str, Any]) -> str:
    """Not ``request.get_host()``: it raises for a host outside ``ALLOWED_HOSTS``."""
    host: str = meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "")
    return host


def _routing_host(request: HttpRequest) -> str | None:
    """The host Django routes on (``X-Forwarded-Host`` under ``USE_X_FORWARDED_HOST``, as
    django-hosts reads it), or ``None`` for one outside ``ALLOWED_HOSTS``: Django answers 400."""
    try:
        host: str = request.get_host()
    except DisallowedHost:
        return None
    return host


def _view(request: HttpRequest, params: Mapping[str, str]) -> RequestView:
    meta = request.META
    return RequestView(
        method=request.method or "GET",
        scheme=request.scheme,
        host=_host(meta),
        path=request.path_info,
        headers=request.headers,
        cookies=RequestCookies(meta.get("HTTP_COOKIE", "")),
        client_ip=meta.get("REMOTE_ADDR"),
        params=params,
        native=request,
        finder=_ON_REQUEST,
    )


class _RequestFinder(Finder):
    """Django's ``SessionMiddleware`` and ``AuthenticationMiddleware`` put ``session`` and
    ``user`` on the request; both load lazily, when a ``when`` reads them."""

    __slots__ = ()

    def session(self, native: Any) -> Mapping[str, Any] | None:
        found = getattr(native, "session", None)
        return None if found is None else _ReadOnlySession(found)

    def user(self, native: Any) -> object | None:
        return getattr(native, "user", None)


_ON_REQUEST = _RequestFinder()


class _ReadOnlySession(Mapping[str, Any]):
    """A Django session as a read-only ``Mapping`` (``SessionBase`` has ``keys`` and item
    access but is no ``Mapping``: it cannot be iterated)."""

    __slots__ = ("_session",)

    def __init__(self, session: Any) -> None:
        self._session = session

    def __getitem__(self, key: str) -> Any:
        return self._session[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._session.keys())

    def __len__(self) -> int:
        return len(self._session.keys())


# ---- grants named at the view ------------------------------------------------------------------
def grant(resource: ResourceSource, **terms: Unpack[GrantOptions]) -> Callable[[View], View]:
    """A view decorator, for sync and async views: the view's successful responses to an
    allowed method get cookies for ``resource``, a template filled from the view's URL
    parameters (or a callable taking the request view), with ``Rule``'s options.

    The options of ``settings.CLOUDFRONT_COOKIES`` apply, through the core the middleware uses
    (the middleware is needed only for rules and ``clear_on``). Checked here, at import, when
    the settings are configured by then; a class-based view takes it through
    ``method_decorator``.
    """
    declared = Grant(resource, **terms)
    if settings.configured:
        _check(declared)

    def decorate(view: View) -> View:
        declared.check_view(view)
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def agranting(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                response = await view(request, *args, **kwargs)
                pending = _start(declared, request, kwargs)
                if pending is None:
                    return response
                return await _add_async(pending, response)

            return agranting  # type: ignore[return-value]

        @functools.wraps(view)
        def granting(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = view(request, *args, **kwargs)
            pending = _start(declared, request, kwargs)
            return response if pending is None else _add(pending, response)

        return granting  # type: ignore[return-value]

    return decorate


def grant_response(
    response: HttpResponseBase,
    declared: Grant,
    request: HttpRequest | None,
    params: Mapping[str, object] | None,
) -> None:
    """``cfcookie_middleware.grant`` for a Django response: ``request`` is needed (Django has no
    current request), and the URL parameters are ``request.resolver_match.kwargs``."""
    if not isinstance(request, HttpRequest):
        raise ConfigurationError(
            f"{declared.where}: Django has no current request; pass it: "
            "grant(response, resource, request=request)"
        )
    if params is None:
        match = request.resolver_match
        params = {} if match is None else match.kwargs
    pending = _start(declared, request, params)
    if pending is not None:
        _add(pending, response)


def _check(declared: Grant) -> None:
    try:
        shared_core().check_grant(declared)
    except ConfigurationError as error:
        raise ImproperlyConfigured(str(error)) from error


def _start(declared: Grant, request: HttpRequest, params: Mapping[str, object]) -> Pending | None:
    meta = request.META
    return shared_core().start_grant(
        declared,
        method=request.method or "",
        scheme=request.scheme or "http",
        host=_host(meta),
        cookie_header=meta.get("HTTP_COOKIE", ""),
        params=url_params(params),
        request=request,
        view=_view,
    )


def _signing_pool() -> ThreadPoolExecutor:
    """The process's pool for remote signers, shared by the middleware and the decorators (one
    core per settings, so one limit), made on first need."""
    global _signing
    if _signing is None:
        with _building:
            if _signing is None:
                _signing = ThreadPoolExecutor(REMOTE_SIGNATURES, thread_name_prefix="cfcookie-sign")
    return _signing
