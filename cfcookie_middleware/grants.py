"""Grants named at the view: the view, not a route pattern, says which resource it hands out.

A ``Grant`` holds what a ``Rule`` holds but the pattern: the resource (a template filled from the
view's URL parameters, or a callable taking the request view) and the policy's terms. The
adapters give it to ``CookieCore.start_grant``, which returns the same ``Pending`` a matching
rule gets, so a grant keeps the rules' safety: 2xx responses to an allowed method only, private
cache headers, one signature per resource and window, and no new set for a visitor who holds a
current one.

The forms, one per framework, all take the options in ``GrantOptions``:

- Flask and Quart: ``@cloudfront.grant(resource)`` on a view (``CloudFrontCookies.grant``);
- Django: ``@grant(resource)`` from ``cfcookie_middleware.django``, sync or async views;
- FastAPI: ``Depends(grant(resource))`` from ``cfcookie_middleware.fastapi``, on a ``GrantRoute``;
- any of them: ``grant(response, resource)`` here, called in the view on the response it returns.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from cfcookie_middleware.rules import ResourceSource, Terms
from cfcookie_middleware.signing import ConfigurationError, Signer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Grant", "GrantOptions", "grant", "url_params"]


class GrantOptions(TypedDict, total=False):
    """The options every form of grant takes: ``Rule``'s, without the pattern and the host (the
    framework routed the request to the view already)."""

    ttl: timedelta
    bind_client_ip: bool
    signer: Signer | None
    not_before: timedelta | None
    cookie_path: str | None


@dataclass(frozen=True)
class Grant(Terms):
    """Successful responses of the view that names it get cookies for ``resource``.

    ``resource`` is a URL template filled from the view's URL parameters (percent-encoded, as a
    rule's captured names are), or a callable that gets the request view and returns the
    resource (``None`` hands out nothing). The other fields mean what they mean on a ``Rule``.
    Everything but the template's names is checked here; the names are checked against the
    view where the framework tells them (a Flask or Django view's parameters), else on the
    first request (a FastAPI route's path).
    """

    resource: ResourceSource
    ttl: timedelta = timedelta(hours=1)
    bind_client_ip: bool = False
    signer: Signer | None = None
    not_before: timedelta | None = None
    cookie_path: str | None = None
    template_fields: frozenset[str] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)
    callable_hint: ClassVar[str] = (
        "; did you write @cloudfront.grant without (resource)? The decorator takes the "
        'resource first: @cloudfront.grant("https://media.example.com/videos/{video_id}/*") '
        "(Django: @grant(...))"
    )

    @property
    def where(self) -> str:
        resource = self.resource
        named = resource if isinstance(resource, str) else getattr(resource, "__qualname__", "?")
        return f"grant({named!r})"

    def __post_init__(self) -> None:
        if _is_response(self.resource):
            raise ConfigurationError(
                "grant: got a response where the resource goes; the decorator and the "
                "dependency take the resource, and cfcookie_middleware.grant(response, "
                "resource, ...) is the form called on a response"
            )
        self._check_terms(None)
        terms = (self.resource, self.ttl, self.bind_client_ip, self.signer, self.not_before)
        object.__setattr__(self, "_hash", hash((*terms, self.cookie_path)))

    def __hash__(self) -> int:
        """Computed once: the core finds a grant's plan by its value on every request."""
        return self._hash

    def check_view(self, view: Callable[..., Any]) -> None:
        """Refuse what a decorator cannot grant at: a class (a class-based view's methods are
        decorated, not the class), something that is no view (a request: the decorator was
        written without its resource), and a template naming something ``view`` is not given
        as a URL parameter."""
        if isinstance(view, type):
            raise ConfigurationError(
                f"{self.where}: decorates a view function, not the class {view.__qualname__}; "
                "decorate the class-based view's method instead: in Django, "
                "@method_decorator(grant(...), name='get') on the class, or "
                "@method_decorator(grant(...)) on its get method"
            )
        if not callable(view):
            raise ConfigurationError(
                f"{self.where}: got a {type(view).__name__} where the view goes; did you write "
                "@grant without (resource)? The decorator takes the resource first: "
                '@grant("https://media.example.com/videos/{video_id}/*")'
            )
        _check_view(self, inspect.unwrap(view))


def url_params(given: Mapping[str, object]) -> dict[str, str]:
    """A view's URL parameters as the strings a template and ``RequestView.params`` hold (a
    framework's converters may have made ints or UUIDs of them)."""
    return {name: value if isinstance(value, str) else str(value) for name, value in given.items()}


@functools.lru_cache(maxsize=256)
def _check_view(spec: Grant, view: Callable[..., Any]) -> None:
    """Cached: Django's ``method_decorator`` applies a decorator on every request."""
    try:
        parameters = inspect.signature(view).parameters.values()
    except (TypeError, ValueError):  # a builtin or a C callable: nothing to check against
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    names = {p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    missing = spec.template_fields - names
    if missing:
        raise ConfigurationError(
            f"{spec.where}.resource: {', '.join(sorted(missing))} is not a parameter of the "
            f"view {getattr(view, '__qualname__', view)!r}, which the framework gives its URL "
            "parameters by name; name one of its parameters, or use a callable resource"
        )


@functools.lru_cache(maxsize=256)
def _spec(resource: ResourceSource, terms: tuple[tuple[str, Any], ...]) -> Grant:
    """One ``Grant`` per resource and terms: a view calling ``grant`` per request checks them
    once, and the core then finds the plan it made for them (and its signatures)."""
    return Grant(resource, **dict(terms))


# The response classes ``grant`` knows, by the module that defines them: a class is looked up
# only when its framework is imported already, so this module imports none.
_ADAPTERS = (
    ("werkzeug.wrappers", "Response", "cfcookie_middleware.flask"),
    ("quart.wrappers", "Response", "cfcookie_middleware.quart"),
    ("django.http", "HttpResponseBase", "cfcookie_middleware.django"),
    ("starlette.responses", "Response", "cfcookie_middleware.starlette"),
)


def _adapter(response: object) -> str | None:
    for module, name, adapter in _ADAPTERS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(response, getattr(loaded, name)):
            return adapter
    return None


def _is_response(value: object) -> bool:
    return _adapter(value) is not None


def grant(
    response: Any,
    resource: ResourceSource,
    *,
    request: Any = None,
    params: Mapping[str, object] | None = None,
    **terms: Unpack[GrantOptions],
) -> None:
    """Give the visitor cookies for ``resource`` with ``response``, the one the view returns.

    ``response`` is a Flask (Werkzeug), Quart, Django or Starlette/FastAPI response; ``request``
    is the framework's request, needed where there is no current one (Django, Starlette,
    FastAPI; Flask and Quart read ``flask.request`` and ``quart.request``). ``resource`` is a
    template filled from ``params``, by default the view's URL parameters. The terms are
    ``Rule``'s (``ttl``, ``cookie_path``...).
    Nothing is added unless the response's status is 2xx, the method allowed and ``when``
    agrees, exactly as for a rule; a visitor holding a current set gets no new one.
    """
    adapter = _adapter(response)
    if adapter is None:
        raise ConfigurationError(
            f"grant: {type(response).__name__} is not a response grant knows; pass the "
            "Flask, Quart, Django or Starlette/FastAPI response the view returns"
        )
    spec = _spec(resource, tuple(sorted(terms.items())))
    apply: Callable[..., None] = importlib.import_module(adapter).grant_response
    apply(response, spec, request, params)
