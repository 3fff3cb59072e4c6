"""The ``cfcookie`` command line: sign cookies and URLs, check them as CloudFront would, make
keys, run a local CloudFront stand-in, diagnose a configuration, and run the demo.

Every subcommand is one entry in ``COMMANDS``: a function that adds its options to a parser and a
function that runs it, so a new subcommand is one more entry. ``main`` owns the error policy: one
line on stderr, exit 2 for usage and input errors, exit 1 when ``verify`` refuses or a ``doctor``
check (or the demo's self-test) fails, and no traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import re
import shlex
import signal
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cfcookie_middleware import __version__
from cfcookie_middleware.signing import ConfigurationError, Signer, When, to_epoch

if TYPE_CHECKING:
    from cfcookie_middleware.doctor import Check

# Each subcommand imports what only it needs (the verifier, the edge's server, the doctor, key
# generation, the cookie rules) when it runs, so `cfcookie --version` and `--help` stay fast.

__all__ = ["COMMANDS", "Command", "build_parser", "main", "parse_when"]

WHEN_HELP = (
    "WHEN is epoch seconds (1767290400), ISO-8601 with a UTC offset (2026-01-01T12:00:00Z,\n"
    "2026-01-01T13:00:00+01:00; a date alone is midnight UTC, as in the AWS CLI) or a duration\n"
    "from now (90s, 30m, 2h, 7d, 1w; a leading '-' goes back in time: --not-before=-5m).\n"
    "The AWS CLI's spellings work too: --date-less-than for --expires, --date-greater-than for\n"
    "--not-before, and file://PATH wherever a key file is read."
)
ENV_HELP = (
    "Without --key-pair-id and --private-key the key comes from CLOUDFRONT_KEY_PAIR_ID and\n"
    "CLOUDFRONT_PRIVATE_KEY (PEM text) or CLOUDFRONT_PRIVATE_KEY_FILE; an encrypted key's\n"
    "passphrase from CLOUDFRONT_PRIVATE_KEY_PASSPHRASE."
)
_EPOCH = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION = re.compile(r"([+-]?)([0-9]+)([A-Za-z]+)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EXIT_USAGE, _EXIT_REFUSED, _EXIT_INTERRUPTED, _EXIT_BUG = 2, 1, 130, 70


class UsageError(Exception):
    """A command line that cannot be run as given (missing or contradictory options)."""


class _StoreOnce(argparse._StoreAction):
    """argparse's plain store, but an option given twice is a usage error: a policy has one
    resource and one expiry, so keeping only the last value would drop a grant silently."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if option_string is not None and getattr(namespace, self.dest) is not self.default:
            parser.error(f"{option_string} is given twice; give it once")
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports a usage error as an exception instead of exiting,
    and refuses a single-valued option given twice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 for any free one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0 picks a free one)")
    return int(text)


@dataclass(frozen=True)
class Command:
    """One subcommand: its one-line summary, a usage example, and its two functions."""

    summary: str
    example: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def parse_when(text: str, *, name: str = "WHEN") -> When:
    """Read a WHEN argument as ``Signer`` takes it; ``signing.to_epoch`` then checks the range.

    Epoch digits stay an ``int`` (so a millisecond epoch is refused by ``to_epoch``), a duration
    becomes a ``timedelta`` and an ISO-8601 time must carry its UTC offset.
    """
    text = text.strip()
    if _EPOCH.fullmatch(text):
        return int(text)
    duration = _DURATION.fullmatch(text)
    if duration:
        sign, number, unit = duration.groups()
        if unit not in _UNIT_SECONDS:
            raise ConfigurationError(
                f"{name}: unknown unit {unit!r} in {text!r}; use s, m, h, d or w, "
                "such as 90s, 30m, 2h or 7d"
            )
        try:
            delta = timedelta(seconds=int(number) * _UNIT_SECONDS[unit])
        except OverflowError:
            raise ConfigurationError(f"{name}: {text!r} is far too long a duration") from None
        return -delta if sign == "-" else delta
    if _DATE.fullmatch(text):  # a date alone: midnight UTC, as the AWS CLI reads it
        text += "T00:00:00+00:00"
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise ConfigurationError(
            f"{name}: {text[:60]!r} is not a time; use epoch seconds (1767290400), ISO-8601 "
            "with a UTC offset (2026-01-01T12:00:00Z) or a duration from now (90s, 30m, 2h, 7d)"
        ) from None
    if moment.tzinfo is None:
        raise ConfigurationError(
            f"{name}: {text!r} has no UTC offset and would be read in this machine's local "
            "time; add Z or +00:00 (such as 2026-01-01T12:00:00Z)"
        )
    return moment


def _epoch(text: str, option: str, now: float) -> int:
    return to_epoch(parse_when(text, name=option), name=option, now=now)


# DER is an ASN.1 SEQUENCE (0x30...), so its base64 starts with "MI" for any key or certificate.
_DER_TEXT = re.compile(r"MI[A-Za-z0-9+/=\s]{62,}")
_KEY_TEXT = "this looks like PEM text, not a file path; pass a file"


def _looks_like_key(text: str) -> bool:
    """Whether a path option holds key or certificate text (a PEM block, or the base64 of
    DER), which no error message may repeat."""
    return "-----BEGIN" in text or "\n" in text or _DER_TEXT.fullmatch(text) is not None


def _key_file(text: str) -> str:
    """An argparse type for a key file option that also reads stdin (``-``) and takes the AWS
    CLI's ``file://`` prefix."""
    if _looks_like_key(text):
        raise argparse.ArgumentTypeError(f"{_KEY_TEXT}, or - for stdin")
    return text.removeprefix("file://")


def _pem_file(text: str) -> str:
    """An argparse type for a certificate or TLS key file option (no stdin)."""
    if _looks_like_key(text):
        raise argparse.ArgumentTypeError(_KEY_TEXT)
    return text


def _read_file(path: str, option: str) -> bytes:
    """The bytes of ``path`` (``-`` is stdin, ``file://`` is the AWS CLI's prefix for a file),
    with an error that names the option."""
    if path == "-":
        return sys.stdin.buffer.read()
    path = path.removeprefix("file://")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{option}: cannot read {path!r} ({exc.strerror or exc}); check the path and its "
            "permissions"
        ) from None


# --- signing: shared options ------------------------------------------------------------------


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signing key (omit both to use the environment)")
    group.add_argument(
        "--key-pair-id", metavar="ID", help="ID of the public key in CloudFront (K2JCJMDEHXQW5F)"
    )
    group.add_argument(
        "--private-key",
        metavar="FILE",
        type=_key_file,
        help="private key PEM or DER file; '-' reads stdin",
    )
    group.add_argument(
        "--passphrase",
        metavar="TEXT",
        help="passphrase of an encrypted key (visible to other local users in the process "
        "list: prefer CLOUDFRONT_PRIVATE_KEY_PASSPHRASE)",
    )
    group.add_argument(
        "--hash-algorithm",
        type=str.upper,
        choices=["SHA1", "SHA256"],
        help="SHA1 (RSA default) or SHA256 (ECDSA default)",
    )


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("policy")
    group.add_argument(
        "--expires",
        "--date-less-than",
        metavar="WHEN",
        required=True,
        help="end of access (--date-less-than, as the AWS CLI calls it)",
    )
    group.add_argument(
        "--not-before",
        "--date-greater-than",
        metavar="WHEN",
        help="start of access, making a custom policy (--date-greater-than in the AWS CLI)",
    )
    group.add_argument(
        "--ip-address",
        metavar="CIDR",
        help="IPv4 address or range allowed (makes a custom policy)",
    )


def _signer(args: argparse.Namespace) -> Signer:
    """A ``Signer`` from the options, or from the environment when both key options are omitted."""
    key_pair_id: str | None = args.key_pair_id
    private_key: str | None = args.private_key
    passphrase: str | None = args.passphrase
    if key_pair_id is None and private_key is None:
        env = dict(os.environ)
        if not any(
            env.get(var)
            for var in (
                "CLOUDFRONT_KEY_PAIR_ID",
                "CLOUDFRONT_PRIVATE_KEY",
                "CLOUDFRONT_PRIVATE_KEY_FILE",
            )
        ):
            raise UsageError(
                "no signing key: pass --key-pair-id and --private-key, or set "
                "CLOUDFRONT_KEY_PAIR_ID and CLOUDFRONT_PRIVATE_KEY (or CLOUDFRONT_PRIVATE_KEY_FILE)"
            )
        if args.hash_algorithm is not None:
            env["CLOUDFRONT_HASH_ALGORITHM"] = args.hash_algorithm
        if passphrase is not None:
            env["CLOUDFRONT_PRIVATE_KEY_PASSPHRASE"] = passphrase
        return Signer.from_env(env)
    if key_pair_id is None or private_key is None:
        given, missing = (
            ("--private-key", "--key-pair-id")
            if key_pair_id is None
            else ("--key-pair-id", "--private-key")
        )
        raise UsageError(
            f"{given} needs {missing} too (or omit both to use CLOUDFRONT_KEY_PAIR_ID and "
            "CLOUDFRONT_PRIVATE_KEY from the environment)"
        )
    if passphrase is None:
        passphrase = os.environ.get("CLOUDFRONT_PRIVATE_KEY_PASSPHRASE") or None
    return Signer(
        key_pair_id,
        _read_file(private_key, "--private-key"),
        hash_algorithm=args.hash_algorithm,
        passphrase=passphrase,
    )


def _policy_times(args: argparse.Namespace) -> tuple[int, int | None]:
    """``--expires`` and ``--not-before`` as epochs, durations measured from the same instant."""
    now = time.time()
    expires = _epoch(args.expires, "--expires", now)
    not_before = None if args.not_before is None else _epoch(args.not_before, "--not-before", now)
    return expires, not_before


# --- sign-cookies -----------------------------------------------------------------------------


def _configure_sign_cookies(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resource", metavar="URL", required=True, help="URL or wildcard pattern to grant"
    )
    _add_policy_options(parser)
    _add_key_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=["json", "header"],
        default="json",
        help="a JSON object {name: value} (default) or one Set-Cookie line per cookie",
    )
    output.add_argument(
        "--cookie-domain", metavar="DOMAIN", help="Domain attribute (--format header only)"
    )
    output.add_argument(
        "--cookie-path", metavar="PATH", help="Path attribute, default / (--format header only)"
    )


def _run_sign_cookies(args: argparse.Namespace) -> int:
    header = args.format == "header"
    if not header and (args.cookie_domain is not None or args.cookie_path is not None):
        raise UsageError("--cookie-domain and --cookie-path need --format header")
    expires, not_before = _policy_times(args)
    cookies = _signer(args).sign_cookies(
        args.resource, expires=expires, not_before=not_before, ip_address=args.ip_address
    )
    if header:
        from cfcookie_middleware.cookies import check_cookie_domain, set_cookie_header, size_problem

        if args.cookie_domain is not None:
            check_cookie_domain(args.cookie_domain)  # a public suffix: browsers drop them all
        lines = [
            set_cookie_header(name, value, domain=args.cookie_domain, path=args.cookie_path or "/")
            for name, value in cookies.items()
        ]
        for line in lines:
            too_big = size_problem(line)
            if too_big is not None:
                raise ConfigurationError(f"--resource: {too_big}")
        print("\n".join(f"Set-Cookie: {line}" for line in lines))
    else:
        print(json.dumps(cookies, indent=2))
    return 0


SIGN_COOKIES = Command(
    summary="print signed cookies for a resource",
    example=f"""example:
  cfcookie sign-cookies --key-pair-id K2JCJMDEHXQW5F --private-key private_key.pem \\
      --resource 'https://media.example.com/videos/*' --expires 2h \\
      --format header --cookie-domain media.example.com

A resource with '*' (or --not-before / --ip-address) gives a custom policy that covers many
files; an exact URL gives a canned policy that covers that URL only.
{WHEN_HELP}
{ENV_HELP}""",
    configure=_configure_sign_cookies,
    run=_run_sign_cookies,
)


# --- sign-url ---------------------------------------------------------------------------------


def _configure_sign_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the URL viewers will request")
    parser.add_argument(
        "--resource",
        metavar="PATTERN",
        help="policy resource, default the URL itself (a wildcard lets the policy cover more)",
    )
    _add_policy_options(parser)
    _add_key_options(parser)


def _run_sign_url(args: argparse.Namespace) -> int:
    expires, not_before = _policy_times(args)
    url = _signer(args).sign_url(
        args.url,
        expires=expires,
        not_before=not_before,
        ip_address=args.ip_address,
        resource=args.resource,
    )
    print(url)
    return 0


SIGN_URL = Command(
    summary="print a signed URL",
    example=f"""example:
  cfcookie sign-url --key-pair-id K2JCJMDEHXQW5F --private-key private_key.pem \\
      --url 'https://media.example.com/report.pdf?lang=en' --expires 15m

The URL's own query string stays first; the signing parameters follow it.
{WHEN_HELP}
{ENV_HELP}""",
    configure=_configure_sign_url,
    run=_run_sign_url,
)


# --- verify -----------------------------------------------------------------------------------


def _configure_verify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-key",
        metavar="ID=FILE",
        action="append",
        required=True,
        help="a trusted public key and its CloudFront ID (repeat for a key group)",
    )
    parser.add_argument("--url", required=True, help="the requested URL, signed or not")
    parser.add_argument(
        "--cookie",
        metavar="HEADER",
        action="append",
        help="the request's Cookie header, 'NAME=VALUE; ...' (repeatable)",
    )
    parser.add_argument("--client-ip", metavar="IP", help="the viewer's IP address")
    parser.add_argument("--now", metavar="WHEN", help="decide as of this time (default: now)")


def _public_keys(items: Sequence[str]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in items:
        key_id, _, path = item.partition("=")
        if _looks_like_key(item) or _looks_like_key(path):
            raise UsageError(f"--public-key: {_KEY_TEXT} as ID=FILE, or ID=- for stdin")
        if not key_id or not path:
            raise UsageError(
                f"--public-key: {item[:80]!r} is not ID=FILE, such as K2JCJMDEHXQW5F=public_key.pem"
            )
        if key_id in keys:
            raise UsageError(f"--public-key: key ID {key_id[:40]!r} is given twice; keep one")
        keys[key_id] = _read_file(path, f"--public-key {key_id[:40]}")
    return keys


def _run_verify(args: argparse.Namespace) -> int:
    if args.client_ip is not None:
        try:
            ipaddress.ip_address(args.client_ip)
        except ValueError:
            raise UsageError(
                f"--client-ip: {args.client_ip[:60]!r} is not an IP address, such as 203.0.113.9 "
                "(no port)"
            ) from None
    from cfcookie_middleware.verify import Verifier

    verifier = Verifier(_public_keys(args.public_key))
    now = None if args.now is None else _epoch(args.now, "--now", time.time())
    # Without --cookie this is a signed-URL check, so a refusal does not talk about cookies.
    decision = (
        verifier.check_cookies(args.url, "; ".join(args.cookie), client_ip=args.client_ip, now=now)
        if args.cookie
        else verifier.check_url(args.url, client_ip=args.client_ip, now=now)
    )
    if decision.allowed:
        print(f"allowed: {decision.reason}")
        return 0
    print(f"{decision.code}: {decision.reason}")
    return _EXIT_REFUSED


VERIFY = Command(
    summary="decide as CloudFront would whether a request is served",
    example=f"""example:
  cfcookie verify --public-key K2JCJMDEHXQW5F=public_key.pem \\
      --url https://media.example.com/videos/intro.mp4 \\
      --cookie 'CloudFront-Policy=...; CloudFront-Signature=...; CloudFront-Key-Pair-Id=...'

Prints "allowed: ..." and exits 0 when CloudFront would serve the request; otherwise prints
CloudFront's error code and the reason ("AccessDenied: ...") and exits 1. Without --cookie the
--url is checked as a signed URL; a --url that carries signing parameters wins over any cookies,
as in CloudFront.
{WHEN_HELP}""",
    configure=_configure_verify,
    run=_run_verify,
)


# --- keygen -----------------------------------------------------------------------------------


def _configure_keygen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type", choices=["rsa", "ecdsa"], default="rsa", help="RSA-2048 (default) or ECDSA P-256"
    )
    parser.add_argument(
        "--out", metavar="DIR", default=".", help="directory for the two files (default: .)"
    )


def _exists_error(path: Path) -> ConfigurationError:
    return ConfigurationError(
        f"--out: {path} already exists and keygen never overwrites a key; choose another --out "
        "directory or move the old file away"
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from its first byte, refusing to replace anything."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise _exists_error(path) from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _run_keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"--out: {out} is a file; pass a directory")
    private_path, public_path = out / "private_key.pem", out / "public_key.pem"
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise _exists_error(path)
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if args.type == "rsa":
        key, kind = rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA-2048"
    else:
        key, kind = ec.generate_private_key(ec.SECP256R1()), "ECDSA P-256"
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink()
        raise
    print(f"private key: {private_path} ({kind}, mode 0600: keep it secret, never commit it)")
    print(f"public key:  {public_path}")
    private_arg = shlex.quote(str(private_path))
    print(
        "next steps:\n"
        "  1. CloudFront console > Key management > Public keys > Create public key, with the "
        f"contents of {public_path}\n"
        "  2. add that public key to a key group, and trust the key group in the cache "
        "behavior that serves your files\n"
        "  3. sign with the ID CloudFront shows for the public key:\n"
        f"     cfcookie sign-cookies --key-pair-id <ID> --private-key {private_arg} "
        "--resource 'https://<your CloudFront domain>/*' --expires 1h"
    )
    return 0


KEYGEN = Command(
    summary="create a key pair to upload to CloudFront",
    example="""example:
  cfcookie keygen --out keys/

Writes private_key.pem (PKCS#8, mode 0600) and public_key.pem (SubjectPublicKeyInfo) and never
overwrites existing files. Upload public_key.pem to CloudFront (Key management > Public keys),
add it to a key group, and sign with the ID CloudFront gives it.""",
    configure=_configure_keygen,
    run=_run_keygen,
)


# --- edge -------------------------------------------------------------------------------------


def _configure_edge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR", required=True, help="folder of files to serve")
    parser.add_argument(
        "--public-key",
        metavar="ID=FILE",
        action="append",
        required=True,
        help="a trusted public key and its CloudFront ID (repeat for a key group: during a key "
        "rotation both keys are accepted)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8001, help="port (default: 8001; 0 picks a free one)"
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="scheme://host[:port] that policies name, when it is not the address viewers use "
        "to reach the edge (default: the request's own scheme and Host)",
    )
    parser.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="a page origin allowed to fetch with credentials, as a CloudFront response headers "
        "policy with CORS would allow it, such as https://www.example.com (repeatable)",
    )
    tls = parser.add_argument_group("TLS (serve https)")
    tls.add_argument("--tls-cert", metavar="FILE", type=_pem_file, help="PEM certificate (chain)")
    tls.add_argument(
        "--tls-key", metavar="FILE", type=_pem_file, help="PEM private key of the certificate"
    )


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together: pass both to serve https")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigurationError(
            f"--tls-cert {cert!r} and --tls-key {key!r} are not a PEM certificate and its "
            f"private key (OpenSSL: {exc}); pass the files your certificate tool wrote"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"--tls-cert {cert!r} / --tls-key {key!r}: cannot read ({exc.strerror or exc}); "
            "check the paths and their permissions"
        ) from None
    return context


def _run_edge(args: argparse.Namespace) -> int:
    from cfcookie_middleware.edge import Edge, serve
    from cfcookie_middleware.verify import Verifier

    app = Edge(
        args.root,
        Verifier(_public_keys(args.public_key)),
        public_url=args.public_url,
        cors_origins=args.cors_origin,
    )
    ssl_context = _tls_context(args.tls_cert, args.tls_key)
    try:
        server = serve(app, host=args.host, port=args.port, ssl_context=ssl_context)
    except OSError as exc:
        raise ConfigurationError(
            f"--host {args.host} --port {args.port}: cannot listen ({exc.strerror or exc}); "
            "choose another --port (0 picks a free one)"
        ) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the edge logs each request itself
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"{'https' if ssl_context else 'http'}://{host}:{server.server_port}/"
    names = f"policies name {args.public_url}" if args.public_url else f"policies name {url}"
    _interrupt_on_sigterm()  # before the line that tells a supervisor we are up
    print(f"serving {args.root} at {url} ({names}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


EDGE = Command(
    summary="serve a folder as CloudFront would, refusing unsigned requests",
    example="""example:
  cfcookie keygen --out keys/
  cfcookie edge --root media/ --public-key K2JCJMDEHXQW5F=keys/public_key.pem --port 8001
  cfcookie sign-url --key-pair-id K2JCJMDEHXQW5F --private-key keys/private_key.pem \\
      --url http://127.0.0.1:8001/videos/intro.mp4 --expires 15m

A local stand-in for a CloudFront behavior that trusts the given keys: every request needs a valid
signed URL or signed cookies, else 403 with CloudFront's XML error; the X-Cfcookie-Reason header
and the log on stderr say why. CloudFront compares policies with the host viewers use, so policies
name this edge's URL, unless --public-url names the one they use instead (such as
https://media.example.com). GET and HEAD only (others get 405); Range requests work, for video.
--cors-origin https://www.example.com (repeatable) adds the CORS headers a response headers policy
with credentials would, for players that fetch with credentials (hls.js, video.js, Shaka), and
answers OPTIONS, checked like any request: a preflight carries no cookies, so it gets 403.""",
    configure=_configure_edge,
    run=_run_edge,
)


# --- doctor -----------------------------------------------------------------------------------


def _configure_doctor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resource", metavar="URL", required=True, help="the policy resource the app signs"
    )
    parser.add_argument(
        "--app-url", metavar="URL", required=True, help="a page of the app that sets the cookies"
    )
    parser.add_argument(
        "--cdn-url",
        metavar="URL",
        help="a URL browsers request from the CDN (default: the --probe URL)",
    )
    parser.add_argument(
        "--cookie-domain", metavar="DOMAIN", help="the cookies' Domain (default: none, host-only)"
    )
    parser.add_argument(
        "--cookie-path", metavar="PATH", default="/", help="the cookies' Path (default: /)"
    )
    parser.add_argument(
        "--no-secure",
        action="store_true",
        help="the cookies are set without Secure (COOKIE_SECURE=0 in the examples)",
    )
    network = parser.add_argument_group("probe (the only check that uses the network)")
    network.add_argument(
        "--probe", metavar="URL", help="request this CDN URL without, then with signed cookies"
    )
    network.add_argument(
        "--origin",
        metavar="ORIGIN",
        help="the page's origin (https://www.example.com): the signed probe is a credentialed "
        "CORS request from it, as a player's, and its CORS answer is checked",
    )
    network.add_argument(
        "--ca-file", metavar="FILE", type=_pem_file, help="PEM CA certificates to trust for --probe"
    )
    _add_key_options(parser)


def _doctor_env(
    args: argparse.Namespace, private_key: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """The variables ``Signer.from_env`` reads, the key options (when given) replacing them,
    and which option each replaced variable came from, so that messages name the option;
    ``private_key`` is the key file (stdin's bytes already saved to one)."""
    env, sources = dict(os.environ), {}
    if args.key_pair_id is not None or args.private_key is not None:
        if args.key_pair_id is None or args.private_key is None:
            raise UsageError(
                "--key-pair-id and --private-key go together (or omit both to use "
                "CLOUDFRONT_KEY_PAIR_ID and CLOUDFRONT_PRIVATE_KEY from the environment)"
            )
        env.pop("CLOUDFRONT_PRIVATE_KEY", None)
        env["CLOUDFRONT_KEY_PAIR_ID"] = args.key_pair_id
        env["CLOUDFRONT_PRIVATE_KEY_FILE"] = str(private_key)
        sources["CLOUDFRONT_KEY_PAIR_ID"] = "--key-pair-id"
        sources["CLOUDFRONT_PRIVATE_KEY_FILE"] = "--private-key"
    if args.hash_algorithm is not None:
        env["CLOUDFRONT_HASH_ALGORITHM"] = args.hash_algorithm
        sources["CLOUDFRONT_HASH_ALGORITHM"] = "--hash-algorithm"
    if args.passphrase is not None:
        env["CLOUDFRONT_PRIVATE_KEY_PASSPHRASE"] = args.passphrase
    return env, sources


def _run_doctor(args: argparse.Namespace) -> int:
    for option, value in (("--ca-file", args.ca_file), ("--origin", args.origin)):
        if value is not None and args.probe is None:
            raise UsageError(f"{option} is for --probe; add --probe URL")
    if args.origin is not None and not re.fullmatch(r"https?://[^/?#@\s]+", args.origin):
        raise UsageError(
            f"--origin: {args.origin[:80]!r} is not an origin; pass the page's "
            "scheme://host[:port] as browsers send it, such as https://www.example.com"
        )
    ssl_context = None
    if args.ca_file is not None:
        try:
            ssl_context = ssl.create_default_context(cafile=args.ca_file)
        except OSError as exc:
            raise ConfigurationError(
                f"--ca-file {args.ca_file!r}: cannot load ({exc.strerror or exc}); pass a PEM "
                "file of CA certificates"
            ) from None
    with tempfile.TemporaryDirectory(prefix="cfcookie-doctor-") as scratch:
        private_key = args.private_key
        if private_key == "-":  # PEM or DER from stdin, read as the file it would be
            private_key = str(Path(scratch) / "private_key")
            Path(private_key).write_bytes(_read_file("-", "--private-key"))
        checks = _doctor_checks(args, *_doctor_env(args, private_key), ssl_context)
    for check in checks:
        print(f"{'ok' if check.ok else 'FAIL':<5} {check.name}: {check.detail}")
    return 0 if all(check.ok for check in checks) else _EXIT_REFUSED


def _doctor_checks(
    args: argparse.Namespace,
    env: dict[str, str],
    sources: dict[str, str],
    ssl_context: ssl.SSLContext | None,
) -> list[Check]:
    from cfcookie_middleware.doctor import Check, diagnose, probe

    checks = diagnose(
        signer_env=env,
        resource=args.resource,
        app_url=args.app_url,
        cdn_url=args.cdn_url or args.probe,
        cookie_domain=args.cookie_domain,
        cookie_path=args.cookie_path,
        secure=False if args.no_secure else None,
        sources=sources,
    )
    if args.probe is not None:
        try:
            signer = Signer.from_env(env)
        except ConfigurationError:
            checks.append(Check("probe", False, "not run: fix the signing key first (see above)"))
        else:
            checks += probe(
                args.probe,
                signer,
                resource=args.resource,
                origin=args.origin,
                ssl_context=ssl_context,
            )
    return checks


DOCTOR = Command(
    summary="check a signed-cookie setup against the usual pitfalls",
    example=f"""example:
  export CLOUDFRONT_KEY_PAIR_ID=K2JCJMDEHXQW5F CLOUDFRONT_PRIVATE_KEY_FILE=private_key.pem
  cfcookie doctor --resource 'https://media.example.com/videos/*' \\
      --app-url https://www.example.com/videos --cookie-domain example.com \\
      --probe https://media.example.com/videos/intro.mp4

Prints one line per check, "ok    CHECK: what was found" or "FAIL  CHECK: the fix", and exits 1
when any check fails. It checks the key (ID shape, loading, a sign-then-verify round trip), that
the resource covers the CDN URL, the cookie domain (not a public suffix, holding the app and the
CDN hosts), the cookie path, Secure, the cookies' size and the clock. --probe also requests the
URL without and with signed cookies and reads the answers (a restricted behavior answers 403
MissingKey, then 200), and compares the local clock with the CDN's. --origin makes the signed
probe a credentialed CORS request from that page origin, as a video player's, and checks that
the answer names that exact origin (not *), allows credentials and varies on Origin.
{ENV_HELP}""",
    configure=_configure_doctor,
    run=_run_doctor,
)


def _interrupt_on_sigterm() -> None:
    """Let ``kill`` stop a serving command as cleanly as Ctrl-C does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run the flow with an HTTP client on free ports and exit 0 when it works",
    )
    parser.add_argument("--app-port", type=_port, default=8000, help="the app's port (8000)")
    parser.add_argument("--edge-port", type=_port, default=8001, help="the edge's port (8001)")


def _run_demo(args: argparse.Namespace) -> int:
    from cfcookie_middleware import demo  # the demo's app and servers: only when asked for

    ports = (0, 0) if args.self_test else (args.app_port, args.edge_port)
    demo.configure_logging()
    try:
        with demo.running_demo(*ports) as started:
            if args.self_test:
                return 0 if demo.self_test(started) else 1
            _interrupt_on_sigterm()  # before the banner that says we are up
            print(demo.instructions(started), flush=True)
            threading.Event().wait()  # until Ctrl-C or kill
    except KeyboardInterrupt:
        print("stopped", flush=True)
    except OSError as exc:
        raise ConfigurationError(
            f"--app-port {ports[0]} / --edge-port {ports[1]}: {exc.strerror or exc}; "
            "choose other ports"
        ) from None
    return 0


DEMO = Command(
    summary="run an example app and a local CloudFront on loopback",
    example="""example:
  cfcookie demo                 # then open http://localhost:8000/login
  cfcookie demo --self-test     # the same flow with an HTTP client; exit 0 when it works

Generates a throwaway key, starts the example site (a plain WSGI app, shipped in the package
as cfcookie_middleware.demo.app) with the middleware on localhost:8000 and the local
CloudFront stand-in on localhost:8001, and logs each of the edge's decisions with its
reason. Ctrl-C stops both.""",
    configure=_configure_demo,
    run=_run_demo,
)


COMMANDS: dict[str, Command] = {
    "sign-cookies": SIGN_COOKIES,
    "sign-url": SIGN_URL,
    "verify": VERIFY,
    "keygen": KEYGEN,
    "edge": EDGE,
    "doctor": DOCTOR,
    "demo": DEMO,
}
"""Subcommand name -> Command; adding a subcommand is adding an entry here."""


def build_parser() -> argparse.ArgumentParser:
    """The ``cfcookie`` parser with one subparser per entry of ``COMMANDS``."""
    parser = _Parser(
        prog="cfcookie",
        description="CloudFront signed cookies and signed URLs: sign, verify, make keys.",
        epilog=f"Run 'cfcookie COMMAND --help' for its options and an example.\n{WHEN_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for name, command in COMMANDS.items():
        subparser = subparsers.add_parser(
            name,
            help=command.summary,
            description=command.summary[0].upper() + command.summary[1:] + ".",
            epilog=command.example,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def _one_line(message: object) -> str:
    return " ".join(str(message).splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cfcookie`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # only --help and --version exit through argparse, with status 0
            return 0
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see 'cfcookie --help')")
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except (UsageError, ConfigurationError) as exc:
        print(f"cfcookie: error: {_one_line(exc)}", file=sys.stderr)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cfcookie: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
    except Exception as exc:
        print(
            f"cfcookie: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(this is a bug in cfcookie; please report it with the command you ran)",
            file=sys.stderr,
        )
        return _EXIT_BUG
    return _EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
