"""Rules checked against the app's routes: a rule no route reaches never hands out cookies.

Each rule's pattern (and each ``clear_on`` pattern) is turned into a few sample paths, ``{name}``
filled with values common converters accept (``1``, ``a``, ``1.0``, a UUID) and a trailing ``*``
with a few more, and the framework's own router is asked whether any of them reaches a view
(``cfcookie_middleware.routers``). Samples cannot guess literal text (the ``library`` a rule's
trailing ``*`` stands for) or what a custom converter takes, so a pattern that matches a
route's shape, its placeholders taken as any value, counts too: a false warning on a correct
app costs more than a missed typo. A pattern nothing reaches gets one warning on the
``cfcookie_middleware.routes`` logger: for a rule, the closest route as the framework spells it,
prefixes included, and the rule that would match it; for ``clear_on``, only a route that differs
by a prefix or a trailing slash, since following "the closest route" would clear the cookies on
another page (``/login`` for ``/logout``). A warning, not an error: a rule may be meant for a
path another server answers.

When: Flask and Starlette register routes after the middleware exists, so the WSGI and ASGI
adapters check at the app's first call (a lifespan startup, or the first request), then take the
check out of the call chain; Django checks when it builds the middleware, at startup. Each
router is checked once per process; the check never raises.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from cfcookie_middleware.grant_checks import ChecksGrants, check_grants
from cfcookie_middleware.routers import Route, Routes, django_routes, find_routes
from cfcookie_middleware.rules import Rule, compile_pattern
from cfcookie_middleware.signing import ConfigurationError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from cfcookie_middleware.asgi import ASGIApp, Receive, Scope, Send

__all__ = [
    "CheckedPatterns",
    "check_app",
    "check_django",
    "check_routes",
    "checked_asgi",
    "checked_wsgi",
]

logger = logging.getLogger("cfcookie_middleware.routes")

_FIELD = re.compile(r"\{(\w+)\}")
# What common converters accept: Werkzeug's int and float (which needs a dot), Starlette's and
# Django's int, str, slug and uuid. A trailing "*" also tries the directory itself, and depth.
_FIELD_SAMPLES = ("1", "a", "1.0", "00000000-0000-0000-0000-000000000000")
_TAIL_SAMPLES = ("", *_FIELD_SAMPLES, "a/b")
_MAX_SAMPLES = 64
# A route's placeholders in any framework's spelling: Werkzeug's and Django's <conv:name>,
# Starlette's {name:conv}, a regex group of Django's re_path.
_PLACEHOLDER = re.compile(
    r"<(?:(?P<wconv>\w+)(?:\([^<>]*\))?:)?(?P<wname>\w+)>"
    r"|\{(?P<sname>\w+)(?::(?P<sconv>\w+))?\}"
    r"|\(\?P<(?P<rname>\w+)>(?:[^()]|\([^()]*\))*\)"
)
_ANY_VALUE = "\x00"
"""What a route's placeholder stands for in ``_covered``: no pattern's literal text holds it,
and a ``{field}`` or a trailing ``*`` takes it, as either takes what a converter accepts."""
_CLOSE_ENOUGH = 0.6  # '/poster' is not like '/docs' (0.5); '/logout' is like '/accounts/logout/'
_WHOLE_PATH = "the whole path below the mount point, router prefixes included"
_SILENCE = "If another server answers it, set the logger 'cfcookie_middleware.routes' to ERROR."


class CheckedPatterns(ChecksGrants, Protocol):
    """What the check reads of the core (``CookieCore`` is one): the rules, and the logout
    patterns as given; ``check_grant`` takes the grants found at the views."""

    @property
    def rules(self) -> Sequence[Rule]: ...

    @property
    def clear_on(self) -> Sequence[str | re.Pattern[str]]: ...


_checked: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()


def _sample_paths(pattern: str) -> Iterator[str]:
    """Paths ``pattern`` matches, made to pass common converters, at most 64."""
    body, wildcard = (pattern[:-1], True) if pattern.endswith("/*") else (pattern, False)
    parts = _FIELD.split(body)  # literal, name, literal, name, ..., literal
    tails = _TAIL_SAMPLES if wildcard else ("",)
    paths = (
        "".join(literal + value for literal, value in zip(parts[::2], (*fill, tail), strict=True))
        for fill in _fills(len(parts) // 2)
        for tail in tails
    )
    return itertools.islice(paths, _MAX_SAMPLES)


def _fills(count: int) -> Iterator[tuple[str, ...]]:
    """Values for ``count`` fields: each sample in every field at once first, since a route's
    fields often share a converter (``/o/<uuid:org>/p/<uuid:proj>``) and the cap would cut the
    mixes before a UUID reaches the first field; then the mixes, each once."""
    seen: set[tuple[str, ...]] = set()
    same = ((value,) * count for value in _FIELD_SAMPLES)
    for fill in itertools.chain(same, itertools.product(_FIELD_SAMPLES, repeat=count)):
        if fill not in seen:
            seen.add(fill)
            yield fill


def check_routes(core: CheckedPatterns, routes: Routes | None) -> None:
    """Warn once for each rule and ``clear_on`` pattern no route of ``routes`` reaches.
    Never raises: a router this cannot read leaves the rules unchecked (logged at DEBUG)."""
    if routes is None:
        logger.debug("cfcookie: rules not checked: no router the check reads found in the app")
        return
    try:
        checked = 0
        for target in _targets(core):
            if _first_check(routes.key, target.label):
                checked += 1
                problem = _unrouted(routes, target)
                if problem is not None:
                    logger.warning("cfcookie: %s", problem)
        logger.debug("cfcookie: %d patterns checked against the %s app", checked, routes.framework)
    except Exception:
        logger.debug("cfcookie: rules not checked against the app's routes", exc_info=True)


def check_app(core: CheckedPatterns, app: object) -> None:
    """``check_routes`` against the router found through ``app`` (and its middleware chain),
    then the grants its views name (``grant_checks``)."""
    try:
        routes = find_routes(app)
    except Exception:
        logger.debug("cfcookie: the app's router could not be read", exc_info=True)
        return
    check_routes(core, routes)
    if routes is not None:
        check_grants(core, routes)


def check_django(core: CheckedPatterns) -> None:
    """The Django middleware's check, against ``settings.ROOT_URLCONF``, when it is built."""
    try:
        routes = django_routes()
    except Exception:  # the URLconf does not import yet: Django will say so on a request
        logger.debug("cfcookie: rules not checked against the URLconf", exc_info=True)
        return
    check_routes(core, routes)


class _Target(NamedTuple):
    """One pattern to check: how the message names it, the pattern, the host it is bound to,
    and whether it clears the cookies (``clear_on``) rather than hands them out."""

    label: str
    pattern: str
    host: str | None
    clears: bool


def _targets(core: CheckedPatterns) -> Iterator[_Target]:
    """Each pattern given as a string (a compiled ``re.Pattern`` is the user's own regex: no
    sample paths)."""
    for rule in core.rules:
        if isinstance(rule.pattern, str):
            bound = "" if rule.host is None else f", host={rule.host!r}"
            yield _Target(f"Rule({rule.pattern!r}{bound})", rule.pattern, rule.host, False)
    for index, pattern in enumerate(core.clear_on):
        if isinstance(pattern, str):
            yield _Target(f"clear_on[{index}] {pattern!r}", pattern, None, True)


def _first_check(key: object, label: str) -> bool:
    """Whether ``label`` is checked against this router for the first time in the process
    (Django builds its middleware anew for each test client)."""
    with _checked_lock:
        try:
            done = _checked.setdefault(key, set())
        except TypeError:  # a router that takes no weak reference: checked every time
            return True
        if label in done:
            return False
        done.add(label)
        return True


def _reached(routes: Routes, pattern: str, host: str | None) -> bool:
    """Whether a sample path of ``pattern`` reaches a view on ``host`` (on any host the routes
    name, when ``None``)."""
    hosts = (host,) if host is not None else routes.hosts
    return any(routes.reaches(path, each) for each in hosts for path in _sample_paths(pattern))


def _unrouted(routes: Routes, target: _Target) -> str | None:
    """Why no route reaches the pattern, or ``None`` when one does."""
    pattern, host = target.pattern, target.host
    if _reached(routes, pattern, host):
        return None
    listed = list(routes.routes())
    on_host = [route for route in listed if host is None or route.host in (None, host)]
    if _covered(pattern, on_host):
        return None
    where = f"the {routes.framework} app" + ("" if host is None else f" on host {host!r}")
    does = "clears the cookies" if target.clears else "hands out cookies"
    problem = f"{target.label} matches no route of {where}, so it never {does}"
    if target.clears:
        return problem + _logout_advice(routes, pattern, on_host)
    return problem + _rule_advice(routes, pattern, host, listed)


def _rule_advice(routes: Routes, pattern: str, host: str | None, listed: list[Route]) -> str:
    """The closest route, and the rule that reaches it when one does."""
    closest = _closest(pattern, listed)
    if closest is None:
        return f"; no route looks like it. {_SILENCE}"
    shown = repr(closest.path) + ("" if closest.host in (None, host) else f" on {closest.host}")
    fix = _fix(routes, pattern, host, closest)
    if fix is None:
        other_host = host is not None and closest.host not in (None, host)
        bind = "; bind the rule to the host the route is on" if other_host else ""
        return f": the closest route is {shown}{bind}. {_SILENCE}"
    return (
        f": the closest route is {shown}{_hint(pattern, fix)}; write Rule({fix!r}), {_WHOLE_PATH}"
        f". {_SILENCE}"
    )


def _logout_advice(routes: Routes, pattern: str, listed: list[Route]) -> str:
    """Only a route with the same path but for a prefix or a trailing slash is offered: any
    other "closest" route (``/login`` for ``/logout``) would clear the cookies there."""
    for route in listed:
        text = _as_rule(route.path)
        hint = "" if text is None else _hint(pattern, text)
        if text is not None and hint and _reached(routes, text, None):
            return (
                f": the closest route is {route.path!r}{hint}; write {text!r}, {_WHOLE_PATH}. "
                f"{_SILENCE}"
            )
    return (
        "; no route has that path, even with another prefix or trailing slash: check the path "
        f"of the logout view, {_WHOLE_PATH}. {_SILENCE}"
    )


def _skeleton(text: str) -> str:
    """A pattern or a route with every placeholder the same, to compare across spellings."""
    return _PLACEHOLDER.sub("{}", _FIELD.sub("{}", text))


def _covered(pattern: str, listed: list[Route]) -> bool:
    """Whether the pattern matches a route's shape, each of its placeholders standing for some
    value: the samples miss literal text a ``{field}`` or a trailing ``*`` stands for (the rule
    ``/users/{user_id}/*``, the route ``/users/<user_id>/library``) and values only a custom
    converter, ``any`` or a regex accepts. Where the pattern's literal text meets a
    placeholder, the samples (the literal text itself) and the router decide."""
    matches = compile_pattern(pattern).fullmatch
    return any(matches(_PLACEHOLDER.sub(_ANY_VALUE, route.path)) for route in listed)


def _closest(pattern: str, listed: list[Route]) -> Route | None:
    """The route most like ``pattern``, whole or by its end (a prefix the rule lacks), if any
    is alike enough; the first of equals, in the router's order."""
    wanted = _skeleton(pattern)
    matcher = difflib.SequenceMatcher(None, b=wanted)  # what it learns of the pattern is kept
    best, floor = None, _CLOSE_ENOUGH
    for route in listed:
        spelled = _skeleton(route.path)
        likeness = max(
            _likeness(matcher, text, floor) for text in (spelled, spelled[-len(wanted) :])
        )
        if likeness > floor or (best is None and likeness == floor):
            best, floor = route, likeness
    return best


def _likeness(matcher: difflib.SequenceMatcher[str], text: str, floor: float) -> float:
    """How like the pattern ``text`` is; 0 when a cheap upper bound is under ``floor`` (an app
    may list thousands of routes: each language's, under Django's i18n)."""
    matcher.set_seq1(text)
    if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()


def _fix(routes: Routes, pattern: str, host: str | None, route: Route) -> str | None:
    """The closest route written as a rule pattern, when that pattern reaches a view."""
    text = _as_rule(route.path)
    if text is None:
        return None
    candidates = [text]
    if pattern.endswith("/*"):  # a section: the route's directory, everything below it
        cut = min((text.find(c) for c in "{*" if c in text), default=-1)
        directory = text[: text.rindex("/", 0, cut) + 1] if cut > 0 else text.rstrip("/") + "/"
        candidates.insert(0, directory + "*")
    for candidate in candidates:
        try:
            compile_pattern(candidate)
        except ConfigurationError:
            continue
        if _reached(routes, candidate, host):
            return candidate
    return None


def _as_rule(path: str) -> str | None:
    """A route in a rule's syntax: placeholders as ``{name}``, a trailing path converter as
    ``*``; ``None`` when it has no rule spelling."""

    def field(found: re.Match[str]) -> str:
        converter = found.group("wconv") or found.group("sconv")
        name = found.group("wname") or found.group("sname") or found.group("rname")
        at_end = found.end() == len(path) and path[found.start() - 1 : found.start()] == "/"
        return "*" if converter == "path" and at_end else f"{{{name}}}"

    text = _PLACEHOLDER.sub(field, path)
    return text if text.startswith("/") else None


def _hint(pattern: str, fix: str) -> str:
    """What tells ``fix`` from ``pattern`` when that is only a prefix or a trailing slash."""
    bare, fixed = pattern.rstrip("/"), fix.rstrip("/")
    if not bare or not fixed.endswith(bare):
        return ""
    prefix = fixed[: len(fixed) - len(bare)]
    slash = pattern.endswith("/") != fix.endswith("/")
    if prefix:
        also = ", and the trailing slash differs" if slash else ""
        return f" (the prefix {prefix!r} is missing{also})"
    if slash:
        return " (only the trailing slash differs: the router redirects or answers 404)"
    return ""


# ---- when: the adapters' hooks --------------------------------------------------------------
class _Adapter(Protocol):
    app: Any

    @property
    def core(self) -> CheckedPatterns: ...


class _FirstCall:
    """Stands in for ``owner.app`` until the first call: checks the rules against the routes
    found through ``app``, then puts ``app`` back, so later calls pay nothing. Concurrent first
    calls go on while one thread checks."""

    def __init__(self, owner: _Adapter, app: Any) -> None:
        self.app = app
        self._owner = owner
        self._lock = threading.Lock()
        self._done = False

    def _check(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._done:
                return
            self._done = True
            check_app(self._owner.core, self.app)
        finally:
            if self._owner.app is self:  # not when the app was wrapped again since
                self._owner.app = self.app
            self._lock.release()


class _WSGIFirstCall(_FirstCall):
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if not self._done:
            self._check()
        return self.app(environ, start_response)


class _ASGIFirstCall(_FirstCall):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._done:
            self._check()
        await self.app(scope, receive, send)


def checked_wsgi(owner: _Adapter, app: WSGIApplication) -> WSGIApplication:
    """``app``, checking ``owner.core``'s rules against its routes at its first call."""
    return _WSGIFirstCall(owner, app)


def checked_asgi(owner: _Adapter, app: ASGIApp) -> ASGIApp:
    """``app``, checking ``owner.core``'s rules against its routes at its first call."""
    return _ASGIFirstCall(owner, app)
