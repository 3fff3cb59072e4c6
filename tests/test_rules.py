"""Route patterns and resource templates (rules.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from conftest import VECTORS
from hypothesis import given
from hypothesis import strategies as st

from cfcookie_middleware import ConfigurationError, Signer
from cfcookie_middleware.rules import _AMBIGUOUS, Rule, compile_pattern, is_ambiguous_path

MEDIA = "https://media.example.com"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/account", "/account", {}),
        ("/account", "/account/", None),
        ("/account", "/Account", None),  # case-sensitive, as the frameworks route
        ("/videos/*", "/videos/", {}),
        ("/videos/*", "/videos/a/b.mp4", {}),
        ("/videos/*", "/videos", None),
        ("/videos/*", "/videosx/a", None),
        ("/users/{user_id}/library", "/users/alice/library", {"user_id": "alice"}),
        ("/users/{user_id}/library", "/users/a/b/library", None),  # one segment only
        ("/users/{user_id}/library", "/users//library", None),
        ("/a.b", "/aXb", None),  # literal dots, not regex dots
        ("/t/{a}/{b}/*", "/t/1/2/x/y", {"a": "1", "b": "2"}),
        (re.compile(r"/r/(?P<n>\d+)"), "/r/42", {"n": "42"}),
        (re.compile(r"/r/(?P<n>\d+)"), "/r/42/x", None),  # fullmatch
    ],
)
def test_pattern_matching(
    pattern: str | re.Pattern[str], path: str, expected: dict[str, str] | None
) -> None:
    rule = Rule(pattern, resource=f"{MEDIA}/*")
    assert rule.match(path) == expected


@pytest.mark.parametrize(
    "pattern",
    ["videos/*", "/videos/*/x", "/a*", "/users/{user-id}", "/u/{a}/{a}", "/u/{", "/u/}", "", 42],
)
def test_bad_patterns_are_refused_with_the_option_named(pattern: object) -> None:
    with pytest.raises(ConfigurationError, match=r"pattern"):
        Rule(pattern, resource=f"{MEDIA}/*")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "fix"),
    [
        ("/users/<user_id>/library", "write {user_id} for one path segment"),
        ("/users/<int:user_id>", "write {user_id} for one path segment"),
        ("/media/<any(videos, posters):kind>", "write {kind} for one path segment"),
        ("/old/(?P<pk>[0-9]+)/", "regex group (Django's re_path)"),
        ("/files/<path:rest>", "end the pattern with '/*' for everything below"),
        ("/users/{user_id:int}/library", "write {user_id}: a field matches one path segment"),
        ("/files/{rest:path}", "end the pattern with '/*' for everything below"),
    ],
)
def test_a_routers_own_syntax_is_refused_with_the_rules_spelling(pattern: str, fix: str) -> None:
    """Copied from a Flask, Django or Starlette route, these would match only their literal
    text, so the cookies would silently never come."""
    with pytest.raises(ConfigurationError, match=re.escape(fix)) as raised:
        Rule(pattern, resource="https://media.example.com/*")
    assert str(raised.value).startswith(f"Rule({pattern!r}).pattern: ")


def test_template_is_filled_with_percent_encoded_captures() -> None:
    rule = Rule("/users/{user_id}/library", resource=f"{MEDIA}/users/{{user_id}}/*")
    assert rule.fill({"user_id": "alice"}) == f"{MEDIA}/users/alice/*"
    # A captured '*' or '?' must never become a wildcard in the policy.
    assert rule.fill({"user_id": "*"}) == f"{MEDIA}/users/%2A/*"
    assert rule.fill({"user_id": "a?b c"}) == f"{MEDIA}/users/a%3Fb%20c/*"
    assert rule.fill({"user_id": "é"}) == f"{MEDIA}/users/%C3%A9/*"


def test_every_character_is_encoded_as_quote_would() -> None:
    """fill skips quote() for values it would leave alone: each character from NUL to past
    Latin-1, alone and beside unreserved ones, and a field used twice, fill as quote fills."""
    rule = Rule("/u/{a}/{b}", resource=f"{MEDIA}/{{a}}/{{b}}/{{a}}")
    for code in range(0x180):
        for value in (chr(code), f"a{chr(code)}z-9"):
            encoded = quote(value, safe="")
            assert rule.fill({"a": value, "b": "x"}) == f"{MEDIA}/{encoded}/x/{encoded}", code


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (f"{MEDIA}/users/{{other}}/*", "other.*not captured"),
        (f"{MEDIA}/users/{{user_id!r}}/*", "plain captured name"),
        (f"{MEDIA}/users/{{user_id:>5}}/*", "plain captured name"),
        (f"{MEDIA}/users/{{user_id:}}/*", "plain captured name"),
        (f"{MEDIA}/users/{{user_id}}/{{user_id:}}/*", "plain captured name"),
        (f"{MEDIA}/users/{{0}}/*", "plain captured name"),
        (f"{MEDIA}/users/{{user_id/*", "not a valid template"),
        # Doubled braces would put a literal brace in the policy, which browsers encode.
        (f"{MEDIA}/users/{{{{user_id}}}}/*", "doubled brace"),
        (f"{MEDIA}/users/{{{{x}}}}/*", "doubled brace"),
        (f"{MEDIA}/users/{{{{{{user_id}}}}}}/*", "doubled brace"),
        (f"{MEDIA}/users/{{user_id}}/}}}}", "doubled brace"),
        ("media.example.com/users/{user_id}/*", "https://"),
        (f"{MEDIA}/users/{{user_id}}/a b", "not allowed"),
        (42, "URL template"),
        # A router's placeholder would stay literal text: the policy would never match.
        (f"{MEDIA}/users/<user_id>/*", r"'<user_id>' .* route syntax, .*; write \{user_id\}"),
        (f"{MEDIA}/users/<int:user_id>/*", r"'<int:user_id>' .*; write \{user_id\}"),
        (lambda: f"{MEDIA}/v/*", r"cannot be called with one argument, the request view"),
        (lambda view, other: f"{MEDIA}/v/*", r"\(view, other\) cannot be called with one"),
    ],
)
def test_bad_templates_are_refused(resource: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Rule("/users/{user_id}/library", resource=resource)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "ttl",
    [
        timedelta(0),
        timedelta(seconds=-5),
        timedelta(milliseconds=500),
        timedelta(microseconds=999_999),
        3600,
    ],
)
def test_ttl_must_be_a_positive_timedelta(ttl: object) -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        Rule("/v/*", resource=f"{MEDIA}/v/*", ttl=ttl)  # type: ignore[arg-type]


def test_a_ttl_of_one_second_is_the_shortest() -> None:
    assert Rule("/v/*", resource=f"{MEDIA}/v/*", ttl=timedelta(seconds=1)).ttl.total_seconds() == 1


@pytest.mark.parametrize(
    "not_before",
    [timedelta(hours=1), timedelta(minutes=5), timedelta(minutes=5, microseconds=1), 60],
)
def test_not_before_must_be_shorter_than_ttl(not_before: object) -> None:
    """A start at or after the expiry (``not_before == ttl`` included) is never valid."""
    with pytest.raises(ConfigurationError, match=r"Rule\('/v/\*'\)\.not_before"):
        Rule(
            "/v/*",
            resource=f"{MEDIA}/v/*",
            ttl=timedelta(minutes=5),
            not_before=not_before,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    "not_before", [timedelta(minutes=-5), timedelta(0), timedelta(minutes=5, microseconds=-1)]
)
def test_not_before_shorter_than_ttl_builds(not_before: timedelta) -> None:
    rule = Rule("/v/*", resource=f"{MEDIA}/v/*", ttl=timedelta(minutes=5), not_before=not_before)
    assert rule.not_before == not_before


def test_a_rule_signer_must_be_a_signer() -> None:
    with pytest.raises(ConfigurationError, match=r"Rule\('/v/\*'\)\.signer: expected a Signer"):
        Rule("/v/*", resource=f"{MEDIA}/v/*", signer="K2JCJMDEHXQW5F")  # type: ignore[arg-type]
    signer = Signer("K1TESTKEY", VECTORS / "test-rsa-key.pem")
    assert Rule("/v/*", resource=f"{MEDIA}/v/*", signer=signer).signer is signer


def test_callable_resource_is_not_checked_at_build() -> None:
    rule = Rule("/v/*", resource=lambda view: f"{MEDIA}/v/*")
    assert rule.static_host is None


def test_static_host() -> None:
    assert Rule("/v/{x}", resource=f"{MEDIA}/v/{{x}}/*").static_host == "media.example.com"
    assert Rule("/v/{x}", resource="https://{x}.example.com/*").static_host is None


@pytest.mark.parametrize(
    ("path", "ambiguous"),
    [
        ("/videos/a.mp4", False),
        ("/videos/.hidden", False),
        ("/videos/a..b", False),
        ("/public/../videos/x", True),
        ("/videos/./x", True),
        ("/videos/..", True),
        ("/videos/.", True),
        ("//videos/x", True),
        ("/videos//x", True),
        ("/videos\\..\\x", True),
        ("/videos/\x00", True),
    ],
)
def test_ambiguous_paths(path: str, ambiguous: bool) -> None:
    assert is_ambiguous_path(path) is ambiguous


@given(st.text(alphabet=st.sampled_from("/.\\a\x00\x1f\x7f\x85\u2028\u200b é"), max_size=12))
def test_ambiguous_path_shortcut_agrees_with_the_full_check(path: str) -> None:
    """The string-method shortcut decides exactly as the regex it skips."""
    assert is_ambiguous_path(path) is (_AMBIGUOUS.search(path) is not None)


def test_compile_pattern_keeps_a_compiled_regex() -> None:
    regex = re.compile(r"/x/(?P<a>.+)")
    assert compile_pattern(regex) is regex
