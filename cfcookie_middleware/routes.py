"""Rules checked against the app's routes: a rule no route reaches never hands out cookies.

Each rule's pattern (and each ``clear_on`` pattern) is turned into a few sample paths, ``{name}``
filled with values common converters accept (``1``, ``a``, ``1.0``, a UUID) and a trailing ``*``
with a few more, and the framework's own router is asked whether any of them reaches a view
(``cfcookie_middleware.routers``). A pattern none reaches gets one warning on the
``cfcookie_middleware.routes`` logger, naming the closest route as the framework spells it,
prefixes included, and the rule that would match it. A warning, not an error: a rule may be
meant for a path another server answers.

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
from typing import TYPE_CHECKING, Any, Protocol

from cfcookie_middleware.grant_checks import check_grants
from cfcookie_middleware.routers import Route, Routes, django_routes, find_routes
from cfcookie_middleware.rules import Rule, Terms, compile_pattern
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
# Starlette's {name:conv}, a regex group of Django's re_path; and a regex's own characters.
_PLACEHOLDER = re.compile(
    r"<(?:(?P<wconv>\w+)(?:\([^<>]*\))?:)?(?P<wname>\w+)>"
    r"|\{(?P<sname>\w+)(?::(?P<sconv>\w+))?\}"
    r"|\(\?P<(?P<rname>\w+)>(?:[^()]|\([^()]*\))*\)"
)
_ROUTE_HEAD = re.compile(r"[^<{(\[\\.*+?|]*")
_CLOSE_ENOUGH = 0.6  # '/poster' is not like '/docs' (0.5); '/logout' is like '/accounts/logout/'
_SILENCE = "If another server answers it, set the logger 'cfcookie_middleware.routes' to ERROR."


class CheckedPatterns(Protocol):
    """What the check reads of the core (``CookieCore`` is one): the rules, and the logout
    patterns as given; ``check_grant`` takes the grants found at the views."""

    @property
    def rules(self) -> Sequence[Rule]: ...

    @property
    def clear_on(self) -> Sequence[str | re.Pattern[str]]: ...

    def check_grant(self, grant: Terms) -> None: ...


_checked: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()


def _sample_paths(pattern: str) -> Iterator[str]:
    """Paths ``pattern`` matches, made to pass common converters (at most 64)."""
    body, wildcard = (pattern[:-1], True) if pattern.endswith("/*") else (pattern, False)
    parts = _FIELD.split(body)  # literal, name, literal, name, ..., literal
    choices = [_FIELD_SAMPLES] * (len(parts) // 2) + [_TAIL_SAMPLES if wildcard else ("",)]
    for values in itertools.islice(itertools.product(*choices), _MAX_SAMPLES):
        yield "".join(literal + value for literal, value in zip(parts[::2], values, strict=True))


def check_routes(core: CheckedPatterns, routes: Routes | None) -> None:
    """Warn once for each rule and ``clear_on`` pattern no route of ``routes`` reaches.
    Never raises: a router this cannot read leaves the rules unchecked (logged at DEBUG)."""
    if routes is None:
        return
    try:
        for label, pattern, host, does in _patterns(core):
            if _first_check(routes.key, label):
                problem = _unrouted(routes, label, pattern, host, does)
                if problem is not None:
                    logger.warning("cfcookie: %s", problem)
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


def _patterns(core: CheckedPatterns) -> Iterator[tuple[str, str, str | None, str]]:
    """Each pattern given as a string: how to name it, the pattern, the host it is bound to,
    and what it does (a compiled ``re.Pattern`` is the user's own regex: no sample paths)."""
    for rule in core.rules:
        if isinstance(rule.pattern, str):
            bound = "" if rule.host is None else f", host={rule.host!r}"
            yield f"Rule({rule.pattern!r}{bound})", rule.pattern, rule.host, "hands out cookies"
    for index, pattern in enumerate(core.clear_on):
        if isinstance(pattern, str):
            yield f"clear_on[{index}] {pattern!r}", pattern, None, "clears the cookies"


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
    hosts = (host,) if host is not None else routes.hosts()
    return any(routes.reaches(path, each) for each in hosts for path in _sample_paths(pattern))


def _unrouted(routes: Routes, label: str, pattern: str, host: str | None, does: str) -> str | None:
    """Why no route reaches ``pattern``, or ``None`` when one does."""
    if _reached(routes, pattern, host):
        return None
    listed = list(routes.routes())
    if _covered(pattern, [r for r in listed if host is None or r.host in (None, host)]):
        return None
    where = f"the {routes.framework} app" + ("" if host is None else f" on host {host!r}")
    problem = f"{label} matches no route of {where}, so it never {does}"
    closest = _closest(pattern, listed)
    if closest is None:
        return f"{problem}; no route looks like it. {_SILENCE}"
    shown = repr(closest.path) + ("" if closest.host in (None, host) else f" on {closest.host}")
    fix = _fix(routes, pattern, host, closest)
    if fix is None:
        other_host = host is not None and closest.host not in (None, host)
        bind = "; bind the rule to the host the route is on" if other_host else ""
        return f"{problem}: the closest route is {shown}{bind}. {_SILENCE}"
    written = f"Rule({fix!r})" if label.startswith("Rule(") else repr(fix)
    return (
        f"{problem}: the closest route is {shown}{_hint(pattern, fix)}; write {written}, the "
        f"whole path below the mount point, router prefixes included. {_SILENCE}"
    )


def _skeleton(text: str) -> str:
    """A pattern or a route with every placeholder the same, to compare across spellings."""
    return _PLACEHOLDER.sub("{}", _FIELD.sub("{}", text))


def _covered(pattern: str, listed: list[Route]) -> bool:
    """A route the samples could not reach that the rule still names: one spelled as the rule
    is, with converters the samples do not fit (a regex, ``any``, a custom one), or one below a
    trailing ``*`` that is deeper than the samples (``/videos/<int:id>/stream``)."""
    skeleton = _skeleton(pattern)
    below = pattern[:-1] if pattern.endswith("/*") else None
    for route in listed:
        if _skeleton(route.path) == skeleton:
            return True
        head = _ROUTE_HEAD.match(route.path)
        if below is not None and head is not None and head.group().startswith(below):
            return True
    return False


def _closest(pattern: str, listed: list[Route]) -> Route | None:
    """The route most like ``pattern``, whole or by its end (a prefix the rule lacks), if any
    is alike enough; the first of equals, in the router's order."""
    wanted = _skeleton(pattern)

    def likeness(route: Route) -> float:
        spelled = _skeleton(route.path)
        return max(
            difflib.SequenceMatcher(None, wanted, spelled).ratio(),
            difflib.SequenceMatcher(None, wanted, spelled[-len(wanted) :]).ratio(),
        )

    best = max(listed, key=likeness, default=None)
    return best if best is not None and likeness(best) >= _CLOSE_ENOUGH else None


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
    if fix.rstrip("/") == pattern.rstrip("/"):
        return " (only the trailing slash differs: the router redirects or answers 404)"
    if fix.endswith(pattern):
        return f" (the prefix {fix[: -len(pattern)]!r} is missing)"
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
