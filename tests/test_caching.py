"""A response that carries signed cookies stays out of shared caches (RFC 9111: ``private``
keeps a response out of shared caches, ``Vary: Cookie`` keys any cache on the cookies)."""

from __future__ import annotations

import pytest

from cfcookie_middleware.caching import private, private_raw

CASES = pytest.mark.parametrize(
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


@CASES
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


@CASES
def test_asgi_headers_are_made_private_alike(
    app_headers: list[tuple[str, str]], cache_control: str, vary: str
) -> None:
    """The byte form ASGI sends: the app's other headers pass untouched (their names' case
    included), the cache headers are found in any case and sent back in lower case."""
    raw = [(name.encode(), value.encode()) for name, value in app_headers]
    headers = private_raw(
        [(b"X-App", b"1"), (b"set-cookie", b"session=abc"), *raw], [(b"set-cookie", b"A=1")]
    )
    assert headers == [
        (b"X-App", b"1"),
        (b"set-cookie", b"session=abc"),
        (b"cache-control", cache_control.encode()),
        (b"vary", vary.encode()),
        (b"set-cookie", b"A=1"),
    ]


@pytest.mark.parametrize(
    "app_headers",
    [
        [("Set-Cookie", "CloudFront-Policy=x; Path=/videos/")],
        [("Cache-Control", "max-age=60"), ("set-cookie", "CloudFront-Signature=y")],
        [("X-App", "1"), ("Vary", "Accept"), ("SET-COOKIE", "CloudFront-Key-Pair-Id=K")],
    ],
)
def test_a_response_setting_its_own_set_gets_none_added(app_headers: list[tuple[str, str]]) -> None:
    """With ``yield_to``, a response that sets a cookie of that prefix already (in any case of
    the header name, with or without cache headers of its own) gets nothing added; other
    cookies do not count, and without ``yield_to`` nothing is refused."""
    raw = [(name.encode(), value.encode()) for name, value in app_headers]
    added = [("Set-Cookie", "CloudFront-Policy=z")]
    assert private(app_headers, added, yield_to="CloudFront-") is None
    assert private_raw(raw, [(b"set-cookie", b"z")], yield_to=b"CloudFront-") is None
    assert private(app_headers, added) is not None
    assert private_raw(raw, [(b"set-cookie", b"z")]) is not None
    other = [
        ("Set-Cookie", "session=CloudFront-1"),
        *[h for h in app_headers if "ookie" not in h[0].lower()],
    ]
    assert private(other, added, yield_to="CloudFront-") is not None
