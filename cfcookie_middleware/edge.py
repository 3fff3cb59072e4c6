"""A local CloudFront stand-in: serves a folder the way a restricted cache behavior would.

Every request is gated by :class:`~cfcookie_middleware.verify.Verifier` before any file is looked
at, as CloudFront checks signatures before it asks the origin: a refusal is CloudFront's 403 with
its XML body, and every answer carries ``X-Cfcookie-Reason`` (why it was served or refused) and
one log line on the ``cfcookie_middleware.edge`` logger (INFO when served, WARNING otherwise).

The URL checked is the one the viewer requested: scheme, ``Host`` header and the request target
as sent (not decoded), because CloudFront compares a policy's Resource with the domain viewers
use (the alternate domain name or ``d111111abcdef8.cloudfront.net``). When the edge listens
somewhere else than the policies name (``http://127.0.0.1:8001`` for
``https://media.example.com/*``), ``public_url`` replaces the scheme and host.

Files behave as S3 objects behind CloudFront, with these choices where a local folder differs:

- A path is a literal S3 key: nothing is normalized, so ``.``, ``..``, an empty segment or a
  trailing slash name no file (404), and ``safe_join`` keeps every path inside the root. A file
  outside the root can never be read; symlinks inside it are followed.
- A missing file (or a directory: there are no listings and no default root object) is 404
  ``NoSuchKey``, as from a bucket whose policy lets CloudFront list it.
- A URL over 8,192 bytes gets 414, a request line and headers over 20,480 bytes 431: CloudFront
  refuses them, though it does not document with which status.
- Methods other than GET and HEAD get 405 with ``Allow: GET, HEAD``, before any signature check.
  CloudFront answers 403 for a method its behavior does not allow; 405 names the cause.
- Range and conditional requests are Werkzeug's (206, 416, 304, 412), plus
  ``If-Unmodified-Since``, which Werkzeug leaves out. A ``Range`` header that is not one byte
  range (several ranges, another unit, a malformed value) is ignored and the whole file served,
  as S3 does; 416 is for a single range past the end. The ETag is the file's modification time
  and size rather than S3's MD5, so a large video is never hashed.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import ssl
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import http_date, parse_date, parse_range_header
from werkzeug.security import safe_join
from werkzeug.serving import (
    LISTEN_QUEUE,
    BaseWSGIServer,
    get_sockaddr,
    make_server,
    select_address_family,
)
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_host, wrap_file

from cfcookie_middleware.signing import (
    MAX_REQUEST_BYTES,
    MAX_URL_BYTES,
    ConfigurationError,
    PublicKeySource,
)
from cfcookie_middleware.verify import Code, Decision, Verifier

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["REASON_HEADER", "Edge", "serve"]

REASON_HEADER = "X-Cfcookie-Reason"
"""Response header with the verifier's reason, allowed or not (printable ASCII, truncated)."""

_MESSAGES: Mapping[Code, str] = {
    "MissingKey": "Missing Key-Pair-Id query parameter or cookie value",
    "InvalidKey": "Unknown Key",
    "MalformedSignature": "Could not unencode Signature",
    "MalformedPolicy": "Malformed Policy",
    "AccessDenied": "Access denied",
}
"""CloudFront's ``<Message>`` for each error code."""

_log = logging.getLogger(__name__)
_METHODS = ("GET", "HEAD")
_CORS_METHODS = (*_METHODS, "OPTIONS")
_EXPOSED = "Content-Length, Content-Range, Accept-Ranges"
_PREFLIGHT_MAX_AGE = "600"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REASON_LIMIT = 1000
# mimetypes calls .ts a Qt Linguist file; HLS and DASH players need the media types.
_MEDIA_TYPES = {".ts": "video/mp2t", ".m4s": "video/iso.segment"}
# quote() leaves letters, digits and "_.-~" alone; these are the other characters a path may
# carry unescaped (RFC 3986 pchar and "/").
_PATH_SAFE = "/!$&'()*+,;=:@"


def _printable(text: str, limit: int = _REASON_LIMIT) -> str:
    """Printable ASCII, others as backslash escapes, cut at ``limit``: safe in a header value,
    an XML text node and a log line."""
    safe = "".join(
        char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
        for char in text
    )
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _xml_error(status: int, code: str, message: str, *extra: tuple[str, str]) -> Response:
    """An error in the XML shape CloudFront and S3 use."""
    fields = "".join(
        f"<{name}>{escape(value)}</{name}>"
        for name, value in (("Code", code), ("Message", message), *extra)
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error>{fields}</Error>'
    return Response(body, status=status, content_type="text/xml")


def _request_target(environ: WSGIEnvironment) -> str:
    """Path and query as the viewer sent them: the server's raw request URI (Werkzeug and
    gunicorn give ``RAW_URI``, mod_wsgi and uWSGI ``REQUEST_URI``) when it starts with "/", else
    rebuilt from ``PATH_INFO`` (decoded by the server) and ``QUERY_STRING``."""
    raw: str = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return raw
    path = quote(
        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
        safe=_PATH_SAFE,
        encoding="latin-1",  # WSGI strings are the request's bytes read as latin-1
    )
    query: str = environ.get("QUERY_STRING", "")
    return f"{path or '/'}?{query}" if query else path or "/"


def _object_key(environ: WSGIEnvironment) -> str | None:
    """The S3 key a path names (UTF-8, no leading slash), or None when it can name no file."""
    try:
        path: str = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    key = path.removeprefix("/")
    if "\x00" in key or any(part in ("", ".", "..") for part in key.split("/")):
        return None
    return key


def _content_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    # "a.tar.gz" is gzip bytes: calling it application/x-tar would make clients misread it.
    return guessed if guessed and encoding is None else "application/octet-stream"


def _public_base(public_url: str | None) -> str | None:
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigurationError(
            f"public_url: {public_url[:80]!r} is not scheme://host[:port]; pass the origin "
            "viewers use and policies name, such as https://media.example.com"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _cors_origin(origin: str) -> str:
    """``origin`` as browsers serialize an ``Origin`` header: lowercase scheme and host, the
    port only when it is not the scheme's default."""
    parts = urlsplit(origin) if isinstance(origin, str) else None
    try:
        port = None if parts is None else parts.port
    except ValueError:
        port = -1
    if (
        parts is None
        or parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or port == -1
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ConfigurationError(
            f"cors_origins (--cors-origin): {str(origin)[:80]!r} is not an origin; pass the page's "
            "scheme://host[:port] with no path, such as https://www.example.com (never '*': "
            "credentialed requests need the exact origin)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


def _add_cors(response: Response, environ: WSGIEnvironment, origins: frozenset[str]) -> None:
    """The headers a CORS response headers policy with credentials adds (see the module's
    docstring); every answer varies with ``Origin``."""
    response.vary.add("Origin")
    origin = environ.get("HTTP_ORIGIN")
    if origin not in origins:
        return
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    if _is_preflight(environ):
        headers["Access-Control-Allow-Methods"] = ", ".join(_METHODS)
        requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        if requested:  # a list of names, as a policy that allows these headers would answer
            headers["Access-Control-Allow-Headers"] = _printable(requested, 200)
        headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
    else:
        headers["Access-Control-Expose-Headers"] = _EXPOSED


def _is_preflight(environ: WSGIEnvironment) -> bool:
    return environ.get("REQUEST_METHOD") == "OPTIONS" and (
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
    )


def _root(root: str | Path) -> str:
    path = Path(root).resolve()
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "does not exist"
        raise ConfigurationError(f"root: {path} {state}; pass the folder of files to serve")
    return str(path)


_Answer = tuple[Response, str, str]
"""A response, its label for the log (``allowed`` or an error code) and the reason."""


def _with_decision(problem: str, decision: Decision) -> str:
    return f"{problem} (the request itself was allowed: {decision.reason})"


def _file_answer(environ: WSGIEnvironment, file: BinaryIO, key: str, decision: Decision) -> _Answer:
    """The file, whole or a range, or 304 / 412 / 416 as its validators and the request say."""
    stat = os.fstat(file.fileno())
    modified = datetime.fromtimestamp(int(stat.st_mtime), timezone.utc)  # HTTP dates: seconds
    response = Response(
        wrap_file(environ, file), content_type=_content_type(key), direct_passthrough=True
    )
    response.content_length = stat.st_size
    response.accept_ranges = "bytes"  # as S3 says on every object (Werkzeug before 3.1.8 did not)
    response.last_modified = modified
    response.set_etag(f"{stat.st_mtime_ns:x}-{stat.st_size:x}")
    problem = _failed_unmodified_since(environ, modified)
    if problem is None:
        try:
            response.make_conditional(
                _without_ignored_range(environ), accept_ranges=True, complete_length=stat.st_size
            )
        except RequestedRangeNotSatisfiable:
            file.close()
            response = _xml_error(416, "InvalidRange", "The requested range is not satisfiable")
            response.headers["Content-Range"] = f"bytes */{stat.st_size}"
            problem = f"Range {environ.get('HTTP_RANGE', '')!r} is outside the {stat.st_size} bytes"
            return response, "InvalidRange", _with_decision(problem, decision)
        if response.status_code != 412:
            return response, "allowed", decision.reason
        problem = f"If-Match {environ.get('HTTP_IF_MATCH', '')!r} does not match the file's ETag"
    file.close()  # Werkzeug would keep the whole file as the body of a 412
    response = _xml_error(
        412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
    )
    return response, "PreconditionFailed", _with_decision(problem, decision)


def _failed_unmodified_since(environ: WSGIEnvironment, modified: datetime) -> str | None:
    """Why ``If-Unmodified-Since`` fails (RFC 9110 13.2.2: read only without ``If-Match``, and
    ignored when it is not a date), or None; Werkzeug does not evaluate it."""
    value = environ.get("HTTP_IF_UNMODIFIED_SINCE")
    since = None if value is None or "HTTP_IF_MATCH" in environ else parse_date(value)
    if since is None or modified <= since:
        return None
    return f"If-Unmodified-Since {value!r} is before the file's Last-Modified {http_date(modified)}"


def _without_ignored_range(environ: WSGIEnvironment) -> WSGIEnvironment:
    """``environ`` without a ``Range`` header that is not one byte range: the whole file is
    then served, as S3 does for several ranges and RFC 9110 14.2 asks for an unknown unit or a
    malformed header; only a single byte range past the end is 416."""
    value = environ.get("HTTP_RANGE")
    if value is None:
        return environ
    parsed = parse_range_header(value)
    if parsed is not None and parsed.units == "bytes" and len(parsed.ranges) == 1:
        return environ
    return {name: item for name, item in environ.items() if name != "HTTP_RANGE"}


def _missing(key: str | None, full: str | None, target: str, decision: Decision) -> _Answer:
    if key is None:
        shown = target.partition("?")[0]
        problem = (
            f"the path {shown!r} names no file: paths are literal S3 keys, so '.', '..', empty "
            "segments and a trailing '/' are never resolved"
        )
    else:
        shown = key
        problem = (
            f"{key!r} is a folder, and folders are not listed"
            if full is not None and os.path.isdir(full)
            else f"no file {key!r} in the root"
        )
    response = _xml_error(
        404, "NoSuchKey", "The specified key does not exist.", ("Key", _printable(shown))
    )
    return response, "NoSuchKey", _with_decision(problem, decision)


def _over_limits(environ: WSGIEnvironment, method: str, base: str, target: str) -> _Answer | None:
    """414 for a URL over CloudFront's 8,192 bytes, 431 for a request (request line and
    headers, as far as WSGI shows them) over its 20,480; CloudFront documents these limits but
    not its answer, so the codes are HTTP's own."""
    url_bytes = len(base + target)  # a WSGI string holds one byte per character
    if url_bytes > MAX_URL_BYTES:
        reason = (
            f"the URL is {url_bytes} bytes, over CloudFront's {MAX_URL_BYTES}: shorten the "
            "policy (fewer conditions, a wildcard resource) or use signed cookies"
        )
        return _xml_error(414, "URITooLong", "The request URL is too long"), "URITooLong", reason
    request_bytes = len(f"{method} {target} HTTP/1.1\r\n") + sum(
        len(name.removeprefix("HTTP_")) + len(value) + len(": \r\n")
        for name, value in environ.items()
        if name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH")
    )
    if request_bytes > MAX_REQUEST_BYTES:
        reason = (
            f"the request line and headers are about {request_bytes} bytes, over CloudFront's "
            f"{MAX_REQUEST_BYTES}: send fewer or smaller cookies"
        )
        response = _xml_error(431, "RequestHeaderSectionTooLarge", "The request is too large")
        return response, "RequestHeaderSectionTooLarge", reason
    return None


class Edge:
    """The WSGI app: CloudFront in front of the folder ``root``, trusting ``keys`` ({key pair
    id: public key}, or a ready ``Verifier``). Several keys let old and new signatures pass
    during a key rotation, as a key group does. ``cors_origins`` are the pages' origins a CORS
    response headers policy with credentials allows; with them the edge also answers
    ``OPTIONS``."""

    __slots__ = ("_cors_origins", "_methods", "_public_url", "_root", "_verifier")

    def __init__(
        self,
        root: str | Path,
        keys: Mapping[str, PublicKeySource] | Verifier,
        *,
        public_url: str | None = None,
        cors_origins: Iterable[str] = (),
    ) -> None:
        self._root = _root(root)
        self._verifier = keys if isinstance(keys, Verifier) else Verifier(keys)
        self._public_url = _public_base(public_url)
        if isinstance(cors_origins, str):
            raise ConfigurationError(
                f"cors_origins: pass a list of origins, such as [{cors_origins[:80]!r}]"
            )
        self._cors_origins = frozenset(_cors_origin(origin) for origin in cors_origins)
        self._methods = _CORS_METHODS if self._cors_origins else _METHODS

    def __repr__(self) -> str:
        return (
            f"Edge(root={self._root!r}, public_url={self._public_url!r}, "
            f"cors_origins={sorted(self._cors_origins)!r})"
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method: str = environ.get("REQUEST_METHOD", "GET")
        target = _request_target(environ)
        response, label, reason = self._answer(environ, method, target)
        if self._cors_origins:
            _add_cors(response, environ, self._cors_origins)
        reason = _printable(reason)
        response.headers[REASON_HEADER] = reason
        _log.log(
            logging.INFO if response.status_code < 400 else logging.WARNING,
            "%s %s %d %s: %s",
            _printable(method, 20),
            _printable(target.partition("?")[0], 200),  # the query may carry a signature
            response.status_code,
            label,
            reason,
        )
        return response(environ, start_response)

    def _answer(self, environ: WSGIEnvironment, method: str, target: str) -> _Answer:
        base = self._public_url or f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}"
        too_large = _over_limits(environ, method, base, target)
        if too_large is not None:
            return too_large
        if method not in self._methods:
            response = _xml_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                ("Method", _printable(method, 20)),
            )
            response.allow.update(self._methods)
            reason = f"method {method} is not allowed: the edge serves {', '.join(self._methods)}"
            return response, "MethodNotAllowed", reason
        decision = self._verifier.check_cookies(
            base + target, environ.get("HTTP_COOKIE", ""), client_ip=environ.get("REMOTE_ADDR")
        )
        if not decision.allowed:
            code = decision.code or "AccessDenied"
            reason = decision.reason
            if _is_preflight(environ):
                reason += (
                    "; this is a CORS preflight, which browsers send without cookies: make the "
                    "player's requests simple (credentials, no custom headers) so none is sent"
                )
            return _xml_error(403, code, _MESSAGES[code]), code, reason
        if method == "OPTIONS":  # as S3 with a CORS rule: the answer names no object
            response = Response(status=200)
            response.allow.update(self._methods)
            return response, "allowed", decision.reason
        key = _object_key(environ)
        full = None if key is None else safe_join(self._root, key)
        if key is None or full is None or not os.path.isfile(full):
            return _missing(key, full, target, decision)
        try:
            file = open(full, "rb")  # noqa: SIM115 - the response closes it
        except OSError:  # gone since isfile(), or unreadable
            return _missing(key, full, target, decision)
        return _file_answer(environ, file, key, decision)


def serve(
    app: WSGIApplication,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> BaseWSGIServer:
    """Werkzeug's threaded server for ``app``, listening but not yet serving: run its
    ``serve_forever()`` (in a thread, say), then ``shutdown()`` and ``server_close()``.

    Port 0 picks a free port; ``server_port`` tells which. Raises ``OSError`` when it cannot
    listen (Werkzeug's own bind would print and exit the process instead).
    """
    family = select_address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        # As Werkzeug's own bind, so a restart need not wait out TIME_WAIT; not on Windows,
        # where the option would let another process bind the same port.
        if os.name == "posix":
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(get_sockaddr(host, port, family))
        listener.listen(LISTEN_QUEUE)
        server = make_server(
            host, port, app, threaded=True, ssl_context=ssl_context, fd=listener.fileno()
        )
    # Werkzeug skips server_bind() for a socket it is given, and with it these two attributes.
    server.server_name, server.server_port = host, server.port
    return server
