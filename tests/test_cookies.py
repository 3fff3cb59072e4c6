"""The browser's cookie rules: raw ``Set-Cookie`` values written out by hand from RFC 6265, never
quoted, and the size every user of them checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from typing import Any

import pytest

from cfcookie_middleware.cookies import (
    MAX_COOKIE_BYTES,
    cookie_renderer,
    is_cookie_value,
    set_cookie_header,
    size_problem,
)
from cfcookie_middleware.signing import ConfigurationError

SAFE_DEFAULTS = "; Path=/; Secure; HttpOnly; SameSite=Lax"


def test_defaults_are_secure_session_cookies() -> None:
    assert set_cookie_header("CloudFront-Key-Pair-Id", "K2JCJMDEHXQW5F") == (
        "CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F" + SAFE_DEFAULTS
    )


def test_every_attribute_in_order() -> None:
    header = set_cookie_header(
        "CloudFront-Policy",
        "eyJ-abc~_",
        domain=".example.com",
        path="/videos/",
        max_age=3600,
        expires=1767290400,  # 2026-01-01T18:00:00Z, a Thursday
        samesite="strict",
    )
    assert header == (
        "CloudFront-Policy=eyJ-abc~_; Domain=.example.com; Path=/videos/; "
        "Expires=Thu, 01 Jan 2026 18:00:00 GMT; Max-Age=3600; Secure; HttpOnly; SameSite=Strict"
    )


def test_expires_accepts_aware_datetimes_and_the_clearing_epoch() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert "; Expires=Thu, 01 Jan 2026 18:00:00 GMT;" in set_cookie_header(
        "n", "v", expires=datetime(2026, 1, 1, 19, tzinfo=plus_one)
    )
    cleared = set_cookie_header("n", "", expires=0, max_age=0)
    assert cleared.startswith("n=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;")


def test_value_is_never_quoted() -> None:
    """SimpleCookie quotes '=' and '/', which breaks a signature; the header must carry the value
    byte for byte."""
    value = "a=b/c~d-e_"
    jar: SimpleCookie = SimpleCookie()
    jar["n"] = value
    assert '"' in jar.output()  # the behaviour this module exists to avoid
    assert set_cookie_header("n", value).startswith(f"n={value}; ")


def test_attributes_can_be_left_out() -> None:
    header = set_cookie_header("n", "v", path=None, secure=False, httponly=False, samesite=None)
    assert header == "n=v"


def test_a_renderer_writes_the_attributes_once() -> None:
    render = cookie_renderer(domain=".example.com", path="/videos/", samesite="strict")
    assert render(
        {"CloudFront-Policy": "eyJ-abc~_", "CloudFront-Key-Pair-Id": "K2JCJMDEHXQW5F"}
    ) == [
        "CloudFront-Policy=eyJ-abc~_; Domain=.example.com; Path=/videos/; Secure; HttpOnly; "
        "SameSite=Strict",
        "CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F; Domain=.example.com; Path=/videos/; Secure; "
        "HttpOnly; SameSite=Strict",
    ]


@pytest.mark.parametrize(
    ("cookies", "needle"),
    [
        # The values are checked joined: each bad character must still be found wherever it is.
        ({"CloudFront-Policy": "abc", "CloudFront-Signature": "de;f"}, "CloudFront-Signature"),
        ({"CloudFront-Policy": "a b", "CloudFront-Signature": "def"}, "CloudFront-Policy"),
        ({"CloudFront-Policy": "abc", "CloudFront-Key-Pair-Id": "K2\r\nX"}, "Key-Pair-Id"),
        ({"CloudFront-Policy": "abc", "CloudFront-Signature": "\u00e9"}, "non-ASCII"),
        ({"CloudFront-Policy": "abc", "CloudFront-Signature": 5}, "CloudFront-Signature"),
        ({"CloudFront-Policy": "abc", "Session": "def"}, "'Session' is not a CloudFront cookie"),
        ({"CloudFront-Policy": "abc", 5: "def"}, "'5' is not a CloudFront cookie"),
    ],
)
def test_a_renderer_refuses_the_set_naming_the_cookie(cookies: dict[Any, Any], needle: str) -> None:
    render = cookie_renderer(domain=".example.com")
    with pytest.raises(ConfigurationError, match=needle):
        render(cookies)


@pytest.mark.parametrize(
    ("value", "sendable"),
    [("K2JCJMDEHXQW5FSHA256", True), ("a-b_c~d", True), ("", True), ("a b", False)]
    + [(f"a{char}b", False) for char in '",;\\\x00\x7f\u00e9'],
)
def test_is_cookie_value(value: str, sendable: bool) -> None:
    assert is_cookie_value(value) is sendable


def test_samesite_none_with_secure() -> None:
    assert set_cookie_header("n", "v", samesite="None").endswith(
        "; Secure; HttpOnly; SameSite=None"
    )


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "Cloud Front"}, "cookie name"),
        ({"name": "a=b"}, "cookie name"),
        ({"name": "a;b"}, "cookie name"),
        ({"name": ""}, "cookie name"),
        ({"value": "a b"}, "value"),
        ({"value": '"quoted"'}, "value"),
        ({"value": "a,b"}, "value"),
        ({"value": "a;b"}, "value"),
        ({"value": "a\\b"}, "value"),
        ({"value": "a\r\nSet-Cookie: x=y"}, "value"),
        ({"value": "caf\u00e9"}, "value"),
        ({"domain": "https://example.com"}, "cookie_domain"),
        ({"domain": "example.com:8443"}, "cookie_domain"),
        ({"domain": "example.com/"}, "cookie_domain"),
        ({"domain": "exa mple.com"}, "cookie_domain"),
        ({"domain": "example..com"}, "cookie_domain"),
        ({"domain": "example.com; Secure"}, "cookie_domain"),
        ({"domain": ""}, "cookie_domain"),
        ({"path": "videos/"}, "cookie_path"),
        ({"path": "/a;b"}, "cookie_path"),
        ({"path": "/a\nb"}, "cookie_path"),
        ({"path": "/caf\u00e9"}, "cookie_path"),
        ({"path": "/videos/*"}, "literal prefix"),
        ({"path": "/video?"}, "literal prefix"),
        ({"samesite": "bogus"}, "samesite"),
        ({"samesite": "none", "secure": False}, "needs secure"),
        ({"max_age": -1}, "max_age"),
        ({"max_age": True}, "max_age"),
        ({"max_age": "60"}, "max_age"),
        ({"expires": datetime(2026, 1, 1, 18)}, "naive datetime"),
        ({"expires": 1767290400000}, "milliseconds"),
    ],
)
def test_refusals(kwargs: dict[str, object], needle: str) -> None:
    arguments: dict[str, object] = {"name": "CloudFront-Signature", "value": "abc", **kwargs}
    with pytest.raises(ConfigurationError, match=needle):
        set_cookie_header(**arguments)  # type: ignore[arg-type]
    name, value = arguments.pop("name"), arguments.pop("value")
    if {"name", "value"} & kwargs.keys():  # a renderer checks each set it renders
        render = cookie_renderer(**arguments)
        with pytest.raises(
            ConfigurationError, match="CloudFront cookie" if "name" in kwargs else needle
        ):
            render({name: value})  # type: ignore[dict-item]
    else:  # and its attributes once, as it is made
        with pytest.raises(ConfigurationError, match=needle):
            cookie_renderer(**arguments)


def test_size_problem_at_the_4096_bytes_browsers_keep() -> None:
    # RFC 6265 section 6.1: browsers need keep only 4,096 bytes of name, value and attributes.
    assert MAX_COOKIE_BYTES == 4096
    header = set_cookie_header("CloudFront-Policy", "a" * 4000)
    filler = "a" * (4096 - len(header))
    assert size_problem(set_cookie_header("CloudFront-Policy", "a" * 4000 + filler)) is None
    too_big = size_problem(set_cookie_header("CloudFront-Policy", "a" * 4001 + filler))
    assert too_big is not None
    assert too_big.startswith("the CloudFront-Policy cookie would be 4097 bytes, over the 4096")
    # Room for what each response adds (a Max-Age) counts too.
    assert size_problem(header, room=4096 - len(header)) is None
    assert size_problem(header, room=4097 - len(header)) is not None
    # A whole set: the first cookie too big is named, wherever it stands.
    fits, big = "A=" + "a" * 4093, "B=" + "a" * 4094  # 4,095 and 4,096 bytes
    assert size_problem(fits, big) is None
    found = size_problem("CloudFront-Key-Pair-Id=K1", fits, big, big, room=1)
    assert found is not None
    assert found.startswith("the B cookie would be 4097 bytes")
