"""Property tests over arbitrary text, bytes and near-valid mutations: nothing raises.

What a request carries (URLs, Cookie headers, hosts, client IPs), route patterns and command
lines are generated; the properties are those the design promises: the Verifier refuses garbage
with one of CloudFront's five codes and a printable reason, cookie parsing and rule matching only
ever raise ``ConfigurationError`` for bad configuration, the core answers a garbage Cookie header
with a fresh, valid set (RFC 6265), and ``cfcookie`` exits 0, 1 or 2 without a traceback.

Example counts: ``CFCOOKIE_FUZZ_EXAMPLES`` (default 100 per test, about 10 s for the file);
``python benchmarks/fuzz.py`` is the long run (20000 per test, and atheris when installed).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from unittest import mock

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from middleware_helpers import (
    CANNED_SET,
    CUSTOM_SET,
    KEY_ID,
    MEDIA,
    ROTATED_KEY_ID,
    VECTORS,
    Clock,
    check_cookie_parsing,
    cloudfront_set_cookies,
    cookie_header,
    default_rules,
    make_signer,
    parse_set_cookie,
    rotated_signer,
    verifier_for,
)

from cfcookie_middleware import cli
from cfcookie_middleware.caching import Headers
from cfcookie_middleware.cookies import (
    CLOUDFRONT_COOKIES,
    RequestCookies,
    parse_cookie_header,
    parse_cookie_pairs,
)
from cfcookie_middleware.core import CookieCore, _cloudfront_part
from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule, compile_pattern
from cfcookie_middleware.signing import ConfigurationError, Policy, Signer, b64encode
from cfcookie_middleware.verify import Decision

EXAMPLES = int(os.environ.get("CFCOOKIE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CODES = {"MissingKey", "InvalidKey", "MalformedSignature", "MalformedPolicy", "AccessDenied"}
NOW = 1_800_000_000

SIGNER = make_signer()
ECDSA = rotated_signer()
VERIFIER = verifier_for(SIGNER, ECDSA)
VIDEO = f"{MEDIA}/videos/a.mp4"
VALID_SETS = [
    SIGNER.sign_cookies(f"{MEDIA}/videos/*", expires=NOW + 3600),
    SIGNER.sign_cookies(VIDEO, expires=NOW + 3600),  # canned
    SIGNER.sign_cookies(
        f"{MEDIA}/*", expires=NOW + 3600, not_before=NOW - 60, ip_address="203.0.113.0/24"
    ),
    ECDSA.sign_cookies(f"{MEDIA}/videos/*", expires=NOW + 3600),  # with Hash-Algorithm
]
SIGNED_URLS = [
    SIGNER.sign_url(VIDEO, expires=NOW + 3600),
    SIGNER.sign_url(f"{VIDEO}?size=large", expires=NOW + 3600, resource=f"{MEDIA}/*"),
    ECDSA.sign_url(VIDEO, expires=NOW + 3600, ip_address="203.0.113.9"),
]


# ---- strategies ------------------------------------------------------------------------------
def latin1(data: bytes) -> str:
    """Bytes as a WSGI server hands header values over."""
    return data.decode("latin-1")


anything = st.one_of(st.text(), st.binary().map(latin1))


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str:
    """``original`` with a few random cuts, insertions and replacements, to reach the checks
    behind the first one (signature, policy JSON, dates)."""
    text = original
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 4))
        text = text[:at] + draw(st.text(max_size=4)) + text[at + cut :]
    return text


def near(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(values).flatmap(lambda value: st.one_of(st.just(value), mutated(value)))


CF_NAMES = sorted({name for cookies in VALID_SETS for name in cookies})
cookie_names = st.one_of(st.sampled_from(CF_NAMES), anything)
urls = st.one_of(
    anything,
    near([VIDEO, f"{MEDIA}/videos/", f"{MEDIA}/images/a.jpg", f"{VIDEO}?size=large"]),
)
client_ips = st.one_of(
    st.none(),
    anything,
    st.ip_addresses().map(str),
    st.sampled_from(["203.0.113.9", "198.51.100.1", "::ffff:203.0.113.9"]),
)
nows = st.one_of(st.none(), st.integers(0, 2**31 - 1), st.sampled_from([NOW, NOW + 7200]))


@st.composite
def cookie_mappings(draw: st.DrawFn) -> dict[str, str]:
    """A valid set, with some fields mutated, removed, swapped between sets or added."""
    cookies = dict(draw(st.sampled_from(VALID_SETS)))
    other = draw(st.sampled_from(VALID_SETS))
    for name in draw(st.lists(st.sampled_from(CF_NAMES), max_size=3)):
        action = draw(st.sampled_from(["mutate", "drop", "swap", "garbage"]))
        if action == "drop":
            cookies.pop(name, None)
        elif action == "swap" and name in other:
            cookies[name] = other[name]
        elif action == "mutate" and name in cookies:
            cookies[name] = draw(mutated(cookies[name]))
        else:
            cookies[name] = draw(anything)
    extra = draw(st.dictionaries(cookie_names, anything, max_size=2))
    return {**cookies, **extra}


cookie_headers = st.one_of(
    anything,
    cookie_mappings().map(cookie_header),
    cookie_mappings().flatmap(lambda cookies: mutated(cookie_header(cookies))),
)


def assert_decision(decision: Decision) -> None:
    assert isinstance(decision, Decision)
    assert decision.reason, decision
    assert decision.reason.isprintable(), repr(decision.reason)
    if decision.allowed:
        assert decision.code is None
    else:
        assert decision.code in CODES


# ---- the Verifier ----------------------------------------------------------------------------
@FUZZ
@given(
    url=urls,
    cookies=st.one_of(cookie_mappings(), st.dictionaries(cookie_names, anything)),
    client_ip=client_ips,
    now=nows,
)
def test_check_cookies_with_mappings(
    url: str, cookies: dict[str, str], client_ip: str | None, now: int | None
) -> None:
    assert_decision(VERIFIER.check_cookies(url, cookies, client_ip=client_ip, now=now))


@FUZZ
@given(url=urls, header=cookie_headers, client_ip=client_ips, now=nows)
def test_check_cookies_with_raw_headers(
    url: str, header: str, client_ip: str | None, now: int | None
) -> None:
    assert_decision(VERIFIER.check_cookies(url, header, client_ip=client_ip, now=now))


@FUZZ
@given(url=st.one_of(anything, near(SIGNED_URLS)), client_ip=client_ips, now=nows)
def test_check_url(url: str, client_ip: str | None, now: int | None) -> None:
    assert_decision(VERIFIER.check_url(url, client_ip=client_ip, now=now))
    assert_decision(VERIFIER.check_cookies(url, VALID_SETS[0], client_ip=client_ip, now=now))


@FUZZ
@given(url=urls, cookies=st.dictionaries(cookie_names, anything))
def test_no_key_pair_id_is_missing_key(url: str, cookies: dict[str, str]) -> None:
    """CloudFront's MissingKey is "Missing Key-Pair-Id query parameter or cookie value"
    (shared/docs/cloudfront.md, error table), whatever else came; a URL carrying signed-URL
    parameters is excluded, since it would be judged instead of the cookies."""
    cookies.pop("CloudFront-Key-Pair-Id", None)
    query = url.partition("#")[0].partition("?")[2]
    names = {param.partition("=")[0] for param in query.split("&")}
    assume(not names & {"Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"})
    decision = VERIFIER.check_cookies(url, cookies, now=NOW)
    assert (decision.allowed, decision.code) == (False, "MissingKey"), decision.reason


# Policies signed with the test key: the signature checks out, so the policy parser and the
# terms behind it are reached (a mutated cookie never gets past the signature).
epochs = st.one_of(
    st.integers(-(2**63), 2**63),
    st.sampled_from([NOW - 1, NOW, NOW + 1, NOW + 3600, 2**31 - 1, 2**31, 10**13]),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
conditions = st.fixed_dictionaries(
    {},
    optional={
        "DateLessThan": st.one_of(st.fixed_dictionaries({"AWS:EpochTime": epochs}), epochs),
        "DateGreaterThan": st.fixed_dictionaries({"AWS:EpochTime": epochs}),
        "IpAddress": st.fixed_dictionaries(
            {"AWS:SourceIp": st.one_of(client_ips, st.sampled_from(["203.0.113.0/24", "::/0"]))}
        ),
        "StringLike": st.just({"x": 1}),
    },
)
statements = st.fixed_dictionaries(
    {"Condition": st.one_of(conditions, st.just("not an object"))},
    optional={"Resource": st.one_of(urls, st.sampled_from(["*", f"{MEDIA}/*"]), st.integers())},
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
policy_documents = st.one_of(
    st.builds(lambda statement: json.dumps({"Statement": [statement]}), statements),
    st.builds(lambda statement: json.dumps({"Statement": statement}), statements),
    json_values.map(json.dumps),
    near(
        [
            policy.text()
            for policy in (
                Policy(f"{MEDIA}/videos/*", NOW + 3600),
                Policy(f"{MEDIA}/*", NOW + 60, NOW - 60, "0.0.0.0/0"),
            )
        ]
    ),
    st.binary(max_size=100).map(latin1),
).map(lambda text: text.encode("utf-8", "surrogatepass"))


def signed_policy_cookies(data: bytes, signer: Signer = SIGNER) -> dict[str, str]:
    fields = {"Policy": b64encode(data), "Signature": b64encode(signer.sign(data))}
    fields["Key-Pair-Id"] = signer.key_pair_id
    if signer.hash_algorithm != "SHA1":
        fields["Hash-Algorithm"] = signer.hash_algorithm
    return {f"CloudFront-{name}": value for name, value in fields.items()}


@FUZZ
@given(
    data=policy_documents,
    signer=st.sampled_from([SIGNER, ECDSA]),
    url=urls,
    client_ip=client_ips,
    now=nows,
)
def test_genuinely_signed_policies_of_any_shape(
    data: bytes, signer: Signer, url: str, client_ip: str | None, now: int | None
) -> None:
    """A genuine signature by a trusted key leaves only the policy to judge: allowed,
    MalformedPolicy or AccessDenied, never a key or signature code, never an exception."""
    cookies = signed_policy_cookies(data, signer)
    query = "&".join(f"{name[len('CloudFront-') :]}={value}" for name, value in cookies.items())
    decisions = [VERIFIER.check_cookies(url, cookies, client_ip=client_ip, now=now)]
    if "?" not in url and "#" not in url:
        decisions.append(VERIFIER.check_url(f"{url}?{query}", client_ip=client_ip, now=now))
    for decision in decisions:
        assert_decision(decision)
        assert decision.code in (None, "MalformedPolicy", "AccessDenied"), decision.reason


# ---- cookie parsing --------------------------------------------------------------------------
# RFC 6265 section 4.1.1, written out from the grammar: a cookie-name is an RFC 7230 token, a
# cookie-value a run of cookie-octets (printable ASCII except space, DQUOTE, comma, semicolon
# and backslash).
TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
COOKIE_OCTET = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' ",;\\')
tokens = st.text(alphabet=TCHAR, min_size=1, max_size=20)
octets = st.text(alphabet=COOKIE_OCTET, max_size=40)


@FUZZ
@given(header=anything)
def test_parse_cookie_pairs_on_anything(header: str) -> None:
    check_cookie_parsing(header)
    header_view = RequestCookies(header)
    assert len(header_view) == len(parse_cookie_header(header))
    assert isinstance(repr(header_view), str)
    for name in header_view:
        assert name in header_view


@FUZZ
@given(
    pairs=st.lists(st.tuples(tokens, octets), max_size=8),
    separators=st.sampled_from(["; ", ";", " ;  "]),
)
def test_a_browsers_cookie_header_reads_back(pairs: list[tuple[str, str]], separators: str) -> None:
    """Browsers write ``name=value`` pairs joined by ``"; "`` (RFC 6265 section 5.4); each pair
    comes back verbatim, in order, and the mapping keeps the first of a repeated name."""
    header = separators.join(f"{name}={value}" for name, value in pairs)
    assert parse_cookie_pairs(header) == pairs
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    assert parse_cookie_header(header) == first
    assert dict(RequestCookies(header)) == first


@FUZZ
@given(
    header=st.one_of(
        cookie_headers,
        st.lists(
            st.sampled_from(
                ["CloudFront-Policy=a", "x=CloudFront-", "a=1", ";", " ", "=", "b", "CloudFront-"]
            ),
            max_size=8,
        ).map("".join),
    )
)
def test_the_cloudfront_part_is_the_pairs_of_the_full_parse(header: str) -> None:
    """The core looks a returning visitor's set up by ``_cloudfront_part``: exactly the pairs
    the full parse finds under a ``CloudFront-`` name, whatever surrounds or splits them, in
    one canonical form (so one set is one cache entry)."""
    expected = [(n, v) for n, v in parse_cookie_pairs(header) if n.startswith("CloudFront-")]
    assert _cloudfront_part(header) == "; ".join(f"{n}={v}" for n, v in expected)


# ---- rule matching ---------------------------------------------------------------------------
pattern_text = st.one_of(
    anything,
    st.text(alphabet="/{}*ab_1.?[]()\\^$|+\n", max_size=20).map("/".__add__),
)


@FUZZ
@given(pattern=pattern_text, path=anything)
def test_compile_pattern_either_compiles_or_says_why(pattern: str, path: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except ConfigurationError:
        return
    assert isinstance(compiled, re.Pattern)
    found = compiled.fullmatch(path)
    assert found is None or all(isinstance(v, str) for v in found.groupdict().values())


@FUZZ
@given(pattern=pattern_text, resource=st.one_of(anything, near([f"{MEDIA}/v/*"])), path=anything)
def test_rule_either_builds_or_raises_configuration_error(
    pattern: str, resource: str, path: str
) -> None:
    """Every input error is a ``ConfigurationError`` (design.md), whatever the pattern or the
    resource template holds."""
    try:
        rule = Rule(pattern, resource=resource)
    except ConfigurationError:
        return
    params = rule.match(path)
    assert params is None or all(isinstance(v, str) for v in params.values())


literal_segments = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="/{}*"), min_size=1, max_size=8),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(segments=literal_segments, other=anything)
def test_a_literal_pattern_matches_only_itself(segments: list[str], other: str) -> None:
    """Regex metacharacters in a literal pattern are literal: ``/a.b`` never matches ``/axb``."""
    pattern = "/" + "/".join(segments)
    rule = Rule(pattern, resource=f"{MEDIA}/poster.jpg")
    assert rule.match(pattern) == {}
    assert (rule.match(other) is None) == (other != pattern)


@FUZZ
@given(
    segments=st.lists(
        st.one_of(
            st.tuples(st.just("literal"), st.text(alphabet="abc.-_~", min_size=1, max_size=5)),
            st.tuples(
                st.just("field"),
                st.text(alphabet=st.characters(), min_size=1).filter(
                    lambda value: "/" not in value
                ),
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    wildcard=st.one_of(st.none(), st.text(max_size=10)),
)
def test_fields_capture_one_segment_and_the_wildcard_the_rest(
    segments: list[tuple[str, str]], wildcard: str | None
) -> None:
    """A pattern built from literal segments and ``{name}`` fields matches the path built by
    putting values without '/' in the fields, and captures exactly those values."""
    pattern_parts, path_parts, expected = [], [], {}
    for index, (kind, value) in enumerate(segments):
        if kind == "literal":
            pattern_parts.append(value)
        else:
            pattern_parts.append(f"{{f{index}}}")
            expected[f"f{index}"] = value
        path_parts.append(value)
    pattern, path = "/" + "/".join(pattern_parts), "/" + "/".join(path_parts)
    if wildcard is not None:
        pattern, path = pattern + "/*", path + "/" + wildcard
    assert compile_pattern(pattern).fullmatch(path) is not None
    assert Rule(pattern, resource=f"{MEDIA}/x/*").match(path) == expected


# ---- the core --------------------------------------------------------------------------------
# RFC 6265 section 4.1.1 again, for what the core sends: the cookie-pair, then "; " and one of
# the attributes the middleware may write (sane-cookie-date for Expires, Max-Age digits).
SET_COOKIE = re.compile(
    rf"[{re.escape(TCHAR)}]+=[{re.escape(COOKIE_OCTET)}]*"
    r"(?:; (?:Domain=\.?[A-Za-z0-9.-]+|Path=/[\x20-\x3a\x3c-\x7e]*|Secure|HttpOnly"
    r"|SameSite=(?:Lax|Strict|None)|Max-Age=(?:0|[1-9][0-9]*)"
    r"|Expires=(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
    r"))*"
)
CORE = CookieCore(
    signer=SIGNER,
    rules=[*default_rules(), Rule("/ip/*", resource=f"{MEDIA}/ip/*", bind_client_ip=True)],
    cookie_domain=".example.com",
    clock=Clock(),
)
PATHS = ["/videos/a.mp4", "/users/alice/library", "/poster", "/ip/a"]


def request_view(
    path: str, host: str, cookie: str, client_ip: str | None, params: Mapping[str, str]
) -> RequestView:
    return RequestView(
        method="GET",
        scheme="https",
        host=host,
        path=path,
        headers={"cookie": cookie},
        cookies=RequestCookies(cookie),
        client_ip=client_ip,
        params=params,
        native=None,
    )


def respond(
    path: str, host: str, header: str, client_ip: str | None, app_headers: Headers
) -> Headers | None:
    """What ``CORE`` sends with a 200 response carrying ``app_headers`` to this request."""
    pending = CORE.start(
        method="GET",
        scheme="https",
        path=path,
        host=host,
        cookie_header=header,
        request=None,
        view=lambda _, params: request_view(path, host, header, client_ip, params),
    )
    return None if pending is None else pending.finish(200, app_headers)


@st.composite
def issued_headers(draw: st.DrawFn, path: str) -> str:
    """A Cookie header holding what the core issued for ``path`` (so the 'already holds
    current cookies' branch is reached), maybe mutated."""
    issued = respond(path, "app.example.com", "", "203.0.113.9", []) or []
    values = {c.name: c.value for c in cloudfront_set_cookies(v for _, v in issued).values()}
    header = cookie_header(values)
    return draw(st.one_of(st.just(header), mutated(header)))


class Collecting(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def logged(level: int) -> Iterator[list[logging.LogRecord]]:
    """The records at ``level`` or above, for one example (caplog is per test, not example)."""
    handler = Collecting(level)
    logger = logging.getLogger("cfcookie_middleware")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@FUZZ
@given(
    path_and_header=st.sampled_from(PATHS).flatmap(
        lambda path: st.tuples(
            st.just(path),
            st.one_of(
                cookie_headers,
                issued_headers(path),
                policy_documents.map(signed_policy_cookies).map(cookie_header),
            ),
        )
    ),
    host=st.one_of(anything, st.sampled_from(["app.example.com", "[::1", "a:b:c", ""])),
    client_ip=client_ips,
)
@example(path_and_header=("/videos/a.mp4", "CloudFront-Policy=\x85"), host="", client_ip=None)
def test_respond_to_anything_a_request_carries(
    path_and_header: tuple[str, str], host: str, client_ip: str | None
) -> None:
    """Never an error logged (finish would swallow it), never an invalid Set-Cookie, and a set
    is withheld only when the request already holds the very one the core would issue."""
    path, header = path_and_header
    app_headers: Headers = [("Content-Type", "text/plain")]
    with logged(logging.ERROR) as errors:
        answer = respond(path, host, header, client_ip, list(app_headers))
        fresh = respond(path, host, "", client_ip, [])
    assert errors == []
    if fresh is None:  # bind_client_ip without an IPv4 client: nothing, whatever the cookies
        assert answer is None
        assert path == "/ip/a"
        assert not is_ipv4(client_ip)
        return
    issued = cloudfront_set_cookies(v for k, v in fresh if k == "Set-Cookie")
    assert set(issued) in (CUSTOM_SET, CANNED_SET)
    if answer is None:
        assert issued["CloudFront-Signature"].value in header
        return
    assert answer[: len(app_headers)] == app_headers
    set_cookies = [value for name, value in answer if name == "Set-Cookie"]
    for value in set_cookies:
        assert SET_COOKIE.fullmatch(value), value
    fresh_set = [v for k, v in fresh if k == "Set-Cookie"]
    assert set_cookies[: len(fresh_set)] == fresh_set
    # Then one expired cookie per CloudFront name the request holds and the set lacks.
    stale = [parse_set_cookie(value) for value in set_cookies[len(fresh_set) :]]
    held = [name for name in CLOUDFRONT_COOKIES if name not in issued and f"{name}=" in header]
    assert [cookie.name for cookie in stale] == held
    assert all((c.value, c.attributes.get("max-age")) == ("", "0") for c in stale)


def is_ipv4(address: str | None) -> bool:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return parsed.version == 4 or getattr(parsed, "ipv4_mapped", None) is not None


# ---- the command line ------------------------------------------------------------------------
# Commands that would start servers (edge, demo) or write files (keygen) are never generated;
# nor is doctor's --probe (the network), nor a path under /dev, /proc or /sys.
SAFE_COMMANDS = ["sign-cookies", "sign-url", "verify", "doctor"]
UNSAFE = ("edge", "demo", "keygen")
OPTIONS = [
    *("--key-pair-id", "--private-key", "--resource", "--expires", "--not-before"),
    *("--ip-address", "--hash-algorithm", "--format", "--url", "--public-key", "--cookie"),
    *("--client-ip", "--now", "--app-url", "--cdn-url", "--cookie-domain", "--cookie-path"),
    *("--no-secure", "--passphrase", "--help", "-h", "--version", "--"),
]
VALUES = [
    *(KEY_ID, ROTATED_KEY_ID, str(VECTORS / "test-rsa-key.pem")),
    str(VECTORS / "test-ecdsa-key.pem"),
    *(f"{KEY_ID}={VECTORS / 'test-rsa-key-public.pem'}", f"{MEDIA}/videos/*", VIDEO),
    *("1h", "-5m", "90s", "7d", "0", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "1767290400"),
    *("99999999999999", "203.0.113.0/24", "::1", "SHA1", "SHA256", "MD5", "json", "header"),
    *("-", "", ".example.com", "/", "/videos/*", "CloudFront-Key-Pair-Id=x; a=b"),
]
arguments = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), st.text(max_size=20))


def is_safe(argv: list[str]) -> bool:
    for argument in argv:
        name = argument.split("=", 1)[0]
        if any(command.startswith(argument) for command in UNSAFE if argument):
            return False
        if name.startswith("--pro") and "--probe".startswith(name):
            return False
        if any(root in argument for root in ("/dev", "/proc", "/sys")):
            return False
    return True


@FUZZ
@given(
    argv=st.tuples(
        st.one_of(st.sampled_from(SAFE_COMMANDS), arguments), st.lists(arguments, max_size=10)
    ).map(lambda parts: [parts[0], *parts[1]])
)
def test_cli_exits_0_1_or_2_without_a_traceback(argv: list[str]) -> None:
    assume(is_safe(argv))
    out, err = io.StringIO(), io.StringIO()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFRONT_")}
    with (
        mock.patch.dict(os.environ, environment, clear=True),
        mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(b""))),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        status = cli.main(argv)
    output = out.getvalue() + err.getvalue()
    assert status in (0, 1, 2), output
    assert "Traceback" not in output, output
    assert "internal error" not in output, output


def test_the_cli_filter_keeps_servers_and_writes_out() -> None:
    """The filter above is what keeps this file from starting servers or writing keys."""
    assert not is_safe(["keygen"])
    assert not is_safe(["--version", "ed"])
    assert not is_safe(["doctor", "--pro", "http://x"])
    assert not is_safe(["sign-url", "--private-key", "/dev/zero"])
    assert is_safe(["doctor", "--private-key", "k.pem"])
