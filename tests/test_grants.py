"""Grants named at the view, below the frameworks: ``Grant``'s own checks, ``grant()``'s
dispatch, and what ``CookieCore.start_grant`` adds to the core (the frameworks' suites run the
contract in ``grant_contract``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from middleware_helpers import (
    APP_HOST,
    DOMAIN,
    MEDIA,
    Clock,
    CountingSigner,
    assert_grants,
    header_values,
    make_signer,
    parse_set_cookie,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from cfcookie_middleware import ConfigurationError, CookieCore, RequestView, Rule, grant
from cfcookie_middleware.core import _MAX_LOGOUT_PATHS, Pending
from cfcookie_middleware.grants import Grant

VIDEOS = f"{MEDIA}/videos/{{video_id}}/*"


def core_for(signer: CountingSigner, clock: Clock, **options: Any) -> CookieCore:
    options.setdefault("rules", [])
    return CookieCore(signer=signer, clock=clock, cookie_domain=DOMAIN, **options)


def started(core: CookieCore, path: str, method: str = "GET") -> Pending | None:
    """``core.start`` for a request to ``path`` whose rules read nothing from the request."""
    return core.start(
        method=method,
        scheme="https",
        path=path,
        host=APP_HOST,
        cookie_header="",
        request=None,
        view=lambda _, params: pytest.fail("nothing to read"),
    )


def granted(core: CookieCore, declared: Grant, status: int = 200, **params: str) -> list[str]:
    """The ``Set-Cookie`` values a view naming ``declared`` sends with a ``status`` answer."""

    def view(request: Any, captured: Any) -> RequestView:
        raise AssertionError("a template grant reads nothing from the request")

    pending = core.start_grant(
        declared,
        method="GET",
        scheme="https",
        host=APP_HOST,
        cookie_header="",
        params=params,
        request=None,
        view=view,
    )
    headers = None if pending is None else pending.finish(status, [])
    return header_values(headers or [], "Set-Cookie")


@pytest.mark.parametrize(
    ("resource", "terms", "match"),
    [
        (VIDEOS, {"ttl": timedelta(0)}, r"grant\('https://media.*'\)\.ttl: .* positive"),
        (VIDEOS, {"not_before": timedelta(hours=1)}, r"\.not_before: .* shorter than the ttl"),
        (VIDEOS, {"signer": "K2JCJMDEHXQW5F"}, r"\.signer: expected a Signer"),
        (42, {}, r"grant\(.*\)\.resource: expected a URL template string or a callable"),
        (f"{MEDIA}/{{a.b}}/*", {}, r"must be a plain captured name"),
        (f"{MEDIA}/{{{{x}}}}/*", {}, r"doubled brace"),
        (WerkzeugResponse("x"), {}, r"got a response where the resource goes"),
        (f"{MEDIA}/users/<user_id>/*", {}, r"'<user_id>' .*; write \{user_id\}"),
        # A view where the resource goes: the decorator was written without (resource).
        (lambda: "a page", {}, r"did you write @cloudfront\.grant without \(resource\)\?"),
        (lambda request, video_id: "", {}, r"did you write @cloudfront\.grant without \("),
    ],
)
def test_a_grant_checks_its_terms_when_made(
    resource: Any, terms: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Grant(resource, **terms)


def test_grant_refuses_what_is_not_a_response() -> None:
    with pytest.raises(ConfigurationError, match="dict is not a response grant knows"):
        grant({}, VIDEOS)


def test_rules_left_out_is_an_error_but_an_empty_list_serves_grants_only() -> None:
    signer, clock = make_signer(), Clock()
    with pytest.raises(ConfigurationError, match=r"rules: none given; .* or rules=\[\]"):
        CookieCore(signer=signer)
    core = core_for(signer, clock)
    assert (
        core.start(
            method="GET",
            scheme="https",
            path="/videos/7",
            host=APP_HOST,
            cookie_header="",
            request=None,
            view=lambda _, params: pytest.fail("no rule, nothing to read"),
        )
        is None
    )
    values = granted(core, Grant(VIDEOS), video_id="7")
    assert_grants(values, signer, f"{MEDIA}/videos/7/a", f"{MEDIA}/videos/8/a", now=clock.now)


def test_equal_grants_made_per_request_share_one_signature() -> None:
    """``grant(response, ...)`` makes its Grant per call: the core's plan (and so its cached
    signatures) is found by the grant's value, not by the object."""
    signer, clock = make_signer(), Clock()
    core = core_for(signer, clock)
    first = granted(core, Grant(VIDEOS, ttl=timedelta(hours=2)), video_id="7")
    second = granted(core, Grant(VIDEOS, ttl=timedelta(hours=2)), video_id="7")
    assert first == second
    assert signer.calls == 1


def test_a_grant_the_options_cannot_serve_is_refused_by_check_grant() -> None:
    core = core_for(make_signer(), Clock(), max_age=timedelta(hours=2))
    with pytest.raises(ConfigurationError, match=r"max_age: .* longer than grant\('.*'\)\.ttl"):
        core.check_grant(Grant(VIDEOS))
    with pytest.raises(ConfigurationError, match=r"does not cover media\.example\.org"):
        core.check_grant(Grant("https://media.example.org/videos/*", ttl=timedelta(hours=3)))


@pytest.mark.parametrize(
    ("already", "steps_aside"),
    [
        ("CloudFront-Policy=x; Domain=.example.com; Path=/; Secure", True),
        ("CloudFront-Expires=1; Path=/", True),
        ("CloudFront-Policy=x", True),  # no Path: the browser's default, maybe this one
        ("CloudFront-Policy=x; Path=/users/", True),  # another path: the browser sends both
        ("CloudFront-Key-Pair-Id=K; Path=/videos/a/; Max-Age=0", True),
        ("session=CloudFront-Policy; Path=/", False),
        ("X-CloudFront-Policy=x; Path=/", False),
    ],
)
def test_a_rule_adds_no_set_where_the_response_sets_one_at_any_path(
    already: str, steps_aside: bool
) -> None:
    signer, clock = make_signer(), Clock()
    core = core_for(signer, clock, rules=[Rule("/videos/*", resource=f"{MEDIA}/videos/*")])
    pending = started(core, "/videos/a")
    assert pending is not None
    headers = pending.finish(200, [("Set-Cookie", already)])
    if steps_aside:
        assert headers is None
    else:
        assert headers is not None
        values = header_values(headers, "Set-Cookie")
        assert values[0] == already
        assert_grants(values[1:], signer, f"{MEDIA}/videos/a", None, now=clock.now)


def test_logout_clears_the_paths_of_checked_grants_within_a_bound() -> None:
    core = core_for(make_signer(), Clock(), clear_on="/logout")
    for n in range(_MAX_LOGOUT_PATHS + 5):
        core.check_grant(Grant(f"{MEDIA}/p{n}/*", cookie_path=f"/p{n}/"))
    pending = started(core, "/logout", "POST")
    assert pending is not None
    cleared = header_values(pending.finish(303, []) or [], "Set-Cookie")
    paths = {parse_set_cookie(value).attributes["path"] for value in cleared}
    assert len(paths) == _MAX_LOGOUT_PATHS  # "/" and the first grants' paths
    assert {"/", "/p0/"} <= paths
    assert f"/p{_MAX_LOGOUT_PATHS + 4}/" not in paths
