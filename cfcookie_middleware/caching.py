"""Keep a response that carries signed cookies out of shared caches.

A CDN or proxy that stored such a response would hand one visitor's cookies to the next.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Headers", "RawHeaders", "encode", "private", "private_raw"]

Headers = list[tuple[str, str]]
RawHeaders = list[tuple[bytes, bytes]]
"""Headers as ASGI sends them: bytes, names in lower case."""
_PRIVATE = [("Cache-Control", "private"), ("Vary", "Cookie")]
_RAW_PRIVATE = [(b"cache-control", b"private"), (b"vary", b"Cookie")]
_WATCHED = frozenset((b"cache-control", b"vary", b"set-cookie"))


def private(
    headers: Iterable[tuple[str, str]], set_cookies: Headers, *, yield_to: str | None = None
) -> Headers | None:
    """``headers`` plus ``set_cookies``, made unstorable by shared caches; ``None`` when
    ``yield_to`` is given and ``headers`` set a cookie whose name starts with it already (the
    app's own cookies of that kind then go out alone, found in the same pass).

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
            if yield_to and lowered == "set-cookie" and header[1].startswith(yield_to):
                return None
            result.append(header)
    if cache_control is None and vary is None:
        result += _PRIVATE
    else:
        result.append(("Cache-Control", _private_cache_control(cache_control)))
        result.append(("Vary", _vary_cookie(vary)))
    result += set_cookies
    return result


def private_raw(
    headers: Iterable[tuple[bytes, bytes]],
    set_cookies: RawHeaders,
    *,
    yield_to: bytes | None = None,
) -> RawHeaders | None:
    """``private`` for ASGI's byte headers: the app's headers pass as they are, and only its
    ``Cache-Control`` and ``Vary``, when it sent them, are decoded to be rewritten."""
    result: RawHeaders = []
    cache: Headers = []
    for name, value in headers:
        # Most names are lower case already (ASGI asks for it): looked up as they are, with
        # no new bytes object to make and hash.
        if name not in _WATCHED and (name.islower() or name.lower() not in _WATCHED):
            result.append((name, value))
            continue
        lowered = name.lower()
        if lowered != b"set-cookie":
            cache.append((name.decode("latin-1"), value.decode("latin-1")))
        elif yield_to and value.startswith(yield_to):
            return None
        else:
            result.append((name, value))
    # The usual case: the app sent neither cache header. Else private() rewrites them alone.
    result += encode(private(cache, []) or []) if cache else _RAW_PRIVATE
    result += set_cookies
    return result


def encode(headers: Headers) -> RawHeaders:
    """``headers`` as ASGI sends them: latin-1 bytes, names in lower case."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


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
