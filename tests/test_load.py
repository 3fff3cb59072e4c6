"""Real servers under a short load: uvicorn and gunicorn, 2 workers each, with the middleware.

Correctness, not speed (benchmarks/load.py measures speed with the same client and servers):
every response parses and carries exactly the cookies it should, the cookie sets handed out pass
the Verifier inside the rule's resource and fail outside it, and the servers stop cleanly on
SIGTERM. The client's own checks are tested first, against a server that misbehaves on purpose,
so that "zero malformed" below means something.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from conftest import require
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks.load import (
    INSIDE,
    KEY_ID,
    OUTSIDE,
    Tally,
    Users,
    cookie_header,
    key_environment,
    load,
    serving,
)
from cfcookie_middleware.verify import Verifier

# CloudFront's cookies for a custom policy (the rule's resource is a wildcard), as its
# documentation lists them; the optional CloudFront-Hash-Algorithm means SHA1 when absent, and
# SHA1 is the RSA default, which the package leaves unnamed.
CUSTOM_SET = frozenset({"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"})
WORKERS = 2
CONNECTIONS = 16
SECONDS = 1.5
"""Per visit mode: first visits, then returning ones, about 3 s per server."""


def _tally_against(
    response: bytes,
    expect: frozenset[str],
    users: Users | None = None,
    paths: list[bytes] | None = None,
) -> Tally:
    """What the load client counts against a loopback server that always sends ``response``;
    the path of every request it gets goes into ``paths``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                if paths is not None:
                    paths.append(head.split(b" ", 2)[1])
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            writer.close()

    async def main() -> Tally:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        async with server:
            port: int = server.sockets[0].getsockname()[1]
            return await load(port, seconds=0.3, connections=2, expect=expect, users=users)

    return asyncio.run(main())


def _response(status: str, headers: list[str], body: bytes = b"hello") -> bytes:
    lines = [status, f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


COOKIES = [
    "Set-Cookie: CloudFront-Policy=p; Path=/",
    "Set-Cookie: CloudFront-Signature=s; Path=/",
    "Set-Cookie: CloudFront-Key-Pair-Id=K; Path=/",
]


@pytest.mark.parametrize(
    ("response", "expect", "kind"),
    [
        (_response("HTTP/1.1 200 OK", COOKIES), CUSTOM_SET, None),
        (_response("HTTP/1.1 200 OK", []), frozenset(), None),
        (_response("HTTP/1.1 200 OK", COOKIES[:2]), CUSTOM_SET, "malformed"),
        (_response("HTTP/1.1 200 OK", COOKIES), frozenset(), "malformed"),
        (_response("HTTP/1.1 200 OK", ["Broken header"]), frozenset(), "malformed"),
        (_response("HTTP/1.1 200 OK", [], b"bye"), frozenset(), "malformed"),
        (
            _response("HTTP/1.1 200 OK", [], b"hello").replace(b"Length: 5", b"Length: x"),
            frozenset(),
            "malformed",
        ),
        (_response("HTTP/9 200 OK", []), frozenset(), "malformed"),
        (_response("HTTP/1.1 500 Internal Server Error", []), frozenset(), "error"),
    ],
    ids=[
        "good-set",
        "good-none",
        "missing-cookie",
        "unexpected-cookie",
        "bad-header",
        "bad-body",
        "bad-length",
        "bad-status-line",
        "server-error",
    ],
)
def test_client_counts_what_is_wrong(
    response: bytes, expect: frozenset[str], kind: str | None
) -> None:
    """The load client's checks catch each kind of bad response, and pass good ones."""
    tally = _tally_against(response, expect)
    if kind is None:
        assert (tally.errors, tally.malformed) == (0, 0)
        assert tally.requests > 10
    elif kind == "malformed":
        assert tally.malformed > 0
        assert tally.errors == 0
    else:
        assert tally.errors > 0
        assert tally.malformed == 0


def test_distinct_users_never_repeat() -> None:
    """A distinct-user load names a new user in every request, across its connections and
    across runs (each run a fresh ``Users``), so no cache of the middleware can answer."""
    paths: list[bytes] = []
    for _ in range(2):
        tally = _tally_against(_response("HTTP/1.1 200 OK", []), frozenset(), Users(), paths)
        assert (tally.errors, tally.malformed) == (0, 0)
    assert len(paths) > 100
    users = [path.split(b"/") for path in paths]
    assert all(
        len(parts) == 4 and parts[1] == b"users" and parts[3] == b"library" for parts in users
    )
    assert len({parts[2] for parts in users}) == len(paths)


def _attributes(set_cookie: str) -> set[str]:
    """A Set-Cookie value's attributes, split by hand (RFC 6265 section 4.1.1)."""
    return {part.strip() for part in set_cookie.split(";")[1:]}


@pytest.mark.parametrize("app", ["starlette_cf", "flask_cf"])
def test_servers_under_load(app: str, rsa2048: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """uvicorn (Starlette) and gunicorn (Flask), 2 workers each, 16 connections for ~3 s."""
    if app == "flask_cf":
        require(importlib.util.find_spec("gunicorn") is not None, "gunicorn is not installed")
    verifier = Verifier({KEY_ID: rsa2048.public_key()})
    with serving([app], workers=WORKERS, env=key_environment(rsa2048), log_dir=tmp_path) as s:
        server = s[app]
        assert len(server.workers) == WORKERS
        first = asyncio.run(
            load(server.port, seconds=SECONDS, connections=CONNECTIONS, expect=CUSTOM_SET)
        )
        assert first.samples, "no cookie set was kept"
        returning = asyncio.run(
            load(
                server.port,
                seconds=SECONDS,
                connections=CONNECTIONS,
                cookie=cookie_header(first.samples[0][1]),
            )
        )
    for tally in (first, returning):
        assert (tally.errors, tally.malformed, tally.problems) == (0, 0, {})
        assert tally.requests >= 100
    for _, values in first.samples:
        for value in values:
            assert {"Domain=.example.com", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"} <= (
                _attributes(value)
            )
        cookies = cookie_header(values)
        allowed = verifier.check_cookies(INSIDE, cookies)
        assert allowed.allowed, allowed.reason
        refused = verifier.check_cookies(OUTSIDE, cookies)
        assert (refused.allowed, refused.code) == (False, "AccessDenied"), refused.reason
        assert "does not cover" in refused.reason
    assert server.exit_code == 0, server.output()[-2000:]
    assert server.leftover == []
    assert server.log_problems() == []
