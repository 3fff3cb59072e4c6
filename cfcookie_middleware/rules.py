"""Route patterns -> what to sign.

A ``Rule`` says: a successful response of a route matching ``pattern`` hands out cookies for
``resource``. Patterns match the decoded request path below the app's mount point, exactly and
case-sensitively; a path the framework might read differently (``//``, ``.`` or ``..`` segments)
matches nothing, so the middleware never hands out more than the app routed.
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Union
from urllib.parse import quote, urlsplit

from cfcookie_middleware.signing import ConfigurationError, Signer, validate_resource

if TYPE_CHECKING:
    from cfcookie_middleware.request import RequestView

__all__ = ["Rule", "Terms", "compile_pattern", "is_ambiguous_path"]

ResourceSource = Union[str, "Callable[[RequestView], str | None]"]

_FIELD = re.compile(r"\{([^{}/]*)\}")
# A host as browsers send it: lower-case labels, an optional port (no scheme, path or "*").
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
# Segments a framework, a proxy or a browser may resolve or merge, and characters routers treat
# differently (Werkzeug's and Starlette's path converters stop at a newline): matching around
# them could hand out cookies for a route the app never served, so such paths match no rule.
_AMBIGUOUS = re.compile(r"//|/\.\.?(?:/|$)|\\|[\x00-\x1f\x7f]|^(?!/)")


def is_ambiguous_path(path: str) -> bool:
    """True for paths with ``//``, ``.``/``..`` segments, backslashes or control characters,
    and for paths that do not start with ``/``."""
    if "/." in path or not path.isprintable():  # rare: the full check
        return _AMBIGUOUS.search(path) is not None
    # Cheaper than the regex on every request: no dot segment or control character is left.
    return path[:1] != "/" or "//" in path or "\\" in path


def compile_pattern(pattern: str | re.Pattern[str], *, name: str = "pattern") -> re.Pattern[str]:
    """Compile a route pattern: a literal path, ``{name}`` for one segment, a trailing ``/*``
    for everything below, or a compiled ``re.Pattern`` used as is (with ``fullmatch``)."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ConfigurationError(
            f"{name}: {pattern!r} must be a path starting with '/' (such as '/videos/*' or "
            "'/users/{user_id}/library') or a compiled re.Pattern"
        )
    _refuse_router_syntax(pattern, name)
    body, wildcard = (pattern[:-1], True) if pattern.endswith("/*") else (pattern, False)
    regex, position, names = "", 0, set()
    for found in _FIELD.finditer(body):
        field_name = found.group(1)
        if not field_name.isidentifier() or field_name in names:
            raise ConfigurationError(
                f"{name}: {{{field_name}}} in {pattern!r} must be a unique Python identifier "
                "such as {user_id}"
            )
        names.add(field_name)
        regex += re.escape(body[position : found.start()]) + f"(?P<{field_name}>[^/]+)"
        position = found.end()
    rest = body[position:]
    if any(char in rest or char in regex for char in "{}*"):
        raise ConfigurationError(
            f"{name}: {pattern!r} has a stray '{{', '}}' or '*'; only {{name}} segments and a "
            "trailing '/*' are supported (use a compiled re.Pattern for anything else)"
        )
    regex += re.escape(rest) + (".*" if wildcard else "")
    return re.compile(regex, re.DOTALL)


# Werkzeug's and Django's <name>, <int:name>, <any(a, b):name>; a regex's named group.
_FLASK_FIELD = re.compile(r"<(?:(\w+)(?:\([^<>]*\))?:)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>")
_CONVERTER = re.compile(r"\{(\w+):(\w+)\}")


def _refuse_router_syntax(pattern: str, name: str) -> None:
    """A router's own syntax, copied into a rule, would match only its literal text: say what
    the rule's syntax for it is."""
    group = _REGEX_GROUP.search(pattern)
    if group is not None:
        raise ConfigurationError(
            f"{name}: {group.group()!r} in {pattern!r} is a regex group (Django's re_path), "
            f"which a string pattern reads as literal text; write {{{group.group(1)}}} for one "
            "path segment, or pass a compiled re.Pattern"
        )
    flask = _FLASK_FIELD.search(pattern)
    if flask is not None:
        converter, field = flask.groups()
        fix = (
            f"end the pattern with '/*' for everything below (not <path:{field}>)"
            if converter == "path"
            else f"write {{{field}}} for one path segment"
        )
        raise ConfigurationError(
            f"{name}: {flask.group()!r} in {pattern!r} is Flask's or Django's route syntax, "
            f"which a rule reads as literal text; {fix}"
        )
    converter = _CONVERTER.search(pattern)
    if converter is not None:
        field, kind = converter.groups()
        fix = (
            f"end the pattern with '/*' for everything below (not {{{field}:path}})"
            if kind == "path"
            else f"write {{{field}}}: a field matches one path segment, whatever it holds, "
            "and the app's router still checks its type"
        )
        raise ConfigurationError(
            f"{name}: {converter.group()!r} in {pattern!r} has a converter, which rules do not "
            f"support; {fix}"
        )


class Terms:
    """What a grant of cookies says beside where it applies: the resource and the policy's
    terms. ``Rule`` names its requests by a route pattern; ``grants.Grant`` is named at the view,
    so the names a resource template may use are the view's URL parameters."""

    resource: ResourceSource
    ttl: timedelta
    bind_client_ip: bool
    signer: Signer | None
    not_before: timedelta | None
    cookie_path: str | None
    template_fields: frozenset[str]
    callable_hint: ClassVar[str] = ""
    """Said when a callable resource cannot take the request view: the likely slip."""

    @property
    def where(self) -> str:
        """How error messages name it, such as ``Rule('/videos/*')``."""
        raise NotImplementedError

    def _check_terms(self, captured: Collection[str] | None) -> None:
        """Check the terms and set ``template_fields``; ``captured`` is what a template may
        name (``None``: not known yet, checked against the view later)."""
        where = self.where
        object.__setattr__(self, "template_fields", frozenset())
        if not isinstance(self.ttl, timedelta) or self.ttl.total_seconds() < 1:
            raise ConfigurationError(
                f"{where}.ttl: {self.ttl!r} must be a positive timedelta of at least one "
                "second, such as timedelta(hours=1)"
            )
        if self.not_before is not None and (
            not isinstance(self.not_before, timedelta) or self.not_before >= self.ttl
        ):
            raise ConfigurationError(
                f"{where}.not_before: {self.not_before!r} must be a timedelta shorter than the "
                "ttl; use a negative one such as timedelta(minutes=-5) to absorb clock skew"
            )
        if self.signer is not None and not isinstance(self.signer, Signer):
            raise ConfigurationError(f"{where}.signer: expected a Signer, got {self.signer!r}")
        if callable(self.resource):
            _check_callable(self.resource, where, self.callable_hint)
            return
        if not isinstance(self.resource, str):
            raise ConfigurationError(
                f"{where}.resource: expected a URL template string or a callable, got "
                f"{type(self.resource).__name__}"
            )
        _refuse_route_fields(self.resource, where)
        fields = _template_fields(self.resource, where)
        unknown = set() if captured is None else fields - set(captured)
        if unknown:
            raise ConfigurationError(
                f"{where}.resource: {', '.join(sorted(unknown))} in {self.resource!r} is not "
                f"captured by the pattern (it captures {sorted(captured or ()) or 'nothing'}); "
                "add {name} to the pattern or remove it from the resource"
            )
        object.__setattr__(self, "template_fields", frozenset(fields))
        validate_resource(self.fill(dict.fromkeys(fields, "x")), name=f"{where}.resource")

    def fill(self, params: Mapping[str, str | None]) -> str:
        """The resource template with captured values percent-encoded into it: ``quote(value,
        safe="")``, called only for a value with a character other than those it leaves as
        they are (a user ID or a slug has none). Each ``{name}`` is replaced as text (the
        template's braces are only its fields, checked at build, and an encoded value has
        none): no regex pass per request."""
        resource = self.resource
        assert isinstance(resource, str)
        for name in self.template_fields:
            value = params[name] or ""
            if value.rstrip(_UNRESERVED):
                value = quote(value, safe="")
            resource = resource.replace(f"{{{name}}}", value)
        return resource

    @property
    def static_host(self) -> str | None:
        """The resource's host when it is known before any request (for build-time checks)."""
        if callable(self.resource):
            return None
        host = urlsplit(self.fill(dict.fromkeys(self.template_fields, "x"))).hostname
        return host if host and "{" not in self.resource.split("/")[2] else None


@dataclass(frozen=True)
class Rule(Terms):
    """Successful responses of routes matching ``pattern`` get cookies for ``resource``.

    ``resource`` is a URL template filled from the names the pattern captured (values are
    percent-encoded, so a captured ``*`` can never widen the policy), or a callable that gets
    the request view and returns the resource (``None`` hands out nothing).
    ``not_before`` offsets the policy's start from the time of issue; a negative value backdates
    it to absorb viewers' clock skew. ``signer`` overrides the middleware's signer, and
    ``cookie_path`` its cookie path: rules whose cookies carry disjoint paths (``/videos/``,
    ``/users/``) give a browser one set per path, so one grant does not replace another.
    ``host`` binds the rule to requests whose ``Host`` is exactly that name (lower case, with
    ``:port`` when the app is reached on one), for apps that route by host: the path alone
    would grant on every host, whatever view the app runs there.
    """

    pattern: str | re.Pattern[str]
    resource: ResourceSource
    ttl: timedelta = timedelta(hours=1)
    bind_client_ip: bool = False
    signer: Signer | None = None
    not_before: timedelta | None = None
    cookie_path: str | None = None
    host: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    template_fields: frozenset[str] = field(init=False, repr=False, compare=False)

    @property
    def where(self) -> str:
        return f"Rule({self.pattern!r})"

    def __post_init__(self) -> None:
        regex = compile_pattern(self.pattern, name=f"{self.where}.pattern")
        object.__setattr__(self, "regex", regex)
        if self.host is not None and (
            not isinstance(self.host, str) or not _HOST.fullmatch(self.host)
        ):
            raise ConfigurationError(
                f"{self.where}.host: {str(self.host)[:80]!r} must be a lower-case host name, "
                "with ':port' when the app is reached on one (such as 'www.example.com' or "
                "'localhost:8000'); it is compared with the request's Host exactly"
            )
        self._check_terms(regex.groupindex)

    def match(self, path: str) -> dict[str, str] | None:
        """The captured names when ``path`` matches, else ``None``."""
        found = self.regex.fullmatch(path)
        return None if found is None else found.groupdict()


def _check_callable(resource: Callable[..., object], where: str, hint: str) -> None:
    """A callable resource is called with one argument, the request view."""
    try:
        signature = inspect.signature(resource)
    except (TypeError, ValueError):  # a builtin or a C callable: nothing to check against
        return
    try:
        signature.bind(None)
    except TypeError:
        named = getattr(resource, "__qualname__", type(resource).__name__)
        raise ConfigurationError(
            f"{where}.resource: {named}{signature} cannot be called with one argument, the "
            f"request view, as a callable resource is{hint}"
        ) from None


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
"""The characters ``quote(value, safe="")`` leaves as they are."""


def _refuse_route_fields(template: str, where: str) -> None:
    """A router's ``<name>`` in a template would stay literal text in the policy."""
    found = _FLASK_FIELD.search(template)
    if found is not None:
        raise ConfigurationError(
            f"{where}.resource: {found.group()!r} in {template!r} is Flask's or Django's route "
            f"syntax, which a template keeps as literal text; write {{{found.group(2)}}}"
        )


def _template_fields(template: str, where: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(
            f"{where}.resource: {template!r} is not a valid template ({exc}); "
            "use {name} for captured values"
        ) from None
    fields = set()
    for literal, field_name, spec, conversion in parsed:
        if "{" in literal or "}" in literal:  # what a doubled brace leaves
            raise ConfigurationError(
                f"{where}.resource: {template!r} has a doubled brace, a literal '{{' or '}}' that "
                "browsers send percent-encoded, so the policy would never match; write %7B or "
                "%7D, and {name} for a captured value"
            )
        if field_name is None:
            continue
        # "{a:}" parses as the field a with an empty spec, but fill replaces only "{a}".
        if not field_name.isidentifier() or spec or conversion or f"{{{field_name}:}}" in template:
            raise ConfigurationError(
                f"{where}.resource: {{{field_name}}} in {template!r} must be a plain captured "
                "name such as {user_id} (no format specs, indexes or conversions)"
            )
        fields.add(field_name)
    return fields
