"""Keep a response that carries signed cookies out of shared caches.

A CDN or proxy that stored such a response would hand one visitor's cookies to the next.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Headers", "private"]

Headers = list[tuple[str, str]]
_PRIVATE = [("Cache-Control", "private"), ("Vary", "Cookie")]


def private(headers: Iterable[tuple[str, str]], set_cookies: Headers) -> Headers:
    """``headers`` plus ``set_cookies``, made unstorable by shared caches.

    ``Cache-Control`` gains ``private`` (``public`` and ``s-maxage`` go, since they contradict
    it; ``no-store`` already says more and is left alone); ``Vary`` gains ``Cookie``.
    """
    result: Headers = []
    cache_control = vary = None
    for header in headers:
        lowered = header[0].lower()
        if lowered == "cache-control":
            cache_control = header[1] if cache_control is None else f"{cache_control}, {header[1]}"
        elif lowered == "vary":
            vary = header[1] if vary is None else f"{vary}, {header[1]}"
        else:
            result.append(header)
    if cache_control is None and vary is None:
        result += _PRIVATE
    else:
        result.append(("Cache-Control", _private_cache_control(cache_control)))
        result.append(("Vary", _vary_cookie(vary)))
    result += set_cookies
    return result


def _vary_cookie(vary: str | None) -> str:
    tokens = {token.strip().lower() for token in (vary or "").split(",")}
    if vary is None:
        return "Cookie"
    return vary if "cookie" in tokens or "*" in tokens else f"{vary}, Cookie"


def _private_cache_control(value: str | None) -> str:
    if value is None:
        return "private"
    directives = [d.strip() for d in value.split(",") if d.strip()]
    names = {d.split("=", 1)[0].strip().lower() for d in directives}
    # A field-qualified private="Set-Cookie" still lets shared caches store the rest; only the
    # bare directive (or no-store) keeps the whole response out of them.
    if "no-store" in names or any(d.lower() == "private" for d in directives):
        return value
    kept = [
        d for d in directives if d.split("=", 1)[0].strip().lower() not in {"public", "s-maxage"}
    ]
    return ", ".join(["private", *kept])
