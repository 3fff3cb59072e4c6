"""A response that carries signed cookies stays out of shared caches (RFC 9111: ``private``
keeps a response out of shared caches, ``Vary: Cookie`` keys any cache on the cookies)."""

from __future__ import annotations

import pytest

from cfcookie_middleware.caching import private


@pytest.mark.parametrize(
    ("app_headers", "cache_control", "vary"),
    [
        ([], "private", "Cookie"),
        ([("Cache-Control", "max-age=60")], "private, max-age=60", "Cookie"),
        ([("Cache-Control", "public, max-age=60, s-maxage=600")], "private, max-age=60", "Cookie"),
        ([("cache-control", "no-store")], "no-store", "Cookie"),
        ([("Cache-Control", "private, no-cache")], "private, no-cache", "Cookie"),
        ([("Vary", "Accept-Encoding")], "private", "Accept-Encoding, Cookie"),
        ([("Vary", "cookie")], "private", "cookie"),
        ([("Vary", "*")], "private", "*"),
    ],
)
def test_responses_with_cookies_areprivate(
    app_headers: list[tuple[str, str]], cache_control: str, vary: str
) -> None:
    headers = private(
        [("X-App", "1"), ("Set-Cookie", "session=abc"), *app_headers], [("Set-Cookie", "A=1")]
    )
    assert headers[:2] == [("X-App", "1"), ("Set-Cookie", "session=abc")]
    assert ("Cache-Control", cache_control) in headers
    assert ("Vary", vary) in headers
    assert headers[-1] == ("Set-Cookie", "A=1")
