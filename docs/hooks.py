"""MkDocs hook: the parts of the site that are read from the code at build time, so they cannot
drift from it. A page asks for one with a marker line of its own:

- ``<!-- generated: options -->``: the middleware's options, from ``CookieOptions`` and its
  ``DEFAULTS`` (``cfcookie_middleware.options``), the one list every adapter takes;
- ``<!-- generated: rule -->``: ``Rule``'s fields, from its signature;
- ``<!-- generated: grant -->``: ``Grant``'s, the options of a grant named at the view;
- ``<!-- generated: cli -->``: every ``cfcookie`` command's help, from ``build_parser()``.

Names, types and defaults come from the code; the meaning of each is written here, and the build
fails when an option has no meaning or a meaning names no option.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mkdocs.exceptions import PluginError

from cfcookie_middleware import options
from cfcookie_middleware.cli import build_parser
from cfcookie_middleware.grants import Grant
from cfcookie_middleware.rules import Rule

OPTIONS = {
    "signer": "the `Signer` that signs every rule's cookies (a rule may carry its own); left "
    "out, Flask and Django read the key from the environment, Django first from django-storages' "
    "`AWS_CLOUDFRONT_KEY_ID` and `AWS_CLOUDFRONT_KEY`",
    "rules": "one `Rule` or a list of them; the first whose pattern (and host, if it names one) "
    "matches wins; `[]` for an app whose views name all its grants (left out, it is an error)",
    "cookie_domain": "the cookies' `Domain`: `None` keeps them host-only; it must cover the "
    "CDN host (`.example.com` for `media.example.com`); a public suffix such as "
    "`.cloudfront.net` is refused",
    "cookie_path": "the cookies' `Path`, a literal prefix (a glob is refused); "
    "`Rule(cookie_path=...)` overrides it per rule",
    "secure": "`Secure` attribute: sent over HTTPS only",
    "httponly": "`HttpOnly` attribute: hidden from page scripts",
    "samesite": '`"lax"`, `"strict"` or `"none"` (`"none"` needs `secure`)',
    "max_age": "`None` gives session cookies; when set, `Max-Age` is capped at what is left of "
    "the policy, and one longer than a rule's ttl is refused",
    "refresh_margin": "re-issue once the request's cookies have less than this left; `None` "
    "means half the rule's ttl",
    "when": 'a predicate on the request view (`RequestView`), such as "is logged in"; falsy '
    "means no cookies",
    "clear_on": "path patterns (such as `/logout`) whose non-error responses, to any method but "
    "`OPTIONS`, expire every `CloudFront-*` cookie at each Domain and Path the rules set them on",
    "methods": 'request methods whose 2xx responses may carry cookies (`["GET", "HEAD"]` '
    "adds HEAD); `OPTIONS` is refused, since frameworks and CORS middleware answer it without "
    "the view; compared as sent, so a lower-case `get` earns nothing",
    "cache_size": "signed sets kept for reuse, as many verified returning sets and as many "
    "returning Cookie headers found current (about 1.9 KB, 1.1 KB and 0.2 to 0.7 KB an entry, "
    "however padded the Cookie header)",
    "clock": "the time source, in seconds since the epoch: tests pass a fake clock",
}
RULE_FIELDS = {
    "pattern": "the route: a literal path, `{name}` for one segment, a trailing `/*` for "
    "everything below, or a compiled `re.Pattern`",
    "resource": "what to grant: a URL template filled from the captured names, or a callable "
    "taking the request view and returning the resource (`None` grants nothing)",
    "ttl": "how long each policy lasts",
    "bind_client_ip": "add an `IpAddress` condition with the viewer's IPv4 address",
    "signer": "another `Signer` (key or hash) for this rule only",
    "not_before": "offset of the policy's start from the time of issue; a negative one "
    "backdates it to absorb clock skew",
    "cookie_path": "this rule's cookie `Path`, so that grants kept on disjoint paths do not "
    "replace one another",
    "host": "bind the rule to requests whose `Host` is exactly this (lower case, with `:port` "
    "when the app is reached on one), for apps that route by host; once one rule names a host, "
    "every rule must",
}
GRANT_FIELDS = {
    **{name: RULE_FIELDS[name] for name in ("ttl", "bind_client_ip", "not_before")},
    "resource": "what to grant: a URL template filled from the view's URL parameters, or a "
    "callable taking the request view and returning the resource (`None` grants nothing)",
    "signer": "another `Signer` (key or hash) for this grant only",
    "cookie_path": "this grant's cookie `Path`, so that grants kept on disjoint paths do not "
    "replace one another",
}
CLI_WIDTH = "100"
_MARKER = re.compile(r"^<!-- generated: (\w+) -->$", re.MULTILINE)


def table(what: str, parameters: Iterable[inspect.Parameter], meanings: Mapping[str, str]) -> str:
    """A Markdown table of ``what``'s keyword parameters: name, type, default, meaning."""
    named = {parameter.name: parameter for parameter in parameters}
    missing, unknown = set(named) - set(meanings), set(meanings) - set(named)
    if missing or unknown:
        raise PluginError(
            f"docs/hooks.py: {what} has parameters without a meaning ({sorted(missing)}) "
            f"or meanings without a parameter ({sorted(unknown)}); update the hook's table"
        )
    # A ``|`` inside a code span, as in ``str | None``, does not split a cell.
    rows = ["| name | type | default | meaning |", "|---|---|---|---|"]
    for name, parameter in named.items():
        rows.append(
            f"| `{name}` | `{parameter.annotation}` | {_default(parameter.default)} "
            f"| {meanings[name]} |"
        )
    return "\n".join(rows)


def _default(value: object) -> str:
    if value is inspect.Parameter.empty:
        return "required"
    if callable(value):  # a function, such as time.time
        return f"`{value.__module__}.{value.__qualname__}`"  # type: ignore[attr-defined]
    return f"`{value!r}`"


def cli_reference() -> str:
    """Each command's ``--help``, as argparse prints it at a fixed width."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = CLI_WIDTH
    try:
        parser = build_parser()
        sections = [f"## `cfcookie`\n\n```text\n{parser.format_help()}```"]
        (commands,) = (a for a in parser._actions if a.choices and a.dest == "command")
        for name, subparser in commands.choices.items():  # type: ignore[union-attr]
            sections.append(f"## `cfcookie {name}`\n\n```text\n{subparser.format_help()}```")
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n\n".join(sections)


GENERATORS: dict[str, Callable[[], str]] = {
    "options": lambda: table("CookieOptions", options.parameters(), OPTIONS),
    "rule": lambda: table("Rule", inspect.signature(Rule).parameters.values(), RULE_FIELDS),
    "grant": lambda: table("Grant", inspect.signature(Grant).parameters.values(), GRANT_FIELDS),
    "cli": cli_reference,
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace each marker line with what it names."""

    def generated(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in GENERATORS:
            raise PluginError(f"docs: unknown marker {found.group(0)}; known: {sorted(GENERATORS)}")
        return GENERATORS[name]()

    return _MARKER.sub(generated, markdown)
