"""What every form of grant named at the view must do, written once and run in each framework.

A framework's suite subclasses ``GrantContract`` and gives it a ``serve`` fixture: ``serve(**
options)`` builds a real app of that framework, with the middleware's ``options``, serving the
views below, and returns a ``Fetch`` that sends one request through the framework's own test
client, from ``CLIENT_IP`` to https://app.example.com. The views, each named by its framework's
form of grant (decorator, dependency or ``grant(response, ...)``):

- ``/videos/{video_id}`` (GET and POST): ``VIDEOS``; ``?status=N`` answers its own response with
  status N, ``?raise=N`` raises the framework's HTTP error N (500: an unexpected exception);
- ``/poster``: ``POSTER`` for ``POSTER_TTL``, a canned policy;
- ``/library/{user_id}``: ``LIBRARY`` with ``LIBRARY_TERMS`` (the rules' other options);
- ``/imperative/{name}``: ``cfcookie_middleware.grant(response, IMPERATIVE, request=...)``;
- ``/both/{video_id}``: ``VIDEOS`` too, where ``BOTH_RULE`` matches as well;
- ``/courses/{course}``: ``course_media``, a callable resource;
- ``/logout``: no grant; ``clear_on``.

Every set is judged by the Verifier, as CloudFront would judge it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import pytest
from middleware_helpers import (
    CANNED_SET,
    CLIENT_IP,
    CUSTOM_SET,
    KEY_ID,
    MEDIA,
    T0,
    Clock,
    CountingSigner,
    GatedBackend,
    assert_grants,
    cloudfront_set_cookies,
    cookie_header,
    header_values,
    make_signer,
    options,
    parse_set_cookie,
    policy_document,
    policy_expiry,
    verifier_for,
)

from cfcookie_middleware import RequestView, Rule, Signer

VIDEOS = f"{MEDIA}/videos/{{video_id}}/*"
POSTER = f"{MEDIA}/poster.jpg"
POSTER_TTL = timedelta(minutes=10)
LIBRARY = f"{MEDIA}/users/{{user_id}}/*"
LIBRARY_TERMS: dict[str, Any] = {
    "ttl": timedelta(hours=2),
    "cookie_path": "/users/",
    "bind_client_ip": True,
    "not_before": timedelta(minutes=-5),
}
IMPERATIVE = f"{MEDIA}/imperative/{{name}}/*"
BOTH_RULE = Rule("/both/*", resource=f"{MEDIA}/both/*", cookie_path="/both/")
"""Another cookie path than the grant's (``/``): a second set would reach ``/both/`` beside it."""
ERRORS = ["status=403", "status=404", "status=500", "raise=403", "raise=404", "raise=500"]


def course_media(view: RequestView) -> str | None:
    """A callable resource: a closed course hands out nothing."""
    course = view.params["course"]
    return None if course == "closed" else f"{MEDIA}/courses/{course}/*"


def grant_options(signer: CountingSigner, **overrides: Any) -> dict[str, Any]:
    """The middleware's options for the contract's apps."""
    return options(signer, rules=[BOTH_RULE], clear_on="/logout", **overrides)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]

    @property
    def set_cookies(self) -> list[str]:
        return header_values(self.headers, "Set-Cookie")

    @property
    def cache_control(self) -> list[str]:
        return header_values(self.headers, "Cache-Control")


class Fetch(Protocol):
    def __call__(self, path: str, *, method: str = "GET", cookie: str = "") -> Answer: ...


Serve = Callable[..., Fetch]


def assert_signs_off_the_loop(serve: Serve) -> None:
    """A remote signer called for a grant under an async framework never signs on an event
    loop (a plain function, not part of the contract: sync frameworks have no loop)."""
    backend = GatedBackend()
    signer = Signer(KEY_ID, backend)
    fetch = serve(**options(signer, rules=[]))  # the middleware built now
    backend.release.set()  # no waiting: the backend only notes where it was called
    backend.armed = True
    granted = fetch("/videos/7").set_cookies
    assert backend.on_a_loop == 0
    assert_grants(
        granted,
        signer,
        f"{MEDIA}/videos/7/a",
        None,
        expected_names={*CUSTOM_SET, "CloudFront-Hash-Algorithm"},
    )


class GrantContract:
    """The contract; a subclass gives the ``serve`` fixture."""

    @pytest.fixture
    def signer(self) -> CountingSigner:
        return make_signer()

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def fetch(self, serve: Serve, signer: CountingSigner, clock: Clock) -> Fetch:
        return serve(**grant_options(signer, clock=clock))

    def test_a_successful_answer_grants_the_views_resource_privately(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        answer = fetch("/videos/7")
        assert answer.status == 200
        values = assert_grants(
            answer.set_cookies,
            signer,
            f"{MEDIA}/videos/7/a.mp4",
            f"{MEDIA}/videos/8/a.mp4",
            now=clock.now,
        )
        assert policy_expiry(values) == T0 + 3600
        assert "private" in answer.cache_control[0]
        assert "Cookie" in header_values(answer.headers, "Vary")[0]

    @pytest.mark.parametrize("query", ERRORS)
    def test_an_error_answer_gets_nothing(self, fetch: Fetch, query: str) -> None:
        answer = fetch(f"/videos/7?{query}")
        assert answer.status == int(query[-3:])
        assert not cloudfront_set_cookies(answer.set_cookies)
        assert not any("private" in value for value in answer.cache_control)

    def test_a_method_outside_methods_gets_nothing(
        self, serve: Serve, signer: CountingSigner, clock: Clock
    ) -> None:
        answer = serve(**grant_options(signer, clock=clock))("/videos/7", method="POST")
        assert answer.status == 200
        assert not cloudfront_set_cookies(answer.set_cookies)
        allowed = serve(**grant_options(signer, clock=clock, methods=["GET", "POST"]))
        posted = allowed("/videos/7", method="POST")
        assert_grants(posted.set_cookies, signer, f"{MEDIA}/videos/7/a", None, now=clock.now)

    def test_a_visitor_holding_a_current_set_gets_none_and_signatures_are_reused(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        first = assert_grants(
            fetch("/videos/7").set_cookies, signer, f"{MEDIA}/videos/7/a", None, now=clock.now
        )
        other_visitor = fetch("/videos/7").set_cookies  # in the same window
        assert assert_grants(other_visitor, signer, f"{MEDIA}/videos/7/a", None) == first
        assert signer.calls == 1  # the window's signature, reused
        clock.now = T0 + 6 * 60
        again = fetch("/videos/7", cookie=cookie_header(first))
        assert again.status == 200
        assert not cloudfront_set_cookies(again.set_cookies)
        assert not any("private" in value for value in again.cache_control)
        clock.now = T0 + 35 * 60  # under half the ttl left: a fresh set
        refreshed = fetch("/videos/7", cookie=cookie_header(first)).set_cookies
        values = assert_grants(refreshed, signer, f"{MEDIA}/videos/7/a", None, now=clock.now)
        assert policy_expiry(values) == T0 + 35 * 60 + 3600

    def test_a_grant_takes_the_rules_options(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        library = cloudfront_set_cookies(fetch("/library/bob").set_cookies)
        assert {cookie.attributes["path"] for cookie in library.values()} == {"/users/"}
        values = {name: cookie.value for name, cookie in library.items()}
        statement = policy_document(values["CloudFront-Policy"])["Statement"][0]
        expires = T0 + 2 * 3600  # a two-hour ttl, on its grid
        assert statement == {
            "Resource": f"{MEDIA}/users/bob/*",
            "Condition": {
                "DateLessThan": {"AWS:EpochTime": expires},
                "IpAddress": {"AWS:SourceIp": f"{CLIENT_IP}/32"},
                "DateGreaterThan": {"AWS:EpochTime": T0 - 300},
            },
        }
        verifier = verifier_for(signer)
        at = int(clock.now)
        assert verifier.check_cookies(
            f"{MEDIA}/users/bob/a.mp3", values, client_ip=CLIENT_IP, now=at
        ).allowed
        assert not verifier.check_cookies(
            f"{MEDIA}/users/bob/a.mp3", values, client_ip="198.51.100.1", now=at
        ).allowed
        poster = fetch("/poster").set_cookies
        canned = assert_grants(
            poster, signer, POSTER, f"{MEDIA}/other.jpg", expected_names=CANNED_SET, now=clock.now
        )
        assert policy_expiry(canned) == T0 + int(POSTER_TTL.total_seconds())

    def test_when_decides_for_grants_too(
        self, serve: Serve, signer: CountingSigner, clock: Clock
    ) -> None:
        members = serve(
            **grant_options(signer, clock=clock, when=lambda view: "member" in view.cookies)
        )
        assert not cloudfront_set_cookies(members("/videos/7").set_cookies)
        granted = members("/videos/7", cookie="member=1").set_cookies
        assert_grants(granted, signer, f"{MEDIA}/videos/7/a", None, now=clock.now)

    def test_the_imperative_form_fills_and_encodes_the_template(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        granted = fetch("/imperative/a%2Ab").set_cookies  # a "*" the template must not keep
        assert_grants(
            granted,
            signer,
            f"{MEDIA}/imperative/a%2Ab/x",
            f"{MEDIA}/imperative/aXb/x",
            now=clock.now,
        )
        assert not cloudfront_set_cookies(fetch("/imperative/a?status=404").set_cookies)

    def test_a_rule_matching_the_same_request_adds_no_second_set(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        answer = fetch("/both/7")  # cloudfront_set_cookies refuses a name sent twice
        assert_grants(
            answer.set_cookies, signer, f"{MEDIA}/videos/7/a", f"{MEDIA}/both/a", now=clock.now
        )
        assert len(answer.cache_control) == 1
        assert not cloudfront_set_cookies(fetch("/both/7?status=404").set_cookies)

    def test_a_callable_resource_reads_the_request_view(
        self, fetch: Fetch, signer: CountingSigner, clock: Clock
    ) -> None:
        granted = fetch("/courses/python-101").set_cookies
        assert_grants(
            granted,
            signer,
            f"{MEDIA}/courses/python-101/a",
            f"{MEDIA}/courses/aws-201/a",
            now=clock.now,
        )
        assert not cloudfront_set_cookies(fetch("/courses/closed").set_cookies)

    def test_logout_clears_the_grants_cookie_paths_too(self, fetch: Fetch) -> None:
        assert fetch("/library/bob").status == 200  # every form has checked its grant by now
        cleared = [parse_set_cookie(raw) for raw in fetch("/logout").set_cookies]
        paths = {
            cookie.attributes["path"] for cookie in cleared if cookie.name == "CloudFront-Policy"
        }
        assert paths == {"/", "/users/", "/both/"}
        assert all(cookie.attributes["max-age"] == "0" for cookie in cleared)
