"""The framework-agnostic middleware: request and response facts in, headers to send out.

Adapters give ``start`` the request's method, path, host and cookies; it answers ``None``
(nothing to do) or a ``Pending`` whose ``finish`` takes the response's status and headers.
Everything that can be checked is checked here once, when the middleware is built; per request
the core does a regex match, and for a matching successful response either nothing (the
request already holds current cookies) or a cached signature, so an RSA signature is paid
about once per resource and expiry window.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import math
import re
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import EllipsisType, MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias
from urllib.parse import urlsplit

from cfcookie_middleware import cookies as cookie_rules
from cfcookie_middleware import signing
from cfcookie_middleware.caching import Headers, RawHeaders, private, private_raw
from cfcookie_middleware.cookies import (
    is_secure_context_host,
    parse_cookie_pairs,
    path_covers,
    resource_path,
    set_cookie_header,
    size_problem,
)
from cfcookie_middleware.options import DEFAULTS, CookieOptions, check_names, spelled_out
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule, Terms, compile_pattern, is_ambiguous_path
from cfcookie_middleware.signing import (
    ConfigurationError,
    LocalKey,
    Policy,
    Signer,
    b64decode,
    b64encode,
    is_canned,
    policy_text,
    validate_resource,
    viewer_address,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.12

__all__ = ["CookieCore", "Headers", "Pending", "RequestView", "ViewFactory"]

logger = logging.getLogger("cfcookie_middleware")
When = Callable[[RequestView], object]
ViewFactory = Callable[[Any, Mapping[str, str]], RequestView]
"""What an adapter gives ``CookieCore.start``: builds the request view from the request as the
adapter has it (a scope, an environ, a framework's request) and the names the rule captured
(its ``params``), called only when ``when`` or the rule reads the request. A plain function
with the request passed beside it, not a closure over the request: a request that needs no view
(nearly all) then makes no closure for it."""

REMOTE_SIGNATURES = 8
"""How many signatures with a remote backend (KMS, an HSM) an async adapter runs at once, each
in a worker thread; more requests wait without blocking the event loop. Issued sets are cached,
so a request that waited usually finds its set signed by then."""
_MAX_WARNINGS = 100
_MAX_LOGOUT_PATHS = 64
"""Cookie paths ``clear_on`` clears at most: the rules' and those of the grants checked since."""
_MAX_AGE_ROOM = len("; Max-Age=2147483647")
_SET_COOKIE = b"set-cookie"
_WHOLE_SET = {
    True: frozenset({"CloudFront-Expires", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}),
    False: frozenset({"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}),
}
"""The cookies a set needs, by whether its policy is canned: CloudFront refuses one without."""
_MOST_COOKIES = 4
"""The most cookies a set has (the terms, signature, key ID and hash algorithm)."""
_OTHER_COOKIES = 512
"""How many characters of other cookies (a session, analytics) a Cookie header may carry beside
a CloudFront set and still be remembered whole once the set is found current."""
_ROUTED_PATHS = 1024
"""Paths whose routes the core keeps, each at most ``_CACHED_PATH`` characters (emptied when
full, then refilled by the paths requested next)."""
_CACHED_PATH = 512


class _Route(NamedTuple):
    """A rule that matched a request (or the grant a view named), the names it captured (the
    view's URL parameters), what the core fixed for it at build (saving a lookup per request),
    and the resource when these alone give it (``None``: the rule reads the request)."""

    rule: Terms
    params: Mapping[str, str]
    plan: _Plan
    resource: str | None

    @classmethod
    def of(cls, rule: Terms, params: Mapping[str, str], plan: _Plan) -> _Route:
        return cls(rule, params, plan, None if plan.reads_request else rule.fill(params))


_Routing: TypeAlias = "tuple[tuple[str | None, _Route], ...] | _LoggingOut"
"""What a path that is not ambiguous matches (``CookieCore._route_path``)."""


class _SetCookies:
    """The ``Set-Cookie`` values a response sends, as the ``str`` pairs WSGI and Django send
    or as the byte pairs ASGI sends, each made on first use and kept: a set that a ``_Ready``
    or the logout hands to many responses is paired and encoded once, not per response."""

    __slots__ = ("_headers", "_raw", "values")

    def __init__(self, values: tuple[str, ...] | list[str]) -> None:
        # Not Sequence[str]: a str is one, and a cached set's problem is a str.
        self.values = values
        self._headers: Headers | None = None
        self._raw: RawHeaders | None = None

    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = [("Set-Cookie", value) for value in self.values]
        return headers

    def raw(self) -> RawHeaders:
        raw = self._raw
        if raw is None:
            # One b"set-cookie" shared by every header and set: these are all Set-Cookie.
            raw = self._raw = [(_SET_COOKIE, value.encode("latin-1")) for value in self.values]
        return raw


_Signed: TypeAlias = "tuple[str, ...] | str"
"""One cached signed set: its ``Set-Cookie`` values, or why one of them would not fit in a
cookie (then none goes out). A plain tuple of strings, or a string, neither of which the cyclic
garbage collector keeps tracking: a cache of thousands of sets then adds little to each
collection (a tuple of the values, the problem and the cookies' names, as this was, made three
tracked objects more per set)."""


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """What the core fixed for one rule at build time: policies end on multiples of ``step``
    seconds; ``reads_request`` says whether the rule needs the request view at all,
    ``one_resource`` whether its resource is the same for every request (no template fields),
    and ``expired`` holds the ``Set-Cookie`` value that expires each CloudFront cookie at the
    rule's Domain and Path."""

    ttl: int
    step: int
    margin: int
    not_before: int | None
    render: cookie_rules.CookieRenderer
    reads_request: bool
    one_resource: bool
    expired: Mapping[str, str]

    def expires(self, now: float) -> int:
        """When a policy issued at ``now`` ends: the window's start on the grid, plus the ttl."""
        return int(now // self.step * self.step) + self.ttl


class CookieCore:
    """One object every adapter shares: validates the options once, then answers per response."""

    @spelled_out
    def __init__(self, **options: Unpack[CookieOptions]) -> None:
        check_names(options)
        given: CookieOptions = {**DEFAULTS, **options}
        if "rules" not in given:
            raise ConfigurationError(
                "rules: none given; pass at least one Rule such as "
                'Rule("/videos/*", resource="https://media.example.com/videos/*"), or rules=[] '
                "when only grants named at the views hand out cookies"
            )
        self.rules = _check_rules(given["rules"])
        self._remote_terms = any(_is_remote(rule.signer) for rule in self.rules)
        self.signer = given.get("signer")  # type: ignore[assignment] # checked by the setter
        self.cookie_domain = cookie_domain = given["cookie_domain"]
        self.cookie_path = cookie_path = given["cookie_path"]
        self.when = _check_when(given["when"])
        self.clock = given["clock"]
        self.max_age = _seconds(given["max_age"], "max_age")
        self.methods = _check_methods(given["methods"])
        self.secure = given["secure"]
        attributes = {
            "domain": cookie_domain,
            "secure": self.secure,
            "httponly": given["httponly"],
            "samesite": given["samesite"],
        }
        self._attributes = attributes  # a grant's plan adds its path
        self._margin = margin = _seconds(given["refresh_margin"], "refresh_margin")
        self._plans = {
            rule: _plan(
                rule, margin, self.max_age, {**attributes, "path": rule.cookie_path or cookie_path}
            )
            for rule in self.rules
        }
        clear_on = _check_clear_on(given["clear_on"])
        self.clear_on = tuple(given for given, _ in clear_on)  # for the check against routes
        self._clear = [compiled for _, compiled in clear_on]
        self._matchers = [
            (rule.host, rule.regex.fullmatch, rule, plan) for rule, plan in self._plans.items()
        ]
        if cookie_domain is not None:
            cookie_rules.check_cookie_domain(cookie_domain)
        for rule, plan in self._plans.items():
            self._check_rule_fits(rule, plan)
        cache_size = given["cache_size"]
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ConfigurationError(f"cache_size: {cache_size!r} must be a positive int")
        self._signed = functools.lru_cache(maxsize=cache_size)(self._sign)
        self._held = functools.lru_cache(maxsize=cache_size)(_genuine_terms)
        self._routes: dict[str, _Routing] = {}
        self._current: dict[str, tuple[Signer, _Plan, str, int, int]] = {}
        # Per plan, the set its last first visit got, for a rule or checked grant whose resource
        # is the same for every request (a per-user one would only churn it).
        self._latest: dict[_Plan, _Ready] = {}
        self._cache_size = cache_size
        # Logout expires every cookie at every path the rules set them on.
        paths = dict.fromkeys([cookie_path, *(r.cookie_path or cookie_path for r in self.rules)])
        self._logout = _LoggingOut(
            [
                expired
                for path in paths
                for expired in _expired_headers({**attributes, "path": path}).values()
            ]
        )
        self._logout_paths = set(paths)
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        for each in {rule.signer for rule in self.rules if rule.signer is not None}:
            signing.check_signer_works(each)

    @property
    def signer(self) -> Signer:
        """The active key. Assigning a new ``Signer`` rotates keys at runtime: visitors holding
        cookies of another key ID get a fresh set on their next matching request (keep both
        public keys in the CloudFront key group, and in the edge, until the old cookies expire).
        """
        return self._signer

    @signer.setter
    def signer(self, signer: Signer) -> None:
        if not isinstance(signer, Signer):
            raise ConfigurationError(
                f"signer: expected a Signer, got {type(signer).__name__}; build one with "
                "Signer(key_pair_id, private_key) or Signer.from_env()"
            )
        signing.check_signer_works(signer)
        self._signer = signer
        # Whether a signer this core may use is not a key in this process (a KMS): only then
        # may a Pending's signs_remotely be true, so an async adapter asks it at all.
        self.may_sign_remotely = self._remote_terms or _is_remote(signer)

    # ---- per request -------------------------------------------------------------------
    def start(
        self,
        *,
        method: str,
        scheme: str,
        path: str,
        host: str,
        cookie_header: str,
        request: Any,
        view: ViewFactory,
        routing_host: str | EllipsisType | None = ...,
    ) -> Pending | None:
        """What this request needs at the response, or ``None`` when it needs nothing, so an
        adapter passes it on without wrapping the response: no rule or ``clear_on`` route
        matches, or the path is ambiguous, or the visitor already holds a current set.

        ``path`` is the decoded path below the mount point, ``method`` the request method as
        sent, ``scheme`` the request's (``http`` or ``https``), ``host`` and ``cookie_header``
        the raw ``Host`` and ``Cookie`` values; ``view(request, params)`` builds the request
        view, called only when ``when`` or the rule reads the request. A rule bound
        to a host matches only a request whose host is exactly that host: ``host``, or
        ``routing_host`` when the framework routes on another (``None`` when it refuses it).

        A method outside ``methods`` matches no rule, so only the view's own answer to an
        allowed method can earn cookies: an automatic ``OPTIONS``, a CORS preflight or a 405
        is the framework's. ``clear_on`` routes match any method but ``OPTIONS`` (logout is
        often a POST). Never raises.
        """
        routes = self._routes.get(path)  # not a KeyError: every new user's path misses
        if routes is None:
            routes = self._route_path(path)
        if not routes:
            if routes is None:  # logged on every request, not only the first (cached) one
                logger.debug("cfcookie: no cookies for ambiguous path %r", path[:200])
            return None
        if type(routes) is not tuple:  # a clear_on path (not isinstance: an ABC, slow to check)
            return None if method == "OPTIONS" else self._logout
        if method not in self.methods:
            return None
        rule_host = host if routing_host is ... else routing_host
        for bound, route in routes:
            if bound is None or bound == rule_host:
                if "CloudFront-" in cookie_header:
                    if self._holds_already(route, cookie_header):
                        return None
                elif self._latest:  # a first visit, and sets are kept for reuse
                    # The set the plan's last first visit got (its resource is the plan's
                    # one), if made for this host and scheme (so its warnings were logged)
                    # with this key in this window: the response just takes it.
                    ready = self._latest.get(route.plan)
                    if (
                        ready is not None
                        and ready.host == host
                        and ready.scheme == scheme
                        and ready.signer is (route.rule.signer or self._signer)
                        and ready.start <= self.clock() < ready.end
                    ):
                        return ready
                return _Granting(self, route, request, view, scheme, host, cookie_header)
        return None

    def _route_path(self, path: str) -> _Routing | None:
        """What ``path`` matches, whatever the method and host: ``None`` for an ambiguous path,
        the logout for a ``clear_on`` route, else each matching rule's host and route. Kept by
        path in ``_routes`` (the answer depends on nothing else), so a page's requests match
        once (its captured names, a plain dict the collector need not track, reach user code
        read-only: the route is shared). An ambiguous path is not kept: it is rare, and junk
        paths then cannot push real ones out."""
        if is_ambiguous_path(path):
            return None
        routing: _Routing
        if self._clear and any(pattern.fullmatch(path) for pattern in self._clear):
            routing = self._logout
        else:
            routes = []
            for bound, fullmatch, rule, plan in self._matchers:
                matched = fullmatch(path)
                if matched is not None:
                    routes.append((bound, _Route.of(rule, matched.groupdict(), plan)))
            routing = tuple(routes)
        if len(path) <= _CACHED_PATH:
            if len(self._routes) >= _ROUTED_PATHS:
                self._routes.clear()  # refilled by the paths requested next
            self._routes[path] = routing
        return routing

    def _holds_already(self, route: _Route, cookie_header: str) -> bool:
        """Whether the request carries a current set for ``route`` before the response is
        known; ``False`` when only the response can tell (``when``, a callable resource,
        ``bind_client_ip``) and when the check fails (towards sending a fresh set). Called
        for a header holding ``CloudFront-`` only: a first visit does not read the clock.

        A header found current for this route before (see ``_holds_current``) is answered with
        one lookup and the clock, ``when`` or not: with ``when`` too, a visitor holding a
        current set gets no new one."""
        rule, _, plan, resource = route
        if resource is None:
            return False
        signer = rule.signer or self._signer
        known = self._current.get(cookie_header)
        if known is not None and known[1] is plan and known[2] == resource and known[0] is signer:
            return known[3] <= self.clock() < known[4]
        if self.when is not None:
            return False
        try:
            return self._holds_current(cookie_header, signer, plan, resource, None, self.clock())
        except Exception:
            logger.exception("cfcookie: could not check the request's CloudFront cookies")
            return False

    # ---- grants named at the view -----------------------------------------------------
    def start_grant(
        self,
        grant: Terms,
        *,
        method: str,
        scheme: str,
        host: str,
        cookie_header: str,
        params: Mapping[str, str],
        request: Any,
        view: ViewFactory,
    ) -> Pending | None:
        """What a view's response needs when the view names ``grant`` (a ``grants.Grant``):
        the ``Pending`` a matching rule gets, so 2xx only, the allowed ``methods``, ``when``,
        private caching, signature reuse and the held-set check apply alike; ``None`` for a
        method outside ``methods`` or a visitor who holds the set already.

        ``params`` are the view's URL parameters, which fill the template; the other
        arguments are ``start``'s. A grant this core has not checked yet is checked now (see
        ``check_grant``): its ``ConfigurationError`` propagates, since it is the app's mistake.
        """
        if method not in self.methods:
            return None
        plan = self._grant_plan(grant)
        missing = grant.template_fields - params.keys()
        if missing:
            raise ConfigurationError(
                f"{grant.where}.resource: {', '.join(sorted(missing))} is not among the view's "
                f"URL parameters ({sorted(params) or 'none'}); name one of them"
            )
        route = _Route.of(grant, params, plan)
        if "CloudFront-" in cookie_header and self._holds_already(route, cookie_header):
            return None
        return _Granting(self, route, request, view, scheme, host, cookie_header)

    def check_grant(self, grant: Terms) -> None:
        """Check ``grant`` against this core's options, as a rule is at build (cookie domain and
        path, policy size, ``max_age`` and ``refresh_margin`` against its ttl), once: adapters
        call it where the grant is declared, so errors surface at import or startup. Its
        cookie path joins those ``clear_on`` clears."""
        self._grant_plan(grant)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one core per app; grants are few
    def _grant_plan(self, grant: Terms) -> _Plan:
        path = grant.cookie_path or self.cookie_path
        attributes = {**self._attributes, "path": path}
        try:
            cookie_rules.cookie_renderer(**attributes)  # the path's syntax, named as the grant's
        except ConfigurationError as error:
            raise ConfigurationError(f"{grant.where}.{error}") from None
        plan = _plan(grant, self._margin, self.max_age, attributes)
        self._check_rule_fits(grant, plan)
        if _is_remote(grant.signer):
            self._remote_terms = self.may_sign_remotely = True
        with self._lock:
            if path not in self._logout_paths and len(self._logout_paths) < _MAX_LOGOUT_PATHS:
                self._logout_paths.add(path)
                self._logout.clear_also(plan.expired.values())
        return plan

    def _set_cookies(
        self,
        rule: Terms,
        plan: _Plan,
        resource: str,
        network: str | None,
        host: str,
        scheme: str,
        cookie_header: str,
    ) -> _SetCookies | None:
        """The ``Set-Cookie`` headers for this grant, or ``None`` when none should go out."""
        signer = rule.signer or self._signer
        now = self.clock()
        returning = "CloudFront-" in cookie_header
        if returning and self._holds_current(cookie_header, signer, plan, resource, network, now):
            return None
        expires = plan.expires(now)
        # The resource's host, not urlsplit(resource): it reads no http*:// host.
        self._warn_about_hosts(host, scheme, resource.split("/", 3)[2])
        signed = self._signed(signer, plan, resource, network, expires)
        values = None if isinstance(signed, str) else signed
        if values is None:
            # A browser would keep the rest of the set without the policy: send none of it.
            self._warn_once(
                f"{rule.where}, resource {resource[:100]}: {signed}; "
                "no cookies (shorten the captured values or use a wildcard resource)"
            )
        if not returning and self.max_age is None:
            set_cookies = None if values is None else _SetCookies(values)
            if plan.one_resource and self.when is None:  # start() hands it to the next ones
                start = expires - plan.ttl
                self._latest[plan] = _Ready(
                    set_cookies, signer, start, start + plan.step, host, scheme
                )
            return set_cookies
        if values is None:
            return None
        # A CloudFront cookie the browser holds but the set lacks (a stale Hash-Algorithm
        # after a key change, say, would make CloudFront check the new set with the wrong
        # hash) is expired.
        names = {value.partition("=")[0] for value in values}
        if self.max_age is not None:
            max_age = min(self.max_age, expires - int(now))
            values = tuple(f"{value}; Max-Age={max_age}" for value in values)
        stale = [
            expired
            for name, expired in plan.expired.items()
            if name not in names and f"{name}=" in cookie_header
        ]
        return _SetCookies([*values, *stale] if stale else values)

    def _holds_current(
        self,
        cookie_header: str,
        signer: Signer,
        plan: _Plan,
        resource: str,
        network: str | None,
        now: float,
    ) -> bool:
        """Whether the request already carries a set this middleware issued for these terms and
        key in this or an earlier window, far enough from expiry. Only such terms count, so a
        request cannot make it accept arbitrary expiries.

        A browser sends a set it got in one response as one run of pairs in the very form the
        cache of held sets keeps, so the run is looked up as it is; only when that fails (other
        cookies, or filler, among the pairs) are the pairs picked out one by one. A header whose
        run is found current for a rule is remembered whole with the span in which it stays
        current (a browser sends the same header until a cookie changes), so a returning
        visitor's next request costs one lookup and two comparisons (``_holds_already``); a header
        longer than its run by more than ``_OTHER_COOKIES`` is not, so padding cannot grow the
        cache. (Callers skip this for a header without ``CloudFront-``: a first visit.)"""
        run = _cloudfront_run(cookie_header)
        canned = is_canned(resource, plan.not_before, network)  # an offset, but only None counts
        try:
            held = self._held(signer, run, resource if canned else None)
            canonical = True
        except _NotHeld:
            part = _cloudfront_part(run)
            if part == run:
                return False
            try:
                held = self._held(signer, part, resource if canned else None)
            except _NotHeld:
                return False
            canonical = False
        issued = held.expires - plan.ttl
        if not (
            held.resource == resource
            and held.ip_network == network
            and held.not_before == (None if plan.not_before is None else issued + plan.not_before)
            and issued % plan.step == 0
            and issued <= now < held.expires - plan.margin  # issued <= now: not a later window
        ):
            return False
        if canonical and network is None and len(cookie_header) <= len(run) + _OTHER_COOKIES:
            if len(self._current) >= self._cache_size:
                self._current.clear()  # refilled from the LRU, without verifying again
            deadline = held.expires - plan.margin
            self._current[cookie_header] = (signer, plan, resource, issued, deadline)
        return True

    def _sign(
        self, signer: Signer, plan: _Plan, resource: str, network: str | None, expires: int
    ) -> _Signed:
        not_before = None if plan.not_before is None else expires - plan.ttl + plan.not_before
        if getattr(signer.sign_policy, "__func__", None) is _PLAIN_SIGN_POLICY:
            # A plain Signer (no sign_policy of a subclass, a patch or the instance's own): its
            # fields are a whole set of CloudFront's base64 and digits, and its terms are signed
            # as text, with no Policy object (which cost as much as all the rest around the
            # signature). Its key ID and hash name, attributes code may reassign, are checked
            # as the set holds them, once per pair.
            canned = is_canned(resource, not_before, network)
            text = policy_text(resource, expires, not_before, network, canned=canned)
            fields = signer._signed_fields(text, expires if canned else None)
            checked = _held_attributes_sendable(
                fields["CloudFront-Key-Pair-Id"], fields.get("CloudFront-Hash-Algorithm", "")
            )
            rendered = plan.render(fields, checked=checked)
        else:  # a subclass's own sign_policy: every field is checked
            policy = Policy(resource, expires, not_before, network)
            fields = signer.sign_policy(policy)
            if not _WHOLE_SET[policy.canned] <= fields.keys():  # half a set is worse than none
                raise ValueError(f"{signer!r} returned {sorted(fields)}, not a whole cookie set")
            rendered = plan.render(fields)
        too_big = size_problem(*rendered, room=_MAX_AGE_ROOM)
        return tuple(rendered) if too_big is None else too_big

    # ---- checks ------------------------------------------------------------------------
    def _warn_once(self, problem: str) -> None:
        """Log a problem a request revealed once, not on every request (at most 100 kinds)."""
        if problem in self._warned:
            return
        with self._lock:
            if len(self._warned) >= _MAX_WARNINGS or problem in self._warned:
                return
            self._warned.add(problem)
        logger.warning("cfcookie: %s", problem)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - a few hosts per app, one core per app
    def _warn_about_hosts(self, host: str, scheme: str, netloc: str) -> None:
        """Log ``_request_problems`` once per request host, scheme and resource host: the
        checks parse both hosts, far more work than this cache's lookup, which is all a request
        pays once they were checked (one entry serves every user's resource)."""
        for problem in self._request_problems(host, scheme, netloc):
            self._warn_once(problem)

    def _request_problems(self, host: str, scheme: str, netloc: str) -> tuple[str, ...]:
        """Why a browser would drop the cookies set on a request to ``host`` over ``scheme``,
        or never send them to the resource's host, ``netloc`` (with its port, if any)."""
        try:
            request_host = (urlsplit(f"//{host}").hostname or "").lower()
        except ValueError:
            return (f"request host {host[:100]!r} is not a valid host name",)
        problems = []
        if self.secure and scheme == "http" and not is_secure_context_host(host):
            problems.append(
                f"Secure cookies set on a plain-http request to {host[:100]}: browsers drop "
                "them, so CloudFront never sees them; serve the app over https (behind a "
                "proxy, let the framework see the https scheme), or pass secure=False for a "
                "local http demo"
            )
        try:
            resource_host = (urlsplit(f"//{netloc}").hostname or "").lower()
        except ValueError:  # a callable resource's own URL
            return (*problems, f"resource host {netloc[:100]!r} is not a valid host name")
        if self.cookie_domain is None:
            if request_host != resource_host:
                problems.append(
                    f"cookies are host-only for {request_host} but the resource host is "
                    f"{resource_host}; set cookie_domain to a domain covering both"
                )
        elif not cookie_rules.domain_covers(request_host, self.cookie_domain):
            problems.append(
                f"request host {request_host} is not inside cookie_domain "
                f"{self.cookie_domain}: browsers drop these cookies"
            )
        elif not cookie_rules.domain_covers(resource_host.removeprefix("*."), self.cookie_domain):
            problems.append(
                f"resource host {resource_host} is not inside cookie_domain "
                f"{self.cookie_domain}: browsers never send these cookies to it"
            )
        return tuple(problems)

    def _check_rule_fits(self, rule: Terms, plan: _Plan) -> None:
        where = rule.where
        host = rule.static_host
        if (
            host is not None
            and self.cookie_domain is not None
            and not cookie_rules.domain_covers(host.lstrip("*."), self.cookie_domain)
        ):
            parent = cookie_rules.registrable_domain(host)
            raise ConfigurationError(
                f"cookie_domain: {self.cookie_domain} does not cover {host}, the host of "
                f"{where}.resource, so browsers would never send the cookies to CloudFront; use "
                f"a parent domain of both the app and {host} (such as .{parent})"
            )
        if callable(rule.resource):
            return
        template = rule.fill(dict.fromkeys(rule.template_fields, "x"))
        path, exact = resource_path(template)
        prefix = rule.cookie_path or self.cookie_path
        # A cookie path narrower than a wildcard resource still reaches part of it (by choice).
        if not (path_covers(prefix, path, exact=exact) or (not exact and prefix.startswith(path))):
            option = f"{where}.cookie_path" if rule.cookie_path else "cookie_path"
            raise ConfigurationError(
                f"{option}: browsers would never send cookies with Path={prefix} to {path}, "
                f"where the URLs of {where}.resource start (a Path matches only up to a '/'); "
                "use '/' or a directory above it"
            )
        # The longest cookie: the policy with every condition, the longest epoch, a /32 address.
        worst = Policy(template, 2**31 - 1, 2**31 - 2, "255.255.255.255/32")
        [header] = plan.render({"CloudFront-Policy": "x" * _b64_length(worst)})
        too_big = size_problem(header, room=0 if self.max_age is None else _MAX_AGE_ROOM)
        if too_big is not None:
            raise ConfigurationError(f"{where}.resource: {too_big}")


class Pending(ABC):
    """One request between ``CookieCore.start`` and its response: the adapter calls
    ``finish`` when the response starts. ``reads_request`` and ``signs_remotely`` tell an async
    adapter what ``finish`` may run, to move it off the event loop."""

    __slots__ = ()
    _yield_to: str | None = None
    """``CloudFront-`` when no set goes out if the response sets a ``CloudFront-*`` cookie
    already (a grant's, or the app's own), so that a response never carries two sets."""
    _yield_to_raw: bytes | None = None

    @property
    def reads_request(self) -> bool:
        """Whether ``finish`` may call ``when`` or a callable resource (user code)."""
        return False

    def signs_remotely(self, status: int) -> bool:
        """Whether ``finish`` may, for this status, call a signing backend other than a key in
        this process (a KMS, an HSM: anything that may wait on I/O): an async adapter then
        calls it in a worker thread, at most ``REMOTE_SIGNATURES`` at once. A local key stays
        on the loop: a signature there costs about 0.29 ms, and the hop to a thread 0.05 ms
        more without freeing the loop any sooner at the 99th percentile
        (benchmarks/bench_offload.py)."""
        return False

    def finish(self, status: int, headers: Iterable[tuple[str, str]]) -> Headers | None:
        """The response headers to send instead of ``headers``, or ``None`` to leave them be.

        ``headers`` is read only when cookies go out, so an adapter may pass a lazy iterable.
        Never raises: a failure (a signer that is down, a ``when`` that breaks) is logged and
        the response goes out as the app made it, without CloudFront cookies.
        """
        try:
            set_cookies = self._grant(status)
            if set_cookies is None:
                return None
            return private(headers, set_cookies.headers(), yield_to=self._yield_to)
        except Exception:
            logger.exception("cfcookie: response sent without CloudFront cookies")
            return None

    def finish_raw(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders | None:
        """``finish`` for ASGI, whose headers are bytes: ``headers`` as the response start
        message carries them, and back the same way, with the added names in lower case. The
        app's headers pass as they are, and a set many responses share (a plan's last first
        visit's, the logout) goes out encoded once, not per response.
        """
        try:
            set_cookies = self._grant(status)
            if set_cookies is None:
                return None
            return private_raw(headers, set_cookies.raw(), yield_to=self._yield_to_raw)
        except Exception:
            logger.exception("cfcookie: response sent without CloudFront cookies")
            return None

    @abstractmethod
    def _grant(self, status: int) -> _SetCookies | None:
        """The ``Set-Cookie`` headers a response of this status gets, or ``None`` for none."""


class _LoggingOut(Pending):
    """A ``clear_on`` request: any response but an error expires every CloudFront cookie."""

    __slots__ = ("_clearing",)

    def __init__(self, clearing: list[str]) -> None:
        self._clearing = _SetCookies(clearing)

    def clear_also(self, clearing: Iterable[str]) -> None:
        """Expire the cookies at one more Path too (a grant's); a new object, not an append, so
        a logout being answered meanwhile reads a whole one."""
        self._clearing = _SetCookies([*self._clearing.values, *clearing])

    def _grant(self, status: int) -> _SetCookies | None:
        return None if status >= 400 else self._clearing


class _Ready(Pending):
    """A first visit whose set is known at the request: the last one its plan issued, while
    the window, terms, host and scheme it was made for hold (see ``CookieCore.start``). Kept
    per plan and shared by the requests it serves, so it holds nothing of any one request.
    (A response that ends after its window still gets it: cookies for when the request came.)"""

    __slots__ = ("end", "host", "scheme", "set_cookies", "signer", "start")
    _yield_to = "CloudFront-"
    _yield_to_raw = b"CloudFront-"

    def __init__(
        self,
        set_cookies: _SetCookies | None,
        signer: Signer,
        start: int,
        end: int,
        host: str,
        scheme: str,
    ) -> None:
        self.set_cookies = set_cookies
        self.signer = signer
        # As floats, like the clock's time: a float compared with an int takes a slow path.
        self.start = float(start)
        self.end = float(end)
        self.host = host
        self.scheme = scheme

    def _grant(self, status: int) -> _SetCookies | None:
        return self.set_cookies if 200 <= status < 300 else None


class _Granting(Pending):
    """A request that matched a rule: a successful response gets the set it earns, unless
    the request holds it already."""

    __slots__ = ("_cookie_header", "_core", "_host", "_request", "_route", "_scheme", "_view")
    _yield_to = "CloudFront-"
    _yield_to_raw = b"CloudFront-"

    def __init__(
        self,
        core: CookieCore,
        route: _Route,
        request: Any,
        view: ViewFactory,
        scheme: str,
        host: str,
        cookie_header: str,
    ) -> None:
        self._core = core
        self._route = route
        self._request = request
        self._view = view
        self._scheme = scheme
        self._host = host
        self._cookie_header = cookie_header

    @property
    def reads_request(self) -> bool:
        return self._core.when is not None or self._route.plan.reads_request

    def signs_remotely(self, status: int) -> bool:
        if not 200 <= status < 300:
            return False
        signer = self._route.rule.signer or self._core._signer
        return not isinstance(signer.backend, LocalKey)

    def _grant(self, status: int) -> _SetCookies | None:
        if not 200 <= status < 300:
            return None
        core = self._core
        rule, _, plan, resource = self._route
        if resource is not None and core.when is None:
            network = None  # nothing to read from the request
        else:
            earned = self._earned()
            if earned is None:
                return None
            resource, network = earned
        return core._set_cookies(
            rule, plan, resource, network, self._host, self._scheme, self._cookie_header
        )

    def _earned(self) -> tuple[str, str | None] | None:
        """The resource and IP range this request earns, or ``None`` for nothing; the request
        view is built only when ``when`` or the rule reads it."""
        when = self._core.when
        rule, params, plan, resource = self._route
        request = None
        if when is not None or plan.reads_request:  # read-only: a route is shared by requests
            request = self._view(self._request, MappingProxyType(params))
            if when is not None and not _decided(when(request)):
                return None
        source = rule.resource
        if resource is None and callable(source):  # the rule reads the request: view built
            assert request is not None
            found = source(request)
            if found is None:
                return None
            resource = validate_resource(found, name=f"{rule.where}.resource()")
        elif resource is None:  # a template with bind_client_ip
            resource = rule.fill(params)
        if request is None or not rule.bind_client_ip:
            return resource, None
        network = _client_network(request.client_ip)
        if network is None:
            logger.warning(
                "cfcookie: bind_client_ip needs an IPv4 client address, got %r: no cookies",
                request.client_ip,
            )
            return None
        return resource, network


_PLAIN_SIGN_POLICY = Signer.sign_policy


@functools.lru_cache(maxsize=64)
def _held_attributes_sendable(key_pair_id: str, hash_algorithm: str) -> bool:
    """Whether a Signer's key ID and hash name can go in a cookie: checked when it was built,
    but they are attributes code may reassign, so checked again, once per pair."""
    return cookie_rules.is_cookie_value(key_pair_id + hash_algorithm)


def _is_remote(signer: Signer | None) -> bool:
    return signer is not None and not isinstance(signer.backend, LocalKey)


def _check_when(
    when: Callable[[RequestView], object] | None,
) -> Callable[[RequestView], object] | None:
    if when is not None and (not callable(when) or inspect.iscoroutinefunction(when)):
        raise ConfigurationError(
            "when: expected a plain (not async) callable taking the request view; it runs "
            "as the response starts, so read what it needs from view.native or view.cookies"
        )
    return when


def _check_clear_on(
    clear_on: str | Sequence[str],
) -> list[tuple[str | re.Pattern[str], re.Pattern[str]]]:
    """Each logout pattern as given, and compiled."""
    if isinstance(clear_on, str):
        clear_on = (clear_on,)
    if not isinstance(clear_on, Iterable):
        raise ConfigurationError(
            f"clear_on: expected a path pattern or a list of them, got "
            f"{type(clear_on).__name__}; leave it out for no logout route"
        )
    return [(p, compile_pattern(p, name=f"clear_on[{i}]")) for i, p in enumerate(clear_on)]


def _check_methods(methods: str | Iterable[str]) -> frozenset[str]:
    """The request methods whose responses may carry cookies, upper case (a request's method
    is compared as sent: a lower-case ``get`` earns nothing, as some routers refuse it)."""
    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, Iterable):
        raise ConfigurationError(f"methods: expected a list such as ['GET'], got {methods!r}")
    checked = frozenset(m.upper() if isinstance(m, str) else m for m in methods)
    for method in checked:
        if not isinstance(method, str) or not (method.isascii() and method.isalpha()):
            raise ConfigurationError(
                f"methods: {method!r} is not an HTTP method; use names such as 'GET' or 'HEAD'"
            )
    if not checked:
        raise ConfigurationError("methods: none given; leave it out for GET only")
    if "OPTIONS" in checked:
        raise ConfigurationError(
            "methods: OPTIONS cannot carry cookies: frameworks and CORS middleware answer it "
            "without running the view (which is where the app checks who may see what)"
        )
    return checked


def _check_rules(rules: Rule | Iterable[Rule]) -> tuple[Rule, ...]:
    if not isinstance(rules, (Rule, Iterable)) or isinstance(rules, (str, bytes)):
        raise ConfigurationError(
            f"rules: expected a Rule or a list of them, got {type(rules).__name__}"
        )
    checked = (rules,) if isinstance(rules, Rule) else tuple(rules)
    for rule in checked:
        if not isinstance(rule, Rule):
            raise ConfigurationError(f"rules: expected Rule objects, got {type(rule).__name__}")
    unbound = [rule for rule in checked if rule.host is None]
    if unbound and len(unbound) < len(checked):
        raise ConfigurationError(
            f"Rule({unbound[0].pattern!r}).host: not set while other rules name a host; an app "
            "that routes by host may serve another view on this path on another host, so name "
            "the host on every rule (one rule per host)"
        )
    return checked


def _seconds(value: timedelta | int | None, name: str) -> int | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 1:
        raise ConfigurationError(
            f"{name}: {value!r} must be a timedelta of at least one second (or int seconds), "
            "or None"
        )
    return int(seconds)


def _plan(
    rule: Terms, margin: int | None, max_age: int | None, attributes: dict[str, Any]
) -> _Plan:
    """``attributes`` are the cookies' (``domain``, ``path``, ``secure``...), checked here."""
    render = cookie_rules.cookie_renderer(**attributes)
    ttl = int(rule.ttl.total_seconds())
    where = rule.where
    if max_age is not None and max_age > ttl:
        raise ConfigurationError(
            f"max_age: {max_age} s is longer than {where}.ttl ({ttl} s); a cookie must never "
            "outlive its policy: lower max_age or leave it None for session cookies"
        )
    margin = ttl // 2 if margin is None else margin
    if margin >= ttl:
        raise ConfigurationError(
            f"refresh_margin: {margin} s is not shorter than {where}.ttl ({ttl} s); every "
            "request would re-issue cookies: use less than the ttl (default: half)"
        )
    # Policies end on a grid so requests in the same window share one signature; a step of a
    # tenth of the ttl (at most 5 minutes) keeps at least 90% of the ttl for each cookie.
    step = max(1, min(ttl // 10, 300, ttl - margin))
    offset = None if rule.not_before is None else math.floor(rule.not_before.total_seconds())
    reads_request = callable(rule.resource) or rule.bind_client_ip
    one_resource = not reads_request and not rule.template_fields
    expired = _expired_headers(attributes)
    return _Plan(ttl, step, margin, offset, render, reads_request, one_resource, expired)


def _expired_headers(attributes: dict[str, Any]) -> dict[str, str]:
    """For each CloudFront cookie, the ``Set-Cookie`` value that expires it where cookies with
    these attributes are set (browsers match Domain and Path)."""
    return {
        name: set_cookie_header(name, "", max_age=0, expires=0, **attributes)
        for name in cookie_rules.CLOUDFRONT_COOKIES
    }


def _b64_length(policy: Policy) -> int:
    return 4 * math.ceil(len(policy.text()) / 3)


def _client_network(client_ip: str | None) -> str | None:
    try:
        address = viewer_address(client_ip or "")
    except ValueError:
        return None
    return f"{address}/32" if address.version == 4 else None


def _decided(answer: object) -> bool:
    """``when``'s answer; an awaitable (an async callable object) fails closed."""
    if inspect.isawaitable(answer):
        getattr(answer, "close", lambda: None)()
        raise TypeError("when returned an awaitable; it must decide synchronously")
    return bool(answer)


def _cloudfront_run(header: str) -> str:
    """The run of a Cookie header from the pair holding its first ``CloudFront-`` to the pair
    holding its last, without surrounding whitespace; "" when there is none."""
    first = header.find("CloudFront-")
    if first < 0:
        return ""
    start = header.rfind(";", 0, first) + 1
    end = header.find(";", header.rfind("CloudFront-"))
    return (header[start:] if end < 0 else header[start:end]).strip()


def _cloudfront_part(header: str) -> str:
    """The ``CloudFront-*`` pairs of a Cookie header, in order, joined by "; ", and nothing
    else: a returning visitor's set is looked up by these alone, so whatever else the header
    carries (a session cookie, analytics, filler sent to bloat the cache) neither changes the
    entry nor is kept; one string keeps an entry as small as the set. (Its pairs are those
    ``parse_cookie_pairs`` finds under a name starting with ``CloudFront-``; only the run of
    the header from the first such name to the last is split, the rest cannot hold one.)"""
    pairs = []
    for piece in _cloudfront_run(header).split(";"):
        name, equals, value = piece.partition("=")
        name = name.strip()
        if equals and name.startswith("CloudFront-"):
            pairs.append(f"{name}={value.strip()}")
    return "; ".join(pairs)


class _NotHeld(Exception):
    """Raised, not returned, by ``_genuine_terms``: the core's LRU then keeps genuine sets only,
    so requests carrying junk cannot fill it (each costs a parse instead)."""


def _genuine_terms(signer: Signer, part: str, canned_resource: str | None) -> Policy:
    """The terms of the set in ``part`` when it is, byte for byte, one this core issues with
    ``signer``'s key: the cookies of a canned set (its resource is the request's) when
    ``canned_resource`` is given, else of a custom one, each once, and a signature that
    verifies against the public key (not re-signed, so sets from another worker, an earlier
    process or a randomized ECDSA signature count), the pairs written as ``_cloudfront_part``
    writes them (so one set is one cache entry, however a header spaced it). ``_NotHeld`` for
    anything else: a reformatted policy that CloudFront would refuse, or two sets from
    different domains or paths (which one CloudFront reads is undocumented)."""
    if part.count(";") >= _MOST_COOKIES:
        raise _NotHeld  # more pairs than a set: not worth parsing
    pairs = parse_cookie_pairs(part)
    cookies = dict(pairs)
    terms = "CloudFront-Policy" if canned_resource is None else "CloudFront-Expires"
    names = {terms, "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    if signer.hash_algorithm != "SHA1":
        names.add("CloudFront-Hash-Algorithm")
    if (
        len(cookies) != len(pairs)
        or part != "; ".join(f"{name}={value}" for name, value in pairs)  # one form, one entry
        or cookies.keys() != names
        or cookies["CloudFront-Key-Pair-Id"] != signer.key_pair_id
        or cookies.get("CloudFront-Hash-Algorithm", "SHA1") != signer.hash_algorithm
        or len(cookies[terms]) > cookie_rules.MAX_COOKIE_BYTES
    ):
        raise _NotHeld
    try:
        if canned_resource is None:
            policy = Policy.from_text(b64decode(cookies[terms]))
        elif cookies[terms].isascii() and cookies[terms].isdigit():
            policy = Policy(canned_resource, int(cookies[terms]))
        else:
            raise _NotHeld
        data = policy.text().encode("ascii")
        signature = b64decode(cookies["CloudFront-Signature"])
    except ValueError:
        raise _NotHeld from None
    issued = {terms: str(policy.expires) if canned_resource else b64encode(data)}
    if (
        issued[terms] != cookies[terms]
        or b64encode(signature) != cookies["CloudFront-Signature"]
        or not signer.verify(data, signature)
    ):
        raise _NotHeld
    return policy


_MOVED = {
    "CLOUDFRONT_COOKIES": "cookies",
    "MAX_COOKIE_BYTES": "cookies",
    "check_cookie_domain": "cookies",
    "domain_covers": "cookies",
    "registrable_domain": "cookies",
    "check_signer_works": "signing",
    "DEFAULT_CACHE_SIZE": "options",
}


def __getattr__(name: str) -> Any:
    """The names that moved to the cookie rules and the signer, and ``Route`` (internal now),
    for one release, with a warning naming the new home."""
    if name == "Route":
        warnings.warn(
            "cfcookie_middleware.core.Route is internal now: adapters call CookieCore.start, "
            "which returns a Pending; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return _Route
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"cfcookie_middleware.core.{name} moved to cfcookie_middleware.{home}.{name}; the old "
        "name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"cfcookie_middleware.{home}"), name)
